package python

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Runtime is kiln's Python runtime. A Python project is built whole, into
// one image.
type Runtime struct{}

var _ runtime.Runtime = Runtime{}

// Name is "python".
func (Runtime) Name() string { return "python" }

// Keys are command (an app's command line) and python: (version, libc,
// module).
func (Runtime) Keys() []string { return []string{"command", "python"} }

// Detect reports whether dir is a Python project (pyproject.toml or
// requirements.txt, and no go.mod), or inside one with no Go module in
// between.
func (Runtime) Detect(dir string) (bool, error) {
	if isRoot(dir) {
		return true, nil
	}
	return rootAbove(dir) != "", nil
}

func isRoot(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		return false
	}
	return IsProject(dir)
}

// rootAbove returns the nearest Python project above dir when no go.mod
// is in dir or between them, else "".
func rootAbove(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return ""
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
		if isRoot(d) {
			return d
		}
	}
}

// Resolve takes the one project directory req names.
func (Runtime) Resolve(_ context.Context, req runtime.Request) (*runtime.Resolution, error) {
	args := req.Args
	if len(args) == 0 {
		args = []string{"."}
	}
	if len(args) > 1 {
		return nil, fmt.Errorf("%s is a Python project, which kiln builds on its own: build it alone, and the other arguments in another kiln build", args[0])
	}
	dir := args[0]
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(req.Dir, dir)
	}
	dir = filepath.Clean(dir)
	if !isRoot(dir) {
		if root := rootAbove(dir); root != "" {
			return nil, fmt.Errorf("%s is inside the Python project %s: build %s (a Python project is built whole)", args[0], root, root)
		}
	}
	proj, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return &runtime.Resolution{Root: dir, Targets: []runtime.Target{&target{proj: proj}}}, nil
}

// target is a Python project. Its Builder, made by Configure,
// fingerprints, builds and prepares it to run on the host.
type target struct {
	proj *Project
	*Builder
	kind config.Kind
}

var _ runtime.HostTarget = (*target)(nil)

func (t *target) ID() string   { return t.proj.Dir }
func (t *target) Dir() string  { return t.proj.Dir }
func (t *target) Name() string { return t.proj.ImageName() }

// Kind is the project's kind once configured: declared in kiln.yaml, or
// told from its files.
func (t *target) Kind() config.Kind {
	if t.Builder != nil {
		return t.Builder.Kind()
	}
	return t.kind
}

// DefaultBase is the official slim image of the Python that
// requires-python asks for.
func (t *target) DefaultBase() (string, error) {
	return DefaultBase(t.proj.RequiresPython)
}

// envVersion is PYTHON_VERSION in an image's config, "" when unset.
func envVersion(cfg *v1.ConfigFile) string {
	var v string
	for _, kv := range cfg.Config.Env {
		if s, ok := strings.CutPrefix(kv, "PYTHON_VERSION="); ok {
			v = s
		}
	}
	return v
}

// Configure settles the Python of each base image and the project's kind
// and entry point, checking them with the host's Python.
func (t *target) Configure(ctx context.Context, c runtime.Config) error {
	cfg := c.Project.Config
	if len(c.Bases) == 0 {
		return fmt.Errorf("a Python project needs a base image with Python; set base: in %s", config.FileName)
	}
	libc, err := LibcFor(cfg.Python.Libc, c.BaseRef)
	if err != nil {
		return err
	}
	versions := map[string]string{}
	for i, b := range c.Bases {
		bc, err := b.ConfigFile()
		if err != nil {
			return err
		}
		fromFS := ""
		if envVersion(bc) == "" && cfg.Python.Version == "" {
			var fetch func(context.Context) error
			if c.FetchBase != nil {
				fetch = func(ctx context.Context) error { return c.FetchBase(ctx, i) }
			}
			fromFS, err = filesystemVersion(ctx, b, fetch, filepath.Join(c.Project.StatePath(), "python-bases.json"))
			if err != nil {
				return fmt.Errorf("base %s (%s): reading its file system for its Python: %w; set python.version in %s", c.BaseRef, platform.String(c.Platforms[i]), err, config.FileName)
			}
		}
		v, err := baseVersion(bc, cmp.Or(cfg.Python.Version, fromFS), c.BaseRef, c.Platforms[i], t.proj.RequiresPython)
		if err != nil {
			return err
		}
		versions[platform.String(c.Platforms[i])] = v
	}
	t.kind = c.Settings.Kind
	t.Builder, err = New(ctx, t.proj, Options{
		Kind:    c.Settings.Kind,
		Command: cfg.Command,
		Module:  cfg.Python.Module,
		// A func.yaml's invoke applies to the project at its root.
		CloudEvents: cfg.Func != nil && cfg.Func.Invoke == "cloudevent" && t.proj.Dir == c.Project.Root,
		Versions:    versions,
		Libc:        libc,
		Env:         c.Project.Env,
		WorkDir:     c.WorkDir,
		Hashes:      c.Hashes,
		CacheDir:    filepath.Join(c.Project.StatePath(), "python-deps"),
	})
	return err
}

// baseVersion is the Python of a base image: PYTHON_VERSION in its config
// (as the official images set it), else setting: python.version from
// kiln.yaml, else what the base's file system holds (FilesystemVersion).
// It must satisfy requires-python.
func baseVersion(cfg *v1.ConfigFile, setting, baseRef string, p v1.Platform, requires string) (string, error) {
	fromBase := envVersion(cfg)
	version := fromBase
	switch {
	case fromBase != "" && setting != "":
		a, err := MinorOf(fromBase)
		if err != nil {
			return "", fmt.Errorf("base %s: PYTHON_VERSION=%s: %w", baseRef, fromBase, err)
		}
		if b, _ := MinorOf(setting); a != b {
			return "", fmt.Errorf("python.version is %s, but base %s has Python %s (PYTHON_VERSION in its config): remove python.version or change the base", setting, baseRef, fromBase)
		}
	case fromBase == "" && setting == "":
		return "", fmt.Errorf("base %s does not say which Python it has (no PYTHON_VERSION in its config, as the official python images set, and no usr/lib/pythonX.Y or usr/local/lib/pythonX.Y in its file system): set python.version in %s to its Python's version, e.g. python: {version: \"3.12\"}", baseRef, config.FileName)
	case fromBase == "":
		version = setting
	}
	if _, err := MinorOf(version); err != nil {
		return "", fmt.Errorf("base %s (%s): %w", baseRef, platform.String(p), err)
	}
	if requires != "" {
		allows := Allows
		if v, _ := parseRelease(version); len(v) == 2 {
			// X.Y, as a base's file system tells it: some release of it.
			allows = allowsMinor
		}
		ok, err := allows(requires, version)
		if err != nil {
			return "", err
		}
		if !ok {
			suggest := ""
			if d, err := DefaultBase(requires); err == nil {
				suggest = " (without base:, kiln would use " + d + ")"
			}
			return "", fmt.Errorf("base %s has Python %s, and requires-python is %q: use a base with a Python it allows%s, or change requires-python", baseRef, version, requires, suggest)
		}
	}
	return version, nil
}
