package publish

import (
	"strings"
	"testing"

	"github.com/kiln-build/kiln/pkg/config"
)

// The names ko v0.19.1 gives (see docs/registries.md), checked against
// ko's own output for these import paths.
func TestName(t *testing.T) {
	repo := "127.0.0.1:5055/demo"
	for _, c := range []struct{ naming, ip, want string }{
		{config.NamingDefault, "example.com/demo/cmd/app", repo + "/app-21e5d1028def5ef6d996164796d5bc03"},
		{"", "example.com/demo/cmd/app", repo + "/app-21e5d1028def5ef6d996164796d5bc03"},
		{config.NamingDefault, "example.com/demo/cmd/MixedCase", repo + "/mixedcase-a00cf2821930cade59d03f05cc8f11f0"},
		{config.NamingBase, "example.com/demo/cmd/app", repo + "/app"},
		{config.NamingPreserve, "example.com/demo/cmd/MixedCase", repo + "/example.com/demo/cmd/mixedcase"},
		{config.NamingBare, "example.com/demo/cmd/app", repo},
	} {
		if got := Name(repo, c.naming, c.ip); got != c.want {
			t.Errorf("Name(%q, %q) = %q, want %q", c.naming, c.ip, got, c.want)
		}
	}
}

// Nothing goes to Docker Hub unless the repository says docker.io or
// DockerHub allows it (a repository from the environment).
func TestTargetNeedsRegistryHost(t *testing.T) {
	img := Image{Name: "app", ImportPath: "example.com/demo/cmd/app"}
	for _, c := range []struct {
		p    Registry
		want string // "" for an error
	}{
		{Registry{Repo: "false"}, ""},
		{Registry{Repo: "me/app"}, ""},
		{Registry{Repo: "me", Naming: config.NamingBase}, ""},
		{Registry{Repo: "docker.io/me/app"}, "docker.io/me/app"},
		{Registry{Repo: "me", Naming: config.NamingBase, DockerHub: true}, "me/app"},
		{Registry{Repo: "127.0.0.1:5000/r"}, "127.0.0.1:5000/r"},
		{Registry{Repo: "localhost/r", Naming: config.NamingPreserve}, "localhost/r/example.com/demo/cmd/app"},
	} {
		got, err := c.p.Target(img, false)
		if c.want == "" {
			if err == nil || !strings.Contains(err.Error(), "no registry host") {
				t.Errorf("%+v: %q, %v; want an error", c.p, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v: %q, %v; want %q", c.p, got, err, c.want)
		}
	}
}
