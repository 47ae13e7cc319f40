package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/buildstore"
	"github.com/kiln-build/kiln/pkg/engine"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/plan"
	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/registry"
	"github.com/kiln-build/kiln/pkg/run"
	"github.com/kiln-build/kiln/pkg/scaffold"
)

// deliver publishes a finished build where d says: an output, a registry,
// a local engine; and records where each image went in res.
func deliver(ctx context.Context, res *build.Result, d delivery, reg registry.Options, env []string, rep progress.Reporter) error {
	var pubs []publish.Publisher
	tag := ""
	if len(d.tags) > 0 {
		tag = d.tags[0]
	}
	switch d.output.kind {
	case "oci":
		pubs = append(pubs, d.layout(res, rep))
	case "oci-archive":
		pubs = append(pubs, publish.OCIArchive{File: d.output.path, Stream: d.stream, Signer: publishSigner(d.signer)})
	case "tar":
		pubs = append(pubs, publish.DockerArchive{File: d.output.path, Tag: tag, Stream: d.stream})
	}
	if d.push != "" {
		pr, err := pushPublisher(res, publish.Registry{Repo: d.push, Tags: d.tags, Namer: namer(cmp.Or(d.naming, res.Naming, d.defaultNaming)), DockerHub: d.dockerHub, Options: reg, Progress: rep, Signer: publishSigner(d.signer)})
		if err != nil {
			return err
		}
		pubs = append(pubs, pr)
	}
	loadedInto := ""
	if d.load {
		eng, err := engine.Find("", env)
		if errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("--load: %w, so there is nothing to load the image into: install one, or write an archive with --output tar:FILE and load it where one is", err)
		} else if err != nil {
			return err
		}
		pubs = append(pubs, publish.Engine{Engine: eng, Tag: tag, Progress: rep})
		loadedInto = eng.Name
	}
	if len(pubs) == 0 {
		return nil
	}
	locs, err := publish.Multi(pubs).Publish(ctx, images(res))
	var pe *publish.PlatformError
	switch {
	case errors.As(err, &pe) && pe.Want == "":
		return fmt.Errorf("tar:%s holds one platform per image, and %s: add --platform, e.g. --platform %s", d.output.path, pe, pe.Built[0])
	case errors.As(err, &pe):
		return fmt.Errorf("--load loads the image for this machine (%s), and %s: add %s to --platform", pe.Want, pe, pe.Want)
	case err != nil:
		return err
	}
	if d.output.kind != "" {
		res.Output = d.output.kind + ":" + d.output.path
	}
	record(res, locs, loadedInto)
	return nil
}

// layout is the publisher of --output oci:DIR, for res (nil: before the
// build, to stage its blobs).
func (d delivery) layout(res *build.Result, rep progress.Reporter) publish.Layout {
	p := publish.Layout{Dir: d.output.path, Progress: rep, Tags: d.tags, Signer: publishSigner(d.signer), Staged: d.staged}
	if res != nil {
		p.From = []blob.Store{buildFrom(res)}
	}
	return p
}

// images are res's images as publishers take them.
func images(res *build.Result) []publish.Image {
	out := make([]publish.Image, len(res.Images))
	for i, img := range res.Images {
		out[i] = publish.Image{Name: img.Name, Artifact: img.Artifact, Referrers: img.Referrers}
		if !filepath.IsAbs(img.Package) {
			out[i].ImportPath = img.Package
		}
	}
	return out
}

// record notes in res where each image was published: engine is the
// name of the engine images were loaded into.
func record(res *build.Result, locs []publish.Location, engine string) {
	for _, l := range locs {
		for i := range res.Images {
			img := &res.Images[i]
			if img.Name != l.Image {
				continue
			}
			switch l.Kind {
			case publish.KindLayout, publish.KindArchive:
				img.Reference = l.Ref
			case publish.KindRegistry:
				img.Pushed = l.Ref
			case publish.KindEngine:
				img.Loaded = engine
			}
		}
	}
}

// pushPublisher is p, mounting the bases' layers from their repositories
// where the registry is the same, and keeping its ledger in res's build
// folder.
func pushPublisher(res *build.Result, p publish.Registry) (publish.Publisher, error) {
	if l := ledger(res); l != nil {
		p.Ledger = l
	}
	bases := []*build.BaseImage{res.Base}
	for _, img := range res.Images {
		bases = append(bases, img.Base)
	}
	seen := map[string]bool{}
	for _, b := range bases {
		if b == nil {
			continue
		}
		from, err := p.Options.ParseReference(b.Name)
		if err != nil {
			return nil, err
		}
		for _, l := range b.Layers {
			h, err := v1.NewHash(l)
			if err != nil {
				return nil, err
			}
			if !seen[l] {
				seen[l] = true
				p.Mounts = append(p.Mounts, registry.Mount{Digest: h, From: from})
			}
		}
	}
	return p, nil
}

// withFlagHint adds to errors from the library which flag to change.
func withFlagHint(err error) error {
	var single *base.SingleImageError
	switch {
	case errors.Is(err, plan.ErrAllWithoutBase):
		return fmt.Errorf("--platform all: %w: set --base, or base: in kiln.yaml", err)
	case errors.As(err, &single):
		return fmt.Errorf("%w (--platform %s)", err, single.Platform.String())
	case errors.Is(err, layout.ErrNotLayout), errors.Is(err, publish.ErrDirectory):
		return fmt.Errorf("--output: %w", err)
	case errors.Is(err, run.ErrPortInUse):
		return fmt.Errorf("%w: choose another --port, or leave --port out to use a free one", err)
	case errors.Is(err, registry.ErrPlainHTTP):
		return fmt.Errorf("%w: add --insecure-registry if you trust it", err)
	case errors.As(err, new(*registry.TagError)):
		return fmt.Errorf("--tag: %w", err)
	case errors.As(err, new(*registry.TimeoutError)):
		return fmt.Errorf("%w; --registry-timeout raises the limit", err)
	case errors.Is(err, scaffold.ErrNotEmpty):
		return fmt.Errorf("%w; use --force to write into it anyway, replacing files of the same names", err)
	}
	return err
}

// buildFrom is the blob store of res's build folder, for publishers to copy
// from. A build made by this process was hashed as it was written; one
// reused from .kiln is hashed again as it is copied.
func buildFrom(res *build.Result) blob.Store {
	s := buildstore.Layout(res.Build).Blobs()
	s.Fresh = res.Built
	return s
}

// ledger is the ledger of what was published from res's build folder, nil
// for a build found in a registry (it has no folder here).
func ledger(res *build.Result) *buildstore.Published {
	if res.Remote || res.Build == "" {
		return nil
	}
	return &buildstore.Published{Dir: res.Build}
}
