package output

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// Concurrent SetLast calls each replace "last" whole: none fails on
// another's temporary link, and no temporary link is left.
func TestSetLastConcurrent(t *testing.T) {
	b := Builds{Dir: t.TempDir()}
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	const callers = 8
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := b.SetLast(fmt.Sprintf("fp%d", i)); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("SetLast(fp%d): %v", i, err)
		}
	}
	var valid []string
	for i := range callers {
		valid = append(valid, fmt.Sprintf("fp%d", i))
	}
	if got := b.Last(); !slices.Contains(valid, got) {
		t.Errorf("Last() = %q, want one of %q", got, valid)
	}
	if got := ls(t, b.Dir); !slices.Equal(got, []string{".gitignore", buildsDir, lastLink}) {
		t.Errorf(".kiln holds %q after concurrent SetLast calls", got)
	}
}

// writeFileAtomic creates the directory, and a failed write keeps the old
// file and leaves no temporary file.
func TestWriteFileAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	p := filepath.Join(dir, "images.tar")
	if err := writeAtomic(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := writeFileAtomic(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("writeFileAtomic = %v, want the writer's error", err)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "old" {
		t.Errorf("after a failed write: %q, %v; want the old content", got, err)
	}
	if got := ls(t, dir); !slices.Equal(got, []string{"images.tar"}) {
		t.Errorf("after a failed write the directory holds %q", got)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v, %v; want 0644", fi, err)
	}
}
