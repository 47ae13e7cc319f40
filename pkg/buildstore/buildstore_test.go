package buildstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/layout"
)

type result struct {
	Fingerprint string   `json:"fingerprint"`
	Images      []string `json:"images"`
}

// commit makes a complete build fp whose build.json is dated at.
func commit(t *testing.T, b Builds, fp string, at time.Time) {
	t.Helper()
	tmp, err := b.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(tmp), tmpBuild) || filepath.Dir(tmp) != filepath.Join(b.Dir, buildsDir) {
		t.Fatalf("Begin made %s, want a %s folder in %s", tmp, tmpBuild, filepath.Join(b.Dir, buildsDir))
	}
	testutil.WriteFile(t, filepath.Join(tmp, "oci", "oci-layout"), layout.LayoutFile)
	if err := b.Commit(tmp, fp, result{Fingerprint: fp, Images: []string{"img-" + fp}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the temporary folder %s is still there after Commit", tmp)
	}
	if err := os.Chtimes(filepath.Join(b.Path(fp), ResultFile), at, at); err != nil {
		t.Fatal(err)
	}
}

func TestBuildsInit(t *testing.T) {
	b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(b.Dir, buildsDir)); err != nil || !fi.IsDir() {
		t.Errorf("builds/ not created: %v", err)
	}
	gi, err := os.ReadFile(filepath.Join(b.Dir, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(gi), "\n"), "*") {
		t.Errorf(".gitignore = %q, want a line \"*\" that ignores everything", gi)
	}
	// An existing .gitignore is left alone.
	testutil.WriteFile(t, filepath.Join(b.Dir, ".gitignore"), "mine\n")
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	if gi, _ := os.ReadFile(filepath.Join(b.Dir, ".gitignore")); string(gi) != "mine\n" {
		t.Errorf("Init replaced an existing .gitignore with %q", gi)
	}
	if got := testutil.Ls(t, b.Dir); !slices.Equal(got, []string{".gitignore", buildsDir}) {
		t.Errorf(".kiln holds %q", got)
	}
}

