package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/scaffold"
)

func newInitCommand(stdout io.Writer) *cobra.Command {
	var (
		opt  scaffold.Options
		kind string
	)
	cmd := &cobra.Command{
		Use:   "init [--runtime go|python] [--kind app|function] DIR",
		Short: "Write a new project that kiln builds and runs as it is",
		Long: `Write a small working project into DIR: an HTTP service on $PORT (default
8080) with a test, a kiln.yaml and a .gitignore for .kiln/. It uses only the
standard library, so go test, kiln build and kiln run work straight away and
download nothing.

--kind app writes a program (package main); --kind function writes a
function: a package whose New returns a type with Handle and the optional
Start, Stop, Ready and Alive, which kiln serves with a main package of its
own. --runtime python writes a Python app (main.py) or a handle(request)
function (function.py) instead. DIR must be new or empty unless --force is
given.`,
		Example: `  kiln init --kind function hello
  kiln init --kind app --module example.com/team/api api
  kiln init --runtime python --kind function hello-py`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("kiln init takes one directory, e.g. kiln init --kind function hello")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opt.Dir, opt.Kind = args[0], config.Kind(kind)
			res, err := scaffold.Init(cmd.Context(), opt)
			if err != nil {
				return withFlagHint(err)
			}
			if opt.Runtime == "python" {
				fmt.Fprintf(stdout, "Wrote a Python %s in %s: %s\n", res.Kind, args[0], strings.Join(res.Files, ", "))
				fmt.Fprintf(stdout, "Next:\n  cd %s\n  kiln build --base REGISTRY/python:3.12-slim   # or the default python image\n", filepath.Clean(args[0]))
				return nil
			}
			fmt.Fprintf(stdout, "Wrote a Go %s, module %s, in %s: %s\n", res.Kind, res.Module, args[0], strings.Join(res.Files, ", "))
			fmt.Fprintf(stdout, "Next:\n  cd %s\n  go test ./...\n  kiln run          # builds the image and runs it in podman or docker\n  kiln run --host   # or runs the program directly on this machine\n", filepath.Clean(args[0]))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Runtime, "runtime", "go", "the language of the project: go or python")
	f.StringVar(&kind, "kind", "app", "app (a program, package main) or function (a package kiln serves over HTTP)")
	f.StringVar(&opt.Module, "module", "", "the Go module path (default: DIR's name)")
	f.BoolVar(&opt.Force, "force", false, "write into a directory that is not empty, replacing files of the same names")
	return cmd
}
