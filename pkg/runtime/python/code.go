package python

import (
	"bufio"
	"errors"
	"fmt"
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

// skipped are left out of the code layer wherever they are: version
// control, kiln's builds, bytecode, virtual environments, tool caches.
var skipped = []string{".git", ".hg", ".svn", ".kiln", "__pycache__", "*.pyc", "*.pyo", ".venv", "venv", ".tox", ".nox", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.egg-info"}

// ignore is a parsed .kilnignore plus the built-in patterns.
type ignore struct {
	patterns []pattern
}

type pattern struct {
	glob     string
	anchored bool // starts with "/": matched against the whole path
	dirOnly  bool // ends with "/"
}

func loadIgnore(dir string) (*ignore, error) {
	ig := &ignore{}
	for _, s := range skipped {
		ig.patterns = append(ig.patterns, pattern{glob: s})
	}
	f, err := os.Open(filepath.Join(dir, IgnoreFile))
	if errors.Is(err, os.ErrNotExist) {
		return ig, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var p pattern
		p.dirOnly = strings.HasSuffix(line, "/")
		line = strings.TrimSuffix(line, "/")
		p.anchored = strings.HasPrefix(line, "/") || strings.Contains(line, "/")
		p.glob = strings.TrimPrefix(line, "/")
		if _, err := path.Match(p.glob, ""); err != nil {
			return nil, fmt.Errorf("%s:%d: bad pattern %q: %v", filepath.Join(dir, IgnoreFile), n, line, err)
		}
		ig.patterns = append(ig.patterns, p)
	}
	return ig, sc.Err()
}

// skip reports whether the slash path rel (relative to the project) is
// left out. A directory holding pyvenv.cfg is a virtual environment,
// whatever its name.
func (ig *ignore) skip(root, rel string, d fs.DirEntry) bool {
	for _, p := range ig.patterns {
		if p.dirOnly && !d.IsDir() {
			continue
		}
		subject := path.Base(rel)
		if p.anchored {
			subject = rel
		}
		if ok, _ := path.Match(p.glob, subject); ok {
			return true
		}
	}
	if d.IsDir() {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel), "pyvenv.cfg")); err == nil {
			return true
		}
	}
	return false
}

// codeTree is the project's files at AppDir, without what ignore skips.
func codeTree(dir string) (*layer.Tree, error) {
	ig, err := loadIgnore(dir)
	if err != nil {
		return nil, err
	}
	t := layer.NewTree()
	err = t.AddHostDirFunc(dir, AppDir, func(rel string, d fs.DirEntry) bool {
		return ig.skip(dir, rel, d)
	})
	return t, err
}
