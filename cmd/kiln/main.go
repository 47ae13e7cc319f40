// Command kiln builds Go programs into OCI images. The work is done by the
// packages under pkg/; this is only the command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/kiln-build/kiln/internal/cli"
)

// gcPercent is the collector's pace unless GOGC says otherwise. kiln runs
// for a second or less with a live heap of a few megabytes; at the default
// 100 it collects again and again while it streams a layer through its
// buffers, which costs an edit rebuild several milliseconds. Memory stays
// bounded: at most five times the live heap.
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
