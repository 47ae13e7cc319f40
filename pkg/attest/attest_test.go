package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/kiln-build/kiln/pkg/runtime"
)

func hash(s string) v1.Hash {
	h, _, _ := v1.SHA256(strings.NewReader(s))
	return h
}

func testImage() Image {
	return Image{
		Name: "hello", Platform: "linux/amd64", Digest: hash("image"),
		Base:    &Base{Name: "registry.example/base:v1", Digest: hash("base")},
		Layers:  []Layer{{Digest: hash("layer"), CreatedBy: "kiln: go build"}},
		Created: time.Unix(1700000000, 0), Tool: "kiln test",
		Packages: []runtime.Package{
			{Type: "golang", Name: "stdlib", Version: "go1.26.8", Toolchain: true},
			{Type: "golang", Name: "example.com/app", Version: "(devel)", Main: true},
			{Type: "golang", Name: "example.com/dep", Version: "v1.1.0", Checksum: "h1:" + base64.StdEncoding.EncodeToString(make([]byte, 32))},
			{Type: "pypi", Name: "Six_Pack", Version: "1.0", File: "six_pack-1.0-py3-none-any.whl", SHA256: hash("wheel").Hex, License: "MIT"},
			{Type: "pypi", Name: "odd", Version: "2.0", License: "GNU General Public License v3"},
		},
	}
}

// TestSPDX checks that the SPDX document parses and validates with
// spdx/tools-golang, lists every package with its version, and is the
// same whatever the order of the packages.
func TestSPDX(t *testing.T) {
	img := testImage()
	doc, err := SBOM(SPDX, img)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("tools-golang cannot read the document: %v\n%s", err, doc)
	}
	if err := spdxlib.ValidateDocument(parsed); err != nil {
		t.Fatal(err)
	}
	if parsed.SPDXVersion != "SPDX-2.3" || !strings.HasPrefix(parsed.DocumentNamespace, "https://") {
		t.Errorf("version %s, namespace %s", parsed.SPDXVersion, parsed.DocumentNamespace)
	}
	found := map[string]string{}
	for _, p := range parsed.Packages {
		found[p.PackageName] = p.PackageVersion
		if p.PackageName == "six_pack" || p.PackageName == "Six_Pack" {
			if p.PackageFileName != "six_pack-1.0-py3-none-any.whl" || p.PackageChecksums[0].Value != hash("wheel").Hex || p.PackageLicenseDeclared != "MIT" {
				t.Errorf("wheel package %+v", p)
			}
		}
		if p.PackageName == "odd" && (p.PackageLicenseDeclared != "NOASSERTION" || !strings.Contains(p.PackageLicenseComments, "GNU")) {
			t.Errorf("a license that is no SPDX expression: declared %q, comment %q", p.PackageLicenseDeclared, p.PackageLicenseComments)
		}
	}
	for name, version := range map[string]string{"example.com/dep": "v1.1.0", "stdlib": "go1.26.8", "hello": img.Digest.String(), "registry.example/base:v1": hash("base").String()} {
		if found[name] != version {
			t.Errorf("package %s: version %q, want %q (all: %v)", name, found[name], version, found)
		}
	}
	if !bytes.Contains(doc, []byte("pkg:golang/example.com/dep@v1.1.0")) || !bytes.Contains(doc, []byte("pkg:pypi/six-pack@1.0")) {
		t.Errorf("package URLs missing:\n%s", doc)
	}
	// Same document whatever the order of the packages.
	img.Packages[0], img.Packages[4] = img.Packages[4], img.Packages[0]
	again, err := SBOM(SPDX, img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, again) {
		t.Error("the order of the packages changed the document")
	}
	// A different image has a different namespace.
	img.Digest = hash("other")
	other, _ := SBOM(SPDX, img)
	p2, _ := spdxjson.Read(bytes.NewReader(other))
	if p2.DocumentNamespace == parsed.DocumentNamespace {
		t.Error("two images share a document namespace")
	}
}

