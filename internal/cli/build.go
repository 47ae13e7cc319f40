package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/build"
)

func newBuildCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		opt    build.Options
		asJSON bool
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "build [PATH|IMPORTPATH ...]",
		Short: "Build Go main packages and functions into OCI images",
		Long: `Build each named Go main package or function (default ".") into an image,
for every requested platform. A function is a package that exports
Handle(http.ResponseWriter, *http.Request), or New() returning a type with
that method; kiln serves it with a main package it generates. Without --output the images go to the project's .kiln/
directory (.kiln/last links to the newest build); an unchanged project
reuses its previous build.

stdout gets one line per image, REFERENCE@DIGEST; progress goes to stderr.`,
		Example: `  kiln build
  kiln build --output oci:./out ./cmd/server
  kiln build --platform linux/amd64,linux/arm64,linux/arm/v7 ./...
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
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			for _, img := range res.Images {
				fmt.Fprintf(stdout, "%s@%s\n", img.Reference, img.Digest)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opt.Output, "output", "o", "", "where to write the images: oci:DIR for an OCI image layout (default: the project's .kiln/)")
	f.StringVar(&opt.Platforms, "platform", "", "comma-separated platforms, e.g. linux/amd64,linux/arm64 (default: kiln.yaml's, else linux/<host arch>)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	f.BoolVarP(&quiet, "quiet", "q", false, "show no progress")
	return cmd
}
