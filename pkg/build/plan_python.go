package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/project"
	"github.com/kiln-build/kiln/pkg/runtime/golang"
	"github.com/kiln-build/kiln/pkg/runtime/python"
)

// pythonRoot reports whether the build is of a Python project: an
// argument (default ".") naming a directory whose kiln.yaml says runtime:
// python, or that holds pyproject.toml or requirements.txt and no go.mod
// (unless its kiln.yaml says runtime: go). A Python project is built on its
// own, one per call.
func pythonRoot(opt *Options) (string, bool, error) {
	args := opt.Targets
	if len(args) == 0 {
		args = []string{"."}
	}
	for _, arg := range args {
		if strings.Contains(arg, "...") {
			continue
		}
		dir := arg
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(opt.Dir, arg)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		ok, err := isPythonDir(dir)
		if err != nil {
			return "", false, err
		}
		if !ok {
			if root := pythonAbove(dir); root != "" {
				return "", false, fmt.Errorf("%s is inside the Python project %s: run kiln build in %s (a Python project is built whole)", arg, root, root)
			}
			return "", false, nil
		}
		if len(args) > 1 {
			return "", false, fmt.Errorf("%s is a Python project, which kiln builds on its own: run kiln build once for it and once for the other arguments", arg)
		}
		abs, err := filepath.Abs(dir)
		return abs, err == nil, err
	}
	return "", false, nil
}

// pythonAbove returns the nearest Python project above dir when no go.mod
// is in dir or between them, else "".
func pythonAbove(dir string) string {
	d, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return ""
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
		if ok, err := isPythonDir(d); err == nil && ok {
			return d
		}
	}
}

func isPythonDir(dir string) (bool, error) {
	cfg, err := config.Load(dir)
	if err != nil {
		return false, err
	}
	switch cfg.Runtime {
	case config.RuntimePython:
		return true, nil
	case config.RuntimeGo:
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		return false, nil
	}
	return python.IsProject(dir), nil
}

// makePythonPlan plans the build of the Python project at root: one image,
// on a base with Python (by default the official slim image of the
// Python that requires-python asks for).
func makePythonPlan(ctx context.Context, opt *Options, workDir, root string) (*plan, error) {
	proj, err := project.Load(ctx, root, opt.Env)
	if err != nil {
		return nil, err
	}
	cfg := proj.Config
	where := cfg.Path
	if where == "" {
		where = root
	}
	py, err := python.Load(root)
	if err != nil {
		return nil, err
	}
	baseRef := opt.Base
	if baseRef == "" {
		baseRef = cfg.Base
	}
	if baseRef == "" {
		if baseRef, err = python.DefaultBase(py.RequiresPython); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		opt.Progress.Logf("no base image set; using %s (set base: in %s to change it)", baseRef, config.FileName)
	}
	pln, err := newPlan(ctx, opt, proj, baseRef)
	if err != nil {
		return nil, err
	}
	t, err := newPythonTarget(ctx, pln, py, baseRef, workDir)
	if err != nil {
		pln.close()
		return nil, err
	}
	pln.targets = []*target{t}
	return pln, nil
}

func newPythonTarget(ctx context.Context, pln *plan, py *python.Project, baseRef, workDir string) (*target, error) {
	proj := pln.project
	cfg := proj.Config
	libc, err := python.LibcFor(cfg.Python.Libc, baseRef)
	if err != nil {
		return nil, err
	}
	versions := map[string]string{}
	for _, img := range pln.base.Images {
		v, err := pythonVersion(img.Config, cfg.Python.Version, baseRef, img.Platform, py.RequiresPython)
		if err != nil {
			return nil, err
		}
		versions[platform.String(img.Platform)] = v
	}
	b, err := python.New(ctx, py, python.Options{
		Kind:     cfg.Kind,
		Command:  cfg.Command,
		Module:   cfg.Python.Module,
		Versions: versions,
		Libc:     libc,
		Env:      proj.Env,
		WorkDir:  workDir,
		Hashes:   pln.hashes,
	})
	if err != nil {
		return nil, err
	}
	// The settings shared with Go programs (name, env, labels, ports,
	// user, data) are read as for a package at the project root; the Go
	// builder that newTarget makes is replaced.
	pkg := golang.Package{ImportPath: b.Name(), Dir: py.Dir, ModuleRoot: py.Dir}
	t, err := newTarget(proj, pkg, cfg.For("."), proj.TemplateData(), workDir, pln)
	if err != nil {
		where := cfg.Path
		if where == "" {
			where = py.Dir
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	t.pkg = py.Dir
	t.builder = b
	return t, nil
}

// pythonVersion is the Python of a base image: PYTHON_VERSION in its
// config (as the official images set it), else python.version from
// kiln.yaml. It must satisfy requires-python.
func pythonVersion(cfg *v1.ConfigFile, setting, baseRef string, p v1.Platform, requires string) (string, error) {
	var fromBase string
	for _, kv := range cfg.Config.Env {
		if v, ok := strings.CutPrefix(kv, "PYTHON_VERSION="); ok {
			fromBase = v
		}
	}
	version := fromBase
	switch {
	case fromBase != "" && setting != "":
		a, err := python.MinorOf(fromBase)
		if err != nil {
			return "", fmt.Errorf("base %s: PYTHON_VERSION=%s: %w", baseRef, fromBase, err)
		}
		if b, _ := python.MinorOf(setting); a != b {
			return "", fmt.Errorf("python.version is %s, but base %s has Python %s (PYTHON_VERSION in its config): remove python.version or change the base", setting, baseRef, fromBase)
		}
	case fromBase == "" && setting == "":
		return "", fmt.Errorf("base %s does not say which Python it has (no PYTHON_VERSION in its config, as the official python images set): set python.version in %s to its Python's version, e.g. python: {version: \"3.12\"}", baseRef, config.FileName)
	case fromBase == "":
		version = setting
	}
	if _, err := python.MinorOf(version); err != nil {
		return "", fmt.Errorf("base %s (%s): %w", baseRef, platform.String(p), err)
	}
	if requires != "" {
		ok, err := python.Allows(requires, version)
		if err != nil {
			return "", err
		}
		if !ok {
			suggest := ""
			if d, err := python.DefaultBase(requires); err == nil {
				suggest = " (without base:, kiln would use " + d + ")"
			}
			return "", fmt.Errorf("base %s has Python %s, and requires-python is %q: use a base with a Python it allows%s, or change requires-python", baseRef, version, requires, suggest)
		}
	}
	return version, nil
}

// configures reports whether the target's configured env sets the
// variable of kv, which then wins over what the runtime sets.
func (t *target) configures(kv string) bool {
	key, _, _ := strings.Cut(kv, "=")
	for _, e := range t.env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}
