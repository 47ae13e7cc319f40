package layer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/pkg/blob"
)

// TestPredict: a layer predicted from a file before it was final is the
// one Write takes only if the final stream is, byte for byte, the
// predicted one; either way the layer is the one written without a look,
// and nothing else is left in the store.
func TestPredict(t *testing.T) {
	data := blocksPayload(t)
	const placeholder, stamped = "placeholder-build-id", "the-stamped-build-id"
	at := 3948
	later := GzipHeadSize + 2*GzipBlockSize + 77
	stampAt := func(b []byte, at int, s string) { copy(b[at:], s) }
	// The stamper predicts what the test's "go command" writes below.
	stamper := func(file []byte) ([]Patch, error) {
		if !bytes.Equal(file[at:at+len(placeholder)], []byte(placeholder)) {
			return nil, errors.New("no placeholder")
		}
		return []Patch{{At: at, Bytes: []byte(stamped)}}, nil
	}
	cases := []struct {
		name  string
		stamp func(final []byte) // what the "go command" does
		kept  bool               // the last build's blocks are kept
		take  bool               // Write takes the prediction
	}{
		{name: "stamped as predicted", stamp: func(b []byte) { stampAt(b, at, stamped) }, kept: true, take: true},
		{name: "stamped otherwise", stamp: func(b []byte) { stampAt(b, at, "another-stamp-itself") }, kept: true},
		{name: "a later block changed too", stamp: func(b []byte) { stampAt(b, at, stamped); stampAt(b, later, "x") }, kept: true},
		{name: "nothing kept", stamp: func(b []byte) { stampAt(b, at, stamped) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			keep := filepath.Join(dir, "blocks")
			opt := Options{Reuse: keep, ModTime: time.Unix(1700000000, 0)}
			if c.kept {
				// The last build's program, whose blocks are kept.
				old := bytes.Clone(data)
				stampAt(old, at, "the-last-build-stamp")
				layerBytes(t, treeOf(t, "/kiln/bin/program", writeTemp(t, old)), keep)
			}
			linked := bytes.Clone(data)
			stampAt(linked, at, placeholder)
			aout := filepath.Join(dir, "a.out")
			if err := os.WriteFile(aout, linked, 0o755); err != nil {
				t.Fatal(err)
			}
			store := blob.Store{Dir: filepath.Join(dir, "blobs")}
			early := Predict(context.Background(), store, treeOf(t, "/kiln/bin/program", aout), opt, stamper)
			defer early.Close()
			<-early.predictDone

			// The go command stamps the program in place and moves it.
			final := bytes.Clone(linked)
			c.stamp(final)
			rewriteInPlace(t, aout, final)
			program := filepath.Join(dir, "program")
			if err := os.Rename(aout, program); err != nil {
				t.Fatal(err)
			}

			opt.Early = early
			l, err := Write(context.Background(), store, treeOf(t, "/kiln/bin/program", program), opt)
			if err != nil {
				t.Fatal(err)
			}
			early.Settle()
			if early.Predicted() != c.take {
				t.Errorf("Write took the prediction: %v, want %v", early.Predicted(), c.take)
			}
			got, err := os.ReadFile(l.Path)
			if err != nil {
				t.Fatal(err)
			}
			inMemory := NewTree()
			inMemory.AddBytes("/kiln/bin/program", final, 0o755)
			if want := layerBytes(t, inMemory, ""); !bytes.Equal(got, want) {
				t.Fatal("the layer differs from the one of the same bytes written without a look")
			}
			want, err := Write(context.Background(), blob.Store{Dir: t.TempDir()}, inMemory, Options{ModTime: opt.ModTime})
			if err != nil {
				t.Fatal(err)
			}
			if l.diffID != want.diffID || l.digest != want.digest || l.size != want.size {
				t.Errorf("layer %v %v %d, want %v %v %d", l.digest, l.diffID, l.size, want.digest, want.diffID, want.size)
			}
			entries, _ := os.ReadDir(store.Dir)
			if len(entries) != 1 || strings.HasPrefix(entries[0].Name(), tmpPrefixForTest) {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the store holds %v, want the layer alone", names)
			}
		})
	}
}

// TestPredictDropped: a predicted layer Write never took leaves nothing
// in the store once the look is settled.
func TestPredictDropped(t *testing.T) {
	data := payload(t)[:GzipHeadSize+2*GzipBlockSize+5]
	dir := t.TempDir()
	aout := writeTemp(t, data)
	store := blob.Store{Dir: filepath.Join(dir, "blobs")}
	early := Predict(context.Background(), store, treeOf(t, "/p", aout), Options{Reuse: filepath.Join(dir, "blocks")}, func([]byte) ([]Patch, error) { return nil, nil })
	<-early.predictDone
	if early.predicted == nil {
		t.Fatal("nothing was predicted")
	}
	early.Settle()
	if entries, _ := os.ReadDir(store.Dir); len(entries) != 0 {
		t.Errorf("%d files left in the store", len(entries))
	}
	early.Close()
}

func treeOf(t *testing.T, name, source string) *Tree {
	t.Helper()
	tr := NewTree()
	if err := tr.AddPrivateFile(name, source, 0o755); err != nil {
		t.Fatal(err)
	}
	return tr
}

// rewriteInPlace writes data over the file at p, as the go command
// stamps a program: the same file, changed where it lies.
func rewriteInPlace(t *testing.T, p string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// tmpPrefixForTest is how blob.Store names files being written.
const tmpPrefixForTest = ".tmp-"

// TestPredictOneFileOnly: a tree with two large private files predicts
// nothing, and Write writes it as without a look.
func TestPredictOneFileOnly(t *testing.T) {
	data := payload(t)[:GzipHeadSize+2*GzipBlockSize+5]
	tr := treeOf(t, "/a", writeTemp(t, data))
	if err := tr.AddPrivateFile("/b", writeTemp(t, data), 0o755); err != nil {
		t.Fatal(err)
	}
	opt := Options{ModTime: time.Unix(1700000000, 0), Reuse: filepath.Join(t.TempDir(), "blocks")}
	store := blob.Store{Dir: t.TempDir()}
	early := Predict(context.Background(), store, tr, opt, func([]byte) ([]Patch, error) { return nil, nil })
	defer early.Close()
	if early.predictDone != nil {
		t.Fatal("a prediction was started for a tree of two large files")
	}
	opt.Early = early
	l, err := Write(context.Background(), store, tr, opt)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Write(context.Background(), blob.Store{Dir: t.TempDir()}, tr, Options{ModTime: opt.ModTime})
	if err != nil {
		t.Fatal(err)
	}
	if l.digest != want.digest || early.Predicted() {
		t.Errorf("layer %s (predicted %v), want %s", l.digest, early.Predicted(), want.digest)
	}
}
