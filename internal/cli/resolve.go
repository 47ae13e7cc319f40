package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/modfile"

	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/naming"
	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/resolve"
)

// resolveFlags are kiln resolve's (and apply's, create's) flags: the
// build flags, and which YAML to read.
type resolveFlags struct {
	buildFlags
	files     []string
	recursive bool
	strict    bool
}

func (f *resolveFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	f.buildFlags.register(fs)
	for _, n := range []string{"output", "load", "json"} {
		fs.MarkHidden(n)
	}
	fs.StringSliceVarP(&f.files, "filename", "f", nil, "YAML file or directory to resolve (its .yaml, .yml and .json files), - for stdin; repeatable")
	fs.BoolVarP(&f.recursive, "recursive", "R", false, "read the directories of -f recursively")
	fs.BoolVar(&f.strict, "strict", false, "make a string that is an import path of this module's programs without ko:// or kiln:// an error")
	cmd.MarkFlagRequired("filename")
}

const resolveLong = `Read Kubernetes YAML (-f FILE, DIR or - for stdin), build every program a
string "ko://IMPORTPATH" or "kiln://IMPORTPATH-or-PATH" names, once each,
push it, and print the YAML with each such string replaced by
REPO/NAME@sha256:.... Only those strings change: comments, formatting and
documents stay byte for byte as they were. Files are separated by "---".

The repository is --push REPO, else $KILN_DOCKER_REPO, else ko's
$KO_DOCKER_REPO; images are named as ko names them (REPO/<last element>-<md5
of the import path>; --bare, -B, -P or naming: in kiln.yaml change that).
--push=false builds without pushing and prints the references the images
would have. Paths in kiln:// are relative to the current directory, as
kiln build's arguments are.`

