package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestPythonRoot(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
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
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for arg, want := range map[string]bool{"py": true, "req": true, "both": false, "forced": true, "gopy": false, "gomod": false, "./...": false, "example.com/x": false} {
		root, ok, err := pythonRoot(&Options{Dir: dir, Targets: []string{arg}})
		if err != nil || ok != want || (ok && root != filepath.Join(dir, arg)) {
			t.Errorf("pythonRoot(%s) = %q, %v, %v; want %v", arg, root, ok, err, want)
		}
	}
	if _, ok, _ := pythonRoot(&Options{Dir: filepath.Join(dir, "py")}); !ok {
		t.Error("no argument in a Python project is not Python")
	}
	if _, _, err := pythonRoot(&Options{Dir: dir, Targets: []string{"py", "req"}}); err == nil || !strings.Contains(err.Error(), "run kiln build once for it") {
		t.Errorf("two Python projects at once: %v", err)
	}
	if _, _, err := pythonRoot(&Options{Dir: dir, Targets: []string{"py/src/pkg"}}); err == nil || !strings.Contains(err.Error(), "inside the Python project "+filepath.Join(dir, "py")) {
		t.Errorf("a directory inside a Python project: %v", err)
	}
	if _, ok, err := pythonRoot(&Options{Dir: dir, Targets: []string{"py/tool"}}); ok || err != nil {
		t.Errorf("a Go module inside a Python project: %v %v", ok, err)
	}
	if _, _, err := pythonRoot(&Options{Dir: dir, Targets: []string{"broken"}}); err == nil || !strings.Contains(err.Error(), "runtime") {
		t.Errorf("a bad runtime: %v", err)
	}
}

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
		got, err := pythonVersion(c.cfg, c.setting, "b", amd64, c.requires)
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
