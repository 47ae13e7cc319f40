package cli

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kiln-build/kiln/pkg/naming"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/registry"
)

// Environment variables naming the default repository: kiln's own, else
// ko's.
const (
	envRepo   = "KILN_DOCKER_REPO"
	envKoRepo = "KO_DOCKER_REPO"
)

// koFlags are the flags ko users type: --push as a boolean (the
// repository from the environment), and the naming strategies.
type koFlags struct {
	bare, baseImportPaths, preserveImportPaths bool
}

func (k *koFlags) register(fs *pflag.FlagSet, push *string) {
	fs.StringVar(push, "push", "", "push the images: --push REPO to that repository (one image: REPO; several: REPO/<name>), --push alone to $KILN_DOCKER_REPO or $KO_DOCKER_REPO, --push=false not at all")
	fs.Lookup("push").NoOptDefVal = "true"
	k.registerNaming(fs)
}

func (k *koFlags) registerNaming(fs *pflag.FlagSet) {
	fs.BoolVar(&k.bare, "bare", false, "name every image the repository itself (naming: bare)")
	fs.BoolVarP(&k.baseImportPaths, "base-import-paths", "B", false, "name images REPO/<last element of the import path> (naming: base-import-paths)")
	fs.BoolVarP(&k.preserveImportPaths, "preserve-import-paths", "P", false, "name images REPO/<import path> (naming: preserve-import-paths)")
}

// naming is the strategy the flags ask for, "" for none.
func (k *koFlags) naming() (string, error) {
	var set []string
	if k.preserveImportPaths {
		set = append(set, naming.Preserve)
	}
	if k.baseImportPaths {
		set = append(set, naming.Base)
	}
	if k.bare {
		set = append(set, naming.Bare)
	}
	if len(set) > 1 {
		return "", fmt.Errorf("--bare, --base-import-paths and --preserve-import-paths each name images differently: give one")
	}
	if len(set) == 1 {
		return set[0], nil
	}
	return "", nil
}

// envRepository is the repository the environment names, and which
// variable named it.
func envRepository(getenv func(string) string) (repo, from string) {
	for _, k := range []string{envRepo, envKoRepo} {
		if v := getenv(k); v != "" {
			return v, k
		}
	}
	return "", ""
}

// errNoRepo says that pushing was asked for with no repository anywhere.
var errNoRepo = errors.New("no repository to push to: set KILN_DOCKER_REPO (or ko's KO_DOCKER_REPO), or write --push REPO, e.g. --push ghcr.io/org")

// delivery fills d's push settings from --push (push), the naming flags
// and the environment. --push=false and no --push push nowhere; --push
// (true) pushes to the environment's repository with ko's default naming;
// --push REPO to REPO with kiln's, unless a naming flag or kiln.yaml's
// naming: says otherwise.
func (k *koFlags) delivery(d *delivery, push string, reg registry.Options, getenv func(string) string) error {
	var err error
	if d.naming, err = k.naming(); err != nil {
		return err
	}
	switch push {
	case "", "false":
		return nil
	case "true":
		repo, from := envRepository(getenv)
		if repo == "" {
			return fmt.Errorf("--push: %w", errNoRepo)
		}
		if _, err := reg.ParseRepository(repo); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
		d.push, d.defaultNaming, d.dockerHub = repo, naming.Default, true
		return nil
	}
	if _, err := reg.ParseRepository(push); err != nil {
		return fmt.Errorf("--push: %w", err)
	}
	if !publish.HasRegistry(push) {
		return fmt.Errorf("--push %s names no registry host, and kiln does not guess Docker Hub: write the registry, e.g. --push ghcr.io/%s, or --push docker.io/%s", push, push, push)
	}
	d.push = push
	return nil
}

// pushArgs rewrites "--push VALUE" into "--push=VALUE" when VALUE is a
// repository rather than what to build: --push alone is a boolean, as in
// ko, so pflag would otherwise take VALUE for an argument. A VALUE that
// is a directory, a relative path or a pattern stays an argument.
// Arguments after "--" are left alone.
func pushArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" {
			return append(out, args[i+1:]...)
		}
		if a != "--push" || i+1 >= len(args) {
			continue
		}
		next := args[i+1]
		if strings.HasPrefix(next, "-") || strings.HasPrefix(next, ".") || strings.HasPrefix(next, "/") || strings.Contains(next, "...") {
			continue
		}
		if fi, err := os.Stat(next); err == nil && fi.IsDir() {
			continue
		}
		out[len(out)-1] = "--push=" + next
		i++
	}
	return out
}

// namer names images with strategy s; nil for "" (kiln's own naming).
func namer(s string) func(string, publish.Image) string {
	if s == "" {
		return nil
	}
	return func(repo string, img publish.Image) string {
		return naming.Name(repo, s, cmp.Or(img.ImportPath, img.Name))
	}
}
