// Package build runs kiln's builder: it plans a build (pkg/plan), has the
// runtime of each target contribute its layers for every platform,
// assembles the images on their base (pkg/image) and writes them into the
// project's .kiln build store (pkg/buildstore), which reuses a previous
// build when nothing that could change it has changed. Publishing the
// images elsewhere is pkg/publish's job.
package build

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sync/errgroup"

	"github.com/kiln-build/kiln/pkg/attest"
	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/buildstore"
	"github.com/kiln-build/kiln/pkg/image"
	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/plan"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Options say what to build and how.
type Options struct {
	// Plan says what to build: targets, platforms, base. Its WorkDir is
	// set by Build.
	Plan plan.Options
	// Compression of kiln's layers; "" means gzip.
	Compression layer.Compression
	// KeepBuilds is how many builds .kiln keeps; 0 means 3.
	KeepBuilds int
	// SBOM is the format of the SBOM attached to each platform's image;
	// "" means kiln.yaml's sbom:, else SPDX.
	SBOM attest.Format
}

// Result says what was built.
type Result struct {
	// Output is where the images are: "oci:DIR", the .kiln build's
	// layout, until they are published elsewhere.
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
	// Kind is "app" or "function".
	Kind string `json:"kind"`
	// Reference names the image where it was published: "oci:DIR:NAME"
	// in a layout.
	Reference string `json:"reference"`
	// Digest is that of the image index (several platforms) or manifest.
	Digest    string          `json:"digest"`
	MediaType string          `json:"mediaType"`
	Platforms []PlatformImage `json:"platforms"`
	// Pushed is REPO@DIGEST after a push.
	Pushed string `json:"pushed,omitempty"`
	// Loaded is the engine the image was loaded into.
	Loaded string `json:"loaded,omitempty"`
	// Artifact is the image (v1.Image) or index (v1.ImageIndex), read
	// from the build's layout.
	Artifact layout.Artifact `json:"-"`
	// Attachments are the image's SBOMs and provenance, and Referrers
	// the manifests that hold them (OCI 1.1 referrers), read from the
	// build's layout.
	Attachments []Attachment `json:"attachments,omitempty"`
	Referrers   []v1.Image   `json:"-"`
}

// PlatformImage is the manifest of one platform.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// Build plans the build, and builds it into the project's .kiln store
// unless an identical build is there already.
func Build(ctx context.Context, opt Options) (*Result, error) {
	if opt.KeepBuilds == 0 {
		opt.KeepBuilds = 3
	}
	if opt.Compression == "" {
		opt.Compression = layer.Gzip
	}
	workDir, err := os.MkdirTemp("", "kiln-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)
	opt.Plan.WorkDir = workDir

	// Compiles started speculatively while fingerprinting end with the
	// build, whether it used them or not.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pl, err := plan.New(ctx, opt.Plan)
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	rep := pl.Progress
	sbom := opt.SBOM
	if sbom == "" {
		if sbom, err = attest.ParseFormat(pl.Project.Config.SBOM); err != nil {
			return nil, fmt.Errorf("%s: sbom: %w", pl.Project.Config.Path, err)
		}
	}
	b := &builder{plan: pl, sbom: sbom, layerOpt: layer.Options{ModTime: pl.Project.Source.Date, Compression: opt.Compression}}
	step := rep.Start("fingerprinting inputs", 0)
	fp, err := b.fingerprint(ctx)
	step.Done(err)
	if err != nil {
		return nil, err
	}
	store := buildstore.Builds{Dir: pl.Project.StatePath()}
	waiting := func() { rep.Logf("waiting for another kiln build of %s to finish", pl.Project.Root) }
	build := func(dir string) (*Result, error) {
		res, err := b.build(ctx, buildstore.Layout(dir))
		if res != nil {
			res.Fingerprint = fp
		}
		return res, err
	}
	res, dir, reused, err := buildstore.Build(ctx, store, fp, opt.KeepBuilds, waiting, build, pl.Project.SaveHashes)
	if err != nil {
		return nil, err
	}
	if reused {
		rep.Logf("nothing changed since build %s; reusing it", fp[:12])
	}
	res.Reused = reused
	return res, res.open(dir)
}

// Open reads the result of a finished build: a .kiln build folder.
func Open(dir string) (*Result, error) {
	var res Result
	if ok, err := buildstore.LoadDir(dir, &res); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%s is not a kiln build (no %s): build first, or name a folder under .kiln/builds", dir, buildstore.ResultFile)
	}
	return &res, res.open(dir)
}

