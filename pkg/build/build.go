// Package build runs kiln's pipeline: it resolves a project's programs,
// has the runtime build each for every platform, assembles the layers into
// images and writes them to the output, reusing a previous build when
// nothing that could change it has changed.
package build

import (
	"cmp"
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
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/config"
	"github.com/kiln-build/kiln/pkg/image"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/output"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/registry"
)

// Options say what to build and where.
type Options struct {
	// Dir is where arguments are resolved from; "" means the current directory.
	Dir string
	// Targets are main package directories or import paths; none means ".".
	Targets []string
	// Platforms is a comma-separated list; "" means kiln.yaml's, else the host's.
	Platforms string
	// Platforms may be "all": every platform of the base image.
	//
	// Output is where the images go besides the project's .kiln
	// directory: "oci:DIR" (an OCI image layout), "tar:FILE" (an archive
	// for docker load and podman load, one platform) or
	// "oci-archive:FILE" (a tar of an OCI layout). "" means only .kiln.
	Output string
	// Base is the base image reference; "" means kiln.yaml's, else none.
	Base string
	// Push publishes the images to a registry when Push.Repo is set.
	Push Push
	// Load loads the host platform's image into podman or docker.
	Load bool
	// Compression of kiln's layers: "gzip" (default) or "zstd".
	Compression string
	// Registry says how to reach registries, for bases and pushes.
	Registry registry.Options
	// Cache is the base image cache; zero means base.DefaultCache().
	Cache base.Cache
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

// Push says where to publish images.
type Push struct {
	// Repo is the repository. With several images, each goes to
	// Repo/<last element of its name>.
	Repo string
	// Tags are the tags to push; none means "latest".
	Tags []string
}

// Result says what was built.
type Result struct {
	// Output is where the images are: "oci:DIR", "tar:FILE" or
	// "oci-archive:FILE" (the .kiln build's layout when no Output was asked).
	Output string `json:"output"`
	// Build is the .kiln build folder holding the images.
	Build string `json:"build"`
	// Fingerprint identifies the inputs of the build.
	Fingerprint string `json:"fingerprint"`
	// Reused is true when an identical earlier build was reused.
	Reused bool `json:"reused"`
	// SourceDate is the time stamped on the images, and SourceDateFrom
	// says where it came from.
	SourceDate     string     `json:"sourceDate"`
	SourceDateFrom string     `json:"sourceDateFrom"`
	Base           *BaseImage `json:"base,omitempty"`
	Images         []Image    `json:"images"`
}

// BaseImage is the base the images were built on.
type BaseImage struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
	// Layers are the digests of the base's layers, which a push mounts
	// from the base's repository when it is on the same registry.
	Layers []string `json:"layers"`
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
	// Pushed is REPO@DIGEST after a push.
	Pushed string `json:"pushed,omitempty"`
	// Loaded is the engine the image was loaded into.
	Loaded string `json:"loaded,omitempty"`
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
	out, err := parseOutput(opt.Dir, opt.Output)
	if err != nil {
		return nil, err
	}
	if opt.Push.Repo != "" {
		if _, err := opt.Registry.ParseRepository(opt.Push.Repo); err != nil {
			return nil, err
		}
	}

	workDir, err := os.MkdirTemp("", "kiln-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)

	// Compiles started speculatively while fingerprinting end with the
	// build, whether it used them or not.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pl, err := makePlan(ctx, &opt, workDir)
	if err != nil {
		return nil, err
	}
	defer pl.close()
	step := opt.Progress.Start("fingerprinting inputs", 0)
	fp, err := pl.fingerprint(ctx)
	step.Done(err)
	if err != nil {
		return nil, err
	}
	res, err := buildToProject(ctx, &opt, pl, fp)
	if err != nil {
		return nil, err
	}
	if err := deliver(ctx, &opt, out, res); err != nil {
		return nil, err
	}
	return res, nil
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
		res.setBuild(builds.Path(fp))
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
	built.setBuild(builds.Path(fp))
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

// setBuild records the build folder, and its layout as the output until a
// delivery says otherwise.
func (r *Result) setBuild(dir string) {
	r.Build = dir
	r.setLayout(output.BuildLayout(dir).Root)
}

func (r *Result) setLayout(dir string) {
	r.Output = "oci:" + dir
	for i := range r.Images {
		r.Images[i].Reference = r.Output + ":" + r.Images[i].Name
	}
}

// build writes every target's image into store and returns the result and
// the descriptors for index.json.
func (pl *plan) build(ctx context.Context, rep progress.Reporter, store blob.Store) (*Result, []v1.Descriptor, error) {
	src := pl.project.Source
	lopt := pl.layerOptions()
	res := &Result{SourceDate: src.Date.Format(time.RFC3339), SourceDateFrom: src.DateFrom}
	// On scratch, a system layer makes the image usable; a base brings
	// its own users and certificates, which kiln must not replace.
	var system []image.Addendum
	if pl.base == nil {
		step := rep.Start("certificates and users layer", 0)
		sys, err := layer.Write(ctx, store, layer.System(), lopt)
		step.Done(err)
		if err != nil {
			return nil, nil, err
		}
		system = []image.Addendum{{Layer: sys, CreatedBy: "kiln: CA certificates, /etc/passwd, /etc/group", Comment: "Mozilla roots at " + layer.CertsPath + "; users root and nonroot (65532)"}}
	} else {
		res.Base = &BaseImage{Name: pl.base.Name, Digest: pl.base.Digest.String()}
		seen := map[v1.Hash]bool{}
		for _, img := range pl.base.Images {
			for _, l := range img.Layers {
				if d, _ := l.Digest(); !seen[d] {
					seen[d] = true
					res.Base.Layers = append(res.Base.Layers, d.String())
				}
			}
		}
	}
	var descs []v1.Descriptor
	for _, t := range pl.targets {
		shared := slices.Clone(system)
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
			d, err := pl.buildPlatform(gctx, store, t, shared, i)
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
		var annotations map[string]string
		if pl.base != nil {
			annotations = baseAnnotations(pl.base.Name, pl.base.Digest)
		}
		var err error
		if top, err = image.WriteIndex(store, manifests, annotations); err != nil {
			return nil, v1.Descriptor{}, err
		}
	}
	top.Annotations = map[string]string{output.RefNameAnnotation: t.name}
	img.Digest, img.MediaType = top.Digest.String(), string(top.MediaType)
	return img, top, nil
}

// buildPlatform builds the image of t for the i-th platform.
func (pl *plan) buildPlatform(ctx context.Context, store blob.Store, t *target, shared []image.Addendum, i int) (v1.Descriptor, error) {
	p := pl.platforms[i]
	lopt := pl.layerOptions()
	rr, err := t.builder.Build(ctx, store, p, lopt)
	if err != nil {
		return v1.Descriptor{}, err
	}
	spec := image.Spec{
		Platform:   p,
		Created:    pl.project.Source.Date,
		Layers:     append(slices.Clone(shared), rr.Layers...),
		Entrypoint: rr.Entrypoint,
		Env:        t.imageEnv(nil, rr.PathDir),
		User:       cmp.Or(t.user, config.DefaultUser),
		WorkingDir: "/",
		Labels:     t.labels,
		Ports:      t.ports,
	}
	if pl.base != nil {
		b := pl.base.Images[i]
		if err := pl.resolver.Link(ctx, b, store); err != nil {
			return v1.Descriptor{}, err
		}
		spec.Base = &image.Base{Config: b.Config}
		for _, l := range b.Layers {
			spec.Base.Layers = append(spec.Base.Layers, l)
		}
		bc := b.Config.Config
		spec.Env = t.imageEnv(bc.Env, rr.PathDir)
		spec.User = cmp.Or(t.user, bc.User)
		spec.WorkingDir = cmp.Or(bc.WorkingDir, "/")
		spec.Annotations = baseAnnotations(pl.base.Name, b.Digest)
	}
	// The runtime's variables and working directory (Python's PYTHONPATH,
	// /app) go over the base's; configured env still wins.
	for _, kv := range rr.Env {
		if !t.configures(kv) {
			spec.Env = image.SetEnv(spec.Env, kv)
		}
	}
	spec.WorkingDir = cmp.Or(rr.WorkingDir, spec.WorkingDir)
	return image.Write(store, spec)
}

func (pl *plan) layerOptions() layer.Options {
	return layer.Options{ModTime: pl.project.Source.Date, Compression: pl.compression}
}

// baseAnnotations name the base of an image, as the OCI annotations
// org.opencontainers.image.base.name and .base.digest.
func baseAnnotations(name string, digest v1.Hash) map[string]string {
	return map[string]string{
		"org.opencontainers.image.base.name":   name,
		"org.opencontainers.image.base.digest": digest.String(),
	}
}

// fingerprint hashes everything that can change the images: kiln itself,
// the source date, each target's settings and data, and what its runtime
// reports for each platform.
func (pl *plan) fingerprint(ctx context.Context) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "kiln %s\ndate %d\nplatforms %q\ncompression %s\n", Version(), pl.project.Source.Date.Unix(), pl.platformStrings(), pl.compression)
	if pl.base != nil {
		fmt.Fprintf(h, "base %s %s\n", pl.base.Name, pl.base.Digest)
		for _, img := range pl.base.Images {
			fmt.Fprintf(h, "base image %s %s\n", platform.String(img.Platform), img.Digest)
		}
	}
	for _, t := range pl.targets {
		fmt.Fprintf(h, "target %s %s\nenv %q\nlabels %q\nports %q\nuser %s\n", t.name, t.pkg, t.env, sortedPairs(t.labels), t.ports, t.user)
		if t.data != nil {
			if err := t.data.Fingerprint(h, pl.hashes.Sum); err != nil {
				return "", err
			}
		}
		parts := make([]strings.Builder, len(pl.platforms))
		// Not errgroup.WithContext: a runtime may start work here that
		// outlives the fingerprint (a speculative compile).
		var g errgroup.Group
		g.SetLimit(goruntime.NumCPU())
		for i, p := range pl.platforms {
			g.Go(func() error { return t.builder.Fingerprint(ctx, &parts[i], p) })
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
