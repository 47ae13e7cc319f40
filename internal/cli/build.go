package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/build"
)

func newBuildCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		opt       build.Options
		asJSON    bool
		quiet     bool
		imageRefs string
	)
	cmd := &cobra.Command{
		Use:   "build [PATH|IMPORTPATH ...]",
		Short: "Build Go programs and functions, or a Python project, into OCI images",
		Long: `Build each named Go main package or function (default ".") into an image,
for every requested platform. A function is a package that exports
Handle(http.ResponseWriter, *http.Request), or New() returning a type with
that method; kiln serves it with a main package it generates. A directory
holding pyproject.toml or requirements.txt (and no go.mod) is a Python
project, built into one image on a Python base with its dependencies
installed for each platform (see docs/python.md).

Images are built into the project's .kiln/ directory (.kiln/last links to
the newest build); an unchanged project reuses its previous build.
--output, --push and --load then deliver them.

stdout gets one line per image: REPO@DIGEST when pushed, else
REFERENCE@DIGEST (e.g. oci:DIR:NAME@sha256:...); progress goes to stderr.`,
		Example: `  kiln build
  kiln build --output oci:./out ./cmd/server
  kiln build --platform linux/amd64,linux/arm64,linux/arm/v7 ./...
  kiln build --base gcr.io/distroless/static:nonroot --platform all
  kiln build --push ghcr.io/org/app -t v1.2.3 -t latest
  kiln build --json | jq -r '.images[0].digest'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Targets = args
			rep, wait := newReporter(stderr, quiet)
			opt.Progress = rep
			res, err := build.Build(cmd.Context(), opt)
			wait()
			if err != nil {
				return err
			}
			return printResult(stdout, res, asJSON, imageRefs)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opt.Output, "output", "o", "", "also write the images to oci:DIR (OCI layout), tar:FILE (docker/podman load, one platform) or oci-archive:FILE")
	f.StringVar(&opt.Platforms, "platform", "", "comma-separated platforms, e.g. linux/amd64,linux/arm64, or all (every platform of the base) (default: kiln.yaml's, else linux/<host arch>)")
	f.StringVar(&opt.Base, "base", "", "base image reference, by tag or digest (default: kiln.yaml's base, else an empty base)")
	f.StringVar(&opt.Push.Repo, "push", "", "push the images to this repository (with several images, to REPO/<name>)")
	f.StringSliceVarP(&opt.Push.Tags, "tag", "t", nil, "tags to push, and the tag in tar archives and local engines (default latest)")
	f.BoolVar(&opt.Load, "load", false, "load the image for this machine's platform into podman or docker")
	f.StringVar(&opt.Compression, "compression", "gzip", "layer compression: gzip, or zstd for registries and runtimes that accept it")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	f.BoolVarP(&quiet, "quiet", "q", false, "show no progress")
	f.StringVar(&imageRefs, "image-refs", "", "also write the image references printed on stdout to this file")
	addRegistryFlags(f, &opt.Registry)
	return cmd
}

// printResult prints one line per image, or JSON, and writes the lines to
// imageRefs when it is set.
func printResult(stdout io.Writer, res *build.Result, asJSON bool, imageRefs string) error {
	var lines strings.Builder
	for _, img := range res.Images {
		if img.Pushed != "" {
			fmt.Fprintln(&lines, img.Pushed)
		} else {
			fmt.Fprintf(&lines, "%s@%s\n", img.Reference, img.Digest)
		}
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
