package publish

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/lock"
	"github.com/kiln-build/kiln/pkg/progress"
)

// Layout publishes into the OCI image layout at Dir: an image of the same
// name there is replaced, others are kept.
type Layout struct {
	Dir string
	// From are blob stores to link or copy blobs from rather than read
	// them through the images (a build's own layout).
	From []blob.Store
	// Progress hears that the publisher waits for another writer.
	Progress progress.Reporter
	// Tags name each image NAME:TAG in the layout too (oci:DIR:NAME:TAG
	// for skopeo and podman), besides NAME; the first is the Location's.
	Tags []string
	// Signer, if set, signs each image (and its provenance) as cosign
	// would, with the image's name as the repository.
	Signer Signer
	// Staged, if set, has copied blobs of the images in already, and
	// holds the layout's lock (Stage): Publish takes both over.
	Staged *Stage
}

// Publish implements Publisher. It holds the layout's lock meanwhile.
func (p Layout) Publish(ctx context.Context, images []Image) ([]Location, error) {
	release, initialised, err := p.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	lay := layout.Layout{Root: p.Dir}
	if !initialised {
		if err := lay.Init(); err != nil {
			return nil, err
		}
	}
	var descs []v1.Descriptor
	var out []Location
	for _, img := range images {
		if err := lay.Write(img.Artifact, p.From...); err != nil {
			return nil, err
		}
		refs := []string{img.Name}
		for _, t := range p.Tags {
			refs = append(refs, LocalTag(img.Name, t))
		}
		for _, ref := range refs {
			d, err := layout.Descriptor(img.Artifact, ref)
			if err != nil {
				return nil, err
			}
			descs = append(descs, d)
		}
		att, err := attached(img, p.Signer, img.Name)
		if err != nil {
			return nil, err
		}
		rdescs, err := writeReferrers(lay, img.Name, att)
		if err != nil {
			return nil, err
		}
		descs = append(descs, rdescs...)
		out = append(out, Location{Image: img.Name, Kind: KindLayout, Ref: "oci:" + p.Dir + ":" + refs[min(1, len(refs)-1)]})
	}
	return out, lay.Put(descs...)
}

// lock takes the layout's lock, or the one p.Staged holds; initialised
// says the layout was initialised under it already. A folder that is
// neither empty nor a layout is refused before anything is written in it.
func (p Layout) lock(ctx context.Context) (release func(), initialised bool, err error) {
	if p.Staged != nil {
		if release, ok := p.Staged.takeLock(); ok {
			return release, true, nil // checked before it was taken
		}
	}
	if err := layout.CheckDir(p.Dir); err != nil {
		return nil, false, err
	}
	release, err = lock.Lock(ctx, p.Dir, p.waiting())
	return release, false, err
}

// waiting tells p.Progress that the layout's lock is held by another.
func (p Layout) waiting() func() {
	if p.Progress == nil {
		return nil
	}
	return func() { p.Progress.Logf("waiting for another kiln build writing to %s", p.Dir) }
}
