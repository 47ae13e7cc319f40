// Package cli is the kiln command line: flags and output formats over the
// kiln library, which does the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/run"
)

// Main runs kiln with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(pushArgs(args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "kiln: interrupted; the previous build is untouched")
		return 130
	}
	fmt.Fprintf(stderr, "kiln: %v\n", err)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	// kiln run passes the program's exit status through.
	var exit *run.ExitError
	if errors.As(err, &exit) && exit.Code > 0 {
		return exit.Code
	}
	return 1
}

type usageError struct{ error }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "kiln",
		Short: "Build Go and Python programs and functions into reproducible OCI images, with no daemon",
		Long: `kiln builds Go and Python programs into OCI container images directly on the host:
no Docker daemon and no Dockerfile. Images are reproducible to the bit and
can target several platforms at once. A function, a package that exports
an HTTP handler, becomes a service with a main package kiln generates.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       build.Version(),
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newBuildCommand(stdout, stderr))
	root.AddCommand(newPushCommand(stdout, stderr))
	root.AddCommand(newVerifyCommand(stdout))
	root.AddCommand(newLoginCommand(stdout, stderr))
	root.AddCommand(newLogoutCommand(stderr))
	root.AddCommand(newCacheCommand(stdout))
	root.AddCommand(newInitCommand(stdout))
	root.AddCommand(newRunCommand(stdout, stderr))
	root.AddCommand(newResolveCommand(stdout, stderr), newKubectlCommand("apply", stdout, stderr), newKubectlCommand("create", stdout, stderr))
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print kiln's version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, build.Version()) },
	})
	addVerbose(root, stderr)
	addCompletions(root)
	return root
}
