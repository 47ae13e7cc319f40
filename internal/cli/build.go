package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kiln-build/kiln/pkg/attest"
	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/registry"
)

// buildFlags are kiln build's flags as typed; options turns them into the
// library's typed options.
type buildFlags struct {
	output      string
	platforms   string
	base        string
	push        string
	tags        []string
	load        bool
	compression string
	asJSON      bool
	quiet       bool
	imageRefs   string
	registry    registry.Options
	ko          koFlags
	cache       cacheFlags
	supply      supplyFlags
}

func (f *buildFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.output, "output", "o", "", "also write the images to oci:DIR (OCI layout), tar:FILE (docker/podman load, one platform) or oci-archive:FILE")
	fs.StringVar(&f.platforms, "platform", "", "comma-separated platforms, e.g. linux/amd64,linux/arm64, or all (every platform of the base) (default: kiln.yaml's, else linux/<host arch>)")
	fs.StringVar(&f.base, "base", "", "base image reference, by tag or digest (default: kiln.yaml's base, else an empty base)")
	f.ko.register(fs, &f.push)
	fs.StringSliceVarP(&f.tags, "tag", "t", nil, "tags to push, and the tag in tar archives and local engines (default latest)")
	fs.BoolVar(&f.load, "load", false, "load the image for this machine's platform into podman or docker")
	fs.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip, or zstd for registries and runtimes that accept it")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON on stdout")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "show no progress")
	fs.StringVar(&f.imageRefs, "image-refs", "", "also write the image references printed on stdout to this file")
	f.supply.registerSBOM(fs)
	f.supply.registerSign(fs)
	addRegistryFlags(fs, &f.registry)
	f.cache.register(fs)
}

// delivery is where kiln build sends a finished build besides .kiln.
type delivery struct {
	output output // zero: none
	push   string // repository, "" for none
	tags   []string
	load   bool
	// naming is the naming strategy asked for, defaultNaming the one
	// when neither flags nor kiln.yaml say (see pushTarget); dockerHub
	// lets push be a Docker Hub name without its host.
	naming, defaultNaming string
	dockerHub             bool
	stream                io.Writer      // receives the archive of --output tar:- or oci-archive:-
	signer                *attest.Signer // nil: unsigned
	// staged has the layers of --output oci:DIR copied in as the build
	// writes them (publish.Stage); nil for other outputs.
	staged *publish.Stage
}

// options parses the flags: what to build (with args) and where to
// deliver it. Errors name the flag to change; like every error about what
// the flags ask for (rather than how they are written), they exit 1.
func (f *buildFlags) options(args []string) (build.Options, delivery, error) {
	var opt build.Options
	var d delivery
	opt.Plan.Targets = args
	opt.Plan.Base = f.base
	opt.Plan.Registry = f.registry
	switch f.platforms {
	case "":
	case "all":
		opt.Plan.AllPlatforms = true
	default:
		ps, err := platform.Parse(f.platforms)
		if err != nil {
			return opt, d, fmt.Errorf("--platform: %w", err)
		}
		opt.Plan.Platforms = ps
	}
	c, err := layer.ParseCompression(f.compression)
	if err != nil {
		return opt, d, fmt.Errorf("--compression: %w", err)
	}
	opt.Compression = c
	if opt.SBOM, err = f.supply.format(); err != nil {
		return opt, d, err
	}
	if d.signer, err = f.supply.signer(nil); err != nil {
		return opt, d, err
	}
	if d.output, err = parseOutput(f.output); err != nil {
		return opt, d, err
	}
	d.tags, d.load = f.tags, f.load
	if err := f.ko.delivery(&d, f.push, f.registry, os.Getenv); err != nil {
		return opt, d, err
	}
	if err := registry.ValidateTags(f.tags); err != nil {
		return opt, d, usageError{fmt.Errorf("--tag: %w", err)}
	}
	return opt, d, nil
}

// output is a parsed --output.
type output struct {
	kind string // "oci", "tar" or "oci-archive"; "" for none
	path string // absolute
}

