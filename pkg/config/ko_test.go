package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ko's docs/configuration.md (v0.19.1), its examples put together.
const koDocs = `defaultBaseImage: registry.example.com/base/image
baseImageOverrides:
  github.com/my-user/my-repo/cmd/app: registry.example.com/base/for/app
  github.com/my-user/my-repo/cmd/foo: registry.example.com/base/for/foo
defaultPlatforms:
- linux/arm64
- linux/amd64
defaultEnv:
- FOO=foo
defaultFlags:
- -v
defaultLdflags:
- -s
builds:
- id: foo
  dir: .  # default is .
  main: ./foobar/foo
  env:
  - GOPRIVATE=git.internal.example.com,source.developers.google.com
  flags:
  - -tags
  - netgo
  ldflags:
  - -s -w
  - -extldflags "-static"
  - -X main.version={{.Env.VERSION}}
- id: bar
  dir: ./bar
  main: .  # default is .
  env:
  - GOCACHE=/workspace/.gocache
  ldflags:
  - -s
  - -w
- id: file
  main: cmd/tool/main.go
  flags: -v -v
`

func TestParseKo(t *testing.T) {
	f, err := ParseKo(".ko.yaml", []byte(koDocs), "github.com/my-user/my-repo")
	if err != nil {
		t.Fatal(err)
	}
	if f.Base != "registry.example.com/base/image" || f.PlatformList() != "linux/arm64,linux/amd64" {
		t.Errorf("base %q platforms %q", f.Base, f.PlatformList())
	}
	if !reflect.DeepEqual(f.Flags, []string{"-v"}) || !reflect.DeepEqual(f.Ldflags, []string{"-s"}) || !reflect.DeepEqual(f.BuildEnv, map[string]string{"FOO": "foo"}) {
		t.Errorf("defaults: flags %q ldflags %q env %v", f.Flags, f.Ldflags, f.BuildEnv)
	}
	foo := f.For("foobar/foo")
	if !reflect.DeepEqual(foo.Flags, []string{"-tags", "netgo"}) || len(foo.Ldflags) != 3 || foo.BuildEnv["GOPRIVATE"] == "" || foo.BuildEnv["FOO"] != "foo" {
		t.Errorf("foo: %+v", foo)
	}
	bar := f.For("bar")
	if !reflect.DeepEqual(bar.Flags, []string{"-v"}) || !reflect.DeepEqual(bar.Ldflags, []string{"-s", "-w"}) || bar.BuildEnv["GOCACHE"] != "/workspace/.gocache" {
		t.Errorf("bar: %+v", bar)
	}
	if tool := f.For("cmd/tool"); !reflect.DeepEqual(tool.Flags, []string{"-v", "-v"}) {
		t.Errorf("cmd/tool (main: a .go file, flags: a string): %+v", tool)
	}
	if f.For("cmd/app").Base != "registry.example.com/base/for/app" || f.For("cmd/foo").Base != "registry.example.com/base/for/foo" || f.For("bar").Base != f.Base {
		t.Errorf("bases: app %q foo %q bar %q", f.For("cmd/app").Base, f.For("cmd/foo").Base, f.For("bar").Base)
	}
}

func TestParseKoErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// From ko's own test/build-configs/.ko.yaml.
		{"builds:\n- id: caps\n  main: ./caps/cmd\n  linux_capabilities: net_bind_service chown\n", `.ko.yaml:4: kiln cannot honour "linux_capabilities"`},
		{"defaultBaseImage: x\nunknownTop: 1\n", `.ko.yaml:2: kiln cannot honour "unknownTop"`},
		{"builds:\n- main: ./x\n  goos: [linux]\n", `kiln cannot honour "goos"`},
		{"baseImageOverrides:\n  github.com/other/mod/cmd/x: img\n", "not a package of module github.com/my-user/my-repo"},
		{"builds:\n- main: ../elsewhere\n", "lead out of the project"},
		{"defaultEnv: [NOEQUALS]\n", `defaultEnv: "NOEQUALS" is not NAME=value`},
	} {
		_, err := ParseKo(".ko.yaml", []byte(c.in), "github.com/my-user/my-repo")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

// .ko.yaml is read only when there is no kiln.yaml.
func TestLoadKoFallback(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".ko.yaml"), []byte("defaultBaseImage: ko/base\nbaseImageOverrides:\n  example.com/m/cmd/A: ko/a\n"), 0o644)
	f, err := Load(dir)
	if err != nil || f.Base != "ko/base" || f.For("cmd/a").Base != "ko/a" || !strings.HasSuffix(f.Path, ".ko.yaml") {
		t.Fatalf("%+v, %v", f, err)
	}
	os.WriteFile(filepath.Join(dir, "kiln.yaml"), []byte("base: kiln/base\n"), 0o644)
	if f, err := Load(dir); err != nil || f.Base != "kiln/base" {
		t.Fatalf("with kiln.yaml: %+v, %v", f, err)
	}
}
