package golang

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/testutil"
)

func TestPackageName(t *testing.T) {
	for ip, want := range map[string]string{
		"example.com/hello":            "hello",
		"example.com/tool/cmd/api":     "api",
		"example.com/tool/v2":          "tool",
		"example.com/tool/v2/cmd/kiln": "kiln",
	} {
		if got := (Package{ImportPath: ip}).Name(); got != want {
			t.Errorf("Name(%s) = %s, want %s", ip, got, want)
		}
	}
}

func module(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestResolve(t *testing.T) {
	dir := module(t, map[string]string{
		"go.mod":           "module example.com/m\n\ngo 1.22\n",
		"main.go":          "package main\n\nfunc main() {}\n",
		"cmd/a/main.go":    "package main\n\nfunc main() {}\n",
		"internal/x/x.go":  "package x\n",
		"testdata/t/t.go":  "package main\n",
		"cmd/b/b_test.go":  "package b\n",
		"cmd/b/doc.go":     "package b\n",
		"cmd/c/ignored.go": "//go:build never\n\npackage main\n",
	})
	pkgs, err := Resolve(context.Background(), dir, []string{"./..."}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.ImportPath)
		if p.ModuleRoot != dir {
			t.Errorf("%s: module root %s, want %s", p.ImportPath, p.ModuleRoot, dir)
		}
	}
	if strings.Join(got, " ") != "example.com/m example.com/m/cmd/a" {
		t.Errorf("./... resolved to %v, want the two main packages", got)
	}
	if _, err := Resolve(context.Background(), dir, []string{"./internal/x"}, os.Environ()); err == nil || !strings.Contains(err.Error(), "package x exports no func Handle or func New") {
		t.Errorf("a library named directly: %v", err)
	}
	if _, err := Resolve(context.Background(), t.TempDir(), nil, os.Environ()); err == nil || !strings.Contains(err.Error(), "go mod init") {
		t.Errorf("outside a module: %v", err)
	}
}

// TestResolveDependencyMain: a main package of a required module, named by
// import path, is built in the main module (whose go.mod chooses its
// version and whose root holds .kiln), not in the module cache.
func TestResolveDependencyMain(t *testing.T) {
	env := append(os.Environ(), testutil.GoProxy(t, map[string]map[string]string{
		"example.com/tool": {
			"go.mod":           "module example.com/tool\n\ngo 1.22\n",
			"cmd/tool/main.go": "package main\n\nfunc main() { println(\"tool\") }\n",
		},
	})...)
	dir := module(t, map[string]string{
		"go.mod":  "module example.com/m\n\ngo 1.22\n\nrequire example.com/tool v1.0.0\n",
		"main.go": "package main\n\nimport _ \"example.com/tool/cmd/tool\"\n\nfunc main() {}\n",
	})
	cmd := exec.Command("go", "mod", "download", "example.com/tool")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	pkgs, err := Resolve(context.Background(), dir, []string{"example.com/tool/cmd/tool"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].ModuleRoot != dir || pkgs[0].ModulePath != "example.com/m" || pkgs[0].Name() != "tool" {
		t.Fatalf("resolved %+v, want example.com/tool/cmd/tool in the main module %s", pkgs, dir)
	}
	b := New(pkgs[0], Options{Env: env, WorkDir: t.TempDir()})
	out := filepath.Join(t.TempDir(), "tool")
	if err := b.BuildHost(context.Background(), out); err != nil {
		t.Fatalf("building the dependency's main package: %v", err)
	}
	if got, err := exec.Command(out).CombinedOutput(); err != nil || strings.TrimSpace(string(got)) != "tool" {
		t.Errorf("the built tool said %q, %v", got, err)
	}
}
