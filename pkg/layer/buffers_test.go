package layer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-build/kiln/pkg/blob"
)

// TestFreeBuffers: the free list hands out empty buffers of the working
// size, distinct while they are out; it does not take back a buffer that
// grew into another array, nor more than it keeps.
func TestFreeBuffers(t *testing.T) {
	for len(free) > 0 {
		<-free
	}
	seen := map[*byte]bool{}
	var got []*[]byte
	for range freeBuffers + 2 {
		b := getBuf()
		if len(*b) != 0 || cap(*b) != bufSize {
			t.Fatalf("buffer of length %d and capacity %d, want 0 and %d", len(*b), cap(*b), bufSize)
		}
		p := &(*b)[:1][0]
		if seen[p] {
			t.Fatal("the same buffer handed out twice")
		}
		seen[p] = true
		got = append(got, b)
	}
	grown := append(*got[0], make([]byte, bufSize+1)...)
	putBuf(&grown)
	if len(free) != 0 {
		t.Fatal("a grown buffer was taken back")
	}
	for _, b := range got {
		*b = append(*b, "used"...)
		putBuf(b)
	}
	if n := len(free); n != freeBuffers {
		t.Fatalf("%d buffers kept, want %d", n, freeBuffers)
	}
	b := getBuf()
	if len(*b) != 0 {
		t.Fatalf("a reused buffer starts with %d bytes", len(*b))
	}
	if !seen[&(*b)[:1][0]] {
		t.Fatal("a buffer given back was not reused")
	}
	putBuf(b)
}

// TestLayerSameWithUsedBuffers: a layer written with buffers that held
// other layers' bytes (kept blocks and all) is byte for byte the one
// written with fresh ones.
func TestLayerSameWithUsedBuffers(t *testing.T) {
	data := payload(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "program")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(reuse string) []byte {
		t.Helper()
		tr := NewTree()
		if err := tr.AddFile("/kiln/bin/program", bin, 0o755); err != nil {
			t.Fatal(err)
		}
		return layerBytes(t, tr, reuse)
	}
	// Fresh buffers, nothing kept.
	for len(free) > 0 {
		<-free
	}
	want := write("")
	// Used buffers, filled with another program's blocks first.
	other := bytes.Clone(data)
	for i := range other {
		other[i] ^= 0x5a
	}
	if err := os.WriteFile(bin, other, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "blocks")
	write(keep)
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := write(keep); !bytes.Equal(got, want) {
		t.Fatal("the layer differs when written with used buffers")
	}
	if got := write(keep); !bytes.Equal(got, want) {
		t.Fatal("the layer differs when its blocks are kept")
	}
}

// layerBytes writes tr as a gzip layer, keeping blocks in reuse unless it
// is "", and returns the layer's bytes.
func layerBytes(t *testing.T, tr *Tree, reuse string) []byte {
	t.Helper()
	return layerBytesWith(t, tr, Options{Reuse: reuse})
}

// layerBytesWith writes tr with opt, at a fixed time, and returns the
// layer's bytes.
func layerBytesWith(t *testing.T, tr *Tree, opt Options) []byte {
	t.Helper()
	opt.ModTime = time.Unix(1700000000, 0)
	l, err := Write(context.Background(), blob.Store{Dir: t.TempDir()}, tr, opt)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(l.Path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
