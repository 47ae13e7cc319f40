package python

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/pkg/layer"
)

// IgnoreFile lists more paths to leave out of the code layer, one
// pattern a line (see docs/python.md).
const IgnoreFile = ".kilnignore"

// ignoreFiles are read, in this order, at the project root: git's and
// docker's ignore files, then kiln's own. A later file's "!pattern" can
// bring back what an earlier one left out.
var ignoreFiles = []struct {
	name     string
	anchored bool // docker's patterns are paths from the root, never names
}{{".gitignore", false}, {".dockerignore", true}, {IgnoreFile, false}}

// skipped are left out of the code layer wherever they are: version
// control, kiln's builds, bytecode, virtual environments, tool caches.
var skipped = []string{".git", ".hg", ".svn", ".kiln", "__pycache__", "*.pyc", "*.pyo", ".venv", "venv", ".tox", ".nox", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info"}

// ignore is the built-in patterns, then those of the ignore files.
type ignore struct {
	patterns []pattern
	// dirs are more directories (slash paths from the root) to leave out:
	// pip's local wheel folders.
	dirs map[string]bool
}

type pattern struct {
	glob     string
	anchored bool // matched against the whole path, not the name
	dirOnly  bool // ends with "/"
	negate   bool // starts with "!": brings back what an earlier pattern left out
}

func loadIgnore(dir string) (*ignore, error) {
	ig := &ignore{dirs: map[string]bool{}}
	for _, s := range skipped {
		ig.patterns = append(ig.patterns, pattern{glob: s})
	}
	for _, f := range ignoreFiles {
		if err := ig.read(filepath.Join(dir, f.name), f.anchored); err != nil {
			return nil, err
		}
	}
	return ig, nil
}

// read adds the patterns of the ignore file name, if there is one.
func (ig *ignore) read(name string, anchored bool) error {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var p pattern
		line, p.negate = strings.CutPrefix(line, "!")
		p.dirOnly = strings.HasSuffix(line, "/")
		line = strings.TrimSuffix(line, "/")
		p.anchored = anchored || strings.Contains(line, "/")
		p.glob = strings.TrimPrefix(strings.TrimPrefix(line, "./"), "/")
		for _, part := range strings.Split(p.glob, "/") {
			if _, err := path.Match(part, ""); err != nil {
				return fmt.Errorf("%s:%d: bad pattern %q: %v", name, n, line, err)
			}
		}
		ig.patterns = append(ig.patterns, p)
	}
	return sc.Err()
}

// match reports whether the glob, in which "**" stands for any number of
// path elements, matches the slash path.
func match(glob, p string) bool {
	g, s := strings.Split(glob, "/"), strings.Split(p, "/")
	var rec func(g, s []string) bool
	rec = func(g, s []string) bool {
		for len(g) > 0 {
			if g[0] == "**" {
				for i := 0; i <= len(s); i++ {
					if rec(g[1:], s[i:]) {
						return true
					}
				}
				return false
			}
			if len(s) == 0 {
				return false
			}
			if ok, _ := path.Match(g[0], s[0]); !ok {
				return false
			}
			g, s = g[1:], s[1:]
		}
		return len(s) == 0
	}
	return rec(g, s)
}

// skip reports whether the slash path rel (relative to the project) is
// left out: what the patterns say (the last that matches wins), pip's
// local wheel folders, virtual environments (a directory holding
// pyvenv.cfg, whatever its name), and kiln's own outputs: OCI image
// layouts (a directory holding oci-layout) and image archives (a .tar
// holding an image).
func (ig *ignore) skip(root, rel string, d fs.DirEntry) bool {
	skip := false
	for _, p := range ig.patterns {
		if p.dirOnly && !d.IsDir() || skip == !p.negate {
			continue
		}
		subject := path.Base(rel)
		if p.anchored {
			subject = rel
		}
		if match(p.glob, subject) {
			skip = !p.negate
		}
	}
	if skip || ig.dirs[rel] {
		return true
	}
	host := filepath.Join(root, filepath.FromSlash(rel))
	if d.IsDir() {
		for _, marker := range []string{"pyvenv.cfg", "oci-layout"} {
			if _, err := os.Stat(filepath.Join(host, marker)); err == nil {
				return true
			}
		}
		return false
	}
	return d.Type().IsRegular() && strings.HasSuffix(rel, ".tar") && isImageArchive(host)
}

// isImageArchive reports whether the tar file holds an image: an OCI
// layout (oci-archive:) or docker save's manifest.json (tar:).
func isImageArchive(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	tr := tar.NewReader(f) // skips file contents by seeking
	for i := 0; i < 10000; i++ {
		h, err := tr.Next()
		if err == io.EOF || err != nil {
			return false
		}
		if n := path.Clean(h.Name); n == "oci-layout" || n == "manifest.json" {
			return true
		}
	}
	return false
}

// codeTree is the project's files at AppDir, without what ignore skips
// and without the directories in exclude (absolute host paths).
func codeTree(dir string, exclude ...string) (*layer.Tree, error) {
	ig, err := loadIgnore(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range exclude {
		if rel, err := filepath.Rel(dir, e); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			ig.dirs[filepath.ToSlash(rel)] = true
		}
	}
	t := layer.NewTree()
	err = t.AddHostDirFunc(dir, AppDir, func(rel string, d fs.DirEntry) bool {
		return ig.skip(dir, rel, d)
	})
	return t, err
}
