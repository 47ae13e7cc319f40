package build_test

import (
	"bytes"
	"context"
	"debug/elf"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/runtime/golang"
)

const greeter = `package greeter

import (
	"context"
	"fmt"
	"net/http"
)

type Greeter struct{}

func New() *Greeter { return &Greeter{} }

func (*Greeter) Handle(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hi") }

func (*Greeter) Stop(context.Context) error { return nil }
`

// functionProject writes a module holding the greeter function.
func functionProject(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "greeter")
	write(t, filepath.Join(dir, "go.mod"), "module example.com/greeter\n\ngo 1.22\n")
	write(t, filepath.Join(dir, "greeter.go"), greeter)
	write(t, filepath.Join(dir, "kodata", "hello.txt"), "data\n")
	return dir
}

// TestBuildFunction builds a function for three platforms: each image has
// the generated service at /kiln/bin/<package name>, with the same layers
// and settings as an app, and nothing is written into the project.
func TestBuildFunction(t *testing.T) {
	dir := functionProject(t)
	out := filepath.Join(t.TempDir(), "out")
	res := mustBuild(t, opts{Dir: dir, Output: "oci:" + out, Platforms: "linux/amd64,linux/arm64,linux/arm/v7"})
	if len(res.Images) != 1 || res.Images[0].Name != "greeter" || res.Images[0].Kind != "function" || res.Images[0].Package != "example.com/greeter" {
		t.Fatalf("result %+v", res.Images)
	}
	machines := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64, "linux/arm/v7": elf.EM_ARM}
	imgs := images(t, out, "greeter")
	for plat, machine := range machines {
		img := imgs[plat]
		if img == nil {
			t.Fatalf("no image for %s", plat)
		}
		cf, _ := img.ConfigFile()
		if !slices.Equal(cf.Config.Entrypoint, []string{"/kiln/bin/greeter"}) || cf.Config.User != "65532:65532" {
			t.Errorf("%s: entrypoint %v user %q", plat, cf.Config.Entrypoint, cf.Config.User)
		}
		if len(cf.History) != 3 || !strings.Contains(cf.History[2].CreatedBy, "(function example.com/greeter, in kiln's generated main package)") {
			t.Errorf("%s: history %+v", plat, cf.History)
		}
		content, _ := files(t, img)
		f, err := elf.NewFile(bytes.NewReader(content["/kiln/bin/greeter"]))
		if err != nil || f.Machine != machine {
			t.Fatalf("%s: binary %v, %v", plat, f, err)
		}
		if string(content["/kiln/data/hello.txt"]) != "data\n" {
			t.Errorf("%s: kodata missing", plat)
		}
		// The service is in the binary: its log lines are.
		if !bytes.Contains(content["/kiln/bin/greeter"], []byte("no longer accepting connections")) {
			t.Errorf("%s: the binary is not kiln's service", plat)
		}
	}
	// kiln's generated main package never lands in the project: besides
	// its own files, the project holds only kiln's git-ignored state.
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".kiln", "go.mod", "greeter.go", "kodata"}) {
		t.Errorf("the project holds %v after an oci: build, want only its own files and .kiln", names)
	}
	filepath.WalkDir(filepath.Join(dir, ".kiln"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".go") || strings.Contains(d.Name(), "kilnfunc_")) {
			t.Errorf("generated code %s is in the project's .kiln", p)
		}
		return nil
	})
}

