package cli

import (
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/registry"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// addVerbose gives root -v/--verbose, as ko and crane users type it: the
// go and pip commands kiln runs and its registry requests are logged to
// stderr. (kiln version and --version print the version.)
func addVerbose(root *cobra.Command, stderr io.Writer) {
	var verbose bool
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log the go and pip commands kiln runs and its registry requests to stderr")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if !verbose {
			return nil
		}
		var mu sync.Mutex
		log := func(prefix string) func(string) {
			return func(line string) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(stderr, "kiln -v: %s%s\n", prefix, line)
			}
		}
		ctx := runtime.WithCommandLog(cmd.Context(), log("$ "))
		ctx = registry.WithLog(ctx, log("registry: "))
		cmd.SetContext(ctx)
		return nil
	}
}
