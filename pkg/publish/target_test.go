package publish

import (
	"path"
	"strings"
	"testing"
)

// Nothing goes to Docker Hub unless the repository says docker.io or
// DockerHub allows it (a repository from the environment).
func TestTargetNeedsRegistryHost(t *testing.T) {
	base := func(repo string, img Image) string { return path.Join(repo, path.Base(img.ImportPath)) }
	preserve := func(repo string, img Image) string { return path.Join(repo, img.ImportPath) }
	img := Image{Name: "app", ImportPath: "example.com/demo/cmd/app"}
	for _, c := range []struct {
		p    Registry
		want string // "" for an error
	}{
		{Registry{Repo: "false"}, ""},
		{Registry{Repo: "me/app"}, ""},
		{Registry{Repo: "me", Namer: base}, ""},
		{Registry{Repo: "docker.io/me/app"}, "docker.io/me/app"},
		{Registry{Repo: "me", Namer: base, DockerHub: true}, "me/app"},
		{Registry{Repo: "127.0.0.1:5000/r"}, "127.0.0.1:5000/r"},
		{Registry{Repo: "localhost/r", Namer: preserve}, "localhost/r/example.com/demo/cmd/app"},
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
