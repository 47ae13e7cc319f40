package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kiln-build/kiln/pkg/registry"
)

func newLogoutCommand(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "logout REGISTRY",
		Short:   "Remove a registry's credentials from the docker config",
		Example: `  kiln logout ghcr.io`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, removed, err := registry.Logout(args[0], registry.Options{})
			if err != nil {
				return err
			}
			if !removed {
				fmt.Fprintf(stderr, "kiln: not logged in to %s (nothing for it in %s)\n", args[0], file)
				return nil
			}
			fmt.Fprintf(stderr, "kiln: logged out of %s; credentials removed from %s\n", args[0], file)
			return nil
		},
	}
}
