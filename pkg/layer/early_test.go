package layer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestEarlySameBytes: a layer written with a look taken before its file
// was final (Look) has the bytes of the one written without, whatever
// changed in the file after the look (the build ID stamped in its head,
// or bytes further on), whether the final file is the one looked at
// (renamed) or a copy, and whatever the kept blocks hold.
func TestEarlySameBytes(t *testing.T) {
	data := blocksPayload(t)
	stamp := func(b []byte, at int) { copy(b[at:], "stamped build ID") }
	cases := []struct {
		name   string
		after  func(final []byte) // what changes after the look
		copied bool               // the final file is a copy, not the file looked at
		damage bool               // a kept block is damaged
		cut    bool               // a kept block is cut short in place after the look
	}{
		{name: "head stamped", after: func(b []byte) { stamp(b, 3948) }},
		{name: "head and a later block changed", after: func(b []byte) { stamp(b, 3948); stamp(b, GzipHeadSize+2*GzipBlockSize+77) }},
		{name: "copied", after: func(b []byte) { stamp(b, 3948) }, copied: true},
		{name: "kept block damaged", after: func(b []byte) { stamp(b, 3948) }, damage: true},
		{name: "kept block cut short after the look", after: func(b []byte) { stamp(b, 3948) }, cut: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			keep := filepath.Join(dir, "blocks")
			// The last build's program, whose blocks are kept.
			old := bytes.Clone(data)
			stamp(old, 3948+5)
			prev := filepath.Join(dir, "prev")
			if err := os.WriteFile(prev, old, 0o755); err != nil {
				t.Fatal(err)
			}
			layerBytes(t, treeOf(t, "/kiln/bin/program", prev), keep)
			if c.damage {
				k := filepath.Join(keep, "2")
				b, err := os.ReadFile(k)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)-3] ^= 0xff
				if err := os.WriteFile(k, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}

			// The linker's output, looked at, then changed and moved.
			linked := filepath.Join(dir, "a.out")
			if err := os.WriteFile(linked, data, 0o755); err != nil {
				t.Fatal(err)
			}
			early := Look(context.Background(), linked, keep)
			defer early.Close()
			<-early.done
			if c.cut {
				// In place, under the look's mapping: reading it faults.
				if err := os.Truncate(filepath.Join(keep, "1"), 64<<10); err != nil {
					t.Fatal(err)
				}
			}
			final := bytes.Clone(data)
			c.after(final)
			rewriteInPlace(t, linked, final)
			program := filepath.Join(dir, "program")
			if c.copied {
				if err := os.WriteFile(program, final, 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Rename(linked, program); err != nil {
				t.Fatal(err)
			}

			inMemory, onDisk := NewTree(), NewTree()
			inMemory.AddBytes("/kiln/bin/program", final, 0o755)
			if err := onDisk.AddPrivateFile("/kiln/bin/program", program, 0o755); err != nil {
				t.Fatal(err)
			}
			want := layerBytes(t, inMemory, "")
			if got := layerBytesWith(t, onDisk, Options{Reuse: keep, Early: early}); !bytes.Equal(got, want) {
				t.Fatal("the layer written with an early look differs from the one of the same bytes in memory")
			}
		})
	}
}

// A look at a file that is not there, or with no kept blocks, finds
// nothing, and Write goes on without it.
func TestEarlyFindsNothing(t *testing.T) {
	dir := t.TempDir()
	early := Look(context.Background(), filepath.Join(dir, "missing"), filepath.Join(dir, "no-blocks"))
	defer early.Close()
	<-early.done
	if early.file != nil || len(early.kept) != 0 {
		t.Fatalf("found a file (%d bytes) or kept blocks (%d) where there are none", len(early.file), len(early.kept))
	}
	data := payload(t)[:GzipHeadSize+GzipBlockSize+10]
	p := filepath.Join(dir, "program")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	inMemory, onDisk := NewTree(), NewTree()
	inMemory.AddBytes("/p", data, 0o755)
	if err := onDisk.AddPrivateFile("/p", p, 0o755); err != nil {
		t.Fatal(err)
	}
	got := layerBytesWith(t, onDisk, Options{Reuse: filepath.Join(dir, "no-blocks"), Early: early})
	if want := layerBytes(t, inMemory, ""); !bytes.Equal(got, want) {
		t.Fatal("the layer differs from the one of the same bytes in memory")
	}
}
