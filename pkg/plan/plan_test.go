package plan

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/runtime"
	"github.com/kiln-build/kiln/pkg/runtime/all"
)

func TestChooseRuntime(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"py/pyproject.toml":       "[project]\nname = \"x\"\n",
		"req/requirements.txt":    "flask\n",
		"both/go.mod":             "module x\n",
		"both/pyproject.toml":     "",
		"forced/go.mod":           "module x\n",
		"forced/kiln.yaml":        "runtime: python\n",
		"gopy/pyproject.toml":     "",
		"gopy/kiln.yaml":          "runtime: go\n",
		"gomod/go.mod":            "module x\n",
		"broken/kiln.yaml":        "runtime: ruby\n",
		"broken/requirements.txt": "",
		"py/src/pkg/mod.py":       "",
		"py/tool/go.mod":          "module tool\n",
	} {
		testutil.WriteFile(t, filepath.Join(dir, name), content)
	}
	runtimes := all.Runtimes()
	for arg, want := range map[string]string{"py": "python", "req": "python", "both": "go", "forced": "python", "gopy": "go", "gomod": "go", "./...": "go", "example.com/x": "go", "py/src/pkg": "python", "py/tool": "go"} {
		rt, err := chooseRuntime(Options{Dir: dir, Targets: []string{arg}, Runtimes: runtimes})
		if err != nil || rt.Name() != want {
			t.Errorf("runtime of %s = %v, %v; want %s", arg, rt, err, want)
		}
	}
	if rt, err := chooseRuntime(Options{Dir: filepath.Join(dir, "py"), Runtimes: runtimes}); err != nil || rt.Name() != "python" {
		t.Errorf("no argument in a Python project: %v, %v", rt, err)
	}
	if _, err := chooseRuntime(Options{Dir: dir, Targets: []string{"py", "gomod"}, Runtimes: runtimes}); err == nil || !strings.Contains(err.Error(), "py is a python project and gomod a go one") {
		t.Errorf("mixed runtimes: %v", err)
	}
	if _, err := chooseRuntime(Options{Dir: dir, Targets: []string{"broken"}, Runtimes: runtimes}); err == nil || !strings.Contains(err.Error(), `runtime: "ruby" is not a runtime kiln has; write python or go`) {
		t.Errorf("a bad runtime: %v", err)
	}
}

// fake is a runtime that builds nothing: its targets report what they
// were configured with.
type fake struct{ root string }

func (fake) Name() string                    { return "fake" }
func (fake) Keys() []string                  { return []string{"flags", "targets", "ldflags"} }
func (fake) Detect(dir string) (bool, error) { return true, nil }
func (f fake) Resolve(_ context.Context, req runtime.Request) (*runtime.Resolution, error) {
	return &runtime.Resolution{Root: f.root, Targets: []runtime.Target{&fakeTarget{dir: filepath.Join(f.root, "cmd", "x")}}}, nil
}

type fakeTarget struct {
	dir string
	cfg runtime.Config
}

func (t *fakeTarget) ID() string                   { return "fake/x" }
func (t *fakeTarget) Dir() string                  { return t.dir }
func (t *fakeTarget) Name() string                 { return "x" }
func (t *fakeTarget) Kind() config.Kind            { return config.KindApp }
func (t *fakeTarget) DefaultBase() (string, error) { return "", nil }
func (t *fakeTarget) Configure(_ context.Context, c runtime.Config) error {
	t.cfg = c
	return nil
}
func (t *fakeTarget) Fingerprint(context.Context, io.Writer, v1.Platform) error { return nil }
func (t *fakeTarget) Build(context.Context, blob.Store, v1.Platform, layer.Options) (*runtime.Contribution, error) {
	return &runtime.Contribution{}, nil
}

