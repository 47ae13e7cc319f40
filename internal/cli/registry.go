package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/project"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/registry"
)

// shareRegistry sets o up for one command's many requests
// (registry.Options.Shared).
func shareRegistry(ctx context.Context, o *registry.Options) error {
	shared, err := o.Shared(ctx)
	if err != nil {
		return err
	}
	*o = shared
	return nil
}

func addRegistryFlags(f *pflag.FlagSet, o *registry.Options) {
	f.BoolVar(&o.Insecure, "insecure-registry", false, "allow plain HTTP and unverified TLS when talking to registries")
	f.DurationVar(&o.Timeouts.ResponseHeader, "registry-timeout", registry.DefaultResponseHeaderTimeout, "how long to wait for a registry to answer a request")
}

func newPushCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		repo      string
		tags      []string
		reg       registry.Options
		asJSON    bool
		quiet     bool
		imageRefs string
		supply    supplyFlags
	)
	cmd := &cobra.Command{
		Use:   "push [BUILD]",
		Short: "Push a finished build to a registry",
		Long: `Push the images of a finished build: BUILD is a .kiln build folder, or a
project directory whose last build is pushed (default: the current
directory). Without --repo, a Knative Functions project goes where its
func.yaml says (image:, else registry:/name:latest), and other images go
to their own names, which must start with a registry
(registry.example.com/team/app).

Credentials come from the docker config ($DOCKER_CONFIG, credential
helpers), podman's auth file ($REGISTRY_AUTH_FILE) and kiln login.`,
		Example: `  kiln push --repo 127.0.0.1:5000/hello
  kiln push .kiln/builds/3f2c... --repo ghcr.io/org/app -t v1`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := registry.ValidateTags(tags); err != nil {
				return usageError{fmt.Errorf("--tag: %w", err)}
			}
			if err := shareRegistry(cmd.Context(), &reg); err != nil {
				return err
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			buildDir, err := findBuild(dir)
			if err != nil {
				return err
			}
			res, err := build.Open(buildDir)
			if err != nil {
				return err
			}
			if repo == "" {
				if repo, tags, err = funcPushTarget(dir, tags); err != nil {
					return err
				}
			}
			// kiln push builds nothing: it pushes a stored build.
			res.Reused = true
			signer, err := supply.signer(nil)
			if err != nil {
				return err
			}
			rep, wait := newReporter(stderr, quiet)
			pub, err := pushPublisher(res, publish.Registry{Repo: repo, Tags: tags, Namer: namer(res.Naming), Options: reg, Progress: rep, Signer: publishSigner(signer)})
			if err == nil {
				var locs []publish.Location
				if locs, err = pub.Publish(cmd.Context(), images(res)); err == nil {
					record(res, locs, "")
				}
			}
			wait()
			if err != nil {
				return err
			}
			return printResult(stdout, res, asJSON, imageRefs)
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "repository to push to (with several images, REPO/<name>)")
	f.StringSliceVarP(&tags, "tag", "t", nil, "tags to push (default latest)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	f.BoolVarP(&quiet, "quiet", "q", false, "show no progress")
	f.StringVar(&imageRefs, "image-refs", "", "also write the pushed references to this file")
	supply.registerSign(f)
	addRegistryFlags(f, &reg)
	return cmd
}

// findBuild accepts a build folder, or a directory inside a project with a
// .kiln/last build.
func findBuild(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "build.json")); err == nil {
		return dir, nil
	}
	for d, _ := filepath.Abs(dir); ; d = filepath.Dir(d) {
		last := filepath.Join(d, project.StateDir, "last")
		if target, err := filepath.EvalSymlinks(last); err == nil {
			return target, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("no kiln build found in or above %s: run kiln build first, or name a build folder", dir)
		}
	}
}

func newLoginCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		user, password string
		passwordStdin  bool
		reg            registry.Options
	)
	cmd := &cobra.Command{
		Use:   "login REGISTRY",
		Short: "Log in to a registry and store the credentials in the docker config",
		Example: `  echo "$TOKEN" | kiln login ghcr.io -u me --password-stdin
  kiln login 127.0.0.1:5000 -u ci -p secret --insecure-registry`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if user == "" || (password == "" && !passwordStdin) {
				return usageError{fmt.Errorf("kiln login %s needs a username and a password (--username, and --password-stdin or --password)", args[0])}
			}
			if passwordStdin {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && err != io.EOF {
					return err
				}
				password = strings.TrimRight(line, "\r\n")
			}
			file, err := registry.Login(cmd.Context(), args[0], user, password, reg)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "kiln: logged in to %s as %s; credentials saved in %s\n", args[0], user, file)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "user name")
	f.StringVarP(&password, "password", "p", "", "password (prefer --password-stdin: a flag shows in the process list)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	addRegistryFlags(f, &reg)
	return cmd
}

func newCacheCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Show the base image cache's size (kiln cache prune empties it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := base.DefaultCache()
			if err != nil {
				return err
			}
			u, err := c.Usage()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: %d blobs, %s\n", c.Dir, u.Blobs, size(u.Bytes))
			return nil
		},
	}
	var olderThan time.Duration
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove cached base image blobs (all, or those unused for --older-than)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := base.DefaultCache()
			if err != nil {
				return err
			}
			u, err := c.Prune(cmd.Context(), olderThan)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed %d blobs, %s, from %s\n", u.Blobs, size(u.Bytes), c.Dir)
			return nil
		},
	}
	prune.Flags().DurationVar(&olderThan, "older-than", 0, "only blobs not used for this long, e.g. 720h")
	cmd.AddCommand(prune)
	return cmd
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
