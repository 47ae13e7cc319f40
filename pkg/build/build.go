// Package build runs kiln's pipeline: it resolves a project's programs,
// has the runtime build each for every platform, assembles the layers into
// images and writes them to the output, reusing a previous build when
// nothing that could change it has changed.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/image"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/output"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/progress"
)

// Options say what to build and where.
type Options struct {
	// Dir is where arguments are resolved from; "" means the current directory.
	Dir string
	// Targets are main package directories or import paths; none means ".".
	Targets []string
	// Platforms is a comma-separated list; "" means kiln.yaml's, else the host's.
	Platforms string
	// Output is "oci:DIR", or "" for the project's .kiln directory.
	Output string
	// Env is the environment to build in; nil means the process's.
	Env []string
	// Progress is told about long steps; nil shows nothing.
	Progress progress.Reporter
	// KeepBuilds is how many builds .kiln keeps; 0 means 3.
	KeepBuilds int
	// OneProgram makes it an error for Targets to name more than one
	// program.
	OneProgram bool
}

// Result says what was built.
type Result struct {
	// Output is the layout holding the images, as "oci:DIR".
	Output string `json:"output"`
	// Fingerprint identifies the inputs of the build.
	Fingerprint string `json:"fingerprint"`
	// Reused is true when an identical earlier build was reused.
	Reused bool `json:"reused"`
	// SourceDate is the time stamped on the images, and SourceDateFrom
	// says where it came from.
	SourceDate     string  `json:"sourceDate"`
	SourceDateFrom string  `json:"sourceDateFrom"`
	Images         []Image `json:"images"`
}

// Image is one program's image.
type Image struct {
	Name    string `json:"name"`
	Package string `json:"package"`
	// Kind is "app" for a main package, "function" for a function.
	Kind string `json:"kind"`
	// Reference names the image in its layout: "oci:DIR:NAME".
	Reference string `json:"reference"`
	// Digest is that of the image index (several platforms) or manifest.
	Digest    string          `json:"digest"`
	MediaType string          `json:"mediaType"`
	Platforms []PlatformImage `json:"platforms"`
}

// PlatformImage is the manifest of one platform.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

func (opt *Options) setDefaults() error {
	if opt.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		opt.Dir = wd
	}
	if opt.Env == nil {
		opt.Env = os.Environ()
	}
	if opt.Progress == nil {
		opt.Progress = progress.Discard
	}
	if opt.KeepBuilds == 0 {
		opt.KeepBuilds = 3
	}
	return nil
}

