// Package buildstore keeps a project's builds in its .kiln directory and
// reuses them: Build is a caching layer around a builder, keyed by the
// fingerprint of everything that can change what it makes.
package buildstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/pkg/atomicfile"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/lock"
)

// Builds is a project's .kiln directory. Each build is a folder named by
// the fingerprint of its inputs, holding an OCI layout (oci/) and the
// build's result (build.json); "last" links to the newest. A build is
// written under a temporary name and renamed when complete, and "last" is
// replaced atomically, so a build killed at any moment leaves the previous
// one usable.
//
//	.kiln/
//	  builds/<fingerprint>/oci/        OCI image layout
//	  builds/<fingerprint>/build.json  what was built
//	  last -> builds/<fingerprint>
//	  trash/                           compiled programs, removed later
type Builds struct {
	Dir string
	// Verify, if set, checks a stored build before it is reused; a build
	// it rejects is built again.
	Verify func(dir string) error
	// Logf, if set, is told when a damaged build is built again.
	Logf func(format string, args ...any)
}

func (b Builds) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

const (
	buildsDir  = "builds"
	trashDir   = "trash"
	lastLink   = "last"
	ResultFile = "build.json"
	tmpBuild   = ".tmp-"
)

// Init creates the directory, with a .gitignore that keeps it out of git
// (an untracked .kiln would make the work tree look modified and so change
// the source date).
func (b Builds) Init() error {
	if err := Check(b.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(b.Dir, buildsDir), 0o755); err != nil {
		return err
	}
	gi := filepath.Join(b.Dir, ".gitignore")
	if _, err := os.Stat(gi); errors.Is(err, os.ErrNotExist) {
		return atomicfile.WriteBytes(gi, []byte("# Created by kiln: builds are not source.\n*\n"), 0o644)
	}
	return nil
}

// WithLock runs fn holding the store's lock.
func (b Builds) WithLock(ctx context.Context, fn func() error) error {
	if err := Check(b.Dir); err != nil {
		return err
	}
	release, err := lock.Lock(ctx, b.Dir, nil)
	if err != nil {
		return err
	}
	defer release()
	return fn()
}

// Path returns the folder of the build with fingerprint fp.
func (b Builds) Path(fp string) string {
	return filepath.Join(b.Dir, buildsDir, fp)
}

// Layout returns the OCI layout inside a build folder.
func Layout(dir string) layout.Layout {
	return layout.Layout{Root: filepath.Join(dir, "oci"), Cache: true}
}

// Build returns the record and folder of the build whose fingerprint is
// fp: the stored one if there is one (reused is then true), else the one
// build makes in a new folder, which is stored under fp, becomes "last",
// and leaves only keep complete builds in the store. It holds the store's
// lock throughout, waiting (and calling waiting once) while another
// process holds it, and calls underLock, if set, before releasing it.
func Build[R any](ctx context.Context, b Builds, fp string, keep int, waiting func(), build func(dir string) (R, error), underLock func() error) (rec R, dir string, reused bool, err error) {
	if err := Check(b.Dir); err != nil {
		return rec, "", false, err
	}
	release, err := lock.Lock(ctx, b.Dir, waiting)
	if err != nil {
		return rec, "", false, err
	}
	defer release()
	defer func() {
		if underLock != nil {
			if e := underLock(); err == nil {
				err = e
			}
		}
	}()
	ok, err := b.Load(fp, &rec)
	if err == nil && ok && b.Verify != nil {
		err = b.Verify(b.Path(fp))
	}
	if err != nil {
		// A damaged build is not reused: it is built again, under the
		// same name, and Commit replaces it.
		b.logf("build %s is damaged (%v); building it again", fp[:min(12, len(fp))], err)
		ok = false
	}
	if ok {
		if err := b.SetLast(fp); err != nil {
			return rec, "", false, err
		}
		// Reused is used: Prune ranks builds by their last use, so the
		// build whose reference is about to be printed is the newest.
		now := time.Now()
		if err := os.Chtimes(filepath.Join(b.Path(fp), ResultFile), now, now); err != nil {
			return rec, "", false, err
		}
		return rec, b.Path(fp), true, nil
	}
	tmp, err := b.Begin()
	if err != nil {
		return rec, "", false, err
	}
	defer os.RemoveAll(tmp) // gone after Commit renames it
	// Old builds are removed while this one is made (removing one of
	// many megabytes takes milliseconds, which the compiler hides),
	// keeping one fewer, as this one will join them. They are only
	// clutter: failing to remove them fails nothing.
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		_ = b.prune(keep-1, filepath.Base(tmp))
		b.emptyTrash()
	}()
	rec, err = build(tmp)
	<-pruned
	if err != nil {
		return rec, "", false, err
	}
	if err := b.Commit(tmp, fp, rec); err != nil {
		return rec, "", false, err
	}
	// What is left over: with keep 1, the build "last" was until now.
	_ = b.Prune(keep)
	return rec, b.Path(fp), false, nil
}

