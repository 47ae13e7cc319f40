package publish

import (
	"context"
	"errors"
	"github.com/kiln-build/kiln/internal/testutil"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeArchive creates the directory, and a failed write keeps the old
// file and leaves no temporary file.
func TestWriteFileAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	p := filepath.Join(dir, "images.tar")
	if err := writeArchive(context.Background(), p, nil, func(w io.Writer) error { _, err := w.Write([]byte("old")); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := writeArchive(context.Background(), p, nil, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("writeArchive = %v, want the writer's error", err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "old" {
		t.Errorf("after a failed write: %q, %v; want the old content", got, err)
	}
	if got := testutil.Ls(t, dir); !slices.Equal(got, []string{"images.tar"}) {
		t.Errorf("after a failed write the directory holds %q", got)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v, %v; want 0644", fi, err)
	}
}
