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
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync/atomic"
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
	"github.com/kiln-build/kiln/pkg/progress"
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
	// Remote, if set, is where a build that .kiln does not have is looked
	// up, by fingerprint, before anything is built (pkg/remotecache).
	Remote RemoteCache
	// SBOM is the format of the SBOM attached to each platform's image;
	// "" means kiln.yaml's sbom:, else SPDX.
	SBOM attest.Format
	// Blobs, if set, is told of each layer kiln writes into the build,
	// the blob h of store, as soon as it is complete: an output can copy
	// it meanwhile (publish.Stage.Add). It must not block, and must open
	// the blob before it returns: the build's folder is renamed once
	// complete.
	Blobs func(store blob.Store, h v1.Hash)
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
	// Built is true when this process made the build (neither reused nor
	// read with Open): its blobs were hashed moments ago, as they were
	// written.
	Built bool `json:"-"`
	// Remote is true when that build was found with Options.Remote (in a
	// registry): the images were not built here, and Build and Output
	// are empty.
	Remote bool `json:"remote,omitempty"`
	// SourceDate is the time stamped on the images, and SourceDateFrom
	// says where it came from.
	SourceDate     string `json:"sourceDate"`
	SourceDateFrom string `json:"sourceDateFrom"`
	// Base is the base of every image, when they share one (each image
	// names its own).
	Base   *BaseImage `json:"base,omitempty"`
	Images []Image    `json:"images"`
	// Naming is kiln.yaml's naming strategy, for pushing.
	Naming string `json:"naming,omitempty"`
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
	// Ref is the line kiln prints for the image, a reference that works
	// as it is with skopeo and podman: Pushed after a push, else
	// Reference (oci:, oci-archive: and docker-archive: references carry
	// no digest).
	Ref string `json:"ref,omitempty"`
	// Pushed is REPO@DIGEST after a push.
	Pushed string `json:"pushed,omitempty"`
	// Loaded is the engine the image was loaded into.
	Loaded string `json:"loaded,omitempty"`
	// Base is the base the image was built on, nil for none.
	Base *BaseImage `json:"base,omitempty"`
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
	// Once the project is known, the work folder's compiled programs go
	// into .kiln's trash, removed while the next build compiles, and the
	// rest is removed (buildstore.Builds.Discard); until then, and on
	// failures before, all of it is removed at once.
	discard := func() { os.RemoveAll(workDir) }
	defer func() { discard() }()
	opt.Plan.WorkDir = workDir
	// No compiles ahead of time when the registry may have the build.
	opt.Plan.NoEarlyBuild = opt.Remote != nil

	// Compiles started speculatively while fingerprinting end with the
	// build, whether it used them or not.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pl, b, fp, err := planAndFingerprint(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	rep := pl.Progress
	store := buildstore.Builds{Dir: pl.Project.StatePath(), Logf: rep.Logf, Verify: func(dir string) error {
		var r Result
		if _, err := buildstore.LoadDir(dir, &r); err != nil {
			return err
		}
		return r.open(dir)
	}}
	discard = func() { store.Discard(workDir) }
	if opt.Remote != nil {
		if res, err := b.fromRemote(ctx, opt.Remote, store, fp); res != nil || err != nil {
			return res, err
		}
	}
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
	res.Reused, res.Built = reused, !reused
	// Naming does not change images, so a reused build takes today's.
	res.Naming = pl.Project.Config.Naming
	return res, res.open(dir)
}