// A runtime plugs in through Options.Runtimes alone; kiln.yaml is read for
// it, its keys are allowed and other runtimes' keys are refused.
func TestPluggedRuntime(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "kiln.yaml"), "name: example.com/x\nflags: [\"-v={{.Env.V}}\"]\nenv: {A: \"{{.Env.V}}\"}\nlabels: {team: core}\nports: [8080]\nuser: root\n")
	testutil.WriteFile(t, filepath.Join(root, "cmd", "x", "kodata", "f.txt"), "data")
	ctx := context.Background()
	opt := Options{Dir: root, Runtimes: []runtime.Runtime{fake{root: root}}, WorkDir: t.TempDir(), Env: []string{"V=1", "SOURCE_DATE_EPOCH=10"}}
	pl, err := New(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if pl.Runtime.Name() != "fake" || len(pl.Targets) != 1 {
		t.Fatalf("plan: %+v", pl)
	}
	tg := pl.Targets[0]
	ft := tg.Target.(*fakeTarget)
	if tg.ImageName != "example.com/x" || strings.Join(ft.cfg.Settings.Flags, " ") != "-v=1" || strings.Join(tg.Env, " ") != "A=1" {
		t.Errorf("target %+v settings %+v", tg, ft.cfg.Settings)
	}
	if tg.User != "0:0" || strings.Join(tg.Ports, " ") != "8080/tcp" || tg.Labels["team"] != "core" || tg.Labels[LabelCreated] != "1970-01-01T00:00:10Z" {
		t.Errorf("image settings %+v", tg)
	}
	if tg.Data.Kodata != filepath.Join(root, "cmd", "x", "kodata") || tg.Data.Tree == nil {
		t.Errorf("data %+v", tg.Data)
	}
	if len(tg.Platforms) != 1 || tg.Base != nil || ft.cfg.Project.Root != root || ft.cfg.Hashes == nil {
		t.Errorf("platforms %v base %v config %+v", tg.Platforms, tg.Base, ft.cfg)
	}

	testutil.WriteFile(t, filepath.Join(root, "kiln.yaml"), "command: [x]\n")
	if _, err := New(ctx, opt); err == nil || !strings.Contains(err.Error(), "kiln.yaml:1: command is not used by the fake runtime") {
		t.Errorf("a key of another runtime: %v", err)
	}
	testutil.WriteFile(t, filepath.Join(root, "kiln.yaml"), "runtime: go\n")
	if _, err := New(ctx, opt); err == nil || !strings.Contains(err.Error(), `runtime: "go" is not a runtime kiln has; write fake`) {
		t.Errorf("a runtime kiln does not have: %v", err)
	}
	if err := os.Remove(filepath.Join(root, "kiln.yaml")); err != nil {
		t.Fatal(err)
	}
	opt.AllPlatforms = true
	if _, err := New(ctx, opt); err != ErrAllWithoutBase {
		t.Errorf("all platforms without a base: %v", err)
	}
}

// Keys of the Go runtime in a Python project's kiln.yaml are errors that
// name the key, not settings silently ignored.
func TestPythonProjectRefusesGoKeys(t *testing.T) {
	for _, key := range []string{"ldflags: [-s]", "flags: [-tags=x]", "buildEnv: {A: b}"} {
		dir := t.TempDir()
		testutil.WriteFile(t, filepath.Join(dir, "pyproject.toml"), "[project]\nname = \"app\"\n")
		testutil.WriteFile(t, filepath.Join(dir, "kiln.yaml"), "kind: function\n"+key+"\n")
		name, _, _ := strings.Cut(key, ":")
		_, err := New(context.Background(), Options{Dir: dir, WorkDir: t.TempDir(), Env: []string{}})
		if err == nil || !strings.Contains(err.Error(), "kiln.yaml:2: "+name+" is not used by the python runtime") {
			t.Errorf("%s in a Python project: %v", name, err)
		}
	}
}

// TestTargetsNameDirectories: a targets: key that names no directory is an
// error, not a setting that silently applies to nothing.
func TestTargetsNameDirectories(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "cmd", "x", "main.go"), "package main\n")
	testutil.WriteFile(t, filepath.Join(root, "kiln.yaml"), "targets:\n  cmd/x: {}\n  cmd/nope: {ldflags: [-s]}\n")
	opt := Options{Dir: root, Runtimes: []runtime.Runtime{fake{root: root}}, WorkDir: t.TempDir(), Env: []string{}}
	_, err := New(context.Background(), opt)
	if err == nil || !strings.Contains(err.Error(), "targets: cmd/nope is not a directory") {
		t.Errorf("targets: cmd/nope: %v", err)
	}
}

// A name that is not an image name is explained: a 300-character name is
// too long, not "use lowercase letters".
func TestImageNameExplained(t *testing.T) {
	root := t.TempDir()
	opt := Options{Dir: root, Runtimes: []runtime.Runtime{fake{root: root}}, WorkDir: t.TempDir(), Env: []string{}}
	for name, want := range map[string]string{
		strings.Repeat("a", 300): "255",
		"Hello":                  "hello",
	} {
		testutil.WriteFile(t, filepath.Join(root, "kiln.yaml"), "name: "+name+"\n")
		_, err := New(context.Background(), opt)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "use lowercase letters") && len(name) > 255 {
			t.Errorf("name %.20s...: %v, want it to mention %q", name, err, want)
		}
	}
}
