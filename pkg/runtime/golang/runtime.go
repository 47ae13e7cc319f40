package golang

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Runtime is kiln's Go runtime.
type Runtime struct{}

var _ runtime.Runtime = Runtime{}

// Name is "go".
func (Runtime) Name() string { return "go" }

// Keys are the kiln.yaml keys about go build, and targets: (per package
// settings).
func (Runtime) Keys() []string { return []string{"buildEnv", "flags", "ldflags", "targets"} }

// Detect claims every directory: Go is the runtime of last resort, and go
// list explains what is wrong with a directory that holds no Go program.
func (Runtime) Detect(string) (bool, error) { return true, nil }

// Resolve finds the main packages and functions req names, which must all
// be in one module: its root is the project's.
func (Runtime) Resolve(ctx context.Context, req runtime.Request) (*runtime.Resolution, error) {
	pkgs, err := Resolve(ctx, req.Dir, req.Args, req.Env)
	if err != nil {
		return nil, err
	}
	root := pkgs[0].ModuleRoot
	res := &runtime.Resolution{Root: root}
	for _, p := range pkgs {
		if p.ModuleRoot != root {
			return nil, fmt.Errorf("%s and %s are in different modules (%s, %s); build each module on its own", pkgs[0].ImportPath, p.ImportPath, root, p.ModuleRoot)
		}
		res.Targets = append(res.Targets, &target{pkg: p})
	}
	return res, nil
}

// target is a main package or function to build. Its Builder, made by
// Configure, fingerprints and builds it.
type target struct {
	pkg Package
	*Builder
}

var _ runtime.HostTarget = (*target)(nil)

func (t *target) ID() string                   { return t.pkg.ImportPath }
func (t *target) Dir() string                  { return t.pkg.Dir }
func (t *target) Name() string                 { return t.pkg.Name() }
func (t *target) Kind() config.Kind            { return t.pkg.Kind }
func (t *target) DefaultBase() (string, error) { return "", nil }

// Configure checks the declared kind against the code and takes the go
// build settings.
func (t *target) Configure(_ context.Context, c runtime.Config) error {
	s := c.Settings
	switch {
	case s.Kind == config.KindFunction && t.pkg.Kind != config.KindFunction:
		return fmt.Errorf("kind: function, but %s is package main, a program; remove kind, or set kind: app\n%s", t.pkg.ImportPath, Signatures)
	case s.Kind == config.KindApp && t.pkg.Kind != config.KindApp:
		return fmt.Errorf("kind: app, but %s is not package main: it is a function, which kiln serves with a main package of its own; set kind: function, or make it package main with a func main()", t.pkg.ImportPath)
	}
	if fn := c.Project.Config.Func; fn != nil && fn.Invoke == "cloudevent" && t.pkg.Dir == c.Project.Root && (t.pkg.Function == nil || !t.pkg.Function.CloudEvents) {
		return fmt.Errorf("%s says invoke: cloudevent, but %s does not export a CloudEvents Handle: change Handle to one of the CloudEvents signatures, or remove invoke\n%s", fn.Path, t.pkg.ImportPath, Signatures)
	}
	if t.Builder != nil {
		return nil // made by StartEarly, from the same settings
	}
	t.Builder = New(t.pkg, Options{
		Flags:    s.Flags,
		Ldflags:  s.Ldflags,
		BuildEnv: envList(s.BuildEnv),
		Env:      c.Project.Env,
		WorkDir:  c.WorkDir,
		Hashes:   c.Hashes,
		StateDir: filepath.Join(c.Project.StatePath(), "deps"),

		NoEarlyBuild: c.NoEarlyBuild,
		BlockDir:     filepath.Join(c.Project.StatePath(), "blocks"),
	})
	return nil
}

// StartEarly implements runtime.EarlyStarter: it compiles for each of
// c.Platforms whose sources changed since the last build.
func (t *target) StartEarly(ctx context.Context, c runtime.Config) {
	if c.NoEarlyBuild || t.Configure(ctx, c) != nil {
		return // Configure says why, when the plan calls it
	}
	for _, p := range c.Platforms {
		t.Builder.startIfChanged(ctx, p)
	}
}

// BuildHost compiles the program for this machine into dir.
func (t *target) BuildHost(ctx context.Context, dir string) (*runtime.Executable, error) {
	out := filepath.Join(dir, t.Name())
	if err := t.Builder.BuildHost(ctx, out); err != nil {
		return nil, err
	}
	return &runtime.Executable{Command: []string{out}}, nil
}

// envList turns a map of variables into KEY=value entries in key order.
func envList(m map[string]string) []string {
	var out []string
	for _, k := range config.SortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return out
}
