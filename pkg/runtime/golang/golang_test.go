package golang

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