// open points res at the build folder dir and reads its images.
func (r *Result) open(dir string) error {
	r.Build = dir
	lay := buildstore.Layout(dir)
	r.Output = "oci:" + lay.Root
	for i := range r.Images {
		img := &r.Images[i]
		img.Reference = r.Output + ":" + img.Name
		a, d, err := lay.Open(img.Name)
		if err != nil {
			return fmt.Errorf("build %s: %w; build again", dir, err)
		}
		if d.Digest.String() != img.Digest {
			return fmt.Errorf("build %s: image %s is %s in its layout, but %s in its record; build again", dir, img.Name, d.Digest, img.Digest)
		}
		img.Artifact = a
		if err := openAttachments(lay, img); err != nil {
			return fmt.Errorf("build %s: %w; build again", dir, err)
		}
	}
	return nil
}

// builder builds a plan into a layout.
type builder struct {
	plan     *plan.Plan
	layerOpt layer.Options
	sbom     attest.Format
}

// build writes every image into the layout lay and names them in its
// index.
func (b *builder) build(ctx context.Context, lay layout.Layout) (*Result, error) {
	if err := lay.Init(); err != nil {
		return nil, err
	}
	pl, rep, store := b.plan, b.plan.Progress, lay.Blobs()
	src := pl.Project.Source
	res := &Result{SourceDate: src.Date.Format(time.RFC3339), SourceDateFrom: src.DateFrom}
	// On an empty base, a system layer makes the image usable; a base
	// brings its own users and certificates, which kiln must not replace.
	var system []mutate.Addendum
	if pl.Base == nil {
		step := rep.Start("certificates and users layer", 0)
		sys, err := layer.Write(ctx, store, layer.System(), b.layerOpt)
		step.Done(err)
		if err != nil {
			return nil, err
		}
		system = []mutate.Addendum{{Layer: sys, History: runtime.History(b.layerOpt, "kiln: CA certificates, /etc/passwd, /etc/group", "Mozilla roots at "+layer.CertsPath+"; users root and nonroot (65532)")}}
	} else {
		res.Base = &BaseImage{Name: pl.Base.Name, Digest: pl.Base.Digest.String()}
		seen := map[v1.Hash]bool{}
		for _, img := range pl.Base.Images {
			step := rep.Start("fetching base layers for "+img.Platform.String(), 0)
			err := pl.Resolver.Fetch(ctx, img)
			step.Done(err)
			if err != nil {
				return nil, err
			}
			m, err := img.Image.Manifest()
			if err != nil {
				return nil, err
			}
			for _, l := range m.Layers {
				if !seen[l.Digest] {
					seen[l.Digest] = true
					res.Base.Layers = append(res.Base.Layers, l.Digest.String())
				}
			}
		}
	}
	var descs []v1.Descriptor
	for _, t := range pl.Targets {
		shared := slices.Clone(system)
		if t.Data.Tree != nil {
			step := rep.Start("data layer for "+t.ImageName, t.Data.Tree.ContentSize())
			lopt := b.layerOpt
			lopt.Progress = step.Add
			dl, err := layer.Write(ctx, store, t.Data.Tree, lopt)
			step.Done(err)
			if err != nil {
				return nil, err
			}
			shared = append(shared, mutate.Addendum{Layer: dl, History: runtime.History(b.layerOpt, "kiln: data "+strings.Join(t.Data.Doc, ", "), "data directories")})
		}
		img, artifact, builds, err := b.buildTarget(ctx, store, t, shared)
		if err != nil {
			return nil, err
		}
		var from []blob.Store
		if pl.Resolver != nil {
			from = append(from, pl.Resolver.Cache.Blobs())
		}
		if err := lay.Write(artifact, from...); err != nil {
			return nil, err
		}
		d, err := layout.Descriptor(artifact, t.ImageName)
		if err != nil {
			return nil, err
		}
		img.Digest, img.MediaType = d.Digest.String(), string(d.MediaType)
		step := rep.Start("SBOM and provenance for "+t.ImageName, 0)
		refs, err := b.attachments(t, artifact, builds)
		var rdescs []v1.Descriptor
		if err == nil {
			rdescs, img.Attachments, err = writeAttachments(lay, t.ImageName, refs)
		}
		step.Done(err)
		if err != nil {
			return nil, err
		}
		res.Images = append(res.Images, *img)
		descs = append(append(descs, d), rdescs...)
	}
	if err := lay.Put(descs...); err != nil {
		return nil, err
	}
	return res, nil
}