// Build runs the whole pipeline.
func Build(ctx context.Context, opt Options) (*Result, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	outDir, err := parseOutput(opt.Dir, opt.Output)
	if err != nil {
		return nil, err
	}

	workDir, err := os.MkdirTemp("", "kiln-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)

	pl, err := makePlan(ctx, &opt, workDir)
	if err != nil {
		return nil, err
	}
	step := opt.Progress.Start("fingerprinting inputs", 0)
	fp, err := pl.fingerprint(ctx)
	step.Done(err)
	if err != nil {
		return nil, err
	}
	if outDir != "" {
		return buildToLayout(ctx, &opt, pl, fp, outDir)
	}
	return buildToProject(ctx, &opt, pl, fp)
}

// Executable is a program compiled for the machine kiln runs on.
type Executable struct {
	Name    string // the program's name
	Package string
	Kind    string // "app" or "function"
	Path    string // the binary
	// Env is what the image's environment would add: kiln.yaml's env
	// (but PATH), and KILN_DATA_PATH and KO_DATA_PATH set to the kodata/
	// directory when there is one.
	Env []string
}

// hostBuilder is a runtime builder that can also build for the machine
// kiln runs on.
type hostBuilder interface {
	BuildHost(ctx context.Context, out string) error
}

// BuildExecutable compiles the one program opt.Targets names for the
// machine kiln runs on, into dir, to run it there (kiln run --host). The
// build uses kiln.yaml's settings as for an image; opt.Platforms and
// opt.Output do not apply.
func BuildExecutable(ctx context.Context, opt Options, dir string) (*Executable, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	opt.OneProgram = true
	workDir, err := os.MkdirTemp("", "kiln-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)
	pl, err := makePlan(ctx, &opt, workDir)
	if err != nil {
		return nil, err
	}
	t := pl.targets[0]
	hb, ok := t.builder.(hostBuilder)
	if !ok {
		return nil, fmt.Errorf("%s: its runtime cannot build for this machine", t.pkg)
	}
	exe := &Executable{Name: t.builder.Name(), Package: t.pkg, Kind: string(t.kind), Path: filepath.Join(dir, t.builder.Name())}
	step := opt.Progress.Start(fmt.Sprintf("building %s for %s/%s", exe.Name, goruntime.GOOS, goruntime.GOARCH), 0)
	err = hb.BuildHost(ctx, exe.Path)
	step.Done(err)
	if err != nil {
		return nil, err
	}
	// In the order of the image's environment: configured env comes last.
	if t.kodata != "" {
		exe.Env = append(exe.Env, "KILN_DATA_PATH="+t.kodata, "KO_DATA_PATH="+t.kodata)
	}
	for _, kv := range t.env {
		if !strings.HasPrefix(kv, "PATH=") {
			exe.Env = append(exe.Env, kv)
		}
	}
	return exe, nil
}

func parseOutput(dir, out string) (string, error) {
	if out == "" {
		return "", nil
	}
	p, ok := strings.CutPrefix(out, "oci:")
	if !ok || p == "" {
		return "", fmt.Errorf("--output %q is not supported: use oci:DIR for an OCI image layout, or leave it out to build into .kiln/", out)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p), nil
}

// buildToLayout writes the images into the layout at dir, replacing
// entries of the same names in its index.
func buildToLayout(ctx context.Context, opt *Options, pl *plan, fp, dir string) (*Result, error) {
	if err := output.CheckDir(dir); err != nil {
		return nil, err
	}
	release, err := output.Lock(ctx, dir, func() {
		opt.Progress.Logf("waiting for another kiln build writing to %s", dir)
	})
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := pl.buildInto(ctx, opt.Progress, output.Layout{Root: dir}, fp)
	if err != nil {
		return nil, err
	}
	res.setOutput(dir)
	return res, nil
}

// buildToProject builds into the project's .kiln directory, or reuses the
// build whose fingerprint matches.
func buildToProject(ctx context.Context, opt *Options, pl *plan, fp string) (*Result, error) {
	builds := output.Builds{Dir: pl.project.StatePath()}
	release, err := output.Lock(ctx, builds.Dir, func() {
		opt.Progress.Logf("waiting for another kiln build of %s to finish", pl.project.Root)
	})
	if err != nil {
		return nil, err
	}
	defer release()

	var res Result
	if ok, err := builds.Load(fp, &res); err != nil {
		return nil, err
	} else if ok {
		if err := builds.SetLast(fp); err != nil {
			return nil, err
		}
		res.Reused = true
		res.setOutput(output.BuildLayout(builds.Path(fp)).Root)
		opt.Progress.Logf("nothing changed since build %s; reusing it", fp[:12])
		return &res, nil
	}

	tmp, err := builds.Begin()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // gone after Commit renames it
	built, err := pl.buildInto(ctx, opt.Progress, output.BuildLayout(tmp), fp)
	if err != nil {
		return nil, err
	}
	if err := builds.Commit(tmp, fp, built); err != nil {
		return nil, err
	}
	if err := builds.Prune(opt.KeepBuilds); err != nil {
		opt.Progress.Logf("could not remove old builds: %v", err)
	}
	built.setOutput(output.BuildLayout(builds.Path(fp)).Root)
	return built, nil
}

// buildInto builds every image into the layout lay, whose lock the caller
// holds, and names them in its index.
func (pl *plan) buildInto(ctx context.Context, rep progress.Reporter, lay output.Layout, fp string) (*Result, error) {
	if err := lay.Init(); err != nil {
		return nil, err
	}
	res, descs, err := pl.build(ctx, rep, lay.Blobs())
	if err != nil {
		return nil, err
	}
	if err := lay.Put(descs...); err != nil {
		return nil, err
	}
	res.Fingerprint = fp
	return res, nil
}

func (r *Result) setOutput(dir string) {
	r.Output = "oci:" + dir
	for i := range r.Images {
		r.Images[i].Reference = r.Output + ":" + r.Images[i].Name
	}
}

// build writes every target's image into store and returns the result and
// the descriptors for index.json.
func (pl *plan) build(ctx context.Context, rep progress.Reporter, store blob.Store) (*Result, []v1.Descriptor, error) {
	src := pl.project.Source
	lopt := layer.Options{ModTime: src.Date}
	step := rep.Start("certificates and users layer", 0)
	sys, err := layer.Write(ctx, store, layer.System(), lopt)
	step.Done(err)
	if err != nil {
		return nil, nil, err
	}
	res := &Result{SourceDate: src.Date.Format("2006-01-02T15:04:05Z"), SourceDateFrom: src.DateFrom}
	var descs []v1.Descriptor
	for _, t := range pl.targets {
		shared := []image.Addendum{{Layer: sys, CreatedBy: "kiln: CA certificates, /etc/passwd, /etc/group", Comment: "Mozilla roots at " + layer.CertsPath + "; users root and nonroot (65532)"}}
		if t.data != nil {
			dl, err := writeData(ctx, rep, store, t, lopt)
			if err != nil {
				return nil, nil, err
			}
			shared = append(shared, image.Addendum{Layer: dl, CreatedBy: "kiln: data " + strings.Join(t.dataDoc, ", "), Comment: "data directories"})
		}
		img, desc, err := pl.buildTarget(ctx, rep, store, t, shared)
		if err != nil {
			return nil, nil, err
		}
		res.Images = append(res.Images, *img)
		descs = append(descs, desc)
	}
	return res, descs, nil
}

func writeData(ctx context.Context, rep progress.Reporter, store blob.Store, t *target, lopt layer.Options) (*layer.Layer, error) {
	step := rep.Start("data layer for "+t.name, t.data.ContentSize())
	lopt.Progress = step.Add
	l, err := layer.Write(ctx, store, t.data, lopt)
	step.Done(err)
	return l, err
}

// buildTarget builds one program for every platform, concurrently but no
// more at once than there are cores, and writes its index or manifest.
func (pl *plan) buildTarget(ctx context.Context, rep progress.Reporter, store blob.Store, t *target, shared []image.Addendum) (*Image, v1.Descriptor, error) {
	manifests := make([]v1.Descriptor, len(pl.platforms))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(goruntime.NumCPU())
	for i, p := range pl.platforms {
		g.Go(func() error {
			step := rep.Start(fmt.Sprintf("building %s for %s", t.name, platform.String(p)), 0)
			d, err := pl.buildPlatform(gctx, store, t, shared, p)
			step.Done(err)
			manifests[i] = d
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, v1.Descriptor{}, err
	}
	img := &Image{Name: t.name, Package: t.pkg, Kind: string(t.kind)}
	for i, p := range pl.platforms {
		img.Platforms = append(img.Platforms, PlatformImage{Platform: platform.String(p), Digest: manifests[i].Digest.String()})
	}
	top := manifests[0]
	if len(manifests) > 1 {
		var err error
		if top, err = image.WriteIndex(store, manifests); err != nil {
			return nil, v1.Descriptor{}, err
		}
	}
	top.Annotations = map[string]string{output.RefNameAnnotation: t.name}
	img.Digest, img.MediaType = top.Digest.String(), string(top.MediaType)
	return img, top, nil
}

func (pl *plan) buildPlatform(ctx context.Context, store blob.Store, t *target, shared []image.Addendum, p v1.Platform) (v1.Descriptor, error) {
	lopt := layer.Options{ModTime: pl.project.Source.Date}
	rr, err := t.builder.Build(ctx, store, p, lopt)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return image.Write(store, image.Spec{
		Platform:   p,
		Created:    pl.project.Source.Date,
		Layers:     append(append([]image.Addendum(nil), shared...), rr.Layers...),
		Entrypoint: rr.Entrypoint,
		Env:        t.imageEnv(rr.PathDir),
		User:       t.user,
		WorkingDir: "/",
		Labels:     t.labels,
		Ports:      t.ports,
	})
}

// fingerprint hashes everything that can change the images: kiln itself,
// the source date, each target's settings and data, and what its runtime
// reports for each platform.
func (pl *plan) fingerprint(ctx context.Context) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "kiln %s\ndate %d\nplatforms %q\n", Version(), pl.project.Source.Date.Unix(), pl.platformStrings())
	for _, t := range pl.targets {
		fmt.Fprintf(h, "target %s %s\nenv %q\nlabels %q\nports %q\nuser %s\n", t.name, t.pkg, t.env, sortedPairs(t.labels), t.ports, t.user)
		if t.data != nil {
			if err := t.data.Fingerprint(h); err != nil {
				return "", err
			}
		}
		parts := make([]strings.Builder, len(pl.platforms))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(goruntime.NumCPU())
		for i, p := range pl.platforms {
			g.Go(func() error { return t.builder.Fingerprint(gctx, &parts[i], p) })
		}
		if err := g.Wait(); err != nil {
			return "", err
		}
		for i := range parts {
			io.WriteString(h, parts[i].String())
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (pl *plan) platformStrings() []string {
	var out []string
	for _, p := range pl.platforms {
		out = append(out, platform.String(p))
	}
	return out
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
