package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/platform"
)

// flagValues are the values shell completion offers for flags of these
// names, on every command that has one.
var flagValues = map[string]func(toComplete string) ([]string, cobra.ShellCompDirective){
	"platform": completePlatforms,
	"kind":     fixed("app", "function"),
	"runtime":  fixed("go", "python"),
	"engine":   fixed("podman", "docker"),
	"output": func(string) ([]string, cobra.ShellCompDirective) {
		// The kind, then the shell completes the path after it.
		return []string{"oci:", "tar:", "oci-archive:"}, cobra.ShellCompDirectiveNoSpace
	},
}

func fixed(values ...string) func(string) ([]string, cobra.ShellCompDirective) {
	return func(string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completePlatforms completes the last of a comma-separated list.
func completePlatforms(toComplete string) ([]string, cobra.ShellCompDirective) {
	done := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done = toComplete[:i+1]
	}
	var out []string
	if done == "" {
		out = append(out, "all")
	}
	for _, p := range platform.Common() {
		out = append(out, done+p)
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// addCompletions registers flagValues on cmd and its subcommands.
func addCompletions(cmd *cobra.Command) {
	for name, values := range flagValues {
		if cmd.Flags().Lookup(name) != nil {
			cmd.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return values(toComplete)
			})
		}
	}
	for _, c := range cmd.Commands() {
		addCompletions(c)
	}
}
