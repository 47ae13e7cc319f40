// Package atomicfile replaces files whole. It is kiln's one way of writing
// a file that others may read (or that a crash may interrupt): the index of
// an OCI layout, a build's record, an archive, the hash cache, the docker
// config.
//
// Write and WriteBytes write the new content to a temporary file in the
// target's directory (named ".tmp-<base>-<pid>-<random>", so concurrent writers
// never share one), fsync it, rename it over the target and fsync the
// directory. They promise:
//
//   - Readers see the old content or the new, complete content, never a
//     partial file: the rename is atomic on POSIX file systems.
//   - Once they return nil, the new content survives a crash or power loss
//     (as far as the file system honours fsync): both the file's data and
//     the directory entry naming it have been synced.
//   - On any failure the target is left as it was and the temporary file
//     is removed. Only a process killed mid-write leaves one behind, under
//     the ".tmp-" prefix; CleanStale removes those of a target (a writer
//     holds an flock on its temporary file, so a live writer's is never
//     taken for a dead one's).
//   - Concurrent writers of the same path each replace it whole: the last
//     rename wins and the file is always one writer's complete content.
//
// The target's directory must exist. A symbolic link at the target is
// replaced by the file, not followed.
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TempPrefix starts the names of the temporary files Write creates.
const TempPrefix = ".tmp-"

// Write replaces the file at path with what write writes, with permission
// bits perm (applied as given, not masked by the umask). See the package
// documentation for what it promises.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	return replace(path, perm, true, write)
}

// WriteCache replaces the file at path with data as WriteBytes does, but
// syncs neither the file nor its directory: for caches (.kiln's records,
// remembered hashes) whose readers check what they read and rebuild what
// a crash left damaged or empty. Readers still see the old content or the
// new, whole; only the promise to survive a crash is not made.
func WriteCache(path string, data []byte, perm os.FileMode) error {
	return replace(path, perm, false, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func replace(path string, perm os.FileMode, sync bool, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	// The writer's pid in the name tells CleanStale whether an empty,
	// unlocked temporary is a live writer's, about to lock it.
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-"+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	// Held until the file is closed: CleanStale leaves locked files alone.
	syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	renamed := false
	defer func() {
		// Runs on every failure path, a panic in write included.
		if !renamed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	if !sync {
		return nil
	}
	return SyncDir(dir)
}

// CleanStale removes the temporary files that writers of path killed
// mid-write left in its directory: those no live writer holds a lock on
// (an empty one whose writer still runs is given a few seconds, the moment
// between its creation and its lock). Errors are ignored: a leftover costs
// only space.
func CleanStale(path string) {
	dir, prefix := filepath.Dir(path), TempPrefix+filepath.Base(path)+"-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		young := err != nil || (fi.Size() == 0 && time.Since(fi.ModTime()) < 5*time.Second && writerAlive(e.Name(), prefix))
		if !young && syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// WriteBytes replaces the file at path with data, as Write does.
func WriteBytes(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir fsyncs directory dir, making the entries created, renamed or
// removed in it durable. File systems that cannot sync a directory
// (EINVAL, ENOTSUP) are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// writerAlive reports whether the writer whose pid the temporary's name
// holds (after prefix) may still run: true when the name holds none (an
// older kiln's) or the process exists.
func writerAlive(name, prefix string) bool {
	pidText, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || pid <= 0 {
		return true
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
