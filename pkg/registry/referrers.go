package registry

import (
	"context"
	"fmt"

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
// digest. The
// manifest is always PUT, even if the registry has it: go-containerregistry
// then records it as a referrer of its subject, through the registry's
// referrers API where there is one, else in the fallback tag
// (sha256-<subject hex>), whose other entries it keeps. A registry that
// lost a referrer from that tag gets it back.
func PushReferrer(ctx context.Context, referrer Referrer, repo name.Repository, o Options) error {
	r, tag := referrer.Image, referrer.Tag
	o.Updates = nil
	opts := o.Remote(ctx)
	reg := repo.RegistryStr()
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