// Discard removes dir, a build's scratch folder, at little cost to the
// build: its large files (the programs it compiled) are moved into the
// store's trash (a rename, when both are on one file system), which the
// next build that makes something empties while its compiler runs, and
// the rest is removed at once. Removing a program of many megabytes costs
// the kernel milliseconds (freeing its pages), which would otherwise be
// the build's. Nothing else goes into the trash: generated sources never
// land in the project, even in .kiln.
func (b Builds) Discard(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Size() >= trashAtLeast {
			b.trash(filepath.Join(dir, e.Name()))
		}
	}
	os.RemoveAll(dir)
}

// trashAtLeast is the size from which Discard moves a file rather than
// removing it: a program's.
const trashAtLeast = 1 << 20

// trash moves the file p into the trash, named after its folder and
// itself.
func (b Builds) trash(p string) {
	trash := filepath.Join(b.Dir, trashDir)
	if Check(b.Dir) == nil && os.MkdirAll(trash, 0o755) == nil {
		os.Rename(p, filepath.Join(trash, filepath.Base(filepath.Dir(p))+"-"+filepath.Base(p)))
	}
}

// emptyTrash removes what Discard moved into the trash. Another process
// may be emptying it too, or adding to it: each entry is whole.
func (b Builds) emptyTrash() {
	trash := filepath.Join(b.Dir, trashDir)
	entries, err := os.ReadDir(trash)
	if err != nil {
		return
	}
	for _, e := range entries {
		os.RemoveAll(filepath.Join(trash, e.Name()))
	}
}

// Load reads the result of the complete build fp into v. It reports false
// if there is no such build.
func (b Builds) Load(fp string, v any) (bool, error) {
	return LoadDir(b.Path(fp), v)
}

// LoadDir reads the result of the complete build in the folder dir into
// v. It reports false if dir holds no complete build.
func LoadDir(dir string, v any) (bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s is corrupt (%v); remove it and build again", dir, err)
	}
	return true, nil
}

// Begin creates a temporary folder for a new build.
func (b Builds) Begin() (string, error) {
	if err := b.Init(); err != nil {
		return "", err
	}
	return os.MkdirTemp(filepath.Join(b.Dir, buildsDir), tmpBuild+"*")
}

// Commit saves result in the temporary build folder tmp, renames it to the
// fingerprint's folder and points "last" at it.
func (b Builds) Commit(tmp, fp string, result any) error {
	data, err := json.MarshalIndent(result, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteCache(filepath.Join(tmp, ResultFile), append(data, '\n'), 0o644); err != nil {
		return err
	}
	dst := b.Path(fp)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return b.SetLast(fp)
}

// SetLast points "last" at build fp, replacing the link atomically. The
// new link is made under a name of its own (.tmp-last-<random>), so
// concurrent calls never remove or replace each other's.
func (b Builds) SetLast(fp string) error {
	link := filepath.Join(b.Dir, lastLink)
	tmp := filepath.Join(b.Dir, tmpBuild+lastLink+"-"+rand.Text())
	if err := os.Symlink(filepath.Join(buildsDir, fp), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Last returns the fingerprint that "last" points at, or "".
func (b Builds) Last() string {
	target, err := os.Readlink(filepath.Join(b.Dir, lastLink))
	if err != nil {
		return ""
	}
	return filepath.Base(target)
}

// Prune removes the folders of interrupted builds and all but the keep
// most recently used complete builds (built or reused: a reuse counts as
// a use, so the reference a build printed stays valid at least until the
// next build of the project, even a concurrent one, when keep is 2 or
// more); the one "last" points at is always kept. Entries that are symbolic links are removed (the link
// only, never what it points at). Call it only while holding the lock on
// Dir.
func (b Builds) Prune(keep int) error {
	return b.prune(keep, "")
}

// prune is Prune, but leaves the folder named building (a build under
// way) alone.
func (b Builds) prune(keep int, building string) error {
	dir := filepath.Join(b.Dir, buildsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type build struct {
		name string
		mod  int64
	}
	var complete []build
	last := b.Last()
	lastFound := false
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 || !e.IsDir() {
			// Not a folder kiln made: remove the entry itself (os.Remove
			// never follows a link).
			if err := os.Remove(p); err != nil {
				return err
			}
			continue
		}
		if e.Name() == building {
			continue
		}
		if strings.HasPrefix(e.Name(), tmpBuild) {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			continue
		}
		if e.Name() == last {
			lastFound = true
			continue
		}
		fi, err := os.Stat(filepath.Join(p, ResultFile))
		if err != nil {
			// Not a complete build: nothing can use it.
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			continue
		}
		complete = append(complete, build{e.Name(), fi.ModTime().UnixNano()})
	}
	slices.SortFunc(complete, func(a, b build) int { return cmp.Compare(b.mod, a.mod) })
	if keep > 0 && lastFound {
		keep-- // "last" counts among those kept
	}
	for i, c := range complete {
		if i >= keep {
			if err := os.RemoveAll(filepath.Join(dir, c.name)); err != nil {
				return err
			}
		}
	}
	return nil
}
