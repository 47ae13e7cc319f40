package golang

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchLinked: the linker's output is seen once it is closed, down
// the folders the go command makes under GOTMPDIR, whether they were made
// before their parent was watched or after; files elsewhere are not taken
// for it.
func TestWatchLinked(t *testing.T) {
	for _, made := range []string{"", "go-build1", "go-build1/b001", "go-build1/b001/exe"} {
		t.Run("made before: "+made, func(t *testing.T) {
			dir := t.TempDir()
			if made != "" {
				if err := os.MkdirAll(filepath.Join(dir, made), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			linked, stop := watchLinked(dir)
			defer stop()
			if linked == nil {
				t.Skip("inotify is not available here")
			}
			exe := filepath.Join(dir, "go-build1", "b001", "exe")
			if err := os.MkdirAll(exe, 0o755); err != nil {
				t.Fatal(err)
			}
			// Not the linker's: another name, another folder.
			if err := os.WriteFile(filepath.Join(exe, "a.out.tmp"), []byte("x"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "go-build1", "b001", "a.out"), []byte("x"), 0o755); err != nil {
				t.Fatal(err)
			}
			// The folders may be made faster than they are watched; the go
			// command closes a.out twice (the linker, then the build ID's
			// stamp), so closing it again until it is seen is faithful.
			want := filepath.Join(exe, "a.out")
			deadline := time.After(10 * time.Second)
			for {
				if err := os.WriteFile(want, []byte("program"), 0o755); err != nil {
					t.Fatal(err)
				}
				select {
				case got := <-linked:
					if got != want {
						t.Fatalf("linked %s, want %s", got, want)
					}
					return
				case <-time.After(20 * time.Millisecond):
				case <-deadline:
					t.Fatal("the linker's output was not seen")
				}
			}
		})
	}
}