// buildTarget builds one program for every platform, concurrently but no
// more at once than there are cores: an image, or an index of them.
func (b *builder) buildTarget(ctx context.Context, store blob.Store, t *plan.Target, shared []mutate.Addendum) (*Image, layout.Artifact, []platformBuild, error) {
	pl := b.plan
	builds := make([]platformBuild, len(pl.Platforms))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(goruntime.NumCPU())
	for i, p := range pl.Platforms {
		g.Go(func() error {
			step := b.plan.Progress.Start(fmt.Sprintf("building %s for %s", t.ImageName, p.String()), 0)
			var err error
			builds[i], err = b.buildPlatform(gctx, store, t, shared, i)
			step.Done(err)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, nil, err
	}
	img := &Image{Name: t.ImageName, Package: t.ID(), Kind: string(t.Kind())}
	images := make([]v1.Image, len(builds))
	for i, p := range pl.Platforms {
		images[i] = builds[i].image
		d, err := images[i].Digest()
		if err != nil {
			return nil, nil, nil, err
		}
		img.Platforms = append(img.Platforms, PlatformImage{Platform: p.String(), Digest: d.String()})
	}
	if len(images) == 1 {
		return img, images[0], builds, nil
	}
	var annotations map[string]string
	if pl.Base != nil {
		annotations = baseAnnotations(pl.Base.Name, pl.Base.Digest)
	}
	return img, image.NewIndex(images, pl.Platforms, annotations), builds, nil
}

// buildPlatform builds the image of t for the i-th platform.
func (b *builder) buildPlatform(ctx context.Context, store blob.Store, t *plan.Target, shared []mutate.Addendum, i int) (platformBuild, error) {
	pl := b.plan
	p := pl.Platforms[i]
	c, err := t.Build(ctx, store, p, b.layerOpt)
	if err != nil {
		return platformBuild{}, err
	}
	spec := image.Spec{
		Platform:   p,
		Created:    pl.Project.Source.Date,
		Entrypoint: c.Entrypoint,
		User:       t.ImageUser(nil),
		Env:        image.Environment(nil, c.Env, t.Env, c.PathDir, plan.DataPath),
		WorkingDir: cmp.Or(c.WorkingDir, "/"),
		Labels:     t.Labels,
		Ports:      t.Ports,
	}
	var baseImage v1.Image
	if pl.Base != nil {
		bi := pl.Base.Images[i]
		baseImage = bi.Image
		bc, err := bi.Image.ConfigFile()
		if err != nil {
			return platformBuild{}, err
		}
		spec.User = t.ImageUser(&bc.Config)
		spec.Env = image.Environment(bc.Config.Env, c.Env, t.Env, c.PathDir, plan.DataPath)
		spec.WorkingDir = cmp.Or(c.WorkingDir, bc.Config.WorkingDir, "/")
		spec.Annotations = baseAnnotations(pl.Base.Name, bi.Digest)
	}
	layers := append(slices.Clone(shared), c.Layers...)
	img, err := image.New(baseImage, layers, spec)
	return platformBuild{image: img, contrib: c, layers: layers}, err
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
func (b *builder) fingerprint(ctx context.Context) (string, error) {
	pl := b.plan
	h := sha256.New()
	var platforms []string
	for _, p := range pl.Platforms {
		platforms = append(platforms, p.String())
	}
	fmt.Fprintf(h, "kiln %s\ndate %d\nplatforms %q\ncompression %s\nsbom %s\n", Version(), pl.Project.Source.Date.Unix(), platforms, b.layerOpt.Compression, b.sbom)
	if pl.Base != nil {
		fmt.Fprintf(h, "base %s %s\n", pl.Base.Name, pl.Base.Digest)
		for _, img := range pl.Base.Images {
			fmt.Fprintf(h, "base image %s %s\n", img.Platform.String(), img.Digest)
		}
	}
	for _, t := range pl.Targets {
		fmt.Fprintf(h, "target %s %s %s\nenv %q\nlabels %q\nports %q\nuser %s\n", t.ImageName, t.ID(), t.Kind(), t.Env, sortedPairs(t.Labels), t.Ports, t.User)
		if t.Data.Tree != nil {
			if err := t.Data.Tree.Fingerprint(h, pl.Project.Hashes.Sum); err != nil {
				return "", err
			}
		}
		parts := make([]strings.Builder, len(pl.Platforms))
		// Not errgroup.WithContext: a runtime may start work here that
		// outlives the fingerprint (a speculative compile).
		var g errgroup.Group
		g.SetLimit(goruntime.NumCPU())
		for i, p := range pl.Platforms {
			g.Go(func() error { return t.Fingerprint(ctx, &parts[i], p) })
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

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
