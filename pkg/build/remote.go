package build

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/buildstore"
	"github.com/kiln-build/kiln/pkg/layout"
)

// RemoteCache finds the images of a build made elsewhere, by its
// fingerprint: pkg/remotecache looks them up in a registry.
type RemoteCache interface {
	// Lookup returns the images named names of the build whose
	// fingerprint is fp, made for platforms (one platform: an image;
	// several: an index of them in that order), one per name; or nil when
	// any of them is not there.
	Lookup(ctx context.Context, fp string, names []string, platforms []v1.Platform) ([]RemoteImage, error)
}

// RemoteImage is an image a RemoteCache found.
type RemoteImage struct {
	// Ref is where it is, REPO@DIGEST.
	Ref string
	// Artifact is the v1.Image or v1.ImageIndex, read from there.
	Artifact layout.Artifact
}

// fromRemote returns the build with fingerprint fp from rc when the
// project's .kiln does not have it and rc does, else nil. A cache that
// cannot be read is reported and the build goes on without it.
func (b *builder) fromRemote(ctx context.Context, rc RemoteCache, store buildstore.Builds, fp string) (*Result, error) {
	var stored Result
	if ok, _ := store.Load(fp, &stored); ok {
		return nil, nil // .kiln has it: reused there
	}
	pl := b.plan
	// Each program is looked up for its own platforms (its base may
	// differ from the others'); all must be there.
	step := b.plan.Progress.Start("looking the build up in the registry", 0)
	found := make([]RemoteImage, len(pl.Targets))
	for i, t := range pl.Targets {
		hits, err := rc.Lookup(ctx, fp, []string{t.ImageName}, t.Platforms)
		if err != nil {
			step.Done(nil)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.plan.Progress.Logf("the registry cache could not be used, so kiln builds: %v", err)
			return nil, nil
		}
		if len(hits) != 1 {
			step.Done(nil)
			return nil, nil
		}
		found[i] = hits[0]
	}
	step.Done(nil)
	src := pl.Project.Source
	res := &Result{Fingerprint: fp, Reused: true, Remote: true, SourceDate: src.Date.Format(time.RFC3339), SourceDateFrom: src.DateFrom}
	for i, t := range pl.Targets {
		a := found[i].Artifact
		img := Image{Name: t.ImageName, Package: t.ID(), Kind: string(t.Kind()), Reference: found[i].Ref, Artifact: a}
		if t.Base != nil {
			img.Base = &BaseImage{Name: t.Base.Name, Digest: t.Base.Digest.String()}
		}
		d, err := layout.Descriptor(a, t.ImageName)
		if err != nil {
			return nil, err
		}
		img.Digest, img.MediaType = d.Digest.String(), string(d.MediaType)
		if idx, ok := a.(v1.ImageIndex); ok {
			im, err := idx.IndexManifest()
			if err != nil {
				return nil, err
			}
			for j, m := range im.Manifests {
				img.Platforms = append(img.Platforms, PlatformImage{Platform: t.Platforms[j].String(), Digest: m.Digest.String()})
			}
		} else {
			img.Platforms = []PlatformImage{{Platform: t.Platforms[0].String(), Digest: img.Digest}}
		}
		res.Images = append(res.Images, img)
	}
	// The images' base, as build reports it, when they share one.
	if b0 := res.Images[0].Base; b0 != nil && sameBase(res.Images) {
		res.Base = b0
	}
	b.plan.Progress.Logf("build %s was found in the registry: %s; nothing to build", fp[:12], found[0].Ref)
	// Keep what was learnt about the files for the next build; Init
	// first, so that .kiln is ignored by git (an untracked .kiln would
	// change the source date).
	if err := store.Init(); err != nil {
		return nil, err
	}
	if err := store.WithLock(ctx, pl.Project.SaveHashes); err != nil {
		return nil, fmt.Errorf("after finding the build in the registry: %w", err)
	}
	return res, nil
}

// sameBase reports whether every image has the first one's base.
func sameBase(imgs []Image) bool {
	for _, img := range imgs[1:] {
		if img.Base == nil || img.Base.Name != imgs[0].Base.Name || img.Base.Digest != imgs[0].Base.Digest {
			return false
		}
	}
	return true
}
