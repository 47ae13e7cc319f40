package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// names lists the entries of dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteBytesCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "index.json")
	if err := WriteBytes(p, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(p, []byte("second, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "second, longer" {
		t.Errorf("content = %q, want %q", got, "second, longer")
	}
	if n := names(t, dir); len(n) != 1 || n[0] != "index.json" {
		t.Errorf("directory holds %q, want only index.json", n)
	}
}

// TestWriteCacheReplacesWhole: the unsynced writer for caches still
// replaces the file whole, with the permissions asked, and leaves no
// temporary file.
func TestWriteCacheReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hashes.json")
	for _, content := range []string{"first", "second, longer", "3"} {
		if err := WriteCache(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("content = %q, %v; want %q", got, err, content)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if n := names(t, dir); len(n) != 1 || n[0] != "hashes.json" {
		t.Errorf("directory holds %q, want only hashes.json", n)
	}
	if err := WriteCache(filepath.Join(dir, "missing", "x"), []byte("x"), 0o644); err == nil {
		t.Error("WriteCache into a missing directory succeeded")
	}
}

func TestWriteStreams(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	err := Write(p, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(want))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read back %d bytes that differ from the %d written", len(got), len(want))
	}
}

func TestFailedWriteKeepsOldFileAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "build.json")
	if err := WriteBytes(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	var tmpName string
	err := Write(p, 0o644, func(w io.Writer) error {
		if f, ok := w.(*os.File); ok {
			tmpName = f.Name()
		}
		if _, err := w.Write([]byte("half of the new cont")); err != nil {
			return err
		}
		// The temporary file is in the target's directory, under the prefix.
		if n := names(t, dir); len(n) != 2 {
			t.Errorf("while writing, the directory holds %q, want build.json and one temporary file", n)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want the writer's error", err)
	}
	if !strings.HasPrefix(filepath.Base(tmpName), TempPrefix+"build.json-") || filepath.Dir(tmpName) != dir {
		t.Errorf("temporary file %q is not %s%s-* in %s", tmpName, TempPrefix, "build.json", dir)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "old" {
		t.Errorf("after a failed write the file holds %q, want the old content", got)
	}
	if n := names(t, dir); len(n) != 1 || n[0] != "build.json" {
		t.Errorf("after a failed write the directory holds %q, want only build.json", n)
	}
}

func TestPanicInWriteLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the writer's panic did not propagate")
			}
		}()
		Write(p, 0o644, func(w io.Writer) error {
			w.Write([]byte("x"))
			panic("writer panicked")
		})
	}()
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("after a panic the directory holds %q, want nothing", n)
	}
}

func TestFailureWithoutDirectory(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "missing", "f")
	called := false
	err := Write(p, 0o644, func(w io.Writer) error { called = true; return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write into a missing directory = %v, want ErrNotExist", err)
	}
	if called {
		t.Error("write was called although no temporary file could be created")
	}
}

func TestRenameFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "target")
	// A non-empty directory at the target makes the rename fail.
	if err := os.MkdirAll(filepath.Join(p, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(p, []byte("x"), 0o644); err == nil {
		t.Fatal("WriteBytes over a non-empty directory succeeded")
	}
	if n := names(t, dir); len(n) != 1 || n[0] != "target" {
		t.Errorf("after a failed rename the directory holds %q, want only target", n)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Errorf("the directory at the target was not left as it was: %v, %v", fi, err)
	}
}

func TestPermApplied(t *testing.T) {
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o600, 0o644, 0o755, 0o640} {
		p := filepath.Join(dir, fmt.Sprintf("f%o", perm))
		// Replace an existing file with other bits, too.
		if err := os.WriteFile(p, []byte("old"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := WriteBytes(p, []byte("new"), perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), perm)
		}
	}
}

func TestReplacesSymlinkInsteadOfFollowing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("target"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "target" {
		t.Errorf("the link's target was changed to %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("link was not replaced by a regular file: %v, %v", fi, err)
	}
}

// Readers racing with many writers only ever see one writer's complete
// content, and the file ends up as one complete version.
func TestConcurrentWritersLeaveOneCompleteVersion(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "shared")
	const writers = 8
	const size = 64 << 10
	content := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, size) }
	valid := func(data []byte) bool {
		return len(data) == size && bytes.Count(data, data[:1]) == size && data[0] >= 'a' && data[0] < 'a'+writers
	}
	if err := WriteBytes(p, content(0), 0o644); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	var readerErr error
	var readerWG sync.WaitGroup
	readerWG.Add(1)
	go func() {
		defer readerWG.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := os.ReadFile(p)
			if err != nil {
				readerErr = err
				return
			}
			if !valid(data) {
				readerErr = fmt.Errorf("a reader saw %d bytes that are no writer's complete content", len(data))
				return
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := WriteBytes(p, content(i), 0o644); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readerWG.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if readerErr != nil {
		t.Error(readerErr)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !valid(data) {
		t.Errorf("the file ended up as %d bytes that are no writer's complete content", len(data))
	}
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("the directory holds %q, want only the file", n)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory = %v, want ErrNotExist", err)
	}
}

// TestCleanStaleEmptyOfDeadWriter: the empty temporary of a writer killed
// between creating and writing it is removed at once, not after the few
// seconds given to a live writer that has not locked it yet; a live
// writer's, locked or not yet, is kept.
func TestCleanStaleEmptyOfDeadWriter(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "images.tar")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	temp := func(pid int) string {
		p := filepath.Join(dir, fmt.Sprintf("%s%s-%d-%d", TempPrefix, filepath.Base(target), pid, 12345))
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(p)
	}
	killed := temp(dead.Process.Pid)
	unlocked := temp(os.Getpid()) // alive, between creating and locking
	CleanStale(target)
	got := names(t, dir)
	if slices.Contains(got, killed) {
		t.Errorf("a dead writer's empty temporary %s was kept", killed)
	}
	if !slices.Contains(got, unlocked) {
		t.Errorf("a live writer's temporary %s, not locked yet, was removed", unlocked)
	}
}
