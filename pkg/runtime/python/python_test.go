package python

import (
	"github.com/kiln-build/kiln/pkg/config"

	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/pkg/hashcache"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestAllows(t *testing.T) {
	for _, c := range []struct {
		spec, version string
		want          bool
	}{
		{">=3.9", "3.11.2", true},
		{">=3.12", "3.11.9", false},
		{">=3.10,<3.12", "3.11.0", true},
		{">=3.10, <3.12", "3.12.0", false},
		{"~=3.11", "3.14.1", true},
		{"~=3.11.2", "3.11.9", true},
		{"~=3.11.2", "3.12.0", false},
		{"==3.12.*", "3.12.7", true},
		{"==3.12.*", "3.13.0", false},
		{"!=3.12.*", "3.13.0", true},
		{"==3.12", "3.12.0", true},
		{"<=3.12", "3.12.1", false},
		{">3.11", "3.11.1", true},
		{">=3.12", "3.12.0rc1", true},
		{"", "3.12.0", true},
	} {
		got, err := Allows(c.spec, c.version)
		if err != nil || got != c.want {
			t.Errorf("Allows(%q, %q) = %v, %v; want %v", c.spec, c.version, got, err, c.want)
		}
	}
	for _, bad := range []string{"3.12", ">=x", ">=3.*"} {
		if _, err := Allows(bad, "3.12.0"); err == nil {
			t.Errorf("Allows(%q) accepted a bad specifier", bad)
		}
	}
}