func TestCycloneDX(t *testing.T) {
	doc, err := SBOM(CycloneDX, testImage())
	if err != nil {
		t.Fatal(err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(doc), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") || bom.Metadata.Timestamp != "2023-11-14T22:13:20Z" {
		t.Errorf("spec %v serial %s time %s", bom.SpecVersion, bom.SerialNumber, bom.Metadata.Timestamp)
	}
	var dep *cdx.Component
	for i, c := range *bom.Components {
		if c.Name == "example.com/dep" {
			dep = &(*bom.Components)[i]
		}
	}
	if dep == nil || dep.Version != "v1.1.0" || dep.PackageURL != "pkg:golang/example.com/dep@v1.1.0" {
		t.Errorf("dependency: %+v", dep)
	}
	again, _ := SBOM(CycloneDX, testImage())
	if !bytes.Equal(doc, again) {
		t.Error("two runs gave different documents")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": SPDX, "spdx": SPDX, "cyclonedx": CycloneDX, "none": None} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseFormat("swid"); err == nil || !strings.Contains(err.Error(), "spdx, cyclonedx or none") {
		t.Errorf("swid: %v", err)
	}
}

// testKey makes a cosign-format key pair encrypted with password.
func testKey(t *testing.T, password string) (priv, pub []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
}

// TestSign checks that signatures and attestations are cosign's shapes,
// verify with the public key, and are the same bytes when made twice.
func TestSign(t *testing.T) {
	priv, pub := testKey(t, "secret")
	if _, err := LoadKey(priv, []byte("wrong")); err != ErrKeyPassword {
		t.Fatalf("wrong password: %v", err)
	}
	s, err := LoadKey(priv, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	subject := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: hash("image"), Size: 100}
	statement, err := ProvenanceStatement(Build{Name: "hello", Digest: subject.Digest, Date: time.Unix(0, 0), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := Document(InTotoType, subject, statement, ProvenanceFile, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	sbom, err := Document(SPDXType, subject, []byte(`{}`), SPDX.File(), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	sign := func() []Referrer {
		refs, err := s.Sign("registry.example/hello", []v1.Descriptor{subject}, []v1.Image{sbom, prov})
		if err != nil {
			t.Fatal(err)
		}
		return refs
	}
	refs := sign()
	if len(refs) != 3 {
		t.Fatalf("%d referrers, want a signature, the SBOM and the attestation", len(refs))
	}
	sig, kept, att := refs[0], refs[1], refs[2]
	if sig.Tag != "sha256-"+subject.Digest.Hex+".sig" || att.Tag != "sha256-"+subject.Digest.Hex+".att" || kept.Tag != "" || kept.Image != sbom {
		t.Errorf("tags %q %q %q", sig.Tag, kept.Tag, att.Tag)
	}
	for _, r := range []Referrer{sig, att} {
		if d, err := Subject(r.Image); err != nil || d != subject.Digest {
			t.Errorf("%s: subject %v %v", r.Tag, d, err)
		}
	}
	m, _ := sig.Image.Manifest()
	payload, _ := firstLayer(sig.Image)
	if !v.checkSignature(signedLayer{data: payload, annotations: m.Layers[0].Annotations}, subject.Digest) {
		t.Error("the signature does not verify")
	}
	if v.checkSignature(signedLayer{data: payload, annotations: m.Layers[0].Annotations}, hash("other")) {
		t.Error("the signature verifies for another digest")
	}
	env, _ := firstLayer(att.Image)
	if !v.checkAttestation(env, subject.Digest) {
		t.Errorf("the attestation does not verify: %s", env)
	}
	var e envelope
	json.Unmarshal(env, &e)
	if e.Payload != base64.StdEncoding.EncodeToString(statement) {
		t.Error("the attestation does not hold the statement")
	}
	// Deterministic signatures: the same digests twice.
	for i, r := range sign() {
		d1, _ := refs[i].Image.Digest()
		d2, _ := r.Image.Digest()
		if d1 != d2 {
			t.Errorf("referrer %d: %s then %s", i, d1, d2)
		}
	}
	// Another key does not verify.
	_, pub2 := testKey(t, "x")
	v2, _ := LoadPublicKey(pub2)
	if v2.checkAttestation(env, subject.Digest) {
		t.Error("another key verifies the attestation")
	}
}
