// Command kiln builds Go programs into OCI images. The work is done by the
// packages under pkg/; this is only the command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kiln-build/kiln/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
