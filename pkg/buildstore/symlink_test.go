package buildstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/layout"
)

// victim makes a directory outside the store with a file in it, and
// returns it and a function that fails the test if it changed.
func victim(t *testing.T) (string, func()) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "victim")
	testutil.WriteFile(t, filepath.Join(dir, "notes.txt"), "x")
	testutil.WriteFile(t, filepath.Join(dir, ".ssh", "id"), "secret")
	testutil.WriteFile(t, filepath.Join(dir, ResultFile), `{"fingerprint":"evil"}`)
	before := testutil.Ls(t, dir)
	return dir, func() {
		t.Helper()
		if got := testutil.Ls(t, dir); !slices.Equal(got, before) {
			t.Errorf("the directory the link points at was changed: %q, was %q", got, before)
		}
		if data, err := os.ReadFile(filepath.Join(dir, ".ssh", "id")); err != nil || string(data) != "secret" {
			t.Errorf("a file outside the store was changed or removed: %q, %v", data, err)
		}
	}
}

func buildOnce(t *testing.T, b Builds, fp string) error {
	t.Helper()
	_, _, _, err := Build(context.Background(), b, fp, 2, nil, func(dir string) (result, error) {
		testutil.WriteFile(t, filepath.Join(dir, "oci", "oci-layout"), layout.LayoutFile)
		return result{Fingerprint: fp}, nil
	}, nil)
	return err
}

// TestSymlinksNeverFollowedOut: a .kiln, or an entry in it, that is a
// symbolic link (it can arrive committed in a cloned repository) is
// refused, never followed: a link at .kiln/builds made the prune step
// delete the contents of the directory it pointed at.
func TestSymlinksNeverFollowedOut(t *testing.T) {
	for _, name := range []string{"", buildsDir, "deps", "hashes.json", ".gitignore", lastLink} {
		t.Run("link at .kiln/"+name, func(t *testing.T) {
			dir, unchanged := victim(t)
			b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
			if name != "" {
				if err := b.Init(); err != nil {
					t.Fatal(err)
				}
				// Old builds that a prune would remove.
				for i, fp := range []string{"old1", "old2"} {
					commit(t, b, fp, time.Now().Add(-time.Hour+time.Duration(i)*time.Minute))
				}
				os.RemoveAll(filepath.Join(b.Dir, name))
			}
			if err := os.Symlink(dir, filepath.Join(b.Dir, name)); err != nil {
				t.Fatal(err)
			}
			err := buildOnce(t, b, "new")
			var le *LinkError
			if !errors.As(err, &le) {
				t.Fatalf("Build with a link at %s = %v, want a LinkError", filepath.Join(b.Dir, name), err)
			}
			t.Log(err)
			unchanged()
			if err := Check(b.Dir); !errors.As(err, &le) {
				t.Errorf("Check = %v, want a LinkError", err)
			}
		})
	}

	t.Run("links among the builds", func(t *testing.T) {
		dir, unchanged := victim(t)
		b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
		commit(t, b, "old", time.Now().Add(-time.Hour))
		for _, n := range []string{"evil", ".tmp-evil"} {
			if err := os.Symlink(dir, filepath.Join(b.Dir, buildsDir, n)); err != nil {
				t.Fatal(err)
			}
		}
		if err := buildOnce(t, b, "new"); err != nil {
			t.Fatal(err)
		}
		unchanged()
		if got := testutil.Ls(t, filepath.Join(b.Dir, buildsDir)); !slices.Equal(got, []string{"new", "old"}) {
			t.Errorf("builds/ holds %q after a prune keeping 2, want the two builds only (links removed, not followed)", got)
		}
	})

	t.Run("last pointing at a build is fine", func(t *testing.T) {
		b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
		if err := buildOnce(t, b, "new"); err != nil {
			t.Fatal(err)
		}
		if err := Check(b.Dir); err != nil {
			t.Errorf("Check of a store kiln made: %v", err)
		}
	})
}

// TestPruneKeepsReusedBuild: a reused build counts as the newest, so a
// concurrent build's prune does not delete the build whose reference the
// other build just printed.
func TestPruneKeepsReusedBuild(t *testing.T) {
	b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
	for i, fp := range []string{"a", "b", "c"} {
		commit(t, b, fp, time.Now().Add(-time.Hour+time.Duration(i)*time.Minute))
	}
	// Build A reuses a (its reference is printed), then build B makes d.
	if err := buildOnce(t, b, "a"); err != nil {
		t.Fatal(err)
	}
	if err := buildOnce(t, b, "d"); err != nil {
		t.Fatal(err)
	}
	got := testutil.Ls(t, filepath.Join(b.Dir, buildsDir))
	if !slices.Contains(got, "a") {
		t.Errorf("builds after reusing a and building d with keep 2: %q; the reused build a, whose reference was just printed, was pruned", got)
	}
	if slices.Contains(got, "b") || slices.Contains(got, "c") {
		t.Errorf("builds after a prune keeping 2: %q; b and c, unused for an hour, should be gone", got)
	}
}
