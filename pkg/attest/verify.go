package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Verifier checks signatures with a cosign public key (cosign.pub).
type Verifier struct {
	key crypto.PublicKey
}

// LoadPublicKey reads a PEM public key, as cosign generate-key-pair
// writes it.
func LoadPublicKey(pemData []byte) (*Verifier, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("the public key is not PEM: give the cosign.pub that cosign generate-key-pair wrote")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	return &Verifier{key: k}, nil
}

// verify reports whether sig signs msg.
func (v *Verifier) verify(msg, sig []byte) bool {
	h := sha256.Sum256(msg)
	switch k := v.key.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, h[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
	}
	return false
}

// Report is what Verify found for an image.
type Report struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	// Images are the image (or index) itself, then each platform's.
	Images []Found `json:"images"`
	// OK is true when the reference is signed and each image has an SBOM
	// and a signed provenance.
	OK bool `json:"ok"`
}

// Found is what is attached to one manifest.
type Found struct {
	Digest   string `json:"digest"`
	Platform string `json:"platform,omitempty"`
	// Signed is true when a cosign signature of the digest verifies with
	// the key.
	Signed bool `json:"signed"`
	// SBOMs are the SBOM referrers, as "artifact type digest".
	SBOMs []string `json:"sboms"`
	// Provenance is true when an SLSA provenance attestation about the
	// digest verifies with the key.
	Provenance bool `json:"provenance"`
	// Referrers counts every referrer, kiln's or not.
	Referrers int `json:"referrers"`
	// Problems say what is missing or wrong.
	Problems []string `json:"problems,omitempty"`
}

// Verify checks what is attached to ref and its platforms: cosign
// signatures and provenance attestations (checked with v's key) and SBOM
// referrers.
func Verify(ctx context.Context, ref name.Reference, v *Verifier, opts ...remote.Option) (*Report, error) {
	opts = append(opts, remote.WithContext(ctx))
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, err
	}
	rep := &Report{Reference: ref.String(), Digest: desc.Digest.String(), OK: true}
	subjects := []Found{{Digest: desc.Digest.String()}}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			f := Found{Digest: m.Digest.String()}
			if m.Platform != nil {
				f.Platform = m.Platform.String()
			}
			subjects = append(subjects, f)
		}
	}
	repo := ref.Context()
	for i := range subjects {
		f := &subjects[i]
		d, err := v1.NewHash(f.Digest)
		if err != nil {
			return nil, err
		}
		if err := v.check(repo, d, f, opts); err != nil {
			return nil, err
		}
		// The reference must be signed; every image (the platforms of an
		// index) must have an SBOM and a provenance.
		image := i > 0 || len(subjects) == 1
		if i == 0 && !f.Signed {
			f.Problems = append(f.Problems, "no signature that verifies with the key")
		}
		if image && len(f.SBOMs) == 0 {
			f.Problems = append(f.Problems, "no SBOM")
		}
		if image && !f.Provenance {
			f.Problems = append(f.Problems, "no provenance attestation that verifies with the key")
		}
		rep.OK = rep.OK && len(f.Problems) == 0
	}
	rep.Images = subjects
	return rep, nil
}

// check fills f with what is attached to the digest d in repo.
func (v *Verifier) check(repo name.Repository, d v1.Hash, f *Found, opts []remote.Option) error {
	refs, err := remote.Referrers(repo.Digest(d.String()), opts...)
	if err != nil {
		return fmt.Errorf("listing the referrers of %s: %w", d, err)
	}
	im, err := refs.IndexManifest()
	if err != nil {
		return err
	}
	f.Referrers = len(im.Manifests)
	f.SBOMs = []string{}
	for _, m := range im.Manifests {
		if m.ArtifactType == SPDXType || m.ArtifactType == CycloneDXType {
			f.SBOMs = append(f.SBOMs, m.ArtifactType+" "+m.Digest.String())
		}
	}
	slices.Sort(f.SBOMs)
	sigs, err := cosignLayers(repo, d, "sig", opts)
	if err != nil {
		return err
	}
	for _, l := range sigs {
		if v.checkSignature(l, d) {
			f.Signed = true
		}
	}
	atts, err := cosignLayers(repo, d, "att", opts)
	if err != nil {
		return err
	}
	for _, l := range atts {
		if v.checkAttestation(l.data, d) {
			f.Provenance = true
		}
	}
	return nil
}

// signedLayer is a layer of a cosign image with its annotations.
type signedLayer struct {
	data        []byte
	annotations map[string]string
}

// cosignLayers reads the layers of the cosign image of d (suffix "sig"
// or "att"); none if there is no such image.
func cosignLayers(repo name.Repository, d v1.Hash, suffix string, opts []remote.Option) ([]signedLayer, error) {
	img, err := remote.Image(repo.Tag(cosignTag(d, suffix)), opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == 404 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	var out []signedLayer
	for _, l := range m.Layers {
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxDocument))
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, signedLayer{data: data, annotations: l.Annotations})
	}
	return out, nil
}

// checkSignature reports whether l is a signature of d by the key.
func (v *Verifier) checkSignature(l signedLayer, d v1.Hash) bool {
	sig, err := base64.StdEncoding.DecodeString(l.annotations[cosignSignature])
	if err != nil || !v.verify(l.data, sig) {
		return false
	}
	var p simplePayload
	return json.Unmarshal(l.data, &p) == nil && p.Critical.Image.DockerManifestDigest == d.String()
}

// checkAttestation reports whether data is a DSSE envelope signed by the
// key holding an SLSA provenance statement about d.
func (v *Verifier) checkAttestation(data []byte, d v1.Hash) bool {
	var e envelope
	if json.Unmarshal(data, &e) != nil || e.PayloadType != InTotoType {
		return false
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		return false
	}
	signed := false
	for _, s := range e.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		signed = signed || (err == nil && v.verify(pae(e.PayloadType, payload), sig))
	}
	var st Statement
	if !signed || json.Unmarshal(payload, &st) != nil || st.PredicateType != ProvenanceType {
		return false
	}
	for _, s := range st.Subject {
		if s.Digest[d.Algorithm] == d.Hex {
			return true
		}
	}
	return false
}
