package layer

import (
	"bytes"
	"crypto/rand"
	"os"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestBlockGzipSameBytes: the block-reusing writer writes exactly what
// the parallel gzip of every other layer writes, whether its blocks are
// compressed or taken from the directory, and keeps only the last
// layer's blocks.
func TestBlockGzipSameBytes(t *testing.T) {
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
	for _, n := range []int{0, 10, blockTail, GzipBlockSize, GzipBlockSize + 1, 2 * GzipBlockSize, len(data)} {
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
				t.Fatalf("%d bytes, pass %d: %d bytes out, pgzip %d, not the same", n, pass, got.Len(), want.Len())
			}
			// Every full block is kept, the last one never.
			if entries, _ := os.ReadDir(dir); len(entries) != n/GzipBlockSize {
				t.Errorf("%d bytes: %d blocks kept, want %d", n, len(entries), n/GzipBlockSize)
			}
		}
		r, err := gzip.NewReader(bytes.NewReader(want.Bytes()))
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
