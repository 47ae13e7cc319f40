package cli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/pkg/naming"
)

func TestPushArgs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ in, want []string }{
		{[]string{"--push", "ghcr.io/org/app", "./cmd/a"}, []string{"--push=ghcr.io/org/app", "./cmd/a"}},
		{[]string{"--push", "./cmd/a"}, []string{"--push", "./cmd/a"}},
		{[]string{"--push", "-t", "v1"}, []string{"--push", "-t", "v1"}},
		{[]string{"./cmd/a", "--push"}, []string{"./cmd/a", "--push"}},
		{[]string{"--push", "./..."}, []string{"--push", "./..."}},
		{[]string{"--push", dir}, []string{"--push", dir}},
		{[]string{"--push", "false", "."}, []string{"--push=false", "."}},
		{[]string{"apply", "-f", "x", "--", "--push", "y"}, []string{"apply", "-f", "x", "--", "--push", "y"}},
	} {
		if got := pushArgs(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("pushArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The forms of --push ko users and kiln users type, with the repository
// from the environment.
func TestPushForms(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	both := env(map[string]string{envRepo: "127.0.0.1:5000/kiln", envKoRepo: "127.0.0.1:5000/ko"})
	koOnly := env(map[string]string{envKoRepo: "127.0.0.1:5000/ko"})
	none := env(nil)
	for _, c := range []struct {
		args      []string
		getenv    func(string) string
		push      string
		naming    string // default naming
		dockerHub bool
		err       string
	}{
		{args: []string{"--push"}, getenv: both, push: "127.0.0.1:5000/kiln", naming: naming.Default, dockerHub: true},
		{args: []string{"--push=true"}, getenv: koOnly, push: "127.0.0.1:5000/ko", naming: naming.Default, dockerHub: true},
		{args: []string{"--push=false"}, getenv: both},
		{args: []string{"--push", "false"}, getenv: both},
		{args: nil, getenv: both},
		{args: []string{"--push", "127.0.0.1:5000/x"}, getenv: both, push: "127.0.0.1:5000/x"},
		{args: []string{"--push", "docker.io/me/app"}, getenv: none, push: "docker.io/me/app"},
		{args: []string{"--push"}, getenv: none, err: "no repository to push to"},
		{args: []string{"--push", "myapp"}, getenv: both, err: "names no registry host"},
		{args: []string{"--push", "false/x"}, getenv: both, err: "names no registry host"},
		{args: []string{"--push", "127.0.0.1:5000/x", "--bare", "-B"}, getenv: both, err: "give one"},
	} {
		f, err := parse(t, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var d delivery
		err = f.ko.delivery(&d, f.push, f.registry, c.getenv)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error containing %q", c.args, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.args, err)
		case d.push != c.push || d.defaultNaming != c.naming || d.dockerHub != c.dockerHub:
			t.Errorf("%q: push %q naming %q dockerHub %v, want %q %q %v", c.args, d.push, d.defaultNaming, d.dockerHub, c.push, c.naming, c.dockerHub)
		}
	}
	f, _ := parse(t, "-P")
	var d delivery
	if err := f.ko.delivery(&d, "", f.registry, none); err != nil || d.naming != naming.Preserve {
		t.Errorf("-P: naming %q, %v", d.naming, err)
	}
}