// planAndFingerprint plans the build and takes its fingerprint. A work
// tree whose uncommitted changes touch no file the build reads is planned
// again, dated with HEAD's commit time (see project.Source.AtCommit): a
// file no build reads does not change the images.
func planAndFingerprint(ctx context.Context, opt Options) (*plan.Plan, *builder, string, error) {
	for {
		// Work a plan starts (a speculative compile) ends with it when
		// it is replaced.
		pctx, cancel := context.WithCancel(ctx)
		pl, err := plan.New(pctx, opt.Plan)
		if err != nil {
			cancel()
			return nil, nil, "", err
		}
		sbom := opt.SBOM
		if sbom == "" {
			if sbom, err = attest.ParseFormat(pl.Project.Config.SBOM); err != nil {
				pl.Close()
				cancel()
				return nil, nil, "", fmt.Errorf("%s: sbom: %w", pl.Project.Config.Path, err)
			}
		}
		b := &builder{plan: pl, sbom: sbom, blobs: opt.Blobs, layerOpt: layer.Options{ModTime: pl.Project.Source.Date, Compression: opt.Compression}}
		step := pl.Progress.Start("fingerprinting inputs", 0)
		fp, err := b.fingerprint(pctx)
		step.Done(err)
		if err != nil {
			pl.Close()
			cancel()
			return nil, nil, "", err
		}
		if opt.Plan.Read == nil {
			read := pl.Project.Hashes.Read()
			if _, ok := pl.Project.Source.AtCommit(pl.Project.Root, read); ok {
				pl.Close()
				cancel()
				opt.Plan.Read = read
				continue
			}
		}
		context.AfterFunc(ctx, cancel)
		return pl, b, fp, nil
	}
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
		if err := lay.Verify(a); err != nil {
			return fmt.Errorf("build %s: image %s: %w; build again", dir, img.Name, err)
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
	blobs    func(blob.Store, v1.Hash) // Options.Blobs
}

// build writes every image into the layout lay and names them in its
// index.
func (b *builder) build(ctx context.Context, lay layout.Layout) (*Result, error) {
	if err := lay.Init(); err != nil {
		return nil, err
	}
	pl, rep, store := b.plan, b.plan.Progress, lay.Blobs()
	src := pl.Project.Source
	res := &Result{SourceDate: src.Date.Format(time.RFC3339), SourceDateFrom: src.DateFrom, Naming: pl.Project.Config.Naming}
	// On an empty base, a system layer makes the image usable; a base
	// brings its own users and certificates, which kiln must not replace.
	var system []mutate.Addendum
	bases := map[string]*BaseImage{} // by baseKey

	for _, t := range pl.Targets {
		switch {
		case t.Base == nil && system == nil:
			step := rep.Start("certificates and users layer", 0)
			sys, err := layer.Write(ctx, store, layer.System(), b.layerOpt)
			step.Done(err)
			if err != nil {
				return nil, err
			}
			system = []mutate.Addendum{{Layer: sys, History: runtime.History(b.layerOpt, "kiln: CA certificates, /etc/passwd, /etc/group", "Mozilla roots at "+layer.CertsPath+"; users root and nonroot (65532)")}}
		case t.Base != nil && bases[baseKey(t)] == nil:
			bi, err := b.fetchBase(ctx, t)
			if err != nil {
				return nil, err
			}
			bases[baseKey(t)] = bi
		}
	}
	if len(bases) == 1 && system == nil {
		for _, bi := range bases {
			res.Base = bi
		}
	}
	linked := b.linkBases(ctx, lay, bases)
	defer func() { <-linked }()
	// Programs build concurrently, a few at a time (each builds its
	// platforms concurrently too); they are written in order.
	imgs := make([]*Image, len(pl.Targets))
	artifacts := make([]layout.Artifact, len(pl.Targets))
	builds := make([][]platformBuild, len(pl.Targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, goruntime.NumCPU()/2))
	for i, t := range pl.Targets {
		g.Go(func() (err error) {
			var shared []mutate.Addendum
			if t.Base == nil {
				shared = slices.Clone(system)
			}
			if t.Data.Tree != nil {
				step := rep.Start("data layer for "+t.ImageName, t.Data.Tree.ContentSize())
				lopt := b.layerOpt
				lopt.Progress = step.Add
				dl, err := layer.Write(gctx, store, t.Data.Tree, lopt)
				step.Done(err)
				if err != nil {
					return err
				}
				b.offer(store, dl)
				shared = append(shared, mutate.Addendum{Layer: dl, History: runtime.History(b.layerOpt, "kiln: data "+strings.Join(t.Data.Doc, ", "), "data directories")})
			}
			imgs[i], artifacts[i], builds[i], err = b.buildTarget(gctx, lay, t, shared)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	<-linked
	var descs []v1.Descriptor
	for i, t := range pl.Targets {
		img, artifact := imgs[i], artifacts[i]
		if err := b.write(ctx, lay, t, artifact); err != nil {
			return nil, err
		}
		d, err := layout.Descriptor(artifact, t.ImageName)
		if err != nil {
			return nil, err
		}
		img.Digest, img.MediaType = d.Digest.String(), string(d.MediaType)
		if t.Base != nil {
			img.Base = bases[baseKey(t)]
		}
		step := rep.Start("SBOM and provenance for "+t.ImageName, 0)
		refs, err := b.attachments(t, artifact, builds[i])
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
	// Kept only once every tool that made a layer has ended well.
	for _, pbs := range builds {
		for _, pb := range pbs {
			if pb.contrib.Done != nil {
				if err := pb.contrib.Done(); err != nil {
					return nil, err
				}
			}
		}
	}
	return res, nil
}

// linkBases copies the layers of bases from the base cache into lay, each
// copy hashed, while the programs compile, rather than after them: write
// then finds them there. The returned channel is closed when it is done
// (or ctx is cancelled, between layers). A failure is left for write to
// report and mend (a damaged cached layer is fetched again).
func (b *builder) linkBases(ctx context.Context, lay layout.Layout, bases map[string]*BaseImage) <-chan struct{} {
	done := make(chan struct{})
	if b.plan.Resolver == nil || len(bases) == 0 {
		close(done)
		return done
	}
	cache, store := b.plan.Resolver.Cache.Blobs(), lay.Blobs()
	go func() {
		defer close(done)
		for _, bi := range bases {
			for _, l := range bi.Layers {
				if ctx.Err() != nil {
					return
				}
				if h, err := v1.NewHash(l); err == nil {
					_ = store.Link(cache, h)
				}
			}
		}
	}()
	return done
}

// offer tells Options.Blobs, if set, of the layer l just written into
// store.
func (b *builder) offer(store blob.Store, l v1.Layer) {
	if b.blobs == nil {
		return
	}
	if h, err := l.Digest(); err == nil {
		b.blobs(store, h)
	}
}

// baseKey identifies t's base.
func baseKey(t *plan.Target) string { return t.Base.Name + "@" + t.Base.Digest.String() }

// fetchBase fetches the layers of t's base for every platform.
func (b *builder) fetchBase(ctx context.Context, t *plan.Target) (*BaseImage, error) {
	bs := t.Base
	bi := &BaseImage{Name: bs.Name, Digest: bs.Digest.String()}
	seen := map[v1.Hash]bool{}
	for _, img := range bs.Images {
		step := b.plan.Progress.Start("fetching base layers for "+img.Platform.String(), b.plan.Resolver.Missing(img))
		err := b.plan.Resolver.Fetch(ctx, img, step.Add)
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
				bi.Layers = append(bi.Layers, l.Digest.String())
			}
		}
	}
	return bi, nil
}

// write stores artifact's blobs in lay, copying the base's layers from the
// cache; a cached layer found damaged as it is copied (the copy is hashed)
// is fetched again, once, and the write retried.
func (b *builder) write(ctx context.Context, lay layout.Layout, t *plan.Target, artifact layout.Artifact) error {
	pl := b.plan
	if pl.Resolver == nil {
		return lay.Write(artifact)
	}
	err := lay.Write(artifact, pl.Resolver.Cache.Blobs())
	if h, corrupt := layout.Corrupt(err); corrupt && t.Base != nil {
		ok, ferr := pl.Resolver.Refetch(ctx, t.Base.Images, h)
		if ferr != nil {
			return ferr
		}
		if ok {
			err = lay.Write(artifact, pl.Resolver.Cache.Blobs())
		}
	}
	return err
}

// buildTarget builds one program for every platform, concurrently but no
// more at once than there are cores: an image, or an index of them.
func (b *builder) buildTarget(ctx context.Context, lay layout.Layout, t *plan.Target, shared []mutate.Addendum) (*Image, layout.Artifact, []platformBuild, error) {
	builds := make([]platformBuild, len(t.Platforms))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(goruntime.NumCPU())
	// Every platform shows from the start, those waiting for a core as
	// waiting, and with several, a count of what is left.
	var all progress.Step
	var left atomic.Int64
	if n := len(t.Platforms); n > 1 {
		all = b.plan.Progress.Start(fmt.Sprintf("building %s for %d platforms", t.ImageName, n), 0)
		left.Store(int64(n))
		progress.SetPhase(all, fmt.Sprintf("%d left", n))
	}
	steps := make([]progress.Step, len(t.Platforms))
	for i, p := range t.Platforms {
		steps[i] = b.plan.Progress.Start(fmt.Sprintf("building %s for %s", t.ImageName, p.String()), 0)
		progress.SetPhase(steps[i], "waiting")
	}
	for i := range t.Platforms {
		g.Go(func() error {
			progress.SetPhase(steps[i], "running")
			var err error
			builds[i], err = b.buildPlatform(gctx, lay, t, shared, i)
			steps[i].Done(err)
			if all != nil {
				progress.SetPhase(all, fmt.Sprintf("%d left", left.Add(-1)))
			}
			return err
		})
	}
	err := g.Wait()
	if all != nil {
		all.Done(err)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	img := &Image{Name: t.ImageName, Package: t.ID(), Kind: string(t.Kind())}
	images := make([]v1.Image, len(builds))
	for i, p := range t.Platforms {
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
	if t.Base != nil {
		annotations = baseAnnotations(t.Base.Name, t.Base.Digest)
	}
	return img, image.NewIndex(images, t.Platforms, annotations), builds, nil
}

// buildPlatform builds the image of t for the i-th platform.
func (b *builder) buildPlatform(ctx context.Context, lay layout.Layout, t *plan.Target, shared []mutate.Addendum, i int) (platformBuild, error) {
	pl := b.plan
	p := t.Platforms[i]
	c, err := t.Build(ctx, lay.Blobs(), p, b.layerOpt)
	if err != nil {
		return platformBuild{}, err
	}
	for _, l := range c.Layers {
		b.offer(lay.Blobs(), l.Layer)
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
	if t.Base != nil {
		bi := t.Base.Images[i]
		baseImage = bi.Image
		bc, err := bi.Image.ConfigFile()
		if err != nil {
			return platformBuild{}, err
		}
		spec.User = t.ImageUser(&bc.Config)
		spec.Env = image.Environment(bc.Config.Env, c.Env, t.Env, c.PathDir, plan.DataPath)
		spec.WorkingDir = cmp.Or(c.WorkingDir, bc.Config.WorkingDir, "/")
		spec.Annotations = baseAnnotations(t.Base.Name, bi.Digest)
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
	fmt.Fprintf(h, "kiln %s\ndate %d\ncompression %s\nsbom %s\n", Version(), pl.Project.Source.Date.Unix(), b.layerOpt.Compression, b.sbom)
	for _, t := range pl.Targets {
		var platforms []string
		for _, p := range t.Platforms {
			platforms = append(platforms, p.String())
		}
		// A directory (a Python project's ID) counts from the root, so
		// that another checkout elsewhere has the same fingerprint.
		id := t.ID()
		if filepath.IsAbs(id) {
			id = pl.Project.RelDir(id)
		}
		fmt.Fprintf(h, "target %s %s %s\nplatforms %q\nenv %q\nlabels %q\nports %q\nuser %s\n", t.ImageName, id, t.Kind(), platforms, t.Env, sortedPairs(t.Labels), t.Ports, t.User)
		if t.Base != nil {
			fmt.Fprintf(h, "base %s %s\n", t.Base.Name, t.Base.Digest)
			for _, img := range t.Base.Images {
				fmt.Fprintf(h, "base image %s %s\n", img.Platform.String(), img.Digest)
			}
		}
		if t.Data.Tree != nil {
			if err := t.Data.Tree.Fingerprint(h, pl.Project.Hashes.Sum); err != nil {
				return "", err
			}
		}
		parts := make([]strings.Builder, len(t.Platforms))
		// Not errgroup.WithContext: a runtime may start work here that
		// outlives the fingerprint (a speculative compile).
		var g errgroup.Group
		g.SetLimit(goruntime.NumCPU())
		for i, p := range t.Platforms {
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
