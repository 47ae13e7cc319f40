package layer

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-build/kiln/pkg/blob"
)

// keptBlocks is how many blocks kiln's gzip cuts n bytes into, the last
// (possibly empty) one included.
func keptBlocks(n int) int {
	if n < GzipHeadSize {
		return 1
	}
	return 2 + (n-GzipHeadSize)/GzipBlockSize
}

// TestGzipKeptBlocksSameBytes: with a keep directory, kiln's gzip writes
// exactly what it writes without one, whether its blocks are compressed
// or taken from the directory; the output is gzip that decompresses to
// the input; only the last layer's blocks are kept.
func TestGzipKeptBlocksSameBytes(t *testing.T) {
	// Compressible but varied content, across block boundaries.
	var text bytes.Buffer
	for text.Len() < 3*GzipBlockSize+12345 {
		b := make([]byte, 300)
		rand.Read(b[:20])
		text.Write(b)
		text.WriteString("some text that repeats, so that the dictionary matters ")
	}
	data := text.Bytes()
	dir := t.TempDir()
	for _, n := range []int{0, 10, gzipDictSize, GzipHeadSize, GzipHeadSize + 1, GzipHeadSize + GzipBlockSize, 2 * GzipBlockSize, len(data)} {
		in := data[:n]
		var want bytes.Buffer
		pw, _, err := compressor(&want, Gzip, "")
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(in)
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		for pass := range 2 {
			var got bytes.Buffer
			bw, _, err := compressor(&got, Gzip, dir)
			if err != nil {
				t.Fatal(err)
			}
			// Uneven writes, as tar makes them.
			for rest := in; len(rest) > 0; {
				k := min(len(rest), 7777)
				bw.Write(rest[:k])
				rest = rest[k:]
			}
			if err := bw.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("%d bytes, pass %d: %d bytes out with kept blocks, %d without, not the same", n, pass, got.Len(), want.Len())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != keptBlocks(n) {
				t.Errorf("%d bytes: %d blocks kept, want %d", n, len(entries), keptBlocks(n))
			}
		}
		r, err := stdgzip.NewReader(bytes.NewReader(want.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := out.ReadFrom(r); err != nil || !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("%d bytes: does not decompress to the input: %v", n, err)
		}
	}
	// A damaged kept block is compressed again, not used.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.WriteFile(dir+"/"+e.Name(), []byte("garbage"), 0o644)
	}
	var want, got bytes.Buffer
	pw, _, _ := compressor(&want, Gzip, "")
	pw.Write(data)
	pw.Close()
	bw, _, _ := compressor(&got, Gzip, dir)
	bw.Write(data)
	bw.Close()
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("damaged kept blocks changed the output")
	}
}

// TestGzipHeadBlockAlone: after a change in the first bytes only (a Go
// binary's build ID), every block but the first is found kept.
func TestGzipHeadBlockAlone(t *testing.T) {
	data := payload(t)
	dir := t.TempDir()
	names := func(in []byte) map[string]bool {
		w, _, err := compressor(io.Discard, Gzip, dir)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(in)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		m := map[string]bool{}
		for _, e := range entries {
			m[e.Name()] = true
		}
		return m
	}
	before := names(data)
	edited := bytes.Clone(data)
	copy(edited[100:], "another build ID")
	after := names(edited)
	var kept int
	for n := range after {
		if before[n] {
			kept++
		}
	}
	if want := keptBlocks(len(data)) - 1; kept != want || len(after) != want+1 {
		t.Errorf("%d of %d blocks kept after an edit of the first block, want %d of %d", kept, len(after), want, want+1)
	}
}

// BenchmarkBinaryLayerAfterEdit writes a program's binary layer as a
// rebuild after a small edit does: the binary (this test's own) differs
// from the last one in its first bytes only, as a Go binary whose build ID
// changed does. "reuse" keeps the blocks of the last layer (kiln's binary
// layers), "full" compresses everything. Run:
//
//	go test -run '^$' -bench BinaryLayerAfterEdit ./pkg/layer
func BenchmarkBinaryLayerAfterEdit(b *testing.B) {
	data := payload(b)
	dir := b.TempDir()
	// Two versions, alternating: each build sees the other's blocks.
	var bins [2]string
	for i := range bins {
		v := bytes.Clone(data)
		copy(v[100:], fmt.Sprintf("build-id-%d", i))
		bins[i] = filepath.Join(dir, fmt.Sprintf("bin%d", i))
		if err := os.WriteFile(bins[i], v, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	store := blob.Store{Dir: filepath.Join(dir, "blobs")}
	if err := os.MkdirAll(store.Dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"reuse", "full"} {
		b.Run(mode, func(b *testing.B) {
			opt := Options{ModTime: time.Unix(1700000000, 0)}
			if mode == "reuse" {
				opt.Reuse = filepath.Join(dir, "blocks")
			}
			write := func(i int) {
				t := NewTree()
				if err := t.AddFile("/kiln/bin/program", bins[i%2], 0o755); err != nil {
					b.Fatal(err)
				}
				if _, err := Write(context.Background(), store, t, opt); err != nil {
					b.Fatal(err)
				}
			}
			write(1)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := range b.N {
				write(i)
			}
		})
	}
}
