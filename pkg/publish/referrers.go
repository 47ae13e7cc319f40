package publish

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/registry"
)

// Signer signs an image for publishing to repo: given the manifests to
// sign (subjects) and the image's referrers, it returns the referrers to
// publish (attest.Signer, in cosign's format).
type Signer interface {
	Sign(repo string, subjects []v1.Descriptor, refs []v1.Image) ([]registry.Referrer, error)
}

// attached are the referrers to publish with img at repo: its own, and
// with a signer, the signatures and signed attestations that cosign
// verifies (which replace the unsigned provenance).
func attached(img Image, s Signer, repo string) ([]registry.Referrer, error) {
	if s == nil {
		out := make([]registry.Referrer, len(img.Referrers))
		for i, r := range img.Referrers {
			out[i] = registry.Referrer{Image: r}
		}
		return out, nil
	}
	subjects, err := subjects(img.Artifact)
	if err != nil {
		return nil, err
	}
	return s.Sign(repo, subjects, img.Referrers)
}

// subjects are the manifests of a that get signed: a itself, and the
// platforms' manifests of an index.
func subjects(a layout.Artifact) ([]v1.Descriptor, error) {
	d, err := layout.Subject(a)
	if err != nil {
		return nil, err
	}
	out := []v1.Descriptor{d}
	if idx, ok := a.(v1.ImageIndex); ok {
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			out = append(out, v1.Descriptor{MediaType: m.MediaType, Size: m.Size, Digest: m.Digest})
		}
	}
	return out, nil
}

// writeReferrers stores the referrers of the image named name in lay and
// returns their index entries.
func writeReferrers(lay layout.Layout, name string, refs []registry.Referrer) ([]v1.Descriptor, error) {
	var out []v1.Descriptor
	for _, r := range refs {
		if err := lay.Write(r.Image); err != nil {
			return nil, err
		}
		d, err := layout.ReferrerDescriptor(r.Image, name)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
