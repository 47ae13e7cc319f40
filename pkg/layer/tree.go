// Package layer makes image layers: a Tree of files, directories and links
// is written as a deterministic tar (sorted entries, explicit parent
// directories, fixed owner, modes and times), compressed and hashed as it
// streams to disk, never held whole in memory.
package layer

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Entry is one file system object in a layer.
type Entry struct {
	Name     string // absolute path in the image, e.g. /etc/passwd
	Type     byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	Mode     int64  // permission bits, with setuid, setgid and sticky
	UID, GID int
	Linkname string // target of a symlink
	Source   string // host file with the content of a regular file, or
	Data     []byte // the content itself
	Size     int64  // content size
	// Private marks a Source that only kiln writes (a binary it compiled
	// into its work folder), which is thus known not to change while the
	// layer is written: a large one is then mapped rather than read.
	Private bool
}

// Tree is the content of a layer. Parent directories of added entries are
// implied (root-owned, 0755) unless added explicitly.
type Tree struct {
	entries map[string]*Entry
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{entries: map[string]*Entry{}} }

// Len returns the number of entries added explicitly.
func (t *Tree) Len() int { return len(t.entries) }

func (t *Tree) add(e *Entry) {
	e.Name = path.Clean("/" + e.Name)
	t.entries[e.Name] = e
}

// AddBytes adds a regular file with the given content.
func (t *Tree) AddBytes(name string, data []byte, mode int64) {
	t.add(&Entry{Name: name, Type: tar.TypeReg, Mode: mode, Data: data, Size: int64(len(data))})
}

// AddFile adds a regular file whose content is read from a host file when
// the layer is written.
func (t *Tree) AddFile(name, source string, mode int64) error {
	fi, err := os.Stat(source)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", source)
	}
	t.add(&Entry{Name: name, Type: tar.TypeReg, Mode: mode, Source: source, Size: fi.Size()})
	return nil
}

// AddPrivateFile adds a regular file as AddFile does, for a file only
// kiln writes and nothing changes while the layer is written (a program
// kiln compiled into its work folder): a large one is mapped and its
// bytes used where they lie, rather than read and copied. A project's
// files are added with AddFile: one saved in place during the build must
// not end up in the layer half old, half new.
func (t *Tree) AddPrivateFile(name, source string, mode int64) error {
	if err := t.AddFile(name, source, mode); err != nil {
		return err
	}
	t.entries[name].Private = true
	return nil
}

// AddDir adds a directory with the given mode and owner.
func (t *Tree) AddDir(name string, mode int64, uid, gid int) {
	t.add(&Entry{Name: name, Type: tar.TypeDir, Mode: mode, UID: uid, GID: gid})
}

// AddSymlink adds a symbolic link.
func (t *Tree) AddSymlink(name, target string) {
	t.add(&Entry{Name: name, Type: tar.TypeSymlink, Mode: 0o777, Linkname: target})
}

// AddHostDir adds the content of the host directory src under dest. Files
// keep only their executable bit (0755 or 0644); every entry is owned by
// root. Relative symlinks that stay inside src are kept; absolute links,
// links that leave src, and special files are refused with an error that
// names the file.
func (t *Tree) AddHostDir(src, dest string) error {
	return t.AddHostDirFunc(src, dest, nil)
}

// AddHostDirFunc is AddHostDir leaving out what skip returns true for;
// rel is the slash-separated path relative to src. A skipped directory is
// left out with its content.
func (t *Tree) AddHostDirFunc(src, dest string, skip func(rel string, d fs.DirEntry) bool) error {
	root, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, unwrapPathError(err))
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if skip != nil && rel != "." && skip(filepath.ToSlash(rel), d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := path.Join(dest, filepath.ToSlash(rel))
		switch typ := d.Type(); {
		case typ.IsDir():
			t.AddDir(name, 0o755, 0, 0)
		case typ&fs.ModeSymlink != 0:
			target, err := checkLink(root, p)
			if err != nil {
				return err
			}
			t.AddSymlink(name, target)
		case typ.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, unwrapPathError(err))
			}
			if err := readable(p); err != nil {
				return err
			}
			mode := int64(0o644)
			if fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
			t.add(&Entry{Name: name, Type: tar.TypeReg, Mode: mode, Source: p, Size: fi.Size()})
		default:
			return fmt.Errorf("%s is a %s, which cannot go into an image; remove it or move it out of %s", p, typeName(typ), src)
		}
		return nil
	})
}

// readable checks now, while collecting, that a file can be opened, so an
// unreadable file is reported before any layer is written.
func readable(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w; fix its permissions or remove it", p, unwrapPathError(err))
	}
	return f.Close()
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// checkLink returns the target of the symlink p if it is relative and stays
// inside root.
func checkLink(root, p string) (string, error) {
	target, err := os.Readlink(p)
	if err != nil {
		return "", err
	}
	if filepath.IsAbs(target) {
		return "", fmt.Errorf("symlink %s points to the absolute path %s, which would not exist in the image; use a relative link inside %s or a copy of the file", p, target, root)
	}
	resolved := filepath.Join(filepath.Dir(p), target)
	rel, err := filepath.Rel(root, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("symlink %s points to %s, outside %s; links must stay inside the directory: copy the file in instead", p, target, root)
	}
	return target, nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}

// sorted returns every entry, implied parents included, parents first and
// otherwise in byte order of their paths.
func (t *Tree) sorted() []*Entry {
	all := make(map[string]*Entry, len(t.entries))
	for n, e := range t.entries {
		all[n] = e
		for d := path.Dir(n); d != "/"; d = path.Dir(d) {
			if _, ok := t.entries[d]; !ok {
				all[d] = &Entry{Name: d, Type: tar.TypeDir, Mode: 0o755}
			}
		}
	}
	delete(all, "/")
	out := make([]*Entry, 0, len(all))
	for _, e := range all {
		out = append(out, e)
	}
	sortEntries(out)
	return out
}

// sortEntries orders paths with "/" ranked below every other byte, which
// keeps each directory's content right after it ("a/b" before "a-c").
func sortEntries(es []*Entry) {
	key := func(e *Entry) string { return strings.ReplaceAll(e.Name, "/", "\x00") }
	slices.SortFunc(es, func(a, b *Entry) int { return strings.Compare(key(a), key(b)) })
}

// Fingerprint writes every entry's metadata and the hash of its content to
// w, so two trees that would give the same layer write the same bytes. sum
// returns the hex sha256 of a host file (a cache may answer it).
func (t *Tree) Fingerprint(w io.Writer, sum func(path string) (string, error)) error {
	for _, e := range t.sorted() {
		fmt.Fprintf(w, "%s %c %o %d:%d %q %d", e.Name, e.Type, e.Mode, e.UID, e.GID, e.Linkname, e.Size)
		if e.Type == tar.TypeReg {
			var s string
			if e.Source == "" {
				s = fmt.Sprintf("%x", sha256.Sum256(e.Data))
			} else {
				var err error
				if s, err = sum(e.Source); err != nil {
					return fmt.Errorf("cannot read %s: %w", e.Source, unwrapPathError(err))
				}
			}
			fmt.Fprintf(w, " %s", s)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// ContentSize is the total size of the regular files in the tree.
func (t *Tree) ContentSize() int64 {
	var n int64
	for _, e := range t.entries {
		n += e.Size
	}
	return n
}
