package hashcache

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// write sets p's content and modification time, keeping its inode when
// the file exists (os.WriteFile truncates in place).
func write(t *testing.T, p, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func mustSum(t *testing.T, c *Cache, p string) string {
	t.Helper()
	got, err := c.Sum(p)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// old is safely outside the racy window.
var old = time.Now().Add(-time.Hour).Truncate(time.Second)

func TestSumIsCachedByStat(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.go")
	write(t, p, "package a", old)
	c := Open(filepath.Join(dir, "hashes.json"))
	if got := mustSum(t, c, p); got != sum("package a") {
		t.Fatalf("Sum = %s, want %s", got, sum("package a"))
	}
	if !c.Unchanged(p) {
		t.Error("Unchanged is false right after Sum")
	}
	// Same size, same mtime, same inode: the cache answers without
	// reading, so it still gives the old hash. This is what proves the
	// file was not read again.
	write(t, p, "package b", old)
	if got := mustSum(t, c, p); got != sum("package a") {
		t.Errorf("Sum of a file with unchanged stat = %s, want the remembered %s", got, sum("package a"))
	}
	// A nil cache always reads.
	if got := mustSum(t, nil, p); got != sum("package b") {
		t.Errorf("nil cache: Sum = %s, want %s", got, sum("package b"))
	}
}

func TestSumDetectsChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	c := Open(filepath.Join(dir, "hashes.json"))

	write(t, p, "one", old)
	mustSum(t, c, p)

	// Size changes.
	write(t, p, "three", old)
	if c.Unchanged(p) {
		t.Error("Unchanged after the size changed")
	}
	if got := mustSum(t, c, p); got != sum("three") {
		t.Errorf("after a size change Sum = %s, want %s", got, sum("three"))
	}

	// Modification time changes, size does not.
	write(t, p, "THREE", old.Add(time.Second))
	if c.Unchanged(p) {
		t.Error("Unchanged after the mtime changed")
	}
	if got := mustSum(t, c, p); got != sum("THREE") {
		t.Errorf("after an mtime change Sum = %s, want %s", got, sum("THREE"))
	}

	// Inode changes (the file is replaced by a rename), size and mtime do not.
	repl := filepath.Join(dir, "f.new")
	write(t, repl, "three", old.Add(time.Second))
	if err := os.Rename(repl, p); err != nil {
		t.Fatal(err)
	}
	if c.Unchanged(p) {
		t.Error("Unchanged after the inode changed")
	}
	if got := mustSum(t, c, p); got != sum("three") {
		t.Errorf("after an inode change Sum = %s, want %s", got, sum("three"))
	}

	// A removed file is an error, not a remembered hash.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sum(p); !os.IsNotExist(err) {
		t.Errorf("Sum of a removed file = %v, want not-exist", err)
	}
	if c.Unchanged(p) {
		t.Error("Unchanged is true for a removed file")
	}
}

func TestRacyFilesAreNotCached(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	c := Open(filepath.Join(dir, "hashes.json"))
	recent := time.Now().Add(-racyWindow / 4)
	write(t, p, "aaaa", recent)
	if got := mustSum(t, c, p); got != sum("aaaa") {
		t.Fatalf("Sum = %s, want %s", got, sum("aaaa"))
	}
	if c.Unchanged(p) {
		t.Error("a file modified within the racy window was remembered")
	}
	// A change that keeps size and mtime (possible within the timestamp
	// granularity) must be seen.
	write(t, p, "bbbb", recent)
	if got := mustSum(t, c, p); got != sum("bbbb") {
		t.Errorf("racy file: Sum = %s, want the new %s", got, sum("bbbb"))
	}
	// Nothing to save: the file stays absent.
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hashes.json")); !os.IsNotExist(err) {
		t.Errorf("Save with only racy entries wrote the cache (%v)", err)
	}
}

func TestSaveOpenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, ".kiln", "state", "hashes.json") // directory made by Save
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "alpha", old)
	write(t, b, "beta", old)

	c := Open(state)
	mustSum(t, c, a)
	mustSum(t, c, b)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(state))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "hashes.json" {
		t.Errorf("the state directory holds %v, want only hashes.json", entries)
	}
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}

	// Change the content behind the cache's back, keeping the stat: a
	// reopened cache answers from what was saved.
	write(t, a, "ALPHA", old)
	d := Open(state)
	if got := mustSum(t, d, a); got != sum("alpha") {
		t.Errorf("reopened cache: Sum(a) = %s, want the saved %s", got, sum("alpha"))
	}
	if !d.Unchanged(b) {
		t.Error("reopened cache does not know b")
	}
	// Nothing new: Save does not rewrite the file.
	time.Sleep(10 * time.Millisecond)
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(state); err != nil || !fi2.ModTime().Equal(fi.ModTime()) || !os.SameFile(fi, fi2) {
		t.Errorf("Save of an unchanged cache rewrote the file")
	}

	// A corrupt file gives an empty cache, not an error.
	if err := os.WriteFile(state, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := Open(state)
	if e.Unchanged(a) || e.Unchanged(b) {
		t.Error("a corrupt cache file remembered entries")
	}
	if got := mustSum(t, e, a); got != sum("ALPHA") {
		t.Errorf("with a corrupt cache file Sum(a) = %s, want %s", got, sum("ALPHA"))
	}
}

func TestSaveErrorIsReturned(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	write(t, f, "x", old)

	// The state directory cannot be created: its parent is a file
	// (unlike permission bits, this stops root too).
	blocker := filepath.Join(dir, "blocker")
	write(t, blocker, "", old)
	c := Open(filepath.Join(blocker, "state", "hashes.json"))
	mustSum(t, c, f)
	if err := c.Save(); err == nil {
		t.Error("Save under a regular file succeeded")
	}

	// The directory exists, but a directory sits at the cache's path, so
	// the rename fails; nothing is left behind.
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "hashes.json", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	c = Open(filepath.Join(state, "hashes.json"))
	mustSum(t, c, f)
	if err := c.Save(); err == nil {
		t.Fatal("Save over a directory succeeded")
	}
	entries, err := os.ReadDir(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("a failed Save left %v in the state directory", entries)
	}
	// The cache is still dirty, so Save succeeds once the way is clear.
	if err := os.RemoveAll(filepath.Join(state, "hashes.json")); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatalf("Save after the failure was fixed: %v", err)
	}
	if !Open(filepath.Join(state, "hashes.json")).Unchanged(f) {
		t.Error("the retried Save did not store the entry")
	}
}

func TestDirMtime(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	if got := DirMtime(dir); got != old.UnixNano() {
		t.Errorf("DirMtime = %d, want %d", got, old.UnixNano())
	}
	if got := DirMtime(filepath.Join(dir, "missing")); got != -1 {
		t.Errorf("DirMtime of a missing directory = %d, want -1", got)
	}
}
