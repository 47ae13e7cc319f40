package registry

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
)

// Referrer is a manifest with a subject (an SBOM, a signature) to publish
// with an image: by digest, or under Tag when it is set (cosign's
// sha256-<hex>.sig and .att tags).
type Referrer struct {
	Image v1.Image
	Tag   string
}

// PushReferrer publishes r to repo: under its tag if it has one, else by
// digest. go-containerregistry PUTs its manifest and records it as a
// referrer of its subject, through the registry's referrers API where
// there is one, else in the fallback tag (sha256-<subject hex>), whose
// other entries it keeps. A referrer the registry lists already for its
// subject, and has under its tag or digest, is left alone; one it lost
// from that list is pushed again, and so gets back into it.
func PushReferrer(ctx context.Context, referrer Referrer, repo name.Repository, o Options) error {
	r, tag := referrer.Image, referrer.Tag
	o.Updates = nil
	opts := o.Remote(ctx)
	reg := repo.RegistryStr()
	if published(r, tag, repo, opts) {
		return nil
	}
	layers, err := r.Layers()
	if err != nil {
		return err
	}
	cfg, err := r.RawConfigFile()
	if err != nil {
		return err
	}
	m, err := r.Manifest()
	if err != nil {
		return err
	}
	layers = append(layers, static.NewLayer(cfg, m.Config.MediaType))
	for _, l := range layers {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return fmt.Errorf("pushing to %s: %w", repo, Explain(err, reg))
		}
	}
	var ref name.Reference = repo.Tag(tag)
	if tag == "" {
		d, err := r.Digest()
		if err != nil {
			return err
		}
		ref = repo.Digest(d.String())
	}
	if err := remote.Put(ref, r, opts...); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, Explain(err, reg))
	}
	return nil
}

// published reports whether repo has r, under tag if it is not "", and
// lists it among the referrers of its subject. Any error says no.
func published(r v1.Image, tag string, repo name.Repository, opts []remote.Option) bool {
	m, err := r.Manifest()
	if err != nil || m.Subject == nil {
		return false
	}
	d, err := r.Digest()
	if err != nil {
		return false
	}
	idx, err := remote.Referrers(repo.Digest(m.Subject.Digest.String()), opts...)
	if err != nil {
		return false
	}
	im, err := idx.IndexManifest()
	if err != nil || !slices.ContainsFunc(im.Manifests, func(x v1.Descriptor) bool { return x.Digest == d }) {
		return false
	}
	var ref name.Reference = repo.Digest(d.String())
	if tag != "" {
		ref = repo.Tag(tag)
	}
	got, err := remote.Head(ref, opts...)
	return err == nil && got.Digest == d
}
