package scaffold

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/plan"
)

func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	// Nothing may be downloaded: the projects use the standard library.
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// TestInit writes each kind of project and checks that go vet, go test and
// kiln build accept it as it is.
func TestInit(t *testing.T) {
	for _, c := range []struct {
		kind  string
		files []string
	}{
		{"app", []string{".gitignore", "go.mod", "kiln.yaml", "main.go", "main_test.go"}},
		{"function", []string{".gitignore", "function.go", "function_test.go", "go.mod", "kiln.yaml"}},
	} {
		t.Run(c.kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "My Service")
			res, err := Init(context.Background(), Options{Dir: dir, Kind: config.Kind(c.kind)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Module != "my-service" || res.Name != "my-service" || string(res.Kind) != c.kind {
				t.Errorf("result %+v", res)
			}
			got := slices.Sorted(slices.Values(res.Files))
			if !slices.Equal(got, c.files) {
				t.Errorf("wrote %v, want %v", got, c.files)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != len(c.files) {
				t.Errorf("directory holds %d entries, want %d", len(entries), len(c.files))
			}
			gitignore, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
			if !strings.Contains(string(gitignore), ".kiln/") {
				t.Errorf(".gitignore: %q", gitignore)
			}
			cfg, err := config.Load(dir)
			if err != nil || string(cfg.Kind) != c.kind {
				t.Errorf("kiln.yaml: kind %q, %v", cfg.Kind, err)
			}
			goCmd(t, dir, "vet", "./...")
			goCmd(t, dir, "test", "./...")
			res2, err := build.Build(context.Background(), build.Options{Plan: plan.Options{Dir: dir}})
			if err != nil {
				t.Fatal(err)
			}
			if img := res2.Images[0]; img.Name != "my-service" || img.Kind != c.kind {
				t.Errorf("built %+v", img)
			}
			if c.kind == "function" {
				src, _ := os.ReadFile(filepath.Join(dir, "function.go"))
				if !strings.Contains(string(src), "package myservice") {
					t.Errorf("function.go has no package myservice:\n%s", src)
				}
			}
		})
	}
}

func TestInitRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Init(context.Background(), Options{Dir: dir, Kind: config.KindFunction})
	if err == nil || !strings.Contains(err.Error(), "is not empty (it holds .gitignore, notes.txt)") || !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		t.Fatal("a refused init wrote go.mod")
	}
	if _, err := Init(context.Background(), Options{Dir: dir, Kind: config.KindFunction, Force: true}); err != nil {
		t.Fatal(err)
	}
	notes, _ := os.ReadFile(filepath.Join(dir, "notes.txt"))
	gitignore, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if string(notes) != "mine" || !strings.HasPrefix(string(gitignore), "*.log\n") || !strings.Contains(string(gitignore), ".kiln/") {
		t.Errorf("--force: notes %q, .gitignore %q; want other files kept and .kiln/ added", notes, gitignore)
	}
	// Forced again, .kiln/ is not added twice.
	if _, err := Init(context.Background(), Options{Dir: dir, Kind: config.KindFunction, Force: true}); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if string(again) != string(gitignore) {
		t.Errorf(".gitignore changed to %q", again)
	}
	// Files are replaced whole, through temporary files that do not stay.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{".gitignore", "function.go", "function_test.go", "go.mod", "kiln.yaml", "notes.txt"}; !slices.Equal(names, want) {
		t.Errorf("after --force the directory holds %q, want %q", names, want)
	}
}

func TestInitOptions(t *testing.T) {
	res, err := Init(context.Background(), Options{Dir: filepath.Join(t.TempDir(), "x"), Kind: config.KindFunction, Module: "example.com/team/hello-api/v2", GoVersion: "1.23"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "hello-api" || res.Package != "helloapi" {
		t.Errorf("name %q package %q", res.Name, res.Package)
	}
	mod, _ := os.ReadFile(filepath.Join(res.Dir, "go.mod"))
	if string(mod) != "module example.com/team/hello-api/v2\n\ngo 1.23\n" {
		t.Errorf("go.mod %q", mod)
	}
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Kind: config.Kind("lambda")}, `kind "lambda" is not one kiln knows`},
		{Options{Runtime: "rust"}, `runtime "rust" is not one kiln knows: use go`},
		{Options{Module: "example.com/Hello"}, `its last element "Hello" names the image`},
		{Options{Module: "bad path"}, `module "bad path" is not a module path`},
	} {
		c.opt.Dir = filepath.Join(t.TempDir(), "p")
		if _, err := Init(context.Background(), c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opt, err, c.want)
		}
	}
}

func TestNames(t *testing.T) {
	for base, want := range map[string]string{"hello": "hello", "My Service": "my-service", "--x--": "x", "ÄÖ": "app", "api.v2": "api.v2"} {
		if got := moduleName(base, "app"); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", base, got, want)
		}
	}
	for name, want := range map[string]string{"hello": "hello", "my-service": "myservice", "main": "function", "func": "function", "2fa": "fa", "api.v2": "apiv2", "-": "function"} {
		if got := packageName(name); got != want {
			t.Errorf("packageName(%q) = %q, want %q", name, got, want)
		}
	}
	if v := goVersion(context.Background(), nil); !strings.HasPrefix(v, "1.") {
		t.Errorf("goVersion = %q", v)
	}
}
