package attest

import (
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

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/kiln-build/kiln/pkg/registry"
)

// Referrer is a referrer to publish, by digest or under a tag.
type Referrer = registry.Referrer

// Annotations and types of cosign's signature format.
const (
	cosignSignature = "dev.cosignproject.cosign/signature"
	predicateTypeAn = "predicateType"
	signatureKind   = "cosign container image signature"
)

// PEM types of `cosign generate-key-pair` (newer, then older cosign).
var keyTypes = []string{"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"}

// Signer signs with a cosign key, deterministically: ECDSA as RFC 6979
// (Go's ecdsa with no random source), RSA PKCS #1 v1.5, so signing the
// same thing twice gives the same bytes.
type Signer struct {
	key crypto.Signer
}

// ErrKeyPassword says that a cosign key could not be decrypted.
var ErrKeyPassword = errors.New("cannot decrypt the signing key: wrong password")

// LoadKey reads a cosign private key (cosign generate-key-pair's
// cosign.key), encrypted with password, as cosign does: PEM, then scrypt
// and secretbox (go-securesystemslib's encrypted), then PKCS #8.
func LoadKey(pemData, password []byte) (*Signer, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("the signing key is not PEM: give the cosign.key that cosign generate-key-pair wrote")
	}
	known := false
	for _, t := range keyTypes {
		known = known || b.Type == t
	}
	if !known {
		return nil, fmt.Errorf("the signing key is a PEM %q, not an encrypted cosign key", b.Type)
	}
	der, err := encrypted.Decrypt(b.Bytes, password)
	if err != nil {
		return nil, ErrKeyPassword
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("reading the signing key: %w", err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return &Signer{key: k}, nil
	case *rsa.PrivateKey:
		return &Signer{key: k}, nil
	}
	return nil, fmt.Errorf("signing keys of type %T are not supported: use an ECDSA key (cosign generate-key-pair)", k)
}

// sign signs msg's SHA-256.
func (s *Signer) sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		return k.Sign(nil, h[:], crypto.SHA256)
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	}
	return nil, fmt.Errorf("unsupported key %T", s.key)
}

// Sign signs an image for publishing to repo: a cosign signature of its
// digest and of each of its platforms' (subjects), and every unsigned
// provenance statement in refs becomes a cosign attestation (a DSSE
// envelope signed with the key). Other referrers are kept as they are.
// The signatures and attestations are cosign's tag-based format that
// cosign verify and verify-attestation read, with a subject added so
// that they are OCI 1.1 referrers as well.
func (s *Signer) Sign(repo string, subjects []v1.Descriptor, refs []v1.Image) ([]Referrer, error) {
	var out []Referrer
	for _, sub := range subjects {
		payload, err := json.Marshal(simpleSigning(repo, sub.Digest))
		if err != nil {
			return nil, err
		}
		sig, err := s.sign(payload)
		if err != nil {
			return nil, err
		}
		img, err := cosignImage(SignatureType, sub, Blob{MediaType: SimpleSigningType, Data: payload,
			Annotations: map[string]string{cosignSignature: base64.StdEncoding.EncodeToString(sig)}})
		if err != nil {
			return nil, err
		}
		out = append(out, Referrer{Image: img, Tag: cosignTag(sub.Digest, "sig")})
	}
	for _, r := range refs {
		typ, err := ArtifactType(r)
		if err != nil {
			return nil, err
		}
		if typ != InTotoType {
			out = append(out, Referrer{Image: r})
			continue
		}
		m, err := r.Manifest()
		if err != nil {
			return nil, err
		}
		statement, err := firstLayer(r)
		if err != nil {
			return nil, err
		}
		env, err := s.envelope(InTotoType, statement)
		if err != nil {
			return nil, err
		}
		img, err := cosignImage(DSSEType, *m.Subject, Blob{MediaType: DSSEType, Data: env,
			Annotations: map[string]string{cosignSignature: "", predicateTypeAn: ProvenanceType}})
		if err != nil {
			return nil, err
		}
		out = append(out, Referrer{Image: img, Tag: cosignTag(m.Subject.Digest, "att")})
	}
	return out, nil
}

// cosignTag is the tag cosign looks for a digest's signatures (suffix
// "sig") or attestations ("att") under.
func cosignTag(d v1.Hash, suffix string) string {
	return d.Algorithm + "-" + d.Hex + "." + suffix
}

// cosignImage is the image cosign stores a signature or attestation in:
// an OCI image config listing the one layer, the layer holding the
// payload with the signature in its annotations; kiln adds the subject
// and artifact type.
func cosignImage(typ string, subject v1.Descriptor, layer Blob) (v1.Image, error) {
	diffID := layer.descriptor().Digest
	cfg := v1.ConfigFile{RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}}, History: []v1.History{{}}}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return newArtifact(typ, subject, Blob{MediaType: string(types.OCIConfigJSON), Data: data}, []Blob{layer}, nil)
}

// simplePayload is the "simple signing" payload cosign signs: the
// repository and the digest.
type simplePayload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]string `json:"optional"`
}

func simpleSigning(repo string, d v1.Hash) simplePayload {
	var p simplePayload
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = d.String()
	p.Critical.Type = signatureKind
	return p
}

// envelope is a DSSE envelope, fields in the order cosign writes them.
type envelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// pae is DSSE's pre-authentication encoding, what is signed.
func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// envelope signs payload into a DSSE envelope.
func (s *Signer) envelope(payloadType string, payload []byte) ([]byte, error) {
	sig, err := s.sign(pae(payloadType, payload))
	if err != nil {
		return nil, err
	}
	e := envelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	e.Signatures = append(e.Signatures, struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}{Sig: base64.StdEncoding.EncodeToString(sig)})
	return json.Marshal(e)
}
