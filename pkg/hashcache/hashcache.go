// Package hashcache remembers the sha256 of files by what stat says of
// them (size, modification time, inode), as git's index does, so an
// unchanged project is fingerprinted without reading its files again.
package hashcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/pkg/atomicfile"
)

// racyWindow: a file modified this recently may change again within the
// file system's timestamp granularity without its stat changing, so its
// hash is not remembered (git calls these entries "racy").
const racyWindow = 2 * time.Second

type entry struct {
	Size  int64  `json:"s"`
	Mtime int64  `json:"m"`
	Ino   uint64 `json:"i"`
	Sum   string `json:"h"`
}

// Cache maps file paths to content hashes. A nil *Cache hashes every time.
type Cache struct {
	path    string
	mu      sync.Mutex
	entries map[string]entry
	dirty   bool
	read    map[string]bool // the paths Sum or Note was given
}

// Open loads the cache stored at path; a missing or unreadable file gives
// an empty cache.
func Open(path string) *Cache {
	c := &Cache{path: path, entries: map[string]entry{}}
	if data, err := os.ReadFile(path); err == nil {
		json.Unmarshal(data, &c.entries)
	}
	return c
}

// Sum returns the hex sha256 of the file at p, and notes that p was read
// (see Read).
func (c *Cache) Sum(p string) (string, error) {
	c.Note(p)
	return c.SumUnread(p)
}

// SumUnread is Sum for a file the build looks at but does not use (a Go
// file that build constraints leave out): it is not noted as read.
func (c *Cache) SumUnread(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	e := statEntry(fi)
	if c != nil {
		c.mu.Lock()
		old, ok := c.entries[p]
		c.mu.Unlock()
		if ok && old.Size == e.Size && old.Mtime == e.Mtime && old.Ino == e.Ino {
			return old.Sum, nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	e.Sum = hex.EncodeToString(h.Sum(nil))
	if c != nil && Settled(e.Mtime) {
		c.mu.Lock()
		c.entries[p] = e
		c.dirty = true
		c.mu.Unlock()
	}
	return e.Sum, nil
}

// Note records that the build reads the file p, although it does not hash
// it (a listing's entry, say).
func (c *Cache) Note(p string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.read == nil {
		c.read = map[string]bool{}
	}
	c.read[p] = true
	c.mu.Unlock()
}

// Read returns the paths given to Sum and Note since the cache was opened:
// the files the build reads.
func (c *Cache) Read() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.read))
	for p := range c.read {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Unchanged reports whether the file at p still has the stat recorded
// with its hash, without reading it.
func (c *Cache) Unchanged(p string) bool {
	if c == nil {
		return false
	}
	fi, err := os.Stat(p)
	if err != nil {
		return false
	}
	e := statEntry(fi)
	c.mu.Lock()
	old, ok := c.entries[p]
	c.mu.Unlock()
	return ok && old.Size == e.Size && old.Mtime == e.Mtime && old.Ino == e.Ino
}

// Save writes the cache back if anything was added, replacing the file
// atomically (see pkg/atomicfile). It returns why it could not; the cache
// stays dirty then, so a later Save tries again. Concurrent processes
// saving the same path each write a complete file and the last one wins:
// callers that must not lose entries save under their own lock.
func (c *Cache) Save() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	data, err := json.Marshal(c.entries)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteCache(c.path, data, 0o644); err != nil {
		return fmt.Errorf("saving the hash cache: %w", err)
	}
	c.dirty = false
	return nil
}

func statEntry(fi os.FileInfo) entry {
	e := entry{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.Ino = st.Ino
	}
	return e
}

// Settled reports whether a modification time (Unix nanoseconds) is old
// enough to be trusted: a later change cannot share it (see racyWindow).
func Settled(mtime int64) bool {
	return time.Since(time.Unix(0, mtime)) > racyWindow
}

// DirMtime returns a directory's modification time, which changes when a
// file is added, removed or renamed in it; -1 if it cannot be read.
func DirMtime(dir string) int64 {
	fi, err := os.Stat(dir)
	if err != nil {
		return -1
	}
	return fi.ModTime().UnixNano()
}
