package layer

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/kiln-build/kiln/pkg/blob"
)

// payload is what layers mostly hold: a Go binary (this test's own).
func payload(tb testing.TB) []byte {
	tb.Helper()
	p, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// blocksPayload is payload, skipping tb when it is too small to span a
// layer's head and four blocks.
func blocksPayload(tb testing.TB) []byte {
	tb.Helper()
	data := payload(tb)
	if len(data) < GzipHeadSize+4*GzipBlockSize {
		tb.Skip("the test binary is too small")
	}
	return data
}

// BenchmarkCompression prints MB/s and the compressed size for kiln's
// pinned gzip and zstd and for the standard library's gzip, on a Go
// binary. Run: go test -run '^$' -bench Compression ./pkg/layer
func BenchmarkCompression(b *testing.B) {
	data := payload(b)
	cases := []struct {
		name string
		new  func(io.Writer) io.WriteCloser
	}{
		{"kiln-gzip-level1-parallel", func(w io.Writer) io.WriteCloser { c, _, _, _ := compressor(w, Gzip, "", nil, nil); return c }},
		{"kiln-zstd-default", func(w io.Writer) io.WriteCloser { c, _, _, _ := compressor(w, Zstd, "", nil, nil); return c }},
		{"stdlib-gzip-level1", func(w io.Writer) io.WriteCloser { c, _ := stdgzip.NewWriterLevel(w, stdgzip.BestSpeed); return c }},
		{"stdlib-gzip-default", func(w io.Writer) io.WriteCloser { return stdgzip.NewWriter(w) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var n int
			for range b.N {
				var buf bytes.Buffer
				w := c.new(&buf)
				w.Write(data)
				w.Close()
				n = buf.Len()
			}
			b.ReportMetric(100*float64(n)/float64(len(data)), "%size")
		})
	}
}

// TestZstdLayer: a zstd layer is deterministic, has the OCI zstd media
// type, and decompresses to the same tar as the gzip one.
func TestZstdLayer(t *testing.T) {
	tree := NewTree()
	tree.AddBytes("/kiln/bin/app", payload(t)[:1<<20], 0o755)
	write := func(c Compression) *Layer {
		l, err := Write(context.Background(), blob.Store{Dir: t.TempDir()}, tree, Options{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	z1, z2, g := write(Zstd), write(Zstd), write(Gzip)
	if z1.digest != z2.digest {
		t.Fatal("two zstd layers of the same tree differ")
	}
	if mt, _ := z1.MediaType(); mt != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Errorf("media type %s", mt)
	}
	if z1.diffID != g.diffID {
		t.Error("zstd and gzip layers of one tree have different diffIDs")
	}
	rc, err := z1.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, _ := io.ReadAll(rc)
	if sum := fmt.Sprintf("sha256:%x", sha256.Sum256(raw)); sum != z1.diffID.String() {
		t.Errorf("decompressed zstd layer hashes to %s, diffID %s", sum, z1.diffID)
	}
	if _, err := ParseCompression("brotli"); err == nil {
		t.Error("an unknown compression was accepted")
	}
}

// TestGzipDeterministicAcrossConcurrency: kiln's gzip gives the same bytes
// whatever the number of goroutines compressing.
func TestGzipDeterministicAcrossConcurrency(t *testing.T) {
	data := payload(t)
	data = data[:min(len(data), 5<<20)]
	var outs [][]byte
	for _, workers := range []int{1, 2, 8} {
		var buf bytes.Buffer
		w, err := newGzipWriter(&buf, "", workers, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, buf.Bytes())
	}
	for i := range outs[1:] {
		if !bytes.Equal(outs[0], outs[i+1]) {
			t.Fatalf("gzip output differs with another concurrency")
		}
	}
}
