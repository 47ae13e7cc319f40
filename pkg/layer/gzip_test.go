package layer

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
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
		pw, _, _, err := compressor(&want, Gzip, "", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(in)
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		for pass := range 2 {
			var got bytes.Buffer
			bw, _, _, err := compressor(&got, Gzip, dir, nil, nil)
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
	pw, _, _, _ := compressor(&want, Gzip, "", nil, nil)
	pw.Write(data)
	pw.Close()
	bw, _, _, _ := compressor(&got, Gzip, dir, nil, nil)
	bw.Write(data)
	bw.Close()
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("damaged kept blocks changed the output")
	}
}

// TestGzipHeadBlockAlone: after a change in the first bytes only (a Go
// binary's build ID), every block but the first is found kept; after a
// change in the middle, every block but that one (and the next, whose
// dictionary it holds, when the change is in its last 16 KiB).
func TestGzipHeadBlockAlone(t *testing.T) {
	data := payload(t)
	dir := t.TempDir()
	compressed := func(in []byte) int64 {
		w, _, _, err := compressor(io.Discard, Gzip, dir, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(in)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.(*gzipWriter).compressed.Load()
	}
	if n, want := compressed(data), int64(keptBlocks(len(data))); n != want {
		t.Fatalf("first layer: %d blocks compressed, want all %d", n, want)
	}
	if n := compressed(data); n != 0 {
		t.Errorf("the same input again: %d blocks compressed, want none", n)
	}
	edited := bytes.Clone(data)
	copy(edited[100:], "another build ID")
	if n := compressed(edited); n != 1 {
		t.Errorf("after an edit of the first block: %d blocks compressed, want 1", n)
	}
	mid := GzipHeadSize + GzipBlockSize + 1000 // early in the third block
	edited[mid]++
	if n := compressed(edited); n != 1 {
		t.Errorf("after an edit early in the third block: %d blocks compressed, want 1", n)
	}
	edited[GzipHeadSize+GzipBlockSize-10]++ // in the dictionary of the third
	if n := compressed(edited); n != 2 {
		t.Errorf("after an edit at the end of the second block: %d blocks compressed, want 2", n)
	}
}

// TestGzipKeptBlockDamage: a kept block whose any byte is changed, or
// which is cut short, is compressed again, and the output is as without
// kept blocks.
func TestGzipKeptBlockDamage(t *testing.T) {
	data := payload(t)[:GzipHeadSize+GzipBlockSize/2] // two blocks
	var want bytes.Buffer
	w, _, _, _ := compressor(&want, Gzip, "", nil, nil)
	w.Write(data)
	w.Close()
	dir := t.TempDir()
	write := func() (int64, []byte) {
		var got bytes.Buffer
		w, _, _, err := compressor(&got, Gzip, dir, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.(*gzipWriter).compressed.Load(), got.Bytes()
	}
	write()
	kept := filepath.Join(dir, "1")
	good, err := os.ReadFile(kept)
	if err != nil {
		t.Fatal(err)
	}
	// Every field of the header, the dictionary's, the input's and the
	// output's first and last bytes; then cuts.
	at := []int{0, len(keptMagic), len(keptMagic) + 1, len(keptMagic) + 5, len(keptMagic) + 9, len(keptMagic) + 13, len(keptMagic) + 17,
		keptHeaderSize, keptHeaderSize + gzipDictSize - 1, keptHeaderSize + gzipDictSize, len(good) - 1}
	for _, i := range at {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		os.WriteFile(kept, bad, 0o644)
		if n, got := write(); n != 1 || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("byte %d of %d changed: %d blocks compressed (want 1), same output: %v", i, len(good), n, bytes.Equal(got, want.Bytes()))
		}
	}
	for _, size := range []int{0, keptHeaderSize - 1, keptHeaderSize + 10, len(good) - 1} {
		os.WriteFile(kept, good[:size], 0o644)
		if n, got := write(); n != 1 || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("cut to %d bytes: %d blocks compressed (want 1), same output: %v", size, n, bytes.Equal(got, want.Bytes()))
		}
	}
	// A stray file is removed; so is a block past the end of a shorter
	// layer.
	os.WriteFile(filepath.Join(dir, "stray"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "07"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "9"), good, 0o644)
	write()
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files kept, want the layer's 2 blocks", len(entries))
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

// FuzzKeptOutput: a kept block is read from .kiln, which kiln does not
// trust: whatever its bytes, parsing it does not panic, and a block is
// taken only from a file that holds exactly its input and dictionary, the
// last-block flag asked for, and an output and an input CRC whose CRC-32C
// holds. A file written by keptHeader for that block is always taken.
func FuzzKeptOutput(f *testing.F) {
	block, dict, out := []byte("the block's input"), []byte("dictionary"), []byte("compressed")
	valid := slices.Concat(keptHeader(dict, block, out, false, crc32.ChecksumIEEE(block)), dict, block, out)
	f.Add(valid, false)
	f.Add(valid, true)
	f.Add(valid[:len(valid)-1], false)
	f.Add(valid[:keptHeaderSize], false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, last bool) {
		k, ok := parseKept(data)
		ok = ok && k.holds(block, dict, last)
		got := k.out
		if !ok {
			if bytes.Equal(data, valid) && !last {
				t.Fatal("a kept block written for this input was refused")
			}
			return
		}
		head := keptHeaderSize + len(dict) + len(block)
		if len(data) < head || !bytes.Equal(data[keptHeaderSize:keptHeaderSize+len(dict)], dict) ||
			!bytes.Equal(data[keptHeaderSize+len(dict):head], block) || !bytes.Equal(got, data[head:]) {
			t.Fatalf("took an output from a file that does not hold this block: %q", data)
		}
		if (data[len(keptMagic)] == 1) != last {
			t.Fatal("took a block kept with the other last-block flag")
		}
		crc := data[keptHeaderSize-8 : keptHeaderSize-4]
		if keptChecksum(got, crc) != binary.BigEndian.Uint32(data[keptHeaderSize-4:keptHeaderSize]) || k.crc != binary.BigEndian.Uint32(crc) {
			t.Fatal("took an output or an input CRC whose checksum does not hold")
		}
	})
}
