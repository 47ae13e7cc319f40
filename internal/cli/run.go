package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/run"
)

func newRunCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		opt   run.Options
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "run [PATH|IMPORTPATH]",
		Short: "Build a program or function for this machine and run it",
		Long: `Build the main package or function (default ".") for this machine's
platform and run it until Ctrl-C: as a container in podman or docker (the
first one installed, or --engine), or with --host directly as a process,
which is the fastest edit loop.

The program gets PORT (8080 in a container) and is published on 127.0.0.1,
on --port or else on 8080 when free; kiln prints the URL to call. Its
output is streamed. Ctrl-C (or SIGTERM) stops it with SIGTERM, allowing
10s before SIGKILL, and removes the container.`,
		Example: `  kiln run
  kiln run --host ./cmd/api
  kiln run --engine docker --port 9000 -e GREETING=hi`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{errors.New("kiln run runs one program: name one directory or import path")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opt.Target = args[0]
			}
			if opt.Host && opt.Engine != "" {
				return usageError{errors.New("--host runs the program without a container engine; leave out --engine")}
			}
			rep, wait := newReporter(stderr, quiet)
			var once sync.Once
			done := func() { once.Do(wait) }
			opt.Progress = rep
			opt.Stdout, opt.Stderr = stdout, stderr
			opt.Started = func(s run.Started) {
				done()
				where := "in " + s.Engine
				if s.Engine == "host" {
					where = "on this machine"
				}
				fmt.Fprintf(stderr, "kiln: %s is running %s at %s (Ctrl-C stops it)\n", s.Program, where, s.URL)
			}
			err := run.Run(cmd.Context(), opt)
			done()
			switch {
			case errors.Is(err, run.ErrNoEngine):
				err = fmt.Errorf("%w: kiln run --host does that", err)
			case err != nil && opt.Engine != "" && strings.Contains(err.Error(), opt.Engine):
				err = fmt.Errorf("--engine: %w; or use --host to run the program directly on this machine", err)
			case err != nil:
				err = withFlagHint(err)
			}
			if err == nil && cmd.Context().Err() != nil {
				fmt.Fprintln(stderr, "kiln: stopped")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opt.Host, "host", false, "run the program directly on this machine, not in a container")
	f.StringVar(&opt.Engine, "engine", "", "podman or docker (default: the first installed, in that order)")
	f.IntVar(&opt.Port, "port", 0, "the port on 127.0.0.1 to serve on (default: 8080 if free, else any free port)")
	f.StringArrayVarP(&opt.RunEnv, "env", "e", nil, "KEY=VALUE to set for the program (repeatable)")
	f.BoolVarP(&quiet, "quiet", "q", false, "show no build progress")
	return cmd
}
