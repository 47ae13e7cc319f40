package build_test

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	modzip "golang.org/x/mod/zip"

	"golang.org/x/mod/module"

	"github.com/kiln-build/kiln/pkg/base"
)

// age sets the modification time of everything under dir an hour back,
// so kiln's caches trust what they recorded (recent files are "racy" and
// always re-read) and the next build takes the fast path.
func age(t *testing.T, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil || strings.Contains(p, string(filepath.Separator)+".kiln") {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// goProxy writes example.com/dep at two versions into a file:// module
// proxy and returns its URL.
func goProxy(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "example.com", "dep", "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		src := filepath.Join(t.TempDir(), "dep")
		write(t, filepath.Join(src, "go.mod"), "module example.com/dep\n\ngo 1.22\n")
		write(t, filepath.Join(src, "dep.go"), fmt.Sprintf("package dep\n\nconst Version = %q\n", v))
		write(t, filepath.Join(dir, v+".mod"), "module example.com/dep\n\ngo 1.22\n")
		write(t, filepath.Join(dir, v+".info"), fmt.Sprintf(`{"Version":%q,"Time":"2024-01-01T00:00:00Z"}`, v))
		zf, err := os.Create(filepath.Join(dir, v+".zip"))
		if err != nil {
			t.Fatal(err)
		}
		if err := modzip.CreateFromDir(zf, module.Version{Path: "example.com/dep", Version: v}, src); err != nil {
			t.Fatal(err)
		}
		zf.Close()
		list = append(list, v)
	}
	write(t, filepath.Join(dir, "list"), strings.Join(list, "\n")+"\n")
	return "file://" + root
}

// TestRebuildTriggers checks, change by change, that what can change an
// image makes a new build and that what cannot reuses the last one, with
// kiln's stat-based caches in play.
func TestRebuildTriggers(t *testing.T) {
	dir := t.TempDir()
	proxy := goProxy(t)
	modCache := t.TempDir()
	goEnv := []string{"GOPROXY=" + proxy, "GONOSUMDB=example.com", "GOSUMDB=off", "GOMODCACHE=" + modCache, "GOFLAGS=-modcacherw"}

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	baseRef := strings.TrimPrefix(reg.URL, "http://") + "/base:v1"
	pushBase := func() {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", "amd64"
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(baseRef)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	pushBase()

	write(t, filepath.Join(dir, "go.mod"), "module example.com/app\n\ngo 1.22\n")
	write(t, filepath.Join(dir, "main.go"), `package main

import (
	_ "embed"
	"fmt"

	"example.com/app/lib"
	"example.com/dep"
)

//go:embed static
var static embed.FS

var version = "dev"

func main() { fmt.Println(lib.Hello(), dep.Version, version) }
`)
	write(t, filepath.Join(dir, "main.go"), strings.Replace(readFile(t, filepath.Join(dir, "main.go")), `_ "embed"`, `"embed"`, 1))
	write(t, filepath.Join(dir, "lib", "lib.go"), "package lib\n\nfunc Hello() string { return \"hello\" }\n")
	write(t, filepath.Join(dir, "static", "msg.txt"), "one\n")
	write(t, filepath.Join(dir, "extra.go"), "//go:build extra\n\npackage main\n\nfunc init() { println(\"extra\") }\n")
	write(t, filepath.Join(dir, "lib2", "lib2.go"), "package lib2\n\nconst Name = \"lib2\"\n")
	write(t, filepath.Join(dir, "lib", "off.go"), "//go:build never\n\npackage lib\n\nfunc init() { println(\"was off\") }\n")
	goGet(t, dir, goEnv, "example.com/dep@v1.0.0")

	cache := base.Cache{Dir: t.TempDir()}
	options := func(extra ...string) opts {
		return opts{Dir: dir, Platforms: "linux/amd64", Base: baseRef, Cache: cache, Env: env(append(goEnv, extra...)...)}
	}
	seen := map[string]string{}
	var last string
	// Every build is also checked as a fresh machine sees it, with the
	// registry as its cache: the same fingerprint, found exactly when
	// the build here is reused.
	fl := newFleet(t, strings.TrimPrefix(reg.URL, "http://")+"/app")
	step := func(what string, o opts, wantNew bool) {
		t.Helper()
		freshFP, hit := fl.fresh(o)
		res, err := run(t, o)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if freshFP != res.Fingerprint {
			t.Errorf("%s: a fresh copy elsewhere has fingerprint %s, the build here %s", what, freshFP[:12], res.Fingerprint[:12])
		}
		if hit == wantNew {
			t.Errorf("%s: a fresh copy found the build in the registry: %v, want %v", what, hit, !wantNew)
		}
		fl.record(res)
		switch {
		case wantNew && res.Reused:
			t.Errorf("%s: reused build %s, want a new one", what, res.Fingerprint[:12])
		case wantNew && seen[res.Fingerprint] != "":
			t.Errorf("%s: fingerprint already seen after %q", what, seen[res.Fingerprint])
		case !wantNew && (!res.Reused || res.Fingerprint != last):
			t.Errorf("%s: reused=%v fingerprint %s, want the last build %s reused", what, res.Reused, res.Fingerprint[:12], last[:12])
		}
		seen[res.Fingerprint], last = what, res.Fingerprint
		// Once files are old enough to trust, the same inputs must still
		// reuse the build through the fast path.
		age(t, dir)
		again, err := run(t, o)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Reused || again.Fingerprint != last {
			t.Errorf("after %s, an unchanged rebuild was not reused", what)
		}
		again, _ = run(t, o)
		if !again.Reused || again.Fingerprint != last {
			t.Errorf("after %s, a second unchanged rebuild was not reused", what)
		}
	}

	age(t, dir)
	step("first build", options(), true)

	write(t, filepath.Join(dir, "README.md"), "docs are not built\n")
	write(t, filepath.Join(dir, "lib", "lib_test.go"), "package lib\n")
	step("an ignored file and a test file", options(), false)

	write(t, filepath.Join(dir, "lib", "lib.go"), "package lib\n\nfunc Hello() string { return \"hi\" }\n")
	step("a source file of an imported package", options(), true)

	write(t, filepath.Join(dir, "lib", "lib.go"), "package lib\n\nimport \"example.com/app/lib2\"\n\nfunc Hello() string { return \"hi \" + lib2.Name }\n")
	step("a new import in an existing file", options(), true)

	write(t, filepath.Join(dir, "lib2", "lib2.go"), "package lib2\n\nconst Name = \"lib two\"\n")
	step("a file of the newly imported package", options(), true)

	write(t, filepath.Join(dir, "lib", "off.go"), "package lib\n\nfunc init() { println(\"now on\") }\n")
	step("a file whose build constraint no longer leaves it out", options(), true)

	write(t, filepath.Join(dir, "static", "msg.txt"), "two\n")
	step("an embedded file", options(), true)

	write(t, filepath.Join(dir, "static", "new.txt"), "new\n")
	step("a new file in an embedded directory", options(), true)

	goGet(t, dir, goEnv, "example.com/dep@v1.1.0")
	step("a dependency version", options(), true)

	write(t, filepath.Join(dir, "kiln.yaml"), "flags: [-tags=extra]\n")
	step("a build tag", options(), true)

	step("an environment variable", options("GOAMD64=v2"), true)

	write(t, filepath.Join(dir, "kiln.yaml"), "flags: [-tags=extra]\nldflags: [\"-X main.version=v2\"]\n")
	step("ldflags", options("GOAMD64=v2"), true)

	pushBase()
	step("the base image digest", options("GOAMD64=v2"), true)
}

func goGet(t *testing.T, dir string, goEnv []string, what string) {
	t.Helper()
	cmd := exec.Command("go", "get", what)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), goEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go get %s: %v\n%s", what, err, out)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
