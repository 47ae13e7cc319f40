// Package python is kiln's Python runtime: it reads a Python project
// (pyproject.toml, requirements.txt), installs its dependencies with the
// host's pip for each target platform's wheel tags, and lays out the
// dependencies, the project's code and, for functions, an HTTP wrapper as
// separate layers.
package python

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/internal/lazy"
)

// Marker files: a directory holding one is a Python project.
const (
	PyProject    = "pyproject.toml"
	Requirements = "requirements.txt"
)

// IsProject reports whether dir holds pyproject.toml or requirements.txt.
func IsProject(dir string) bool {
	for _, f := range []string{PyProject, Requirements} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// Project is what kiln reads from a Python project's files.
type Project struct {
	Dir            string            // absolute
	Name           string            // [project].name, else the directory's name
	RequiresPython string            // [project].requires-python, "" if unset
	Dependencies   []string          // [project].dependencies
	Scripts        map[string]string // [project.scripts]: name -> "module:function"
	HasPyProject   bool
	HasRequirement bool // requirements.txt exists
	SrcLayout      bool // code lives under src/
}

type pyproject struct {
	Project struct {
		Name           string            `toml:"name"`
		RequiresPython string            `toml:"requires-python"`
		Dependencies   []string          `toml:"dependencies"`
		Scripts        map[string]string `toml:"scripts"`
	} `toml:"project"`
}

// Load reads the project in dir.
func Load(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p := &Project{Dir: abs, Name: filepath.Base(abs)}
	data, err := os.ReadFile(filepath.Join(abs, PyProject))
	switch {
	case err == nil:
		p.HasPyProject = true
		var pp pyproject
		if _, err := toml.Decode(string(data), &pp); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(abs, PyProject), err)
		}
		if pp.Project.Name != "" {
			p.Name = pp.Project.Name
		}
		p.RequiresPython = strings.TrimSpace(pp.Project.RequiresPython)
		p.Dependencies = pp.Project.Dependencies
		p.Scripts = pp.Project.Scripts
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	if fi, err := os.Stat(filepath.Join(abs, Requirements)); err == nil && fi.Mode().IsRegular() {
		p.HasRequirement = true
	}
	if fi, err := os.Stat(filepath.Join(abs, "src")); err == nil && fi.IsDir() {
		p.SrcLayout = true
	}
	return p, nil
}

var nonName = lazy.Regexp(`[^a-z0-9]+`)

// ImageName is the project name as an image name: lower case, runs of
// other characters as one "-" (PEP 503 normalisation, as pip does).
func (p *Project) ImageName() string {
	n := strings.Trim(nonName().ReplaceAllString(strings.ToLower(p.Name), "-"), "-")
	if n == "" {
		return "app"
	}
	return n
}

// ModuleName is the project name as a Python identifier ("my-app" ->
// "my_app").
func (p *Project) ModuleName() string {
	return strings.ReplaceAll(p.ImageName(), "-", "_")
}

// scriptNames returns the [project.scripts] names, sorted.
func (p *Project) scriptNames() []string {
	var names []string
	for n := range p.Scripts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// findModule looks for module name (a package directory or a .py file) at
// the project root and, for a src layout, under src/. It returns the file
// holding the module's top level ("pkg/__init__.py" or "mod.py", relative
// to the project), or "" if there is none.
func (p *Project) findModule(name string) string {
	rel := strings.ReplaceAll(name, ".", "/")
	for _, dir := range []string{"", "src"} {
		for _, f := range []string{rel + ".py", rel + "/__init__.py"} {
			cand := filepath.Join(dir, f)
			if fi, err := os.Stat(filepath.Join(p.Dir, cand)); err == nil && fi.Mode().IsRegular() {
				return filepath.ToSlash(cand)
			}
		}
	}
	return ""
}

// mainModules returns the top-level packages that have a __main__.py (at
// the root or under src/), sorted.
func (p *Project) mainModules() []string {
	var out []string
	for _, dir := range []string{p.Dir, filepath.Join(p.Dir, "src")} {
		matches, _ := filepath.Glob(filepath.Join(dir, "*", "__main__.py"))
		for _, m := range matches {
			pkg := filepath.Base(filepath.Dir(m))
			if isIdentifier(pkg) && !slices.Contains(out, pkg) {
				out = append(out, pkg)
			}
		}
	}
	slices.Sort(out)
	return out
}

var identRE = lazy.Regexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

func isIdentifier(s string) bool { return identRE().MatchString(s) }
