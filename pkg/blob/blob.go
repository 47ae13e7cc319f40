// Package blob stores content-addressed files: the blobs/sha256 directory of
// an OCI image layout. A blob is written to a temporary file, hashed as it
// is written, and renamed to its digest only when complete, so a process
// killed mid-write never leaves a partial blob under a digest's name.
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tmpPrefix marks files being written; Clean removes leftovers.
const tmpPrefix = ".tmp-"

// Store is a directory of blobs named by their sha256 hex digest.
type Store struct {
	Dir string
}

// Path returns where the blob with digest h lives.
func (s Store) Path(h v1.Hash) string {
	return filepath.Join(s.Dir, h.Hex)
}

// Has reports whether a blob with digest h and the given size is stored.
func (s Store) Has(h v1.Hash, size int64) bool {
	fi, err := os.Stat(s.Path(h))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// Create starts a new blob. Write to it, then Commit or Abort.
func (s Store) Create() (*Writer, error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.Dir, tmpPrefix+"*")
	if err != nil {
		return nil, err
	}
	return &Writer{store: s, f: f, h: sha256.New()}, nil
}

// Clean removes temporary files that a killed writer left behind. Call it
// only while holding the lock on the layout.
func (s Store) Clean() error {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(s.Dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteJSON stores v as a JSON blob and returns its descriptor.
func (s Store) WriteJSON(v any, mt types.MediaType) (v1.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return s.WriteBytes(data, mt)
}

// WriteBytes stores data as a blob and returns its descriptor.
func (s Store) WriteBytes(data []byte, mt types.MediaType) (v1.Descriptor, error) {
	w, err := s.Create()
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		return v1.Descriptor{}, err
	}
	d, n, err := w.Commit()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, nil
}

// Link makes the blob h of src available in s: a hard link where the file
// system allows it, a copy where it does not.
func (s Store) Link(src Store, h v1.Hash) error {
	from, to := src.Path(h), s.Path(h)
	if _, err := os.Stat(to); err == nil {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	if err := os.Link(from, to); err == nil || errors.Is(err, os.ErrExist) {
		return nil
	}
	r, err := os.Open(from)
	if err != nil {
		return err
	}
	defer r.Close()
	return s.Put(h, r)
}

// Put stores what r reads as the blob h, verifying that it hashes to h.
// Content that hashes to something else is an error (it is stored under
// its own digest, which names it correctly, and nothing refers to it).
func (s Store) Put(h v1.Hash, r io.Reader) error {
	w, err := s.Create()
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	got, _, err := w.Commit()
	if err == nil && got != h {
		err = fmt.Errorf("blob %s is corrupt: its content hashes to %s", h, got)
	}
	return err
}

// Writer is a blob being written.
type Writer struct {
	store Store
	f     *os.File
	h     hash.Hash
	n     int64
	done  bool
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Commit stores what was written under its digest and returns the digest
// and size. A blob already stored under that digest is kept.
func (w *Writer) Commit() (v1.Hash, int64, error) {
	w.done = true
	name := w.f.Name()
	if err := w.f.Close(); err != nil {
		os.Remove(name)
		return v1.Hash{}, 0, err
	}
	d := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
	if w.store.Has(d, w.n) {
		return d, w.n, os.Remove(name)
	}
	if err := os.Chmod(name, 0o644); err != nil {
		os.Remove(name)
		return v1.Hash{}, 0, err
	}
	if err := os.Rename(name, w.store.Path(d)); err != nil {
		os.Remove(name)
		return v1.Hash{}, 0, err
	}
	return d, w.n, nil
}

// Abort discards the blob; after Commit it does nothing.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}
