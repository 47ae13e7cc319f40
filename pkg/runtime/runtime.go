// Package runtime defines how a language plugs into kiln: a Runtime
// recognises its projects and resolves what the command line names into
// Targets, and a Target contributes, per platform, the layers and settings
// that make its program run. kiln's pipeline (pkg/build) does the rest
// for every runtime alike: base images, image assembly, caching, output.
//
// A new runtime implements Runtime and Target in a package of its own and
// is registered in pkg/runtime/all.
package runtime

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/hashcache"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/project"
)

// Runtime is a language kiln builds.
type Runtime interface {
	// Name is how kiln.yaml's runtime: key names it, e.g. "go".
	Name() string
	// Keys are the kiln.yaml keys the runtime reads besides
	// config.SharedKeys; a project of this runtime may set no others.
	Keys() []string
	// Detect reports whether the directory dir holds a project of this
	// runtime, from its files alone.
	Detect(dir string) (bool, error)
	// Resolve finds the targets that req names.
	Resolve(ctx context.Context, req Request) (*Resolution, error)
}

// Request is what the command line asks to build.
type Request struct {
	// Dir is the absolute directory arguments are resolved from.
	Dir string
	// Args name the targets: directories, import paths or patterns,
	// as the runtime understands them. None means ".".
	Args []string
	// Env is the environment kiln runs in.
	Env []string
}

// Resolution is what a Request names.
type Resolution struct {
	// Root is the project root, which holds kiln.yaml and .kiln.
	Root    string
	Targets []Target
}

// Target is one program to build into an image.
type Target interface {
	// ID names the target in messages and results: an import path, or
	// the project's directory.
	ID() string
	// Dir is the target's source directory: kiln.yaml's targets: keys are
	// relative to the root, and a kodata/ directory in it is its data.
	Dir() string
	// Name is the image name unless kiln.yaml sets one.
	Name() string
	// Kind is what the target is; after Configure, it is final.
	Kind() config.Kind
	// DefaultBase is the base image to build on when none is configured;
	// "" means an empty base that kiln completes with certificates and
	// users.
	DefaultBase() (string, error)
	// Configure gives the target its settings, before Fingerprint and
	// Build. It checks them: a setting the target cannot honour is an
	// error.
	Configure(ctx context.Context, c Config) error
	// Fingerprint writes to w everything that can change what Build
	// makes for p, so that an unchanged fingerprint means an unchanged
	// contribution.
	Fingerprint(ctx context.Context, w io.Writer, p v1.Platform) error
	// Build makes the target's contribution to the image for p, writing
	// its layers into store; the contribution's Done, if set, says once
	// the tool that made them has ended whether it ended well.
	Build(ctx context.Context, store blob.Store, p v1.Platform, opt layer.Options) (*Contribution, error)
}

// EarlyStarter is a Target that can start building before the plan has
// looked its base up (in a registry, which takes a round trip or more):
// Go starts compiling a program whose sources changed. StartEarly gets
// the Config that Configure will get, but without the base, and the
// platforms the build will most likely be for; it returns at once. It is
// a guess: Build uses what it started only for a platform the build is
// for, and the build's end stops the rest. Configure is still called.
type EarlyStarter interface {
	StartEarly(ctx context.Context, c Config)
}

// Config is what a target is configured with.
type Config struct {
	Project *project.Project
	// Settings are kiln.yaml's settings for the target, with templates
	// expanded.
	Settings config.Settings
	// Bases are the base images, one per platform in Platforms order;
	// nil for an empty base. BaseRef is the reference they came from.
	Bases   []v1.Image
	BaseRef string
	// FetchBase makes the layers of Bases[i] readable, downloading them
	// into the base cache. The build does it anyway: a target calls it
	// only when it must read a base's files before the build; nil when
	// the layers are readable as they are.
	FetchBase func(ctx context.Context, i int) error
	Platforms []v1.Platform
	// WorkDir is a directory for temporary files, removed after the build.
	WorkDir string
	// Hashes remembers file hashes between builds.
	Hashes *hashcache.Cache
	// NoEarlyBuild asks Fingerprint not to start building ahead of Build
	// (a compile while go list runs): set when a cache outside the
	// project (a registry) may make the build unnecessary.
	NoEarlyBuild bool
}

// Contribution is what a target adds to one platform's image.
type Contribution struct {
	// Layers go on top of the base's (and the data layer), each with the
	// history entry that says which step made it.
	Layers     []mutate.Addendum
	Entrypoint []string
	// PathDir is added to PATH.
	PathDir string
	// Env is set over the base's environment, before the configured env;
	// WorkingDir replaces the default ("/", or the base's) when set.
	Env        []string
	WorkingDir string
	// Packages are the software packages the layers hold, as the
	// runtime knows them from the build itself (a Go binary's build
	// info, pip's installation report), for the image's SBOM. Optional:
	// a runtime that leaves it empty gets an SBOM of the base and the
	// layers only.
	Packages []Package
	// Inputs are the files that pinned what the build used (go.sum,
	// requirements.txt), for the provenance. Optional.
	Inputs []Input
	// Done, if set, waits for the tool that made the layers to end and
	// says how it ended: the layers are complete, but the tool may still
	// be ending (the go command, once the program is in place). The build
	// is kept only if it returns nil.
	Done func() error
}

// Package is one software package in a contribution's layers.
type Package struct {
	// Type is the package-URL type of its ecosystem: "golang", "pypi".
	Type    string
	Name    string
	Version string
	// Main marks the program itself (the main module, the project);
	// Toolchain marks the compiler or interpreter it was built with.
	Main, Toolchain bool
	// Checksum is the ecosystem's own hash of the package, as its lock
	// file records it: go.sum's "h1:..." for a Go module.
	Checksum string
	// File is the name of the file it was installed from (a wheel), and
	// SHA256 the hex SHA-256 of that file.
	File   string
	SHA256 string
	// License is what the package declares (an SPDX expression or its
	// name), "" if it declares none.
	License string
}

// Input is a file a build read that pins its dependencies.
type Input struct {
	// Name is the file's path relative to the project root.
	Name string
	// SHA256 is the hex SHA-256 of its content.
	SHA256 string
}

// HostTarget is a Target that can also run on the machine kiln runs on,
// without an image (kiln run --host).
type HostTarget interface {
	Target
	// BuildHost prepares the program to run here, using dir for files.
	BuildHost(ctx context.Context, dir string) (*Executable, error)
}

// Executable is a program prepared to run on this machine.
type Executable struct {
	// Command is the program and its arguments.
	Command []string
	// Env is added to the environment it runs in, as the image's would
	// add it (PYTHONPATH and the like).
	Env []string
}

// Author is recorded in the history entries of kiln's layers.
const Author = "kiln"

// History is the history entry of a layer kiln writes with opt: what made
// it and a comment, dated with the source date.
func History(opt layer.Options, createdBy, comment string) v1.History {
	return v1.History{Author: Author, Created: v1.Time{Time: opt.ModTime.UTC()}, CreatedBy: createdBy, Comment: comment}
}

// Inputs hashes the files names in dir that exist, with sum (a
// hashcache.Cache's Sum), as a contribution's Inputs.
func Inputs(sum func(string) (string, error), dir string, names ...string) ([]Input, error) {
	var out []Input
	for _, n := range names {
		h, err := sum(filepath.Join(dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, Input{Name: n, SHA256: h})
	}
	return out, nil
}
