package golang

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/kiln-build/kiln/pkg/atomicfile"
	"github.com/kiln-build/kiln/pkg/hashcache"
	"github.com/kiln-build/kiln/pkg/runtime"
)

type depPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	GoFiles    []string
	CgoFiles   []string
	SFiles     []string
	HFiles     []string
	CFiles     []string
	SysoFiles  []string
	EmbedFiles []string
	// IgnoredGoFiles are left out by build constraints.
	IgnoredGoFiles []string
	Module         *struct {
		Path    string
		Version string
		Replace *struct {
			Path    string
			Version string
		}
	}
	Error *struct{ Err string }
}

// deps is the dependency part of a fingerprint and what it was computed
// from. Its lines are the fingerprint text; a line with a File holds that
// file's content hash, recomputed when the file changes. A Go file's Sig is
// what in it decides which packages and files are built (its package
// clause, imports and //go: directives): while every directory keeps its
// files and every changed Go file keeps its Sig, the dependencies are what
// go list said, and go list need not run again.
type deps struct {
	Lines []depLine        `json:"lines"`
	Dirs  map[string]int64 `json:"dirs"`
	// Names are each directory's entries (but .kiln): a directory whose
	// modification time changed (kiln made .kiln in it, an editor saved
	// through a rename) still holds the same files if they are the same.
	// A modification time too recent to be trusted is kept as 0, so the
	// names are compared every time.
	Names map[string][]string `json:"names,omitempty"`
	// Ignored are files build constraints leave out: a change to one may
	// bring it in, so any change sends kiln back to go list.
	Ignored []string `json:"ignored,omitempty"`
	// IgnoredSums are their hashes, for those whose stat cannot be
	// trusted yet (modified moments ago).
	IgnoredSums map[string]string `json:"ignoredSums,omitempty"`

	// dirty says that refresh updated the record (new hashes, new
	// modification times of unchanged directories): it is worth saving.
	dirty bool
}

