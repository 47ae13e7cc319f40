package registry

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Mount is a layer that also exists in another repository (a base image's
// layer): on the same registry it is mounted rather than uploaded.
type Mount struct {
	Digest v1.Hash
	From   name.Reference
}

// Push publishes a, a v1.Image or v1.ImageIndex, to repo, under the first
// tag and then the others, and returns repo@digest. Tags that name it
// already, and blobs the registry has, are skipped after a HEAD request;
// the rest are uploaded in
// parallel, with transient failures retried. o.Updates, if set, is closed
// when Push returns.
func Push(ctx context.Context, a remote.Taggable, repo name.Repository, tags []string, mounts []Mount, o Options) (_ name.Digest, err error) {
	// go-containerregistry closes the channel at the end of the write it
	// is given to; if Push fails before that, close it here.
	handed := false
	defer func() {
		if o.Updates != nil && !handed {
			close(o.Updates)
		}
	}()
	if err := ValidateTags(tags); err != nil {
		return name.Digest{}, err
	}
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	opts := o.Remote(ctx)
	// The progress channel is closed when a write ends, so only the main
	// write reports progress.
	quiet := o
	quiet.Updates = nil
	qopts := quiet.Remote(ctx)
	reg := repo.RegistryStr()
	// Tags that name the artifact already are left alone: an unchanged
	// image is pushed again with one HEAD request per tag.
	digester, ok := a.(interface{ Digest() (v1.Hash, error) })
	if !ok {
		return name.Digest{}, fmt.Errorf("%T is neither an image nor an index", a)
	}
	want, err := digester.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	tags = slices.DeleteFunc(slices.Clone(tags), func(t string) bool {
		d, err := remote.Head(repo.Tag(t), qopts...)
		return err == nil && d.Digest == want
	})
	if len(tags) == 0 {
		return repo.Digest(want.String()), nil
	}
	first := repo.Tag(tags[0])

	var digest v1.Hash
	switch a := a.(type) {
	case v1.ImageIndex:
		idx := a
		im, err := idx.IndexManifest()
		if err != nil {
			return name.Digest{}, err
		}
		var imgs []v1.Image
		for _, d := range im.Manifests {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return name.Digest{}, err
			}
			imgs = append(imgs, img)
		}
		if err := mount(repo, mounts, imgs, qopts); err != nil {
			return name.Digest{}, o.Explain(err, reg)
		}
		handed = true
		if err := remote.WriteIndex(first, idx, opts...); err != nil {
			return name.Digest{}, fmt.Errorf("pushing to %s: %w", repo, o.Explain(err, reg))
		}
		if digest, err = idx.Digest(); err != nil {
			return name.Digest{}, err
		}
	case v1.Image:
		img := a
		if err := mount(repo, mounts, []v1.Image{img}, qopts); err != nil {
			return name.Digest{}, o.Explain(err, reg)
		}
		handed = true
		if err := remote.Write(first, img, opts...); err != nil {
			return name.Digest{}, fmt.Errorf("pushing to %s: %w", repo, o.Explain(err, reg))
		}
		if digest, err = img.Digest(); err != nil {
			return name.Digest{}, err
		}
	default:
		return name.Digest{}, fmt.Errorf("%T is neither an image nor an index", a)
	}
	for _, t := range tags[1:] {
		if err := remote.Tag(repo.Tag(t), a, qopts...); err != nil {
			return name.Digest{}, fmt.Errorf("tagging %s:%s: %w", repo, t, o.Explain(err, reg))
		}
	}
	return repo.Digest(digest.String()), nil
}

// mount asks the registry to mount the base layers that live in another
// repository on the same registry, so they are never uploaded.
func mount(repo name.Repository, mounts []Mount, imgs []v1.Image, opts []remote.Option) error {
	done := map[v1.Hash]bool{}
	for _, m := range mounts {
		if done[m.Digest] || m.From.Context().RegistryStr() != repo.RegistryStr() || m.From.Context().RepositoryStr() == repo.RepositoryStr() {
			continue
		}
		for _, img := range imgs {
			l, err := img.LayerByDigest(m.Digest)
			if err != nil {
				continue // not a layer of this platform's image
			}
			if err := remote.WriteLayer(repo, &remote.MountableLayer{Layer: l, Reference: m.From}, opts...); err != nil {
				return fmt.Errorf("mounting base layer %s from %s: %w", m.Digest, m.From.Context(), err)
			}
			done[m.Digest] = true
			break
		}
	}
	return nil
}
