package python

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/runtime"
)

func TestPythonVersion(t *testing.T) {
	cfg := func(env ...string) *v1.ConfigFile {
		c := &v1.ConfigFile{}
		c.Config.Env = env
		return c
	}
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	for _, c := range []struct {
		cfg               *v1.ConfigFile
		setting, requires string
		want, err         string
	}{
		{cfg("PYTHON_VERSION=3.12.7"), "", ">=3.10", "3.12.7", ""},
		{cfg("PYTHON_VERSION=3.12.7"), "3.12", "", "3.12.7", ""},
		{cfg(), "3.11", "", "3.11", ""},
		{cfg("PYTHON_VERSION=3.12.7"), "3.11", "", "", "python.version is 3.11, but base b has Python 3.12.7"},
		{cfg(), "", "", "", "no PYTHON_VERSION in its config"},
		{cfg("PYTHON_VERSION=3.11.2"), "", ">=3.12", "", `base b has Python 3.11.2, and requires-python is ">=3.12"`},
	} {
		got, err := baseVersion(c.cfg, c.setting, "b", amd64, c.requires)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v %q: error %v, want %q", c.cfg.Config.Env, c.setting, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v %q: %q, %v; want %q", c.cfg.Config.Env, c.setting, got, err, c.want)
		}
	}
}

func TestDetectAndResolve(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"py/pyproject.toml":    "[project]\nname = \"x\"\n",
		"req/requirements.txt": "flask\n",
		"both/go.mod":          "module x\n",
		"both/pyproject.toml":  "",
		"py/src/pkg/mod.py":    "",
		"py/tool/go.mod":       "module tool\n",
		"gomod/go.mod":         "module x\n",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for sub, want := range map[string]bool{"py": true, "req": true, "both": false, "gomod": false, "py/src/pkg": true, "py/tool": false} {
		if got, err := (Runtime{}).Detect(filepath.Join(dir, sub)); err != nil || got != want {
			t.Errorf("Detect(%s) = %v, %v; want %v", sub, got, err, want)
		}
	}
	ctx := context.Background()
	res, err := Runtime{}.Resolve(ctx, runtime.Request{Dir: filepath.Join(dir, "py")})
	if err != nil || res.Root != filepath.Join(dir, "py") || len(res.Targets) != 1 || res.Targets[0].Name() != "x" {
		t.Errorf("Resolve in the project = %+v, %v", res, err)
	}
	if _, err := (Runtime{}).Resolve(ctx, runtime.Request{Dir: dir, Args: []string{"py", "req"}}); err == nil || !strings.Contains(err.Error(), "kiln builds on its own") {
		t.Errorf("two Python projects at once: %v", err)
	}
	if _, err := (Runtime{}).Resolve(ctx, runtime.Request{Dir: dir, Args: []string{"py/src/pkg"}}); err == nil || !strings.Contains(err.Error(), "inside the Python project "+filepath.Join(dir, "py")) {
		t.Errorf("a directory inside a Python project: %v", err)
	}
}
