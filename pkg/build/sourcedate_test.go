package build_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2024-05-01T10:00:00Z", "GIT_COMMITTER_DATE=2024-05-01T10:00:00Z")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestUnreadFileKeepsCommitDate: in a clean git repository, a new or
// changed file that no build reads leaves the source date at the commit
// time and the digest as it was; a change to a file the build reads (or
// to kiln.yaml) dates the build with the epoch.
func TestUnreadFileKeepsCommitDate(t *testing.T) {
	dir := copyExample(t)
	write(t, filepath.Join(dir, ".gitignore"), ".kiln/\n")
	gitIn(t, dir, "init", "-q")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "init")
	clean := mustBuild(t, opts{Dir: dir})
	if clean.SourceDate != "2024-05-01T10:00:00Z" {
		t.Fatalf("clean tree: source date %s from %s", clean.SourceDate, clean.SourceDateFrom)
	}
	write(t, filepath.Join(dir, "NOTES.txt"), "notes\n")
	write(t, filepath.Join(dir, "README.md"), "changed\n")
	write(t, filepath.Join(dir, "main_windows.go"), "package main\n")
	os.RemoveAll(filepath.Join(dir, ".kiln")) // no reuse: the record says where the date came from
	notes := mustBuild(t, opts{Dir: dir})
	if notes.Images[0].Digest != clean.Images[0].Digest || notes.SourceDate != clean.SourceDate {
		t.Errorf("an untracked NOTES.txt, README and Go file for Windows: %s dated %s (%s), want %s as the clean tree", notes.Images[0].Digest, notes.SourceDate, notes.SourceDateFrom, clean.Images[0].Digest)
	}
	if !strings.Contains(notes.SourceDateFrom, "no build reads") {
		t.Errorf("source date from %q", notes.SourceDateFrom)
	}
	src, err := os.ReadFile(filepath.Join(dir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "main.go"), string(src)+"\n// edited\n")
	edited := mustBuild(t, opts{Dir: dir})
	if edited.SourceDate != "1970-01-01T00:00:00Z" {
		t.Errorf("an edited main.go: source date %s from %s, want the epoch", edited.SourceDate, edited.SourceDateFrom)
	}
}