func parseOutput(s string) (output, error) {
	if s == "" {
		return output{}, nil
	}
	kind, p, ok := strings.Cut(s, ":")
	if !ok || p == "" || (kind != "oci" && kind != "tar" && kind != "oci-archive") {
		return output{}, fmt.Errorf("--output %q is not supported: use oci:DIR (an OCI image layout), tar:FILE (for docker load and podman load) or oci-archive:FILE", s)
	}
	if p == "-" {
		if kind == "oci" {
			return output{}, fmt.Errorf("--output oci:- cannot go to standard output: an OCI layout is a directory; use oci-archive:- or tar:- for a stream")
		}
		return output{kind: kind, path: p}, nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return output{}, err
	}
	return output{kind: kind, path: abs}, nil
}

func newBuildCommand(stdout, stderr io.Writer) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [PATH|IMPORTPATH ...]",
		Short: "Build Go programs and functions, or a Python project, into OCI images",
		Long: `Build each named Go main package or function (default ".") into an image,
for every requested platform. A function is a package that exports
Handle(http.ResponseWriter, *http.Request), or New() returning a type with
that method; kiln serves it with a main package it generates. A directory
holding pyproject.toml or requirements.txt (and no go.mod) is a Python
project, built into one image on a Python base with its dependencies
installed for each platform (see docs/python.md). A Knative Functions
project (func.yaml) builds as it is: HTTP and CloudEvents handlers, Go and
Python, in the image func.yaml names (see docs/functions.md).

Images are built into the project's .kiln/ directory (.kiln/last links to
the newest build); an unchanged project reuses its previous build.
--output, --push and --load then deliver them.

stdout gets one line per image, a reference that skopeo, podman and crane
take as printed: REPO@DIGEST when pushed, else where the image is
(oci:DIR:NAME, docker-archive:FILE:NAME:TAG, oci-archive:FILE:NAME);
--json has it as "ref", with the digest. Progress goes to stderr.
With --output tar:- or oci-archive:- the archive goes to stdout, and the
lines (or --json) go to stderr instead (and to --image-refs if set).
An archive is written into a FIFO or device by streaming, and replaces a
regular file atomically.`,
		Example: `  kiln build
  kiln build --output oci:./out ./cmd/server
  kiln build --platform linux/amd64,linux/arm64,linux/arm/v7 ./...
  kiln build --base gcr.io/distroless/static:nonroot --platform all
  kiln build --push ghcr.io/org/app -t v1.2.3 -t latest
  kiln build --json | jq -r '.images[0].digest'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := shareRegistry(cmd.Context(), &f.registry); err != nil {
				return err
			}
			opt, d, err := f.options(args)
			if err != nil {
				return err
			}
			rc, err := f.cache.newRegistryCache(d, f.registry)
			if err != nil {
				return err
			}
			if rc != nil && rc.lookup {
				opt.Remote = rc
			}
			rep, wait := newReporter(stderr, f.quiet)
			opt.Plan.Progress = rep
			if d.output.kind == "oci" {
				d.staged = d.layout(nil, rep).Stage(cmd.Context())
				defer d.staged.Close()
				opt.Blobs = d.staged.Add
			}
			res, err := build.Build(cmd.Context(), opt)
			out := stdout
			if d.output.path == "-" {
				// stdout carries the archive and nothing else.
				d.stream, out = stdout, stderr
			}
			if err == nil {
				err = deliver(cmd.Context(), res, d, f.registry, opt.Plan.Env, rep)
			}
			if err == nil {
				err = rc.record(cmd.Context(), res)
			}
			wait()
			if err != nil {
				return withFlagHint(err)
			}
			return printResult(out, res, f.asJSON, f.imageRefs)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// printResult prints one line per image, or JSON, and writes the lines to
// imageRefs when it is set.
func printResult(stdout io.Writer, res *build.Result, asJSON bool, imageRefs string) error {
	var lines strings.Builder
	for i := range res.Images {
		img := &res.Images[i]
		img.Ref = img.Pushed
		if img.Ref == "" {
			// oci:, oci-archive: and docker-archive: references take no
			// digest (skopeo and podman refuse one); the digest is
			// in --json.
			img.Ref = img.Reference
		}
		fmt.Fprintln(&lines, img.Ref)
	}
	if imageRefs != "" {
		if err := os.WriteFile(imageRefs, []byte(lines.String()), 0o644); err != nil {
			return fmt.Errorf("writing --image-refs: %w", err)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	_, err := io.WriteString(stdout, lines.String())
	return err
}
