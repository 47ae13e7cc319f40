// Package engine drives the local container engines, podman and docker:
// finding one, and loading images into it. kiln run and kiln build --load
// both go through it.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DefaultNames are the container engines kiln uses, in the order it looks
// for them: podman, then docker.
func DefaultNames() []string { return []string{"podman", "docker"} }

// ErrNotFound is returned when no container engine is installed.
var ErrNotFound = errors.New("neither podman nor docker is installed (not found on PATH)")

// Engine is a container engine's command line. podman and docker take the
// same commands for everything kiln does.
type Engine struct {
	Name string // "podman" or "docker"
	Path string // the executable
	// Env is the environment the engine runs in.
	Env []string
}

// Finder says where and for which engines Find looks.
type Finder struct {
	// Names are the engines kiln accepts, in the order it looks for them;
	// nil means DefaultNames().
	Names []string
	// Env is the environment whose PATH is searched and that the engine
	// runs in; nil means kiln's.
	Env []string
}

// Find returns the engine called name, or with name "" the first of
// DefaultNames() that is installed, looking in the PATH of env (nil means
// kiln's environment).
func Find(name string, env []string) (*Engine, error) {
	return Finder{Env: env}.Find(name)
}

// Find returns the engine called name, or with name "" the first of
// f.Names that is installed.
func (f Finder) Find(name string) (*Engine, error) {
	names := f.Names
	if names == nil {
		names = DefaultNames()
	}
	env := f.Env
	if env == nil {
		env = os.Environ()
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	if name != "" {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("engine %q: kiln runs images with %s", name, strings.Join(names, " or "))
		}
		p := lookPath(name, path)
		if p == "" {
			return nil, fmt.Errorf("%s is not installed (not found on PATH): install it, or choose another engine", name)
		}
		return &Engine{Name: name, Path: p, Env: env}, nil
	}
	for _, n := range names {
		if p := lookPath(n, path); p != "" {
			return &Engine{Name: n, Path: p, Env: env}, nil
		}
	}
	return nil, ErrNotFound
}

// lookPath finds the executable file in the directories of path.
func lookPath(file, path string) string {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // never run an engine from the current directory
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Command returns the engine's command line with args, in its environment.
func (e *Engine) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Path, args...)
	cmd.Env = e.Env
	return cmd
}

// output runs the engine and returns its stdout; a failure carries its
// stderr.
func (e *Engine) output(ctx context.Context, args ...string) (string, error) {
	cmd := e.Command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %s", e.Name, strings.Join(args, " "), firstNonEmpty(strings.TrimSpace(stderr.String()), err.Error()))
	}
	return strings.TrimSpace(string(out)), nil
}

// imageID returns the ID of the engine's image ref, "" if it has none.
// Both engines use the digest of the image config as the ID.
func (e *Engine) imageID(ctx context.Context, ref string) string {
	id, err := e.output(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(id, "sha256:")
}

// Load makes img available to the engine as ref, unless the engine has
// it already. The image goes in as a docker-archive streamed to "load",
// which both engines read, so the layout's path (podman would name an
// image pulled from oci:DIR after DIR, which must then be lower case)
// never matters.
func (e *Engine) Load(ctx context.Context, ref name.Tag, img v1.Image) error {
	cfg, err := img.ConfigName()
	if err != nil {
		return err
	}
	if e.imageID(ctx, ref.String()) == cfg.Hex {
		return nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(ref, img, pw)) }()
	cmd := e.Command(ctx, "load")
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if load quit early
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		hint := ""
		if e.Name == "docker" {
			hint = "\nstart the Docker daemon, or use podman, which needs none"
		}
		return fmt.Errorf("%s load: %s%s", e.Name, firstNonEmpty(strings.TrimSpace(string(out)), err.Error()), hint)
	}
	if got := e.imageID(ctx, ref.String()); got != cfg.Hex {
		return fmt.Errorf("%s load did not give image %s the ID %s (it has %q):\n%s", e.Name, ref, cfg.Hex, got, out)
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