func TestDefaultBase(t *testing.T) {
	for spec, want := range map[string]string{
		"":                "docker.io/library/python:" + DefaultVersion + "-slim",
		">=3.8":           "docker.io/library/python:3.11-slim",
		">=3.11.4":        "docker.io/library/python:3.11-slim",
		">=3.12,<3.13":    "docker.io/library/python:3.12-slim",
		"~=3.13":          "docker.io/library/python:3.13-slim",
		"==3.14.*":        "docker.io/library/python:3.14-slim",
		">=3.10,!=3.11.*": "docker.io/library/python:3.12-slim",
	} {
		got, err := DefaultBase(spec)
		if err != nil || got != want {
			t.Errorf("DefaultBase(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
	if _, err := DefaultBase(">=4"); err == nil || !strings.Contains(err.Error(), "set base:") {
		t.Errorf("DefaultBase(>=4): %v", err)
	}
}

func TestPlatformTags(t *testing.T) {
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	tags, err := PlatformTags(amd64, DefaultGlibc)
	if err != nil {
		t.Fatal(err)
	}
	if tags[0] != "manylinux_2_36_x86_64" || tags[len(tags)-1] != "manylinux1_x86_64" {
		t.Errorf("amd64 tags run %s ... %s", tags[0], tags[len(tags)-1])
	}
	for _, want := range []string{"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux_2_28_x86_64"} {
		if !slices.Contains(tags, want) {
			t.Errorf("amd64 tags lack %s", want)
		}
	}
	if slices.Contains(tags, "manylinux_2_37_x86_64") || slices.Contains(tags, "linux_x86_64") {
		t.Errorf("amd64 tags go beyond glibc 2.36 or take linux_x86_64: %v", tags)
	}
	arm, _ := PlatformTags(v1.Platform{OS: "linux", Architecture: "arm64"}, Libc{Major: 2, Minor: 39})
	if arm[0] != "manylinux_2_39_aarch64" || !slices.Contains(arm, "manylinux2014_aarch64") || slices.Contains(arm, "manylinux1_aarch64") {
		t.Errorf("arm64 tags %v", arm)
	}
	musl, _ := PlatformTags(v1.Platform{OS: "linux", Architecture: "arm64"}, DefaultMusl)
	if strings.Join(musl, " ") != "musllinux_1_2_aarch64 musllinux_1_1_aarch64" {
		t.Errorf("musl tags %v", musl)
	}
	v7, _ := PlatformTags(v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, DefaultGlibc)
	if !slices.Contains(v7, "manylinux_2_31_armv7l") {
		t.Errorf("arm/v7 tags %v", v7)
	}
	if _, err := PlatformTags(v1.Platform{OS: "linux", Architecture: "mips64"}, DefaultGlibc); err == nil {
		t.Error("mips64 has tags")
	}
	for ref, musl := range map[string]bool{"python:3.12-alpine": true, "docker.io/library/python:3.12-slim": false} {
		if l, _ := LibcFor("", ref); l.Musl != musl {
			t.Errorf("LibcFor(%s) = %v", ref, l)
		}
	}
	if l, err := LibcFor("glibc 2.39", "x"); err != nil || l.Minor != 39 {
		t.Errorf("LibcFor(glibc 2.39) = %v, %v", l, err)
	}
	if _, err := ParseLibc("uclibc"); err == nil {
		t.Error("uclibc parsed")
	}
}

func TestPipArgs(t *testing.T) {
	args, err := PipArgs("/tmp/t", "3.12.7", []string{"manylinux_2_36_aarch64", "manylinux_2_35_aarch64"}, []string{"-r", "requirements.txt"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{"--target /tmp/t", "--only-binary=:all:", "--python-version 3.12", "--implementation cp", "--abi cp312", "--platform manylinux_2_36_aarch64 --platform manylinux_2_35_aarch64", "--no-compile", "-r requirements.txt"} {
		if !strings.Contains(got, want) {
			t.Errorf("pip args %q lack %q", got, want)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestTidy(t *testing.T) {
	dir := t.TempDir()
	script := "#!/tmp/kiln-build-123/host/bin/python3.11\n# -*- coding: utf-8 -*-\nimport sys\nfrom tool import main\nsys.exit(main())\n"
	long := "#!/bin/sh\n'''exec' \"/a very/long path/bin/python3\" \"$0\" \"$@\"\n' '''\nimport sys\n"
	files := map[string]string{
		"tool/__init__.py":                          "def main(): pass\n",
		"tool/__pycache__/__init__.cpython-311.pyc": "bytecode",
		"tool/old.pyc":                              "bytecode",
		"tool-1.0.dist-info/INSTALLER":              "pip\n",
		"tool-1.0.dist-info/direct_url.json":        `{"url": "file:///tmp/kiln-build-123/wheels/tool.whl"}`,
		"bin/tool":                                  script,
		"bin/long":                                  long,
	}
	writeFiles(t, dir, files)
	var record strings.Builder
	for _, name := range []string{"tool/__init__.py", "tool/__pycache__/__init__.cpython-311.pyc", "tool-1.0.dist-info/INSTALLER", "tool-1.0.dist-info/direct_url.json"} {
		fmt.Fprintf(&record, "%s,%s,%d\r\n", name, hashOf(files[name]), len(files[name]))
	}
	fmt.Fprintf(&record, "../../bin/tool,%s,%d\r\n../../bin/long,%s,%d\r\ntool-1.0.dist-info/RECORD,,\r\n", hashOf(script), len(script), hashOf(long), len(long))
	writeFiles(t, dir, map[string]string{"tool-1.0.dist-info/RECORD": record.String()})

	if err := Tidy(dir); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"tool/__pycache__", "tool/old.pyc", "tool-1.0.dist-info/direct_url.json"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); err == nil {
			t.Errorf("%s is still there", gone)
		}
	}
	newScript, _ := os.ReadFile(filepath.Join(dir, "bin", "tool"))
	if !strings.HasPrefix(string(newScript), Shebang+"\n# -*- coding") {
		t.Errorf("bin/tool starts %q", newScript)
	}
	newLong, _ := os.ReadFile(filepath.Join(dir, "bin", "long"))
	if string(newLong) != Shebang+"\nimport sys\n" {
		t.Errorf("bin/long is %q", newLong)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "bin", "tool")); fi.Mode()&0o111 == 0 {
		t.Error("bin/tool lost its executable bit")
	}
	got, _ := os.ReadFile(filepath.Join(dir, "tool-1.0.dist-info", "RECORD"))
	want := fmt.Sprintf("tool/__init__.py,%s,%d\r\ntool-1.0.dist-info/INSTALLER,%s,4\r\n../../bin/tool,%s,%d\r\n../../bin/long,%s,%d\r\ntool-1.0.dist-info/RECORD,,\r\n",
		hashOf(files["tool/__init__.py"]), len(files["tool/__init__.py"]), hashOf("pip\n"), hashOf(string(newScript)), len(newScript), hashOf(string(newLong)), len(newLong))
	if string(got) != want {
		t.Errorf("RECORD:\n%s\nwant:\n%s", got, want)
	}
	if f, err := FindString(dir, "/tmp/kiln-build-123"); err != nil || f != "" {
		t.Errorf("a host path remains in %s (%v)", f, err)
	}
	if f, _ := FindString(dir, "def main"); !strings.HasSuffix(f, "tool/__init__.py") {
		t.Errorf("FindString found %q", f)
	}
	// Tidying twice changes nothing.
	if err := Tidy(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "tool-1.0.dist-info", "RECORD")); string(again) != want {
		t.Error("a second Tidy changed RECORD")
	}
}

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
}

// builder makes a Builder for a project of the given files, as New does.
func builder(t *testing.T, files map[string]string, opt Options) (*Builder, error) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	proj, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	opt.Env = os.Environ()
	return New(context.Background(), proj, opt)
}

func TestFunctionCheck(t *testing.T) {
	needPython(t)
	for _, c := range []struct {
		name, src, err, style string
	}{
		{"handle", "def handle(req):\n    return 'hi'\n", "", "handle"},
		{"handle with defaults", "def handle(req, debug=False, *rest):\n    pass\n", "", "handle"},
		{"imported handle", "from impl import handle\n", "", "handle"},
		{"new", "class G:\n    def handle(self, r): pass\n\ndef new():\n    return G()\n", "", "new"},
		{"new and handle", "def handle(r): pass\ndef new(): pass\n", "", "new"},
		{"two arguments", "def handle(req, extra):\n    pass\n", "must take exactly one argument", ""},
		{"no argument", "def handle():\n    pass\n", "must take exactly one argument", ""},
		{"async, not ASGI", "async def handle(req):\n    pass\n", "async handle(req) at line 1 must take (scope, receive, send)", ""},
		{"ASGI", "async def handle(scope, receive, send):\n    pass\n", "", "handle"},
		{"new with an argument", "def new(config):\n    pass\n", "new(config) at line 1 must take no arguments", ""},
		{"newer syntax", "type Alias = int\n\ndef handle(req):\n    return 'x'\n", "", "handle"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := builder(t, map[string]string{"pyproject.toml": "[project]\nname = \"fn\"\n", "function.py": c.src}, Options{})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "def handle(request)") {
					t.Fatalf("error %v, want one with %q and the accepted shapes", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Kind() != config.KindFunction || strings.Join(b.Entrypoint(), " ") != "python3 "+WrapperPath+" function" {
				t.Errorf("kind %s, entrypoint %v", b.Kind(), b.Entrypoint())
			}
		})
	}
}

func TestKind(t *testing.T) {
	needPython(t)
	pp := "[project]\nname = \"My_App\"\n"
	for _, c := range []struct {
		name  string
		files map[string]string
		opt   Options
		entry string // or the error's start
		err   bool
	}{
		{"main.py", map[string]string{"pyproject.toml": pp, "main.py": ""}, Options{}, "python3 -m main", false},
		{"package with __main__", map[string]string{"requirements.txt": "", "src/tool/__init__.py": "", "src/tool/__main__.py": ""}, Options{}, "python3 -m tool", false},
		{"scripts", map[string]string{"pyproject.toml": pp + "[project.scripts]\nmy-app = \"my_app.cli:main\"\nother = \"x:y\"\n"}, Options{}, "python3 /kiln/bin/my-app", false},
		{"one script", map[string]string{"pyproject.toml": pp + "[project.scripts]\nserve = \"my_app:run\"\n"}, Options{}, "python3 /kiln/bin/serve", false},
		{"two scripts", map[string]string{"pyproject.toml": pp + "[project.scripts]\na = \"m:a\"\nb = \"m:b\"\n"}, Options{}, "[project.scripts] has 2 entries", true},
		{"command", map[string]string{"pyproject.toml": pp, "function.py": "def handle(r): pass\n"}, Options{Command: []string{"gunicorn", "app:app"}}, "gunicorn app:app", false},
		{"module", map[string]string{"pyproject.toml": pp, "srv.py": ""}, Options{Module: "srv"}, "python3 -m srv", false},
		{"function in the package", map[string]string{"pyproject.toml": pp, "my_app/__init__.py": "def handle(r): pass\n"}, Options{}, "python3 " + WrapperPath + " my_app", false},
		{"app beats function", map[string]string{"pyproject.toml": pp, "main.py": "", "function.py": "def handle(r): pass\n"}, Options{}, "python3 -m main", false},
		{"kind function", map[string]string{"pyproject.toml": pp, "main.py": "", "function.py": "def handle(r): pass\n"}, Options{Kind: config.KindFunction}, "python3 " + WrapperPath + " function", false},
		{"kind function without one", map[string]string{"pyproject.toml": pp, "main.py": ""}, Options{Kind: config.KindFunction}, "there is no function module", true},
		{"several mains", map[string]string{"requirements.txt": "", "a/__main__.py": "", "b/__main__.py": ""}, Options{}, "several packages have a __main__.py (a, b)", true},
		{"nothing", map[string]string{"requirements.txt": "flask\n", "lib.py": ""}, Options{}, "kiln cannot tell how to start", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := builder(t, c.files, c.opt)
			if c.err {
				if err == nil || !strings.Contains(err.Error(), c.entry) {
					t.Fatalf("error %v, want %q", err, c.entry)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(b.Entrypoint(), " "); got != c.entry {
				t.Errorf("entrypoint %q, want %q", got, c.entry)
			}
		})
	}
}

func TestLauncher(t *testing.T) {
	src, err := launcher("serve", "my_app.cli:App.run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src, "from my_app.cli import App\n") || !strings.Contains(src, "sys.exit(App.run())") || !strings.HasPrefix(src, Shebang) {
		t.Errorf("launcher:\n%s", src)
	}
	if _, err := launcher("x", "no colon"); err == nil {
		t.Error("a bad entry point was accepted")
	}
}

func TestCodeTree(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.py":                 "",
		"pkg/mod.py":              "",
		"pkg/__pycache__/mod.pyc": "",
		".git/HEAD":               "",
		".kiln/last":              "",
		"env/pyvenv.cfg":          "",
		"env/lib/x.py":            "",
		".venv/lib/y.py":          "",
		"build.log":               "",
		"data/big.bin":            "",
		"docs/data/keep.txt":      "",
		"secret.txt":              "",
		IgnoreFile:                "# local files\n*.log\n/data/\nsecret.txt\n",
		"mypkg.egg-info/PKG-INFO": "",
	})
	tree, err := codeTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	var fp strings.Builder
	var noCache *hashcache.Cache // hashes every file
	if err := tree.Fingerprint(&fp, noCache.Sum); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(fp.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "0" {
			got = append(got, f[0])
		}
	}
	want := []string{"/app/.kilnignore", "/app/docs/data/keep.txt", "/app/main.py", "/app/pkg/mod.py"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("code layer files %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, IgnoreFile)); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{IgnoreFile: "[\n"})
	if _, err := codeTree(dir); err == nil || !strings.Contains(err.Error(), ".kilnignore:1") {
		t.Errorf("a bad pattern: %v", err)
	}
}

func TestProjectNames(t *testing.T) {
	for name, want := range map[string]string{"My_App": "my-app", "flask.ext": "flask-ext", "--": "app"} {
		p := &Project{Name: name}
		if got := p.ImageName(); got != want {
			t.Errorf("ImageName(%q) = %q, want %q", name, got, want)
		}
	}
	if got := (&Project{Name: "My.App"}).ModuleName(); got != "my_app" {
		t.Errorf("ModuleName = %q", got)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pyproject.toml": "[project\nname = 1\n"})
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "pyproject.toml") {
		t.Errorf("a broken pyproject.toml: %v", err)
	}
}

func TestHostInfo(t *testing.T) {
	needPython(t)
	b, err := builder(t, map[string]string{"requirements.txt": "", "main.py": ""}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.host.Python == "" || b.host.Pip == "" {
		t.Errorf("host info %+v", b.host)
	}
	links := t.TempDir()
	b.opt.Env = append(b.opt.Env, "PIP_FIND_LINKS="+links)
	b.host.PipConfig = append(b.host.PipConfig, ":env:.find-links="+links)
	if got := b.findLinks(); !slices.Contains(got, links) {
		t.Errorf("find-links %v lack %s", got, links)
	}
	// A new wheel in a find-links folder changes the fingerprint.
	b.opt.Versions = map[string]string{"linux/amd64": "3.12.1"}
	b.opt.Libc = DefaultGlibc
	fp := func() string {
		var s strings.Builder
		if err := b.Fingerprint(context.Background(), &s, v1.Platform{OS: "linux", Architecture: "amd64"}); err != nil {
			t.Fatal(err)
		}
		return s.String()
	}
	before := fp()
	writeFiles(t, links, map[string]string{"x-1.0-py3-none-any.whl": "zip"})
	if fp() == before {
		t.Error("a new wheel in PIP_FIND_LINKS left the fingerprint as it was")
	}
}

// TestCodeTreeLeavesOutOutputsAndIgnored: kiln's own outputs (an OCI
// layout, image archives), pip's local wheel folders and what .gitignore
// and .dockerignore list stay out of the code layer; "!" brings a file
// back; a .tar that is not an image stays in.
func TestCodeTreeLeavesOutOutputsAndIgnored(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.py":               "",
		"out/oci-layout":        `{"imageLayoutVersion":"1.0.0"}`,
		"out/index.json":        "{}",
		"out/blobs/sha256/abc":  "",
		"wheels/x-1.0.whl":      "",
		"notes/draft.md":        "",
		"notes/keep.md":         "",
		"build/lib/x.py":        "",
		"src/app/build/keep.py": "",
		"logs/a/b/run.log":      "",
		"data/raw.csv":          "",
		".gitignore":            "# git\nnotes/*.md\n!notes/keep.md\n/build/\n**/*.log\n",
		".dockerignore":         "data\n*.py\n",
	})
	writeTar(t, filepath.Join(dir, "image.tar"), "manifest.json")
	writeTar(t, filepath.Join(dir, "image-oci.tar"), "oci-layout")
	writeTar(t, filepath.Join(dir, "assets.tar"), "logo.png")
	tree, err := codeTree(dir, filepath.Join(dir, "wheels"))
	if err != nil {
		t.Fatal(err)
	}
	var fp strings.Builder
	var noCache *hashcache.Cache
	if err := tree.Fingerprint(&fp, noCache.Sum); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(fp.String(), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "0" {
			got = append(got, f[0])
		}
	}
	// .dockerignore's *.py is anchored at the root (docker's rule): it
	// leaves out main.py, not src/app/build/keep.py.
	want := []string{"/app/.dockerignore", "/app/.gitignore", "/app/assets.tar", "/app/notes/keep.md", "/app/src/app/build/keep.py"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("code layer files %v, want %v", got, want)
	}
}

func writeTar(t *testing.T, file string, names ...string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
		tw.Write([]byte("{}"))
	}
	tw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPipNetworkError: pip's "no matching distribution" after a failed
// connection is reported as the network failure it is, not a missing
// wheel.
func TestPipNetworkError(t *testing.T) {
	out := "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object>: Failed to establish a new connection: [Errno -2] Name or service not known')': /simple/requests/\nERROR: Could not find a version that satisfies the requirement requests (from versions: none)\nERROR: No matching distribution found for requests\n"
	err := pipError(out, v1.Platform{OS: "linux", Architecture: "amd64"}, "3.11.2", Libc{}, errors.New("exit status 1"))
	if msg := err.Error(); !strings.Contains(msg, "pip could not reach the package index") || strings.Contains(msg, "no wheel of") {
		t.Errorf("a network failure: %s", msg)
	}
	err = pipError("ERROR: No matching distribution found for nativelib\n", v1.Platform{OS: "linux", Architecture: "arm64"}, "3.11.2", Libc{}, errors.New("exit status 1"))
	if !strings.Contains(err.Error(), "no wheel of nativelib") {
		t.Errorf("a missing wheel: %s", err)
	}
}

// TestFunctionSyntaxError: a function.py the image's Python cannot parse
// fails the build (it built an image that could not start). The host's
// Python, at least as new as the image's, is the judge; syntax newer than
// the host knows is still accepted unchecked when the image's is newer.
func TestFunctionSyntaxError(t *testing.T) {
	needPython(t)
	files := map[string]string{"pyproject.toml": "[project]\nname = \"fn\"\n", "function.py": "def handle(req):\n    return 'x'\n\ndef broken(:\n    pass\n"}
	_, err := builder(t, files, Options{Versions: map[string]string{"linux/amd64": "3.0.1", "linux/arm64": "3.0.1"}})
	if err == nil || !strings.Contains(err.Error(), "function.py") || !strings.Contains(err.Error(), "syntax error at line 4") {
		t.Fatalf("building a function.py with a syntax error: %v, want an error naming the file and line 4", err)
	}
	// The image's Python is newer than the host's: the new syntax may be
	// valid there.
	if _, err := builder(t, files, Options{Versions: map[string]string{"linux/amd64": "99.0"}}); err != nil {
		t.Errorf("with an image Python newer than the host's: %v", err)
	}
}
