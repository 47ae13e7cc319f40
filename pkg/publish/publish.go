// Package publish delivers built images: into an OCI layout, an OCI or
// docker archive, a registry or a local container engine, or several of
// these at once. A publisher never builds; it takes images as
// go-containerregistry values and says where each one now is.
package publish

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/layout"
)

// Image is a built image to publish.
type Image struct {
	// Name is the image's name: "hello", "example.com/team/hello".
	Name string
	// Artifact is a v1.Image, or a v1.ImageIndex over its platforms.
	Artifact layout.Artifact
	// ImportPath names the program for naming strategies (a Go import
	// path); "" means Name.
	ImportPath string
	// Referrers are manifests about the image or its platforms' (SBOMs,
	// provenance), published with it where the output can hold them:
	// registries and OCI layouts, not docker archives.
	Referrers []v1.Image
}

// Kind says what sort of place a Location is.
type Kind string

// Kinds of places images are published to.
const (
	KindLayout   Kind = "oci"      // an OCI image layout
	KindArchive  Kind = "archive"  // an oci-archive or docker-archive tarball
	KindRegistry Kind = "registry" // a registry
	KindEngine   Kind = "engine"   // podman's or docker's image store
)

// Location is where one image was published.
type Location struct {
	// Image is the image's name.
	Image string
	Kind  Kind
	// Ref names the image there in the form tools that read that place
	// accept: "oci:/abs/out:hello", "registry.example.com/hello@sha256:...",
	// "localhost/kiln/hello:latest".
	Ref string
}

// Publisher puts images somewhere.
type Publisher interface {
	// Publish delivers images and returns one Location per image, in
	// order.
	Publish(ctx context.Context, images []Image) ([]Location, error)
}

// Multi publishes to each of its publishers in turn and returns all the
// locations, stopping at the first failure.
type Multi []Publisher

// Publish implements Publisher.
func (m Multi) Publish(ctx context.Context, images []Image) ([]Location, error) {
	var out []Location
	for _, p := range m {
		locs, err := p.Publish(ctx, images)
		if err != nil {
			return nil, err
		}
		out = append(out, locs...)
	}
	return out, nil
}
