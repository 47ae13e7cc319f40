package cli

import (
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/pkg/config"
)

// funcPushTarget is where kiln push sends a build of a Knative Functions
// project when --repo is not given: func.yaml's image, else its
// registry/name, with its tag unless tags are given. dir is what kiln
// push was given; only a project directory has a func.yaml.
func funcPushTarget(dir string, tags []string) (string, []string, error) {
	if fi, err := os.Stat(filepath.Join(dir, config.FuncFileName)); err != nil || !fi.Mode().IsRegular() {
		return "", tags, nil
	}
	f, err := config.LoadFunc(dir)
	if err != nil {
		return "", tags, err
	}
	repo, tag, ok := f.PushTarget()
	if !ok {
		return "", tags, nil
	}
	if len(tags) == 0 {
		tags = []string{tag}
	}
	return repo, tags, nil
}