func TestBuildsCommitLoadLast(t *testing.T) {
	b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
	if got := b.Last(); got != "" {
		t.Errorf("Last() of a new directory = %q, want \"\"", got)
	}
	var r result
	if ok, err := b.Load("aaa", &r); ok || err != nil {
		t.Errorf("Load of a missing build = %v, %v; want false, nil", ok, err)
	}

	now := time.Now()
	commit(t, b, "aaa", now)
	if got := b.Last(); got != "aaa" {
		t.Errorf("Last() = %q after committing aaa", got)
	}
	ok, err := b.Load("aaa", &r)
	if !ok || err != nil || r.Fingerprint != "aaa" || !slices.Equal(r.Images, []string{"img-aaa"}) {
		t.Errorf("Load(aaa) = %v, %v, %+v", ok, err, r)
	}
	if _, err := os.Stat(filepath.Join(Layout(b.Path("aaa")).Root, "oci-layout")); err != nil {
		t.Errorf("the build's layout did not move with it: %v", err)
	}
	// "last" is a relative link, so the project can be moved.
	target, err := os.Readlink(filepath.Join(b.Dir, lastLink))
	if err != nil || filepath.IsAbs(target) {
		t.Errorf("last -> %q, %v; want a relative link", target, err)
	}
	if fi, err := os.Stat(filepath.Join(b.Dir, lastLink, ResultFile)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("last/%s cannot be reached: %v", ResultFile, err)
	}

	commit(t, b, "bbb", now)
	if got := b.Last(); got != "bbb" {
		t.Errorf("Last() = %q after committing bbb", got)
	}
	if err := b.SetLast("aaa"); err != nil {
		t.Fatal(err)
	}
	if got := b.Last(); got != "aaa" {
		t.Errorf("Last() = %q after SetLast(aaa)", got)
	}
	if got := testutil.Ls(t, b.Dir); !slices.Equal(got, []string{".gitignore", buildsDir, lastLink}) {
		t.Errorf(".kiln holds %q: SetLast left a temporary link", got)
	}

	// Committing a fingerprint again replaces the old folder.
	tmp, err := b.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(tmp, "aaa", result{Fingerprint: "aaa", Images: []string{"new"}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Load("aaa", &r); !ok || err != nil || !slices.Equal(r.Images, []string{"new"}) {
		t.Errorf("Load after recommitting = %v, %v, %+v", ok, err, r)
	}
	if _, err := os.Stat(filepath.Join(b.Path("aaa"), "oci")); !os.IsNotExist(err) {
		t.Errorf("the old build folder's content survived a new commit: %v", err)
	}

	// A corrupt build.json is an error that says what to do.
	testutil.WriteFile(t, filepath.Join(b.Path("bbb"), ResultFile), "{")
	ok, err = b.Load("bbb", &r)
	if ok || err == nil || !strings.Contains(err.Error(), b.Path("bbb")) || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("Load of a corrupt build = %v, %v", ok, err)
	}
}

func TestPrune(t *testing.T) {
	base := time.Now().Add(-time.Hour)
	setup := func(t *testing.T) Builds {
		b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
		// b1 oldest ... b5 newest.
		for i, fp := range []string{"b1", "b2", "b3", "b4", "b5"} {
			commit(t, b, fp, base.Add(time.Duration(i)*time.Minute))
		}
		// Leftovers: an interrupted build and a folder without build.json.
		if _, err := b.Begin(); err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, filepath.Join(b.Dir, buildsDir, ".tmp-old", "oci", "blobs", "x"), "x")
		testutil.WriteFile(t, filepath.Join(b.Dir, buildsDir, "incomplete", "oci", "oci-layout"), layout.LayoutFile)
		return b
	}
	builds := func(t *testing.T, b Builds) []string {
		return testutil.Ls(t, filepath.Join(b.Dir, buildsDir))
	}

	tests := []struct {
		name string
		last string // "" keeps what the last commit set (b5)
		keep int
		want []string
	}{
		{"keep 3, last newest", "", 3, []string{"b3", "b4", "b5"}},
		{"keep 3, last old", "b1", 3, []string{"b1", "b4", "b5"}},
		{"keep 1", "b2", 1, []string{"b2"}},
		{"keep 0 keeps last", "b2", 0, []string{"b2"}},
		{"keep more than there are", "", 10, []string{"b1", "b2", "b3", "b4", "b5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			if tt.last != "" {
				if err := b.SetLast(tt.last); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Prune(tt.keep); err != nil {
				t.Fatal(err)
			}
			if got := builds(t, b); !slices.Equal(got, tt.want) {
				t.Errorf("after Prune(%d) with last %s: %q, want %q", tt.keep, b.Last(), got, tt.want)
			}
			var r result
			if ok, err := b.Load(b.Last(), &r); !ok || err != nil {
				t.Errorf("the last build %s can no longer be loaded: %v", b.Last(), err)
			}
		})
	}

	t.Run("no last link", func(t *testing.T) {
		b := setup(t)
		if err := os.Remove(filepath.Join(b.Dir, lastLink)); err != nil {
			t.Fatal(err)
		}
		if err := b.Prune(2); err != nil {
			t.Fatal(err)
		}
		if got, want := builds(t, b), []string{"b4", "b5"}; !slices.Equal(got, want) {
			t.Errorf("after Prune(2) without last: %q, want the 2 newest %q", got, want)
		}
	})

	t.Run("last points at a removed build", func(t *testing.T) {
		b := setup(t)
		if err := b.SetLast("gone"); err != nil {
			t.Fatal(err)
		}
		if err := b.Prune(2); err != nil {
			t.Fatal(err)
		}
		if got, want := builds(t, b), []string{"b4", "b5"}; !slices.Equal(got, want) {
			t.Errorf("after Prune(2) with a dangling last: %q, want the 2 newest %q", got, want)
		}
	})
}

