package publish

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/layout"
)

// OCIArchive publishes into File, a tar of an OCI image layout holding
// just the images published (oci-archive:FILE for skopeo and podman). The
// file is replaced whole, and the same images give the same bytes.
type OCIArchive struct {
	File string
	// Stream, if set, receives the archive instead of File ("-" in
	// references): standard output, say.
	Stream io.Writer
	// Signer, if set, signs the images as Layout's does.
	Signer Signer
}

// Publish implements Publisher.
func (p OCIArchive) Publish(ctx context.Context, images []Image) ([]Location, error) {
	var descs []v1.Descriptor
	blobs := map[v1.Hash]layout.Blob{}
	var out []Location
	for _, img := range images {
		d, err := layout.Descriptor(img.Artifact, img.Name)
		if err != nil {
			return nil, err
		}
		descs = append(descs, d)
		collect := func(b layout.Blob) error {
			blobs[b.Digest] = b
			return nil
		}
		if err := layout.Walk(img.Artifact, collect); err != nil {
			return nil, err
		}
		refs, err := attached(img, p.Signer, img.Name)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			rd, err := layout.ReferrerDescriptor(r.Image, img.Name)
			if err != nil {
				return nil, err
			}
			descs = append(descs, rd)
			if err := layout.Walk(r.Image, collect); err != nil {
				return nil, err
			}
		}
		out = append(out, Location{Image: img.Name, Kind: KindArchive, Ref: "oci-archive:" + p.File + ":" + img.Name})
	}
	idx, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		return nil, err
	}
	hashes := make([]v1.Hash, 0, len(blobs))
	for h := range blobs {
		hashes = append(hashes, h)
	}
	slices.SortFunc(hashes, func(a, b v1.Hash) int { return strings.Compare(a.Hex, b.Hex) })
	err = writeArchive(ctx, p.File, p.Stream, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		dir := func(n string) error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n, Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
		}
		file := func(n string, size int64, r io.Reader) error {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
				return err
			}
			_, err := io.Copy(tw, r)
			return err
		}
		if err := file("oci-layout", int64(len(layout.LayoutFile)), strings.NewReader(layout.LayoutFile)); err != nil {
			return err
		}
		if err := file("index.json", int64(len(idx)), bytes.NewReader(idx)); err != nil {
			return err
		}
		for _, d := range []string{"blobs/", "blobs/sha256/"} {
			if err := dir(d); err != nil {
				return err
			}
		}
		for _, h := range hashes {
			b := blobs[h]
			r, err := b.Open()
			if err != nil {
				return err
			}
			err = file("blobs/sha256/"+h.Hex, b.Size, r)
			r.Close()
			if err != nil {
				return fmt.Errorf("blob %s: %w", h, err)
			}
		}
		return tw.Close()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DockerArchive publishes into File in the format of "docker save", which
// "docker load" and "podman load" read: one platform per image, each
// tagged NAME:TAG (Tag, default "latest"). The file is replaced whole.
type DockerArchive struct {
	File string
	Tag  string
	// Stream, if set, receives the archive instead of File.
	Stream io.Writer
}

// Publish implements Publisher.
func (p DockerArchive) Publish(ctx context.Context, images []Image) ([]Location, error) {
	refs := map[name.Reference]v1.Image{}
	var out []Location
	for _, img := range images {
		one, err := SinglePlatform(img.Name, img.Artifact)
		if err != nil {
			return nil, err
		}
		tag := LocalTag(img.Name, p.Tag)
		ref, err := name.NewTag(tag)
		if err != nil {
			return nil, fmt.Errorf("%q cannot name an image in a docker archive: %w", tag, err)
		}
		refs[ref] = one
		out = append(out, Location{Image: img.Name, Kind: KindArchive, Ref: "docker-archive:" + p.File + ":" + tag})
	}
	if err := writeArchive(ctx, p.File, p.Stream, func(w io.Writer) error { return tarball.MultiRefWrite(refs, w) }); err != nil {
		return nil, err
	}
	return out, nil
}

// SinglePlatform returns the image of the single-platform artifact a of
// image name: the image itself, or the one image of an index.
func SinglePlatform(name string, a layout.Artifact) (v1.Image, error) {
	switch a := a.(type) {
	case v1.Image:
		return a, nil
	case v1.ImageIndex:
		im, err := a.IndexManifest()
		if err != nil {
			return nil, err
		}
		if len(im.Manifests) != 1 {
			return nil, &PlatformError{Image: name, Built: platforms(im)}
		}
		return a.Image(im.Manifests[0].Digest)
	}
	return nil, fmt.Errorf("%T is neither an image nor an index", a)
}

// PlatformError says that an image was built for several platforms where
// one was needed, or not for the platform needed.
type PlatformError struct {
	Image string
	Built []string // the platforms it was built for
	Want  string   // the platform needed; "" when any single one would do
}

func (e *PlatformError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("%s was built for %d platforms (%s), where one is needed", e.Image, len(e.Built), strings.Join(e.Built, ", "))
	}
	return fmt.Sprintf("%s was built for %s, not %s", e.Image, strings.Join(e.Built, ", "), e.Want)
}

// platforms lists the platforms of an index's entries.
func platforms(im *v1.IndexManifest) []string {
	var out []string
	for _, m := range im.Manifests {
		if m.Platform != nil {
			out = append(out, m.Platform.String())
		}
	}
	return out
}

// LocalTag is how an image is named in archives and local engines:
// NAME:TAG, with TAG "latest" when tag is "".
func LocalTag(name, tag string) string {
	if tag == "" {
		tag = "latest"
	}
	return name + ":" + tag
}
