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
	// Fresh says that every blob in Dir was hashed as this process wrote
	// or copied it (a build made moments ago): Link then copies them
	// without hashing them again.
	Fresh bool
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

// Link makes the blob h of src available in s as a file of its own, so
// that corrupting one copy can never corrupt the other (a hard link would
// share the bytes): a copy-on-write clone (FICLONE) where the file system
// can make one (Btrfs, XFS, bcachefs, ...), which costs no bytes and no
// reading, else a copy hashed as it is made, which must hash to h (a
// *CorruptError if not, and nothing is stored); from a Fresh store, a copy
// made by the kernel.
func (s Store) Link(src Store, h v1.Hash) error {
	if _, err := os.Stat(s.Path(h)); err == nil {
		return nil
	}
	r, err := os.Open(src.Path(h))
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = s.link(r, h, src.Fresh)
	return err
}

// LinkFile is Link from the open file r, the blob h of a Fresh store
// (opened before that store could move it, as a build's is when the
// build is committed). It reports whether it stored a copy: not when s
// has the blob already.
func (s Store) LinkFile(r *os.File, h v1.Hash) (bool, error) {
	if _, err := os.Stat(s.Path(h)); err == nil {
		return false, nil
	}
	return s.link(r, h, true)
}

// link stores a copy of r as the blob h; fresh says r was hashed as this
// process wrote it, and needs no hashing again.
func (s Store) link(r *os.File, h v1.Hash, fresh bool) (bool, error) {
	w, err := s.Create()
	if err != nil {
		return false, err
	}
	defer w.Abort()
	if clone(w.f, r) == nil {
		return true, w.commitAs(h)
	}
	if fresh {
		// In the kernel (copy_file_range), unhashed.
		if _, err := w.f.ReadFrom(r); err != nil {
			return false, err
		}
		return true, w.commitAs(h)
	}
	if _, err := io.Copy(w, r); err != nil {
		return false, err
	}
	return true, w.commitVerified(h, r.Name())
}

// CorruptError says that a blob's content does not hash to its digest.
type CorruptError struct {
	Digest v1.Hash // what it should hash to
	Got    v1.Hash // what it hashes to
	Path   string  // where it was read from, "" for a stream
}

func (e *CorruptError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("blob %s is corrupt: its content hashes to %s", e.Digest, e.Got)
	}
	return fmt.Sprintf("blob %s is corrupt: %s hashes to %s", e.Digest, e.Path, e.Got)
}

// Put stores what r reads as the blob h, verifying that it hashes to h.
// Content that hashes to something else is a *CorruptError, and is not
// stored.
func (s Store) Put(h v1.Hash, r io.Reader) error {
	w, err := s.Create()
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.commitVerified(h, "")
}

// Writer is a blob being written.
type Writer struct {
	store Store
	f     *os.File
	h     hash.Hash
	n     int64
	done  bool
	err   error // a failed write: the blob cannot be committed
}

// hashAside is the size from which Write hashes beside the file's write
// rather than after it: a layer's blocks (a MiB) are both hashed and
// copied into the page cache, each a few milliseconds per layer, and on
// two cores they overlap. Smaller writes are not worth a goroutine.
const hashAside = 256 << 10

func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	var n int
	var err error
	if len(p) < hashAside {
		n, err = w.f.Write(p)
		w.h.Write(p[:n])
	} else {
		hashed := make(chan struct{})
		go func() {
			defer close(hashed)
			w.h.Write(p)
		}()
		n, err = w.f.Write(p)
		<-hashed
	}
	w.n += int64(n)
	if err != nil {
		// The hash may hold bytes the file does not: never commit.
		w.err = err
	}
	return n, err
}

// Commit stores what was written under its digest and returns the digest
// and size. A file already stored under that digest is replaced (it may be
// a damaged copy of the same size: the new one was hashed as written).
func (w *Writer) Commit() (v1.Hash, int64, error) {
	if w.err != nil {
		w.Abort()
		return v1.Hash{}, 0, w.err
	}
	d := w.digest()
	return d, w.n, w.commitAs(d)
}

func (w *Writer) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

// Verify commits the blob if what was written hashes to h; otherwise it
// discards it and returns a *CorruptError.
func (w *Writer) Verify(h v1.Hash) error { return w.commitVerified(h, "") }

// commitVerified commits the blob if what was written hashes to h, and
// discards it with a *CorruptError naming from if not.
func (w *Writer) commitVerified(h v1.Hash, from string) error {
	if w.err != nil {
		w.Abort()
		return w.err
	}
	if got := w.digest(); got != h {
		w.Abort()
		return &CorruptError{Digest: h, Got: got, Path: from}
	}
	return w.commitAs(h)
}

// commitAs stores the file written under digest d.
func (w *Writer) commitAs(d v1.Hash) error {
	w.done = true
	name := w.f.Name()
	if err := w.f.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Chmod(name, 0o644); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, w.store.Path(d)); err != nil {
		os.Remove(name)
		return err
	}
	return nil
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