// TestBuildKeepsKeep: Build removes old builds while it makes a new one,
// leaving the folder it builds in alone, and ends with keep builds, the
// new one "last"; a failed build leaves the last one in place.
func TestBuildKeepsKeep(t *testing.T) {
	for _, keep := range []int{1, 2, 3} {
		b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
		for i, fp := range []string{"a", "b", "c", "d"} {
			commit(t, b, fp, time.Now().Add(-time.Hour+time.Duration(i)*time.Minute))
		}
		_, _, _, err := Build(context.Background(), b, "e", keep, nil, func(dir string) (result, error) {
			testutil.WriteFile(t, filepath.Join(dir, "oci", "oci-layout"), layout.LayoutFile)
			// Wait for the old builds to go (but the last, and one fewer
			// than keep), then check this one stayed.
			for deadline := time.Now().Add(10 * time.Second); len(testutil.Ls(t, filepath.Join(b.Dir, buildsDir))) > max(keep, 2) && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if _, err := os.Stat(filepath.Join(dir, "oci", "oci-layout")); err != nil {
				t.Errorf("keep %d: the build under way lost its files to the prune: %v", keep, err)
			}
			return result{Fingerprint: "e"}, nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"b", "c", "d", "e"}[4-keep:]
		if got := testutil.Ls(t, filepath.Join(b.Dir, buildsDir)); !slices.Equal(got, want) || b.Last() != "e" {
			t.Errorf("keep %d: builds %q, last %s; want %q, last e", keep, got, b.Last(), want)
		}
		_, _, _, err = Build(context.Background(), b, "f", keep, nil, func(dir string) (result, error) {
			return result{}, errors.New("compile error")
		}, nil)
		if err == nil || b.Last() != "e" {
			t.Errorf("keep %d: a failed build: %v, last %s; want its error, last e", keep, err, b.Last())
		}
	}
}

// TestDiscard: a scratch folder's programs (large files) are moved into
// the trash and the rest removed at once (an empty folder simply goes);
// the next build that makes something empties the trash; a program that
// cannot be moved there is removed.
func TestDiscard(t *testing.T) {
	b := Builds{Dir: filepath.Join(t.TempDir(), ".kiln")}
	if err := b.Init(); err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	work := filepath.Join(scratch, "kiln-build-1")
	program := strings.Repeat("x", trashAtLeast)
	testutil.WriteFile(t, filepath.Join(work, "server-linux-amd64"), program)
	testutil.WriteFile(t, filepath.Join(work, "wrapper-1", "main.go"), "package main")
	testutil.WriteFile(t, filepath.Join(work, "overlay.json"), "{}")
	empty := filepath.Join(scratch, "kiln-build-2")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	b.Discard(work)
	b.Discard(empty)
	if got := testutil.Ls(t, scratch); len(got) != 0 {
		t.Fatalf("left %q where the folders were", got)
	}
	trash := filepath.Join(b.Dir, trashDir)
	if got := testutil.Ls(t, trash); !slices.Equal(got, []string{"kiln-build-1-server-linux-amd64"}) {
		t.Fatalf("trash holds %q, want the program alone", got)
	}
	// A build that is reused makes nothing: the trash stays.
	commit(t, b, "a", time.Now())
	if _, _, reused, err := Build(context.Background(), b, "a", 3, nil, func(string) (result, error) { return result{}, nil }, nil); err != nil || !reused {
		t.Fatalf("reuse: %v, reused %v", err, reused)
	}
	if got := testutil.Ls(t, trash); len(got) != 1 {
		t.Fatalf("a reused build emptied the trash: %q", got)
	}
	if _, _, _, err := Build(context.Background(), b, "b", 3, nil, func(dir string) (result, error) {
		testutil.WriteFile(t, filepath.Join(dir, "oci", "oci-layout"), layout.LayoutFile)
		return result{Fingerprint: "b"}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Ls(t, trash); len(got) != 0 {
		t.Fatalf("the trash holds %q after a build", got)
	}
	// No trash to move into (a file is in its way): removed at once.
	if err := os.RemoveAll(trash); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, trash, "in the way")
	testutil.WriteFile(t, filepath.Join(work, "server-linux-amd64"), program)
	b.Discard(work)
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Fatalf("the folder whose program could not be moved is still there: %v", err)
	}
}