func newResolveCommand(stdout, stderr io.Writer) *cobra.Command {
	var f resolveFlags
	cmd := &cobra.Command{
		Use:   "resolve -f FILE|DIR|- ...",
		Short: "Build the programs Kubernetes YAML names (ko://, kiln://) and print it with their digests",
		Long:  resolveLong,
		Example: `  KO_DOCKER_REPO=ghcr.io/org kiln resolve -f config/ > release.yaml
  kiln resolve -R -f config/ --platform linux/amd64,linux/arm64 --push 127.0.0.1:5000/demo
  kiln resolve -f deploy.yaml --push=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := f.run(cmd.Context(), cmd.InOrStdin(), stderr)
			if err != nil {
				return err
			}
			_, err = stdout.Write(out)
			return err
		},
	}
	f.register(cmd)
	return cmd
}

// newKubectlCommand is kiln apply or kiln create: resolve, then pipe the
// YAML into kubectl VERB -f -.
func newKubectlCommand(verb string, stdout, stderr io.Writer) *cobra.Command {
	var f resolveFlags
	cmd := &cobra.Command{
		Use:   verb + " -f FILE|DIR|- ... [-- KUBECTL FLAGS]",
		Short: "Resolve Kubernetes YAML as kiln resolve does, and kubectl " + verb + " it",
		Long: resolveLong + `

The resolved YAML is then piped into 'kubectl ` + verb + ` -f -', with the
arguments after -- passed to kubectl (its environment and KUBECONFIG as
kiln's).`,
		Example: `  kiln ` + verb + ` -f config/
  kiln ` + verb + ` -f config/ -- --namespace=staging --context=kind
  kiln ` + verb + ` -f config/ -- --dry-run=client -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			kubectl, err := exec.LookPath("kubectl")
			if err != nil {
				return fmt.Errorf("kiln %s pipes the resolved YAML into 'kubectl %s -f -', and kubectl is not installed (or not on PATH): install it, or write the YAML with kiln resolve -f ... > out.yaml", verb, verb)
			}
			out, err := f.run(cmd.Context(), cmd.InOrStdin(), stderr)
			if err != nil {
				return err
			}
			kc := exec.CommandContext(cmd.Context(), kubectl, append([]string{verb, "-f", "-"}, args...)...)
			kc.Stdin, kc.Stdout, kc.Stderr = bytes.NewReader(out), stdout, stderr
			if err := kc.Run(); err != nil {
				return fmt.Errorf("kubectl %s -f - %s: %w (its messages are above)", verb, strings.Join(args, " "), err)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (kubectl's flags go after --: kiln %s -f DIR -- --namespace=x)", err, verb)}
	})
	return cmd
}

// run resolves the files of -f and returns the YAML to print.
func (f *resolveFlags) run(ctx context.Context, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	for _, n := range []string{"output", "load", "json"} {
		if f.flagSet(n) {
			return nil, usageError{fmt.Errorf("--%s is kiln build's; kiln resolve prints YAML", n)}
		}
	}
	if err := shareRegistry(ctx, &f.registry); err != nil {
		return nil, err
	}
	files, err := readYAML(f.files, f.recursive, stdin)
	if err != nil {
		return nil, err
	}
	if f.strict {
		if err := checkStrict(files); err != nil {
			return nil, err
		}
	}
	// The programs named, in order of first mention.
	var programs []string
	where := map[string][]string{}
	for _, file := range files {
		for _, r := range file.Refs {
			if _, ok := where[r.Target]; !ok {
				programs = append(programs, r.Target)
			}
			where[r.Target] = append(where[r.Target], fmt.Sprintf("%s:%d", file.Name, r.Line))
		}
	}
	located := func(err error) error {
		var at []string
		for _, p := range programs {
			if strings.Contains(err.Error(), p) || slices.ContainsFunc(importPaths(p), func(ip string) bool { return strings.Contains(err.Error(), ip) }) {
				at = append(at, fmt.Sprintf("%s (%s)", strings.Join(where[p], ", "), p))
			}
		}
		if len(at) == 0 {
			return err
		}
		return fmt.Errorf("%s: %w", strings.Join(at, "; "), err)
	}
	refs := map[string]string{}
	if len(programs) > 0 {
		if f.push == "" {
			f.push = "true" // ko's default: resolve pushes
		}
		opt, d, err := f.options(nil)
		if err != nil {
			if errors.Is(err, errNoRepo) {
				err = fmt.Errorf("%w; or --push=false to resolve without pushing", err)
			}
			return nil, err
		}
		opt.Plan.Targets = programs
		rep, wait := newReporter(stderr, f.quiet)
		opt.Plan.Progress = rep
		res, err := build.Build(ctx, opt)
		if err == nil {
			refs, err = publishResolved(ctx, res, programs, d, f, rep)
		}
		wait()
		if err != nil {
			return nil, located(withFlagHint(err))
		}
	}
	if f.imageRefs != "" {
		var lines strings.Builder
		for _, p := range programs {
			fmt.Fprintln(&lines, refs[p])
		}
		if err := os.WriteFile(f.imageRefs, []byte(lines.String()), 0o644); err != nil {
			return nil, fmt.Errorf("writing --image-refs: %w", err)
		}
	}
	var outs [][]byte
	for _, file := range files {
		outs = append(outs, file.Replace(func(r resolve.Ref) string { return refs[r.Target] }))
	}
	var b bytes.Buffer
	err = resolve.Join(&b, outs)
	return b.Bytes(), err
}

func (f *resolveFlags) flagSet(name string) bool {
	switch name {
	case "output":
		return f.output != ""
	case "load":
		return f.load
	}
	return f.asJSON
}

// publishResolved pushes res's images (or, with --push=false, only names
// them) and returns the reference of each program.
func publishResolved(ctx context.Context, res *build.Result, programs []string, d delivery, f *resolveFlags, rep progress.Reporter) (map[string]string, error) {
	strategy := cmp.Or(d.naming, res.Naming, naming.Default)
	imgs := images(res)
	refs := map[string]string{}
	byImage := map[string]string{}
	if d.push != "" {
		pr, err := pushPublisher(res, publish.Registry{Repo: d.push, Tags: d.tags, Namer: namer(strategy), DockerHub: d.dockerHub, Options: f.registry, Progress: rep})
		if err != nil {
			return nil, err
		}
		locs, err := pr.Publish(ctx, imgs)
		if err != nil {
			return nil, err
		}
		for _, l := range locs {
			byImage[l.Image] = l.Ref
		}
	} else {
		repo, _ := envRepository(os.Getenv)
		for i, img := range imgs {
			byImage[img.Name] = naming.Name(repo, strategy, cmp.Or(img.ImportPath, img.Name)) + "@" + res.Images[i].Digest
		}
	}
	for _, p := range programs {
		ids := append(importPaths(p), p)
		i := slices.IndexFunc(res.Images, func(img build.Image) bool { return slices.Contains(ids, img.Package) })
		if i < 0 && len(res.Images) == 1 && len(programs) == 1 {
			i = 0
		}
		if i < 0 {
			return nil, fmt.Errorf("%s: built, but kiln cannot tell which image is its; name it by import path", p)
		}
		refs[p] = byImage[res.Images[i].Name]
	}
	return refs, nil
}

// importPaths are the names a program p may have in a build's result:
// for a directory, its absolute path and, in a Go module, its import path.
func importPaths(p string) []string {
	if !strings.HasPrefix(p, ".") && !filepath.IsAbs(p) {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			return nil
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil
	}
	out := []string{abs}
	if root, mod := moduleOf(abs); mod != "" {
		rel, _ := filepath.Rel(root, abs)
		out = append(out, path.Join(mod, filepath.ToSlash(rel)))
	}
	return out
}

// moduleOf finds the Go module dir is in: its root and path.
func moduleOf(dir string) (root, mod string) {
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			return d, modfile.ModulePath(data)
		}
		if d == filepath.Dir(d) {
			return "", ""
		}
	}
}

// readYAML reads the files -f names: files, directories (their .yaml,
// .yml and .json files in lexical order; subdirectories with recursive)
// and - for stdin.
func readYAML(names []string, recursive bool, stdin io.Reader) ([]*resolve.File, error) {
	var out []*resolve.File
	add := func(name string, r io.Reader) error {
		data, err := io.ReadAll(io.LimitReader(r, resolve.MaxFileSize+1))
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		f, err := resolve.Parse(name, data)
		if err != nil {
			return err
		}
		out = append(out, f)
		return nil
	}
	for _, n := range names {
		if n == "-" {
			if err := add("-", stdin); err != nil {
				return nil, err
			}
			continue
		}
		fi, err := os.Stat(n)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", n, err)
		}
		if !fi.IsDir() {
			if err := addFile(n, add); err != nil {
				return nil, err
			}
			continue
		}
		err = filepath.WalkDir(n, func(p string, e fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case e.IsDir() && p != n && !recursive:
				return filepath.SkipDir
			case e.IsDir() || !slices.Contains([]string{".yaml", ".yml", ".json"}, filepath.Ext(p)):
				return nil
			}
			return addFile(p, add)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func addFile(p string, add func(string, io.Reader) error) error {
	r, err := os.Open(p)
	if err != nil {
		return err
	}
	defer r.Close()
	return add(p, r)
}

// checkStrict makes a string that is the import path of a package of the
// current module, written without a scheme, an error.
func checkStrict(files []*resolve.File) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, mod := moduleOf(wd)
	if mod == "" {
		return nil
	}
	for _, f := range files {
		for _, s := range f.Strings {
			v := strings.TrimSpace(s.Value)
			rel, ok := strings.CutPrefix(v, mod)
			if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) || strings.ContainsAny(v, " :@") {
				continue
			}
			if goFiles, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(rel), "*.go")); len(goFiles) > 0 {
				return fmt.Errorf("%s:%d: %s is a package of this module written without a scheme; with --strict, write ko://%s to build it, or leave --strict out to keep the string as it is", f.Name, s.Line, v, v)
			}
		}
	}
	return nil
}