// dirNames lists dir's entries, but .kiln (kiln's own state), sorted.
func dirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Name() != ".kiln" {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

type depLine struct {
	Text string `json:"t,omitempty"` // the line, when it is not a file's
	File string `json:"f,omitempty"` // the file whose hash the line holds
	Name string `json:"n,omitempty"` // its name in the line
	Sig  string `json:"s,omitempty"` // for Go files
	Sum  string `json:"h,omitempty"` // the file's hash when recorded
}

// refresh returns the fingerprint text for the files as they are now.
// changed says whether any file's content changed since it was recorded
// (d then records the new hashes); ok is false when a change may have
// changed the dependencies, and go list must run.
// justListed says go list has just made d: files its build constraints
// leave out are then not checked, as a file too recent for the hash
// cache to remember (a fresh checkout's) always looks changed.
func (d *deps) refresh(hashes *hashcache.Cache, justListed bool) (text string, changed, ok bool) {
	for dir, mtime := range d.Dirs {
		if now := hashcache.DirMtime(dir); now != mtime {
			names, err := dirNames(dir)
			if err != nil || !slices.Equal(names, d.Names[dir]) {
				return "", true, false
			}
			d.Dirs[dir], d.dirty = now, true
		}
	}
	for _, f := range d.Ignored {
		if !justListed && !hashes.Unchanged(f) {
			if sum, err := hashes.SumUnread(f); err != nil || sum != d.IgnoredSums[f] {
				return "", true, false
			}
		}
	}
	var b strings.Builder
	for i, l := range d.Lines {
		if l.File == "" {
			b.WriteString(l.Text)
			continue
		}
		sum, err := hashes.Sum(l.File)
		if err != nil {
			return "", true, false
		}
		if sum != l.Sum {
			changed = true
			if l.Sig != "" {
				if sig, err := goSig(l.File); err != nil || sig != l.Sig {
					return "", true, false
				}
			}
			d.Lines[i].Sum, d.dirty = sum, true
		}
		fmt.Fprintf(&b, "file %s %s\n", l.Name, sum)
	}
	return b.String(), changed, true
}

// goSig reads what in a Go file decides the build's packages and files:
// the package clause, the imports, and //go: directives (build
// constraints, embed patterns).
func goSig(p string) (string, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	f, err := parser.ParseFile(token.NewFileSet(), p, data, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n", f.Name.Name)
	for _, imp := range f.Imports {
		fmt.Fprintf(&b, "import %s\n", imp.Path.Value)
	}
	// Directives anywhere in the file: //go:embed stands by declarations
	// past the imports, so scan the text rather than the parsed comments.
	for _, line := range bytes.Split(data, []byte("\n")) {
		if t := bytes.TrimSpace(line); bytes.HasPrefix(t, []byte("//go:")) || bytes.HasPrefix(t, []byte("// +build")) {
			fmt.Fprintf(&b, "%s\n", t)
		}
	}
	return b.String(), nil
}

func (b *Builder) depsPath(key [32]byte) string {
	return filepath.Join(b.opt.StateDir, fmt.Sprintf("%x.json", key[:12]))
}

func (b *Builder) loadDeps(key [32]byte) *deps {
	if b.opt.StateDir == "" {
		return nil
	}
	data, err := os.ReadFile(b.depsPath(key))
	if err != nil {
		return nil
	}
	var d deps
	if json.Unmarshal(data, &d) != nil {
		return nil
	}
	return &d
}

// saveDeps keeps d, freshly refreshed, for the next run. A directory
// modified too recently for its modification time to be trusted is kept
// with 0, so that the next run compares its names.
func (b *Builder) saveDeps(key [32]byte, d *deps) {
	if b.opt.StateDir == "" {
		return
	}
	saved := *d
	saved.Dirs = make(map[string]int64, len(d.Dirs))
	for dir, mtime := range d.Dirs {
		if !hashcache.Settled(mtime) {
			mtime = 0
		}
		saved.Dirs[dir] = mtime
	}
	data, err := json.Marshal(saved)
	if err != nil || os.MkdirAll(b.opt.StateDir, 0o755) != nil {
		return
	}
	atomicfile.WriteCache(b.depsPath(key), data, 0o644) // a cache: failing to keep it costs the next run a go list
}

// listDeps runs go list for p and describes every non-standard package
// the program depends on: the module version for packages in the
// read-only module cache, the content of each file for all others.
func (b *Builder) listDeps(ctx context.Context, p v1.Platform, ge goEnv) (*deps, error) {
	main, err := b.mainArgs()
	if err != nil {
		return nil, err
	}
	// The generated main package exists only in the overlay: its content
	// is in the fingerprint's key, so it is neither hashed nor watched here.
	var generated string
	if b.wrap != nil {
		generated = filepath.Dir(b.wrap.file)
	}
	args := []string{"list", "-deps", "-json=ImportPath,Dir,Standard,GoFiles,CgoFiles,SFiles,HFiles,CFiles,SysoFiles,EmbedFiles,IgnoredGoFiles,Module,Error"}
	args = append(args, b.opt.Flags...)
	args = append(args, main...)
	cmd := goCommand(ctx, b.pkg.ModuleRoot, b.env(p), args...)
	runtime.LogCommand(ctx, cmd)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the dependencies of %s: %s", b.pkg.ImportPath, firstNonEmpty(strings.TrimSpace(stderr.String()), err.Error()))
	}
	d := &deps{Dirs: map[string]int64{}, Names: map[string][]string{}}
	text := func(format string, args ...any) {
		d.Lines = append(d.Lines, depLine{Text: fmt.Sprintf(format, args...)})
	}
	modCache := ge.GOMODCACHE + string(filepath.Separator)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var dp depPackage
		if err := dec.Decode(&dp); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading go list output: %w", err)
		}
		if dp.Standard {
			continue
		}
		text("pkg %s\n", dp.ImportPath)
		if dp.Error != nil {
			// Let go build report it; the message keeps the fingerprint
			// from matching a good build.
			text("error %q\n", dp.Error.Err)
		}
		if dp.Module != nil && dp.Module.Version != "" && strings.HasPrefix(dp.Dir, modCache) {
			text("mod %s@%s\n", dp.Module.Path, dp.Module.Version)
			if r := dp.Module.Replace; r != nil {
				text("replace %s@%s\n", r.Path, r.Version)
			}
			continue
		}
		if dp.Dir == generated {
			continue
		}
		if err := d.watch(dp.Dir); err != nil {
			return nil, err
		}
		goFiles := slices.Concat(dp.GoFiles, dp.CgoFiles)
		files := slices.Concat(goFiles, dp.SFiles, dp.HFiles, dp.CFiles, dp.SysoFiles, dp.EmbedFiles)
		for _, f := range files {
			full := filepath.Join(dp.Dir, f)
			if _, err := b.opt.Hashes.Sum(full); err != nil {
				return nil, fmt.Errorf("reading %s: %w", full, err)
			}
			l := depLine{File: full, Name: f}
			// Left without its hash: the refresh after go list records
			// it, and sees files changed meanwhile.
			if slices.Contains(goFiles, f) {
				if l.Sig, err = goSig(full); err != nil {
					l.Sig = "unparsable" // go build will say why
				}
			}
			d.Lines = append(d.Lines, l)
			// Embedded directories: files added to them must be seen.
			if dir := filepath.Dir(full); dir != dp.Dir {
				if err := d.watch(dir); err != nil {
					return nil, err
				}
			}
		}
		for _, f := range dp.IgnoredGoFiles {
			full := filepath.Join(dp.Dir, f)
			if sum, err := b.opt.Hashes.SumUnread(full); err == nil {
				d.Ignored = append(d.Ignored, full)
				if d.IgnoredSums == nil {
					d.IgnoredSums = map[string]string{}
				}
				d.IgnoredSums[full] = sum
			}
		}
	}
	return d, nil
}

// watch records dir's modification time and, when that is old enough to
// say that nothing was added or removed while go list ran, its names.
func (d *deps) watch(dir string) error {
	if _, ok := d.Dirs[dir]; ok {
		return nil
	}
	mtime := hashcache.DirMtime(dir)
	d.Dirs[dir] = mtime
	if !hashcache.Settled(mtime) {
		return nil // no names: the next build lists again
	}
	names, err := dirNames(dir)
	if err != nil {
		return err
	}
	d.Names[dir] = names
	return nil
}
