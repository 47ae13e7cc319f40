package e2e

import (
	"archive/tar"
	"bytes"
	"io"
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

// TestStateLinkRefused is issue 10's reproduction: a .kiln/builds that is
// a symbolic link (committed in a cloned repository) made the prune step
// delete the contents of the directory it pointed at.
func TestStateLinkRefused(t *testing.T) {
	victim := filepath.Join(tempDir(t), "victim")
	writeFile(t, filepath.Join(victim, ".ssh", "id_ed25519"), "secret")
	writeFile(t, filepath.Join(victim, "notes.txt"), "x")
	before := testutil.Ls(t, victim)
	for _, link := range []string{".kiln/builds", ".kiln"} {
		t.Run(link, func(t *testing.T) {
			dir := example(t)
			os.RemoveAll(filepath.Join(dir, ".kiln"))
			os.MkdirAll(filepath.Join(dir, ".kiln"), 0o755)
			if link == ".kiln" {
				os.Remove(filepath.Join(dir, ".kiln"))
			}
			symlink(t, victim, filepath.Join(dir, link))
			r := kiln(t, dir, nil, "build")
			if r.code != 1 || !strings.Contains(r.stderr, "is a symbolic link") || !strings.Contains(r.stderr, "rm "+filepath.Join(dir, link)) {
				t.Errorf("kiln build with %s linked out: exit %d, want 1 and an error saying to remove the link:\n%s", link, r.code, r.stderr)
			}
			if got := testutil.Ls(t, victim); !slices.Equal(got, before) {
				t.Fatalf("the directory %s links to now holds %q, was %q", link, got, before)
			}
		})
	}
}

// TestArchiveOutputs: tar:- streams the archive to stdout (the references
// go to stderr), a FIFO is written into and stays a FIFO, and a write
// killed with kill -9 leaves a temporary file that the next write of the
// same archive removes.
func TestArchiveOutputs(t *testing.T) {
	dir := example(t)
	mustKiln(t, dir, "build", "-q")

	t.Run("stdout", func(t *testing.T) {
		r := mustKiln(t, dir, "build", "-q", "--output", "tar:-")
		if names := tarNames(t, []byte(r.stdout)); !slices.Contains(names, "manifest.json") {
			t.Errorf("stdout is not a docker archive: %q", names)
		}
		if !strings.Contains(r.stderr, "docker-archive:-:hello:latest\n") {
			t.Errorf("the reference is not on stderr:\n%s", r.stderr)
		}
		if _, err := os.Lstat(filepath.Join(dir, "-")); err == nil {
			t.Error("tar:- wrote a file named -")
		}
	})

	t.Run("fifo", func(t *testing.T) {
		fifo := filepath.Join(tempDir(t), "p")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			f, err := os.Open(fifo)
			if err != nil {
				got <- nil
				return
			}
			data, _ := io.ReadAll(f)
			f.Close()
			got <- data
		}()
		mustKiln(t, dir, "build", "-q", "--output", "oci-archive:"+fifo)
		select {
		case data := <-got:
			if names := tarNames(t, data); !slices.Contains(names, "index.json") {
				t.Errorf("the FIFO's reader did not get an OCI archive: %q", names)
			}
		case <-time.After(time.Minute):
			t.Fatal("nothing came out of the FIFO")
		}
		if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("%s is no longer a FIFO", fifo)
		}
	})

	t.Run("kill -9", func(t *testing.T) {
		dir := example(t)
		out := filepath.Join(tempDir(t), "images.tar")
		cmd := startSlowBuild(t, dir, "--output", "tar:"+out)
		// Wait until the archive is being written, then kill.
		deadline := time.Now().Add(2 * time.Minute)
		for len(temporaries(t, filepath.Dir(out))) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if len(temporaries(t, filepath.Dir(out))) == 0 {
			t.Skip("the build ended before its archive was written; nothing to clean")
		}
		mustKiln(t, dir, "build", "-q", "--output", "tar:"+out)
		if tmp := temporaries(t, filepath.Dir(out)); len(tmp) != 0 {
			t.Errorf("temporaries of a killed write left after the next write: %q", tmp)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd2 := exec.Command("tar", "tf", out)
		if b, err := cmd2.CombinedOutput(); err != nil || !strings.Contains(string(b), "manifest.json") {
			t.Errorf("the archive is not whole: %v\n%s", err, b)
		}
	})
}

func temporaries(t *testing.T, dir string) []string {
	var out []string
	for _, n := range testutil.Ls(t, dir) {
		if strings.HasPrefix(n, ".tmp-") {
			out = append(out, n)
		}
	}
	return out
}

func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				t.Errorf("reading the archive: %v", err)
			}
			return names
		}
		names = append(names, h.Name)
	}
}

// TestCorruptOutputDoesNotSpread: output layouts shared their blobs with
// .kiln by hard link, so a byte flipped in an output's layer corrupted
// .kiln/last too, and the next --output was invalid (exit 0).
func TestCorruptOutputDoesNotSpread(t *testing.T) {
	dir := example(t)
	out, out2 := filepath.Join(tempDir(t), "out"), filepath.Join(tempDir(t), "out2")
	mustKiln(t, dir, "build", "-q", "--output", "oci:"+out)
	blobs := filepath.Join(out, "blobs", "sha256")
	var biggest string
	var size int64
	for _, n := range testutil.Ls(t, blobs) {
		if fi, err := os.Stat(filepath.Join(blobs, n)); err == nil && fi.Size() > size {
			biggest, size = filepath.Join(blobs, n), fi.Size()
		}
	}
	f, err := os.OpenFile(biggest, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, size/2)
	b[0] ^= 0xff
	f.WriteAt(b, size/2)
	f.Close()
	mustKiln(t, dir, "build", "-q", "--output", "oci:"+out2)
	validateLayout(t, filepath.Join(dir, ".kiln", "last", "oci"))
	validateLayout(t, out2)
}
