// Package remotecache shares builds between machines through a registry.
// When kiln pushes an image it also tags it with a name derived from the
// build's fingerprint (Tag); a build elsewhere with the same fingerprint
// finds that tag before compiling (Lookup) and pushes the image it points
// at under its own tags instead of building it again. The registry is the
// store, and whoever can push to the repository is trusted, as for any
// image pulled from it.
package remotecache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/registry"
)

// TagPrefix starts every fingerprint tag.
const TagPrefix = "kiln-fp-"

// Tag is the tag that records the image named image of the build whose
// fingerprint is fp: TagPrefix and the sha256 of both, 72 characters.
// The image's name is in it so that several images of one build can share
// a repository.
func Tag(fp, image string) string {
	sum := sha256.Sum256([]byte(fp + "\x00" + image))
	return TagPrefix + hex.EncodeToString(sum[:])
}

// Cache finds and records builds in registries.
type Cache struct {
	// Options say how to reach the registry.
	Options registry.Options
}

// Hit is an image found in a registry.
type Hit struct {
	// Ref is where it is, by digest.
	Ref name.Digest
	// Artifact is the v1.Image or v1.ImageIndex, read from there.
	Artifact remote.Taggable
}

// Lookup finds the images of the build whose fingerprint is fp, one per
// name in names, in the repository of the same index in repos, built for
// platforms (in that order: one platform is an
// image, several an index). It returns one hit per name, or nil if any of
// them is missing, or is not a complete image for exactly those
// platforms. Errors are those of reaching the registry, and manifests or
// configs that do not match their digests; a tag pointing at something
// else is a miss.
func (c Cache) Lookup(ctx context.Context, fp string, names []string, repos []name.Repository, platforms []v1.Platform) ([]Hit, error) {
	if len(names) != len(repos) {
		return nil, fmt.Errorf("%d images, but %d repositories to look them up in", len(names), len(repos))
	}
	opts := c.Options.Remote(ctx)
	var out []Hit
	for i, n := range names {
		repo := repos[i]
		a, err := lookup(repo, Tag(fp, n), platforms, opts)
		if err != nil {
			return nil, registry.Explain(err, repo.RegistryStr())
		}
		if a == nil {
			return nil, nil
		}
		d, err := a.(interface{ Digest() (v1.Hash, error) }).Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, Hit{Ref: repo.Digest(d.String()), Artifact: a})
	}
	return out, nil
}

// lookup reads the artifact tag points at in repo and checks it, or
// returns nil if there is none or it does not fit.
func lookup(repo name.Repository, tag string, platforms []v1.Platform, opts []remote.Option) (remote.Taggable, error) {
	desc, err := remote.Get(repo.Tag(tag), opts...)
	if isNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	// Read it again by the digest of the bytes received, so that every
	// manifest below is verified against the digest it is named by.
	sum := sha256.Sum256(desc.Manifest)
	ref := repo.Digest("sha256:" + hex.EncodeToString(sum[:]))
	if desc.MediaType.IsIndex() {
		if len(platforms) < 2 {
			return nil, nil
		}
		idx, err := remote.Index(ref, opts...)
		if err != nil {
			return nil, missToNil(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, missToNil(err)
		}
		if len(im.Manifests) != len(platforms) {
			return nil, nil
		}
		for i, d := range im.Manifests {
			if d.Platform == nil || platform.String(*d.Platform) != platform.String(platforms[i]) {
				return nil, nil
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, missToNil(err)
			}
			if ok, err := complete(repo, img, platforms[i], opts); !ok || err != nil {
				return nil, err
			}
		}
		return idx, nil
	}
	if !desc.MediaType.IsImage() || len(platforms) != 1 {
		return nil, nil
	}
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, missToNil(err)
	}
	if ok, err := complete(repo, img, platforms[0], opts); !ok || err != nil {
		return nil, err
	}
	return img, nil
}

// complete reports whether img is for p and every blob it names is in
// repo: its config, read and verified against its digest, and its layers,
// which must answer a HEAD request.
func complete(repo name.Repository, img v1.Image, p v1.Platform, opts []remote.Option) (bool, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return false, missToNil(err)
	}
	if got := cf.Platform(); got == nil || platform.String(*got) != platform.String(p) {
		return false, nil
	}
	m, err := img.Manifest()
	if err != nil {
		return false, missToNil(err)
	}
	for _, l := range m.Layers {
		rl, err := remote.Layer(repo.Digest(l.Digest.String()), opts...)
		if err != nil {
			return false, err
		}
		ex, ok := rl.(interface{ Exists() (bool, error) })
		if !ok {
			return false, fmt.Errorf("cannot check layer %s in %s", l.Digest, repo)
		}
		if found, err := ex.Exists(); err != nil || !found {
			return false, missToNil(err)
		}
	}
	return true, nil
}

// Record tags a, pushed as pushed, with the fingerprint tag of the image
// named image in repo. When that is not the repository it was pushed to,
// the image is pushed there too, its layers mounted from pushed's
// repository when both are on one registry.
func (c Cache) Record(ctx context.Context, fp, image string, repo name.Repository, a remote.Taggable, pushed name.Digest) error {
	tag := Tag(fp, image)
	if repo.String() == pushed.Context().String() {
		opts := c.Options.Remote(ctx)
		if d, err := remote.Head(repo.Tag(tag), opts...); err == nil && d.Digest.String() == pushed.DigestStr() {
			return nil // recorded by an earlier push
		}
		if err := remote.Tag(repo.Tag(tag), a, opts...); err != nil {
			return fmt.Errorf("recording the build in %s: %w", repo, registry.Explain(err, repo.RegistryStr()))
		}
		return nil
	}
	mounts, err := layerMounts(a, pushed)
	if err != nil {
		return err
	}
	if _, err := registry.Push(ctx, a, repo, []string{tag}, mounts, c.Options); err != nil {
		return fmt.Errorf("recording the build in %s: %w", repo, err)
	}
	return nil
}

// layerMounts are a's layers, to be mounted from the repository of from.
func layerMounts(a remote.Taggable, from name.Digest) ([]registry.Mount, error) {
	var imgs []v1.Image
	switch a := a.(type) {
	case v1.Image:
		imgs = append(imgs, a)
	case v1.ImageIndex:
		im, err := a.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, d := range im.Manifests {
			img, err := a.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
	}
	var out []registry.Mount
	for _, img := range imgs {
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		for _, l := range m.Layers {
			if !slices.ContainsFunc(out, func(x registry.Mount) bool { return x.Digest == l.Digest }) {
				out = append(out, registry.Mount{Digest: l.Digest, From: from})
			}
		}
	}
	return out, nil
}

// isNotFound reports whether err is the registry saying there is no such
// tag, manifest or blob.
func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.BlobUnknownErrorCode, transport.NameUnknownErrorCode:
			return true
		}
	}
	return false
}

// missToNil turns "not found" into no error (a miss) and keeps the rest.
func missToNil(err error) error {
	if isNotFound(err) {
		return nil
	}
	return err
}
