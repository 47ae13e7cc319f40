// Package attest makes what kiln attaches to its images: an SBOM of each
// platform image (SPDX 2.3 or CycloneDX 1.6 JSON), an in-toto statement
// with an SLSA v1 provenance predicate, and, with a cosign key, the
// signatures cosign verifies. They are OCI 1.1 referrers: manifests whose
// subject is the image they describe. Everything is deterministic: the
// same inputs give the same bytes, and so the same digests. See
// docs/supply-chain.md.
package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Format is the SBOM format.
type Format string

// SBOM formats.
const (
	SPDX      Format = "spdx"      // SPDX 2.3 JSON
	CycloneDX Format = "cyclonedx" // CycloneDX 1.6 JSON
	None      Format = "none"      // no SBOM
)

// ParseFormat reads an SBOM format; "" is the default, SPDX.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return SPDX, nil
	case SPDX, CycloneDX, None:
		return f, nil
	}
	return "", fmt.Errorf("unknown SBOM format %q: use spdx, cyclonedx or none", s)
}

// Artifact types of kiln's referrers.
const (
	SPDXType      = "application/spdx+json"
	CycloneDXType = "application/vnd.cyclonedx+json"
	// InTotoType is an unsigned in-toto statement (the provenance of a
	// build without a signing key).
	InTotoType = "application/vnd.in-toto+json"
	// DSSEType is a signed attestation in cosign's format.
	DSSEType = "application/vnd.dsse.envelope.v1+json"
	// SignatureType is a cosign signature.
	SignatureType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// SimpleSigningType is the media type of a cosign signature's payload.
	SimpleSigningType = "application/vnd.dev.cosign.simplesigning.v1+json"
)

// Type is the artifact type of a format's documents.
func (f Format) Type() string {
	if f == CycloneDX {
		return CycloneDXType
	}
	return SPDXType
}

// createdAnnotation dates a referrer (with the source date);
// titleAnnotation names a document's file.
const (
	createdAnnotation = "org.opencontainers.image.created"
	titleAnnotation   = "org.opencontainers.image.title"
)

// artifact is a manifest held in memory with its config and layers: a
// referrer as go-containerregistry's v1.Image, which layouts and
// registries take like any image.
type artifact struct {
	manifest []byte
	config   Blob
	blobs    map[v1.Hash]Blob
}

func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config.Data, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if b, ok := a.blobs[h]; ok {
		return blobLayer{data: b.Data, digest: h, mt: types.MediaType(b.MediaType)}, nil
	}
	if d, _, _ := v1.SHA256(bytes.NewReader(a.config.Data)); d == h {
		return blobLayer{data: a.config.Data, digest: h, mt: types.MediaType(a.config.MediaType)}, nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}

// blobLayer is one blob of an artifact.
type blobLayer struct {
	data   []byte
	digest v1.Hash
	mt     types.MediaType
}

func (b blobLayer) Digest() (v1.Hash, error)            { return b.digest, nil }
func (b blobLayer) Size() (int64, error)                { return int64(len(b.data)), nil }
func (b blobLayer) MediaType() (types.MediaType, error) { return b.mt, nil }
func (b blobLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.data)), nil
}

// Blob is a piece of content for a manifest.
type Blob struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
}

func (b Blob) descriptor() v1.Descriptor {
	h, n, _ := v1.SHA256(bytes.NewReader(b.Data))
	return v1.Descriptor{MediaType: types.MediaType(b.MediaType), Size: n, Digest: h, Annotations: b.Annotations}
}

// newArtifact assembles a manifest of artifact type typ over config and
// layers, referring to subject.
func newArtifact(typ string, subject v1.Descriptor, config Blob, layers []Blob, annotations map[string]string) (v1.Image, error) {
	sub := v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  typ,
		Config:        config.descriptor(),
		Subject:       &sub,
		Annotations:   annotations,
	}
	a := &artifact{config: config, blobs: map[v1.Hash]Blob{}}
	for _, l := range layers {
		d := l.descriptor()
		m.Layers = append(m.Layers, d)
		a.blobs[d.Digest] = l
	}
	var err error
	if a.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(a)
}

// Document makes the referrer that attaches data, a document of type
// typ, to subject: an OCI 1.1 artifact manifest dated created, whose one
// layer is the document, titled file (the name oras pull saves it
// under). Its config is "{}" typed like the artifact, so that registries
// which derive a referrer's type from its config list it correctly too.
func Document(typ string, subject v1.Descriptor, data []byte, file string, created time.Time) (v1.Image, error) {
	cfg := Blob{MediaType: typ, Data: []byte("{}")}
	layer := Blob{MediaType: typ, Data: data, Annotations: map[string]string{titleAnnotation: file}}
	return newArtifact(typ, subject, cfg, []Blob{layer}, map[string]string{createdAnnotation: created.UTC().Format(time.RFC3339)})
}

// File names of the documents.
const (
	ProvenanceFile = "provenance.intoto.json"
)

// File is the name of an SBOM document of format f.
func (f Format) File() string {
	if f == CycloneDX {
		return "sbom.cdx.json"
	}
	return "sbom.spdx.json"
}

// ArtifactType returns the artifact type of a referrer's manifest.
func ArtifactType(img v1.Image) (string, error) {
	m, err := img.Manifest()
	if err != nil {
		return "", err
	}
	if m.ArtifactType != "" {
		return m.ArtifactType, nil
	}
	return string(m.Config.MediaType), nil
}

// Subject returns the subject of a referrer's manifest.
func Subject(img v1.Image) (v1.Hash, error) {
	m, err := img.Manifest()
	if err != nil {
		return v1.Hash{}, err
	}
	if m.Subject == nil {
		return v1.Hash{}, fmt.Errorf("the manifest has no subject")
	}
	return m.Subject.Digest, nil
}

// firstLayer reads the one document a referrer holds.
func firstLayer(img v1.Image) ([]byte, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("the artifact has no layer")
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxDocument))
}

// maxDocument bounds a document kiln reads back.
const maxDocument = 64 << 20
