//go:build unix

package layer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMappedFileCutShort: a kept block mapped and then cut short in place
// (kiln replaces kept files whole; another program might not) faults when
// read past its new end, and faulted turns that into a report, not a
// crash. Another panic is not taken for a fault.
func TestMappedFileCutShort(t *testing.T) {
	p := filepath.Join(t.TempDir(), "0")
	if err := os.WriteFile(p, make([]byte, 3*4096), 0o644); err != nil {
		t.Fatal(err)
	}
	data, unmap, err := mapFile(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	if faulted(func() { _ = data[len(data)-1] }) {
		t.Fatal("reading a whole mapped file faulted")
	}
	if err := os.Truncate(p, 100); err != nil {
		t.Fatal(err)
	}
	var b byte
	if !faulted(func() { b = data[len(data)-1] }) {
		t.Fatalf("reading past the end of a file cut short did not fault (read %d)", b)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a panic other than a fault was swallowed")
		}
	}()
	faulted(func() { panic("not a fault") })
}

// TestMapFileLimits: only regular, non-empty files up to the limit are
// mapped.
func TestMapFileLimits(t *testing.T) {
	dir := t.TempDir()
	big, empty := filepath.Join(dir, "big"), filepath.Join(dir, "empty")
	os.WriteFile(big, make([]byte, 2048), 0o644)
	os.WriteFile(empty, nil, 0o644)
	for _, p := range []string{big, empty, dir, filepath.Join(dir, "missing")} {
		if _, _, err := mapFile(p, 1024); err == nil {
			t.Errorf("%s was mapped", filepath.Base(p))
		}
	}
}

// TestLentFileSameBytes: a large file is lent to the gzip writer mapped,
// its whole blocks used where they lie; the layer is byte for byte the
// one written from the same bytes in memory (copied into blocks), with
// and without kept blocks, and for sizes around the block boundaries.
func TestLentFileSameBytes(t *testing.T) {
	data := payload(t)
	dir := t.TempDir()
	for _, size := range []int{mapAtLeast, mapAtLeast + 1, GzipHeadSize + 3*GzipBlockSize - 512, len(data)} {
		bin := filepath.Join(dir, "program")
		if err := os.WriteFile(bin, data[:size], 0o755); err != nil {
			t.Fatal(err)
		}
		inMemory, onDisk := NewTree(), NewTree()
		inMemory.AddBytes("/kiln/bin/program", data[:size], 0o755)
		if err := onDisk.AddPrivateFile("/kiln/bin/program", bin, 0o755); err != nil {
			t.Fatal(err)
		}
		want := layerBytes(t, inMemory, "")
		keep := filepath.Join(dir, fmt.Sprintf("blocks-%d", size))
		for i, reuse := range []string{"", keep, keep} {
			if got := layerBytes(t, onDisk, reuse); !bytes.Equal(got, want) {
				t.Fatalf("size %d, write %d: the layer of the mapped file differs from the one of the same bytes in memory", size, i)
			}
		}
	}
}
