package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/scaffold"
)

func newInitCommand(stdout io.Writer) *cobra.Command {
	var runtime, kind string
	cmd := &cobra.Command{
		Use:   "init --runtime python [--kind app|function] DIR",
		Short: "Write a starter project that kiln build turns into an image",
		Long: `Write a starter project into DIR (created if needed; existing files are
never overwritten). Both kinds serve HTTP on $PORT (default 8080):

  app       a program that kiln runs as it is (main.py)
  function  a handle(request) function (function.py) that kiln wraps in an
            HTTP service with /health/readiness and /health/liveness`,
		Example: `  kiln init --runtime python --kind function hello-fn
  cd hello-fn && kiln build`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runtime != "python" {
				return usageError{fmt.Errorf("--runtime %q: this kiln writes python starters (--runtime python)", runtime)}
			}
			files, err := scaffold.WritePython(args[0], kind)
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintf(stdout, "wrote %s\n", f)
			}
			fmt.Fprintf(stdout, "next: cd %s && kiln build\n", args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runtime, "runtime", "", "the starter's language: python")
	f.StringVar(&kind, "kind", scaffold.KindApp, "app or function")
	return cmd
}
