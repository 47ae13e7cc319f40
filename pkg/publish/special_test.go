package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/testutil"
)

var archive = strings.Repeat("archive bytes ", 100000) // 1.4 MB: more than a pipe holds

func writeContent(w io.Writer) error {
	_, err := io.WriteString(w, archive)
	return err
}

// reader reads everything from r in the background.
func reader(r io.Reader) <-chan string {
	got := make(chan string, 1)
	go func() {
		data, _ := io.ReadAll(r)
		got <- string(data)
	}()
	return got
}

func wait(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case s := <-got:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("the reader got nothing in 20 s")
		return ""
	}
}

// TestArchiveIntoFIFO: -o tar: onto a FIFO streams into it (it was
// replaced by a regular file renamed over it).
func TestArchiveIntoFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(p) // blocks until the writer opens it
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		data, _ := io.ReadAll(f)
		got <- string(data)
	}()
	if err := writeArchive(context.Background(), p, nil, writeContent); err != nil {
		t.Fatal(err)
	}
	if s := wait(t, got); s != archive {
		t.Errorf("the FIFO's reader got %d bytes, want %d", len(s), len(archive))
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("%s is no longer a FIFO: %v, %v", p, fi.Mode(), err)
	}
}

// TestArchiveThroughProcFD: a symbolic link to /proc/self/fd/N (here a
// pipe's write end) is written into, and stays a link.
func TestArchiveThroughProcFD(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := reader(r)
	link := filepath.Join(t.TempDir(), "out.tar")
	if err := os.Symlink(fmt.Sprintf("/proc/self/fd/%d", w.Fd()), link); err != nil {
		t.Fatal(err)
	}
	err = writeArchive(context.Background(), link, nil, writeContent)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s := wait(t, got); s != archive {
		t.Errorf("the pipe's reader got %d bytes, want %d", len(s), len(archive))
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symbolic link: %v", link, err)
	}
}

// TestArchiveOntoDirectory: a directory is an error naming it.
func TestArchiveOntoDirectory(t *testing.T) {
	dir := t.TempDir()
	err := writeArchive(context.Background(), dir, nil, writeContent)
	if !errors.Is(err, ErrDirectory) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("writing onto the directory %s: %v, want ErrDirectory naming it", dir, err)
	}
	if got := testutil.Ls(t, dir); len(got) != 0 {
		t.Errorf("the directory holds %q", got)
	}
}

// TestArchiveStream: Stream receives the archive; no file is written.
func TestArchiveStream(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var buf strings.Builder
	if err := writeArchive(context.Background(), "-", &buf, writeContent); err != nil {
		t.Fatal(err)
	}
	if buf.String() != archive {
		t.Errorf("the stream got %d bytes, want %d", buf.Len(), len(archive))
	}
	if got := testutil.Ls(t, dir); len(got) != 0 {
		t.Errorf("streaming wrote files: %q", got)
	}
}

// TestArchiveThroughLinkToFile: a link to a regular file stays a link;
// the file it names is replaced atomically.
func TestArchiveThroughLinkToFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.tar")
	testutil.WriteFile(t, real, "old")
	link := filepath.Join(dir, "link.tar")
	if err := os.Symlink("real.tar", link); err != nil {
		t.Fatal(err)
	}
	if err := writeArchive(context.Background(), link, nil, writeContent); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("%s is no longer a link", link)
	}
	if data, _ := os.ReadFile(real); string(data) != archive {
		t.Errorf("%s holds %d bytes, want the archive", real, len(data))
	}
}

// TestArchiveStaleTemporaries: a write removes the temporary files a
// killed earlier write of the same target left (kill -9 cannot be caught),
// but not one a live writer holds; a cancelled write leaves none.
func TestArchiveStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "images.tar")
	stale := filepath.Join(dir, ".tmp-images.tar-1234")
	testutil.WriteFile(t, stale, "19 MB of a killed write")
	live := filepath.Join(dir, ".tmp-images.tar-5678")
	testutil.WriteFile(t, live, "a live writer's")
	other := filepath.Join(dir, ".tmp-other.tar-1")
	testutil.WriteFile(t, other, "another target's")
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := writeArchive(context.Background(), p, nil, writeContent); err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.Ls(t, dir), []string{".tmp-images.tar-5678", ".tmp-other.tar-1", "images.tar"}; !slices.Equal(got, want) {
		t.Errorf("after the write: %q, want %q (the stale temporary removed, the live one kept)", got, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	err = writeArchive(ctx, p, nil, func(w io.Writer) error {
		if _, err := io.WriteString(w, "partial"); err != nil {
			return err
		}
		cancel()
		_, err := io.WriteString(w, "more")
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled write = %v, want context.Canceled", err)
	}
	if got, want := testutil.Ls(t, dir), []string{".tmp-images.tar-5678", ".tmp-other.tar-1", "images.tar"}; !slices.Equal(got, want) {
		t.Errorf("after a cancelled write: %q, want %q", got, want)
	}
	if data, _ := os.ReadFile(p); string(data) != archive {
		t.Errorf("a cancelled write changed the archive")
	}
}

// TestArchiveOntoCharDevice: a character device is written into, not
// replaced. The device node is made in a tmpfs mounted in a private mount
// namespace (never in /dev): the test runs itself again under unshare.
func TestArchiveOntoCharDevice(t *testing.T) {
	if dir := os.Getenv("KILN_TEST_DEVICE_DIR"); dir != "" {
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			fmt.Println("SKIP: cannot mount a tmpfs:", err)
			return
		}
		dev := filepath.Join(dir, "null")
		if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil { // 1:3, like /dev/null
			fmt.Println("SKIP: mknod refused:", err)
			return
		}
		if err := writeArchive(context.Background(), dev, nil, writeContent); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(dev)
		if err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
			t.Fatalf("%s is no longer a character device: %v", dev, err)
		}
		if got := testutil.Ls(t, dir); !slices.Equal(got, []string{"null"}) {
			t.Fatalf("the tmpfs holds %q", got)
		}
		fmt.Println("DEVICE OK")
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare: cannot make a private mount namespace for a device node")
	}
	dir := t.TempDir()
	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append(args, "--map-root-user")
	}
	cmd := exec.Command(unshare, append(args, os.Args[0], "-test.run=^TestArchiveOntoCharDevice$", "-test.v")...)
	cmd.Env = append(os.Environ(), "KILN_TEST_DEVICE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	switch {
	case strings.Contains(string(out), "DEVICE OK"):
	case err != nil && !strings.Contains(string(out), "--- FAIL"):
		t.Skipf("the sandbox forbids a private mount namespace (unshare %s): %v\n%s", strings.Join(args, " "), err, out)
	case strings.Contains(string(out), "SKIP:"):
		t.Skipf("the sandbox forbids device nodes here:\n%s", out)
	default:
		t.Fatalf("in a private mount namespace:\n%s", out)
	}
}