// TestFunctionReproducible: copies of a function in two directories give
// the same digest, though kiln's generated files live in different
// temporary directories.
func TestFunctionReproducible(t *testing.T) {
	a := mustBuild(t, opts{Dir: functionProject(t), Output: "oci:" + t.TempDir(), Platforms: "linux/amd64,linux/arm64"})
	b := mustBuild(t, opts{Dir: functionProject(t), Output: "oci:" + t.TempDir(), Platforms: "linux/amd64,linux/arm64"})
	if a.Images[0].Digest != b.Images[0].Digest {
		t.Fatalf("copies gave %s and %s", a.Images[0].Digest, b.Images[0].Digest)
	}
	// Reuse works for functions as for apps, and a change rebuilds.
	dir := functionProject(t)
	first := mustBuild(t, opts{Dir: dir})
	if again := mustBuild(t, opts{Dir: dir}); !again.Reused {
		t.Error("an unchanged function was rebuilt")
	}
	write(t, filepath.Join(dir, "greeter.go"), strings.Replace(greeter, `"hi"`, `"hello"`, 1))
	if r := mustBuild(t, opts{Dir: dir}); r.Reused || r.Images[0].Digest == first.Images[0].Digest {
		t.Error("a changed function was not rebuilt")
	}
}

func TestKind(t *testing.T) {
	app := copyExample(t)
	fn := functionProject(t)
	cases := []struct {
		name, dir, yaml string
		want            []string // empty: builds
	}{
		{"function declared", fn, "kind: function\n", nil},
		{"app declared", app, "kind: app\n", nil},
		{"main package declared a function", app, "kind: function\n", []string{"kiln.yaml: kind: function, but example.com/hello is package main", golang.Signatures}},
		{"function declared an app", fn, "kind: app\n", []string{"kiln.yaml: kind: app, but example.com/greeter is not package main", "set kind: function"}},
		{"per target", fn, "targets:\n  .:\n    kind: app\n", []string{"kind: app, but example.com/greeter"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			write(t, filepath.Join(c.dir, "kiln.yaml"), c.yaml)
			res, err := run(t, opts{Dir: c.dir, Output: "oci:" + t.TempDir(), Env: env()})
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("built %+v, want an error", res)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// A library declared a function shows what a function must export.
	write(t, filepath.Join(fn, "kiln.yaml"), "kind: function\n")
	write(t, filepath.Join(fn, "greeter.go"), "package greeter\n\nfunc Greet() string { return \"hi\" }\n")
	_, err := run(t, opts{Dir: fn, Output: "oci:" + t.TempDir(), Env: env()})
	if err == nil || !strings.Contains(err.Error(), "package greeter exports no func Handle or func New") || !strings.Contains(err.Error(), golang.Signatures) {
		t.Errorf("library declared a function: %v", err)
	}
}

func TestBuildExecutable(t *testing.T) {
	for _, dir := range []string{copyExample(t), functionProject(t)} {
		write(t, filepath.Join(dir, "kiln.yaml"), "env:\n  GREETING: hi\n  PATH: /opt/bin\n")
		bin := t.TempDir()
		exe, err := build.BuildExecutable(context.Background(), opts{Dir: dir, Env: env()}.options(t), bin)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(exe.Command[0]); err != nil || fi.Mode()&0o111 == 0 || filepath.Dir(exe.Command[0]) != bin {
			t.Errorf("%s: binary %s: %v", dir, exe.Command[0], err)
		}
		kodata := filepath.Join(dir, "kodata")
		want := []string{"KILN_DATA_PATH=" + kodata, "KO_DATA_PATH=" + kodata, "GREETING=hi"}
		if !slices.Equal(exe.Env, want) {
			t.Errorf("%s: env %v, want %v (no PATH from kiln.yaml)", dir, exe.Env, want)
		}
	}
	// Several programs are refused, naming them.
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/multi\n\ngo 1.22\n")
	for _, name := range []string{"api", "worker"} {
		write(t, filepath.Join(dir, "cmd", name, "main.go"), "package main\n\nfunc main() {}\n")
	}
	_, err := build.BuildExecutable(context.Background(), opts{Dir: dir, Targets: []string{"./..."}, Env: env()}.options(t), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "./... names 2 programs (example.com/multi/cmd/api, example.com/multi/cmd/worker); name one") {
		t.Errorf("several programs: %v", err)
	}
}
