package config

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const fullFile = `# every key kiln.yaml knows
kind: app
name: example.com/team/app
platforms: [linux/amd64, linux/arm64]
env:
  LOG_LEVEL: info
  REGION: "{{.Env.REGION}}"
buildEnv:
  CGO_ENABLED: "0"
flags:
  - -tags=netgo
ldflags:
  - -s
  - -X main.version={{.Git.Tag}}
labels:
  org.example.team: platform
ports: [8080, "9090/tcp", "53/udp"]
user: root
data:
  - static
  - templates:/srv/templates
kodata: false
targets:
  ./cmd/worker:
    kind: function
    name: worker
    user: "1000:1000"
    env:
      LOG_LEVEL: debug
      QUEUE: jobs
    ports: []
    kodata: true
  cmd/cron:
    flags: [-race]
`

func TestParseFull(t *testing.T) {
	f, err := Parse("kiln.yaml", []byte(fullFile))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("Path", f.Path, "kiln.yaml")
	check("Kind", f.Kind, KindApp)
	check("Name", f.Name, "example.com/team/app")
	check("Platforms", f.Platforms, []string{"linux/amd64", "linux/arm64"})
	check("PlatformList", f.PlatformList(), "linux/amd64,linux/arm64")
	check("Env", f.Env, map[string]string{"LOG_LEVEL": "info", "REGION": "{{.Env.REGION}}"})
	check("BuildEnv", f.BuildEnv, map[string]string{"CGO_ENABLED": "0"})
	check("Flags", f.Flags, []string{"-tags=netgo"})
	check("Ldflags", f.Ldflags, []string{"-s", "-X main.version={{.Git.Tag}}"})
	check("Labels", f.Labels, map[string]string{"org.example.team": "platform"})
	check("Ports", f.Ports, []string{"8080", "9090/tcp", "53/udp"})
	check("User", f.User, "root")
	check("Data", f.Data, []string{"static", "templates:/srv/templates"})
	if f.Kodata == nil || *f.Kodata {
		t.Errorf("Kodata = %v, want false", f.Kodata)
	}
	check("target keys", slices.Sorted(maps.Keys(f.Targets)), []string{"./cmd/worker", "cmd/cron"})
	w := f.Targets["./cmd/worker"]
	check("worker Kind", w.Kind, KindFunction)
	check("worker Name", w.Name, "worker")
	check("worker User", w.User, "1000:1000")
	check("worker Env", w.Env, map[string]string{"LOG_LEVEL": "debug", "QUEUE": "jobs"})
	check("worker Ports", w.Ports, []string{})
	if w.Kodata == nil || !*w.Kodata {
		t.Errorf("worker Kodata = %v, want true", w.Kodata)
	}
	check("cron Flags", f.Targets["cmd/cron"].Flags, []string{"-race"})
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n"} {
		f, err := Parse("kiln.yaml", []byte(in))
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if f.Name != "" || len(f.Platforms) != 0 || len(f.Targets) != 0 || f.Path != "kiln.yaml" {
			t.Errorf("Parse(%q) = %+v, want an empty file", in, f)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // each must appear in the message
	}{
		{
			name: "unknown top-level key",
			in:   "name: a\nplatform: linux/amd64\n",
			want: []string{"conf/kiln.yaml:2:", `unknown key "platform"`, "platforms"},
		},
		{
			name: "misspelled kind",
			in:   "knid: function\n",
			want: []string{"conf/kiln.yaml:1:", `unknown key "knid"`, "kind, command"},
		},
		{
			name: "unknown key under a target",
			in:   "name: a\ntargets:\n  cmd/x:\n    name: x\n    lables:\n      a: b\n",
			want: []string{"conf/kiln.yaml:5:", `unknown key "lables"`, "labels"},
		},
		{
			name: "malformed YAML",
			in:   "name: a\nenv: x\n  LOG: debug\n",
			want: []string{"conf/kiln.yaml:3:", "malformed YAML", "mapping values are not allowed"},
		},
		{
			name: "malformed YAML without a line",
			in:   "\tname: a\n",
			want: []string{"conf/kiln.yaml:", "malformed YAML"},
		},
		{
			name: "list for a string",
			in:   "name: [a, b]\n",
			want: []string{"conf/kiln.yaml:1:", "!!seq", "string"},
		},
		{
			name: "list for an env value",
			in:   "name: a\nenv:\n  A: [x]\n",
			want: []string{"conf/kiln.yaml:3:", "!!seq"},
		},
		{
			name: "string for a list",
			in:   "flags: -race\n",
			want: []string{"conf/kiln.yaml:1:", "!!str", "[]string"},
		},
		{
			name: "string for a bool",
			in:   "kodata: maybe\n",
			want: []string{"conf/kiln.yaml:1:", "maybe", "bool"},
		},
		{
			name: "duplicate key",
			in:   "name: a\nname: b\n",
			want: []string{"conf/kiln.yaml:2:", `"name" already defined`},
		},
		{
			name: "two documents",
			in:   "name: a\n---\nname: b\n",
			want: []string{"conf/kiln.yaml", "more than one YAML document"},
		},
		{
			name: "empty second document",
			in:   "name: a\n---\n",
			want: []string{"conf/kiln.yaml", "more than one YAML document"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("conf/kiln.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.in, f)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseValidation(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // empty: valid
	}{
		{"port number", "ports: [1, 8080, 65535]\n", nil},
		{"port with protocol", `ports: ["80/tcp", "53/udp", "9/sctp"]` + "\n", nil},
		{"port zero", "ports: [0]\n", []string{"kiln.yaml:", "ports:", `"0"`, "out of range"}},
		{"port too large", "ports: [65536]\n", []string{"ports:", `"65536"`, "out of range"}},
		{"port with bad protocol", `ports: ["80/http"]` + "\n", []string{"ports:", `"80/http"`, "is not a port", "8080/tcp"}},
		{"port name", "ports: [http]\n", []string{"ports:", `"http"`, "is not a port"}},
		{"port range", `ports: ["8000-8080"]` + "\n", []string{"ports:", "is not a port"}},
		{"user nonroot", "user: nonroot\n", nil},
		{"user uid", "user: 1000\n", nil},
		{"user uid:gid", `user: "1000:2000"` + "\n", nil},
		{"user by unknown name", "user: www-data\n", []string{"user:", `"www-data"`, "nonroot, root or a numeric UID[:GID]"}},
		{"user uid:", `user: "1000:"` + "\n", []string{"user:", `"1000:"`}},
		{"data relative dest", "data: [static:srv]\n", []string{"data:", `"srv"`, "absolute"}},
		{"data no source", `data: [":/srv"]` + "\n", []string{"data:", "no source"}},
		{"data to root", "data: [static:/]\n", []string{"data:", "image root"}},
		{"env name with =", "env:\n  A=B: x\n", []string{"env:", `"A=B"`, "not a variable name"}},
		{"env name with space", "env:\n  A B: x\n", []string{"env:", `"A B"`}},
		{"env empty name", "env:\n  \"\": x\n", []string{"env:", `""`}},
		{"target validated", "targets:\n  cmd/x:\n    ports: [99999]\n", []string{"kiln.yaml: targets.cmd/x: ports:", `"99999"`}},
		{"target user", "targets:\n  cmd/x:\n    user: bob\n", []string{"targets.cmd/x: user:", `"bob"`}},
		{"kind app", "kind: app\n", nil},
		{"kind function", "kind: function\n", nil},
		{"kind unknown", "kind: lambda\n", []string{"kiln.yaml: kind:", `"lambda"`, "app", "function"}},
		{"target kind", "targets:\n  cmd/x:\n    kind: service\n", []string{"targets.cmd/x: kind:", `"service"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("kiln.yaml", []byte(tt.in))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.in, err)
				}
				if f == nil {
					t.Fatalf("Parse(%q) returned no file", tt.in)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.in, f)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFor(t *testing.T) {
	f, err := Parse("kiln.yaml", []byte(fullFile))
	if err != nil {
		t.Fatal(err)
	}
	top := f.Settings

	t.Run("no target", func(t *testing.T) {
		for _, dir := range []string{".", "cmd/other", "cmd/worker/sub", "cmd"} {
			if got := f.For(dir); !reflect.DeepEqual(got, top) {
				t.Errorf("For(%q) = %+v, want the top-level settings %+v", dir, got, top)
			}
		}
	})

	// The key is "./cmd/worker"; a package directory in either spelling matches.
	for _, dir := range []string{"cmd/worker", "./cmd/worker", "cmd/worker/"} {
		t.Run("worker "+dir, func(t *testing.T) {
			s := f.For(dir)
			if s.Name != "worker" || s.User != "1000:1000" || s.Kind != "function" {
				t.Errorf("scalars not replaced: Name %q User %q", s.Name, s.User)
			}
			if s.Kodata == nil || !*s.Kodata {
				t.Errorf("Kodata = %v, want true from the target", s.Kodata)
			}
			wantEnv := map[string]string{"LOG_LEVEL": "debug", "QUEUE": "jobs", "REGION": "{{.Env.REGION}}"}
			if !reflect.DeepEqual(s.Env, wantEnv) {
				t.Errorf("Env = %v, want merged %v", s.Env, wantEnv)
			}
			if len(s.Ports) != 0 {
				t.Errorf("Ports = %v: an empty list under the target must replace the top level", s.Ports)
			}
			// Not set under the target: inherited.
			if !reflect.DeepEqual(s.Flags, top.Flags) || !reflect.DeepEqual(s.Ldflags, top.Ldflags) ||
				!reflect.DeepEqual(s.Data, top.Data) || !reflect.DeepEqual(s.Labels, top.Labels) ||
				!reflect.DeepEqual(s.BuildEnv, top.BuildEnv) {
				t.Errorf("settings not under the target were not inherited: %+v", s)
			}
		})
	}

	// The key is "cmd/cron"; "./cmd/cron" matches too.
	for _, dir := range []string{"cmd/cron", "./cmd/cron"} {
		t.Run("cron "+dir, func(t *testing.T) {
			s := f.For(dir)
			if !slices.Equal(s.Flags, []string{"-race"}) {
				t.Errorf("Flags = %v, want the target's list replacing the top level", s.Flags)
			}
			if s.Name != top.Name || s.User != top.User || s.Kodata != top.Kodata || s.Kind != "app" {
				t.Errorf("scalars changed although the target does not set them: %+v", s)
			}
		})
	}

	// Merging must not change the top level that other targets inherit.
	if f.Env["LOG_LEVEL"] != "info" || len(f.Env) != 2 {
		t.Errorf("For changed the top-level env: %v", f.Env)
	}
}

func TestForTargetOnlyMap(t *testing.T) {
	f, err := Parse("kiln.yaml", []byte("targets:\n  .:\n    labels:\n      a: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.For("."); !reflect.DeepEqual(got.Labels, map[string]string{"a": "b"}) {
		t.Errorf("For(\".\").Labels = %v, want the target's labels", got.Labels)
	}
	if f.Labels != nil {
		t.Errorf("top-level labels changed to %v", f.Labels)
	}
}

func TestParseUser(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"", DefaultUser, false},
		{"nonroot", "65532:65532", false},
		{"root", "0:0", false},
		{"1000", "1000", false},
		{"1000:1000", "1000:1000", false},
		{"0:5", "0:5", false},
		{"admin", "", true},
		{"1000:", "", true},
		{":1000", "", true},
		{"-1", "", true},
		{"1000:abc", "", true},
		{" 1000", "", true},
	}
	for _, tt := range tests {
		got, err := ParseUser(tt.in, false)
		if tt.err {
			if err == nil {
				t.Errorf("ParseUser(%q) = %q, want an error", tt.in, got)
			} else if !strings.Contains(err.Error(), "nonroot, root or a numeric UID[:GID]") {
				t.Errorf("ParseUser(%q) error %q does not say what to use", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseUser(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if DefaultUser != "65532:65532" {
		t.Errorf("DefaultUser = %q, want the nonroot user 65532:65532", DefaultUser)
	}
	// On a base image, names are the base's to resolve, and kept as given.
	for in, want := range map[string]string{"www-data": "www-data", "root": "root", "1000:1000": "1000:1000"} {
		if got, err := ParseUser(in, true); err != nil || got != want {
			t.Errorf("ParseUser(%q, base) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseUser("two words", true); err == nil {
		t.Error("a user with a space was accepted")
	}
}

func TestParseData(t *testing.T) {
	tests := []struct {
		in   string
		want DataDir
	}{
		{"static", DataDir{Src: "static", Dest: "/kiln/data/static"}},
		{"web/static", DataDir{Src: "web/static", Dest: "/kiln/data/static"}},
		{"./assets/", DataDir{Src: "./assets/", Dest: "/kiln/data/assets"}},
		{"static:/srv/static", DataDir{Src: "static", Dest: "/srv/static"}},
		{"static:/srv/static/", DataDir{Src: "static", Dest: "/srv/static"}},
		{"static:/srv//x/../static", DataDir{Src: "static", Dest: "/srv/static"}},
		{"/abs/dir:/data", DataDir{Src: "/abs/dir", Dest: "/data"}},
		{"static:", DataDir{Src: "static", Dest: "/kiln/data/static"}},
	}
	for _, tt := range tests {
		got, err := ParseData(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseData(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}

	errs := []struct{ in, want string }{
		{"", "has no source directory"},
		{":/srv", "has no source directory"},
		{"static:srv", `destination "srv" must be an absolute path`},
		{"static:./srv", "must be an absolute path"},
		{"static:/", "cannot be the image root"},
		{"static:/srv/..", "cannot be the image root"},
	}
	for _, tt := range errs {
		got, err := ParseData(tt.in)
		if err == nil {
			t.Errorf("ParseData(%q) = %+v, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "data: ") {
			t.Errorf("ParseData(%q) error %q, want one starting with \"data: \" containing %q", tt.in, err, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		f, err := Load(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if f == nil || f.Path != "" || f.Name != "" || f.Targets != nil || f.Platforms != nil {
			t.Errorf("Load of a directory without kiln.yaml = %+v, want an empty File", f)
		}
	})
	t.Run("present", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, FileName)
		if err := os.WriteFile(p, []byte("name: hello\nports: [8080]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.Path != p || f.Name != "hello" || !slices.Equal(f.Ports, []string{"8080"}) {
			t.Errorf("Load = %+v, want name hello, ports [8080], path %s", f, p)
		}
	})
	t.Run("error names the path", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, FileName)
		if err := os.WriteFile(p, []byte("name: hello\nimage: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), p+":2:") || !strings.Contains(err.Error(), `"image"`) {
			t.Errorf("Load error = %v, want one naming %s:2 and the key", err, p)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		// A directory in place of the file cannot be read, even by root.
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, FileName), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := Load(dir)
		if err == nil {
			t.Fatalf("Load = %+v, want an error", f)
		}
		if !strings.Contains(err.Error(), "reading "+filepath.Join(dir, FileName)) {
			t.Errorf("error %q does not name the file", err)
		}
	})
}

func TestSortedKeys(t *testing.T) {
	got := SortedKeys(map[string]string{"b": "", "a": "", "C": "", "a1": ""})
	if want := []string{"C", "a", "a1", "b"}; !slices.Equal(got, want) {
		t.Errorf("SortedKeys = %v, want %v", got, want)
	}
	if got := SortedKeys(nil); len(got) != 0 {
		t.Errorf("SortedKeys(nil) = %v, want empty", got)
	}
}

func TestParseDataNeedsDestinationForUnnamedSource(t *testing.T) {
	for _, src := range []string{".", "..", "/", "./"} {
		_, err := ParseData(src)
		if err == nil || !strings.Contains(err.Error(), "give a destination") {
			t.Errorf("ParseData(%q) = %v, want an error asking for a destination", src, err)
		}
		if d, err := ParseData(src + ":/srv/data"); err != nil || d.Dest != "/srv/data" {
			t.Errorf("ParseData(%q:/srv/data) = %+v, %v", src, d, err)
		}
	}
}

// TestUnknownNestedKey: an unknown key under python: or under a target
// lists the keys of that place, not the top level's.
func TestUnknownNestedKey(t *testing.T) {
	_, err := Parse("kiln.yaml", []byte("python:\n  versoin: \"3.11\"\n"))
	if err == nil || !strings.Contains(err.Error(), `kiln.yaml:2: unknown key "versoin" under python: (known keys: version, libc, module)`) {
		t.Errorf("python.versoin: %v", err)
	}
	_, err = Parse("kiln.yaml", []byte("targets:\n  cmd/api:\n    platforms: [linux/amd64]\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown key "platforms" under a target (known keys: kind, name, env,`) {
		t.Errorf("targets.cmd/api.platforms: %v", err)
	}
}
