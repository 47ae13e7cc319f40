package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Image is what the SBOM of one platform image says: the image, its base,
// kiln's layers and the packages the runtime put in them.
type Image struct {
	// Name is the image's name ("hello"); the registry it is pushed to is
	// left out, so the document is the same wherever it goes.
	Name     string
	Platform string
	Digest   v1.Hash
	// Base is the base image; nil for an empty base.
	Base     *Base
	Layers   []Layer
	Packages []runtime.Package
	// Created is the source date.
	Created time.Time
	// Tool is kiln and its version: "kiln v1.2.3".
	Tool string
}

// Base is a base image by name and digest.
type Base struct {
	Name   string
	Digest v1.Hash
}

// Layer is one of the layers kiln wrote, with what made it.
type Layer struct {
	Digest    v1.Hash
	CreatedBy string
}

// SBOM writes the SBOM of img in format f.
func SBOM(f Format, img Image) ([]byte, error) {
	switch f {
	case SPDX:
		return spdxDocument(img)
	case CycloneDX:
		return cyclonedxDocument(img)
	}
	return nil, fmt.Errorf("no SBOM in format %q", f)
}

// component is a package, base or layer as both formats list it.
type component struct {
	name, version, purl string
	sha256              string // hex
	license             string
	file                string
	comment             string
	kind                string // "library", "container", "layer", "toolchain", "main"
}

// components lists what img holds, sorted and without repeats.
func (img Image) components() []component {
	var out []component
	if img.Base != nil {
		out = append(out, component{name: img.Base.Name, version: img.Base.Digest.String(), purl: ociPURL(img.Base.Name, img.Base.Digest, ""),
			sha256: img.Base.Digest.Hex, kind: "container", comment: "base image"})
	}
	for _, l := range img.Layers {
		out = append(out, component{name: "layer " + l.Digest.String(), version: l.Digest.String(), sha256: l.Digest.Hex, kind: "layer", comment: l.CreatedBy})
	}
	for _, p := range img.Packages {
		c := component{name: p.Name, version: p.Version, purl: packagePURL(p), sha256: p.SHA256, license: p.License, file: p.File, kind: "library"}
		switch {
		case p.Toolchain:
			c.kind, c.comment = "toolchain", "toolchain the program was built with"
		case p.Main:
			c.kind, c.comment = "main", "the program's own module"
		}
		if p.Checksum != "" {
			c.comment = strings.TrimSpace(c.comment + "; go.sum " + p.Checksum)
			c.comment = strings.TrimPrefix(c.comment, "; ")
			if h, ok := strings.CutPrefix(p.Checksum, "h1:"); ok && c.sha256 == "" {
				// h1: is the base64 SHA-256 of the module's file hashes.
				if raw, err := base64.StdEncoding.DecodeString(h); err == nil {
					c.sha256 = hex.EncodeToString(raw)
				}
			}
		}
		out = append(out, c)
	}
	key := func(c component) string { return c.kind + "\x00" + c.purl + "\x00" + c.name + "\x00" + c.version }
	slices.SortFunc(out, func(a, b component) int { return strings.Compare(key(a), key(b)) })
	return slices.CompactFunc(out, func(a, b component) bool { return key(a) == key(b) })
}

// packagePURL is a package's package URL.
func packagePURL(p runtime.Package) string {
	name := p.Name
	if p.Type == "pypi" {
		// PEP 503 normal form, as the pypi purl type asks.
		name = strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(name, "-"))
	}
	var purl string
	if p.Type == "golang" {
		purl = "pkg:golang/" + escapePath(name)
	} else {
		purl = "pkg:" + p.Type + "/" + url.PathEscape(name)
	}
	if p.Version != "" {
		purl += "@" + url.PathEscape(p.Version)
	}
	return purl
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

// ociPURL is the package URL of an image.
func ociPURL(name string, d v1.Hash, platform string) string {
	repo := name
	if i := strings.LastIndexAny(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i] // the tag
	}
	last := repo[strings.LastIndex(repo, "/")+1:]
	purl := "pkg:oci/" + url.PathEscape(last) + "@" + url.PathEscape(d.String())
	q := url.Values{}
	if last != repo {
		q.Set("repository_url", repo)
	}
	if platform != "" {
		q.Set("platform", platform)
	}
	if len(q) > 0 {
		purl += "?" + q.Encode()
	}
	return purl
}

// uuidOf derives an RFC 4122-shaped UUID from s.
func uuidOf(s string) string {
	h := sha256.Sum256([]byte(s))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// spdxLicense accepts an SPDX license expression (ids, AND, OR, WITH,
// parentheses); anything else is NOASSERTION, with the text kept as a
// comment.
var spdxLicense = lazy.Regexp(`^[A-Za-z0-9.+\-() ]+$`)

func spdxID(kind, s string) common.ElementID {
	h := sha256.Sum256([]byte(kind + "\x00" + s))
	return common.ElementID(fmt.Sprintf("%s-%x", kind, h[:8]))
}

// spdxDocument writes img's SBOM as SPDX 2.3 JSON.
func spdxDocument(img Image) ([]byte, error) {
	imgID := spdxID("Image", img.Digest.String())
	noAssertion := &common.Supplier{Supplier: "NOASSERTION"}
	docID := common.MakeDocElementID("", "DOCUMENT")
	doc := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   img.Name + "@" + img.Digest.String(),
		// Derived from the content, so the same image has the same
		// document.
		DocumentNamespace: "https://spdx.org/spdxdocs/kiln/" + url.PathEscape(img.Name) + "-" + uuidOf(string(SPDX)+img.Name+"@"+img.Digest.String()),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: img.Tool}},
			Created:  img.Created.UTC().Format(time.RFC3339),
		},
	}
	doc.Packages = append(doc.Packages, &spdx.Package{
		PackageName:             img.Name,
		PackageSPDXIdentifier:   imgID,
		PackageVersion:          img.Digest.String(),
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: img.Digest.Hex}},
		PackageExternalReferences: []*spdx.PackageExternalReference{{
			Category: "PACKAGE-MANAGER", RefType: "purl", Locator: ociPURL(img.Name, img.Digest, img.Platform),
		}},
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageSupplier:         noAssertion,
		PackageComment:          "platform " + img.Platform,
	})
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{RefA: docID, RefB: common.MakeDocElementID("", string(imgID)), Relationship: "DESCRIBES"})
	for _, c := range img.components() {
		id := spdxID("Package", c.kind+c.purl+c.name+c.version)
		p := &spdx.Package{
			PackageName:             c.name,
			PackageSPDXIdentifier:   id,
			PackageVersion:          c.version,
			PackageFileName:         c.file,
			PackageDownloadLocation: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  "NOASSERTION",
			PackageCopyrightText:    "NOASSERTION",
			PackageSupplier:         noAssertion,
			PackageComment:          c.comment,
		}
		if c.license != "" {
			if spdxLicense().MatchString(c.license) && !strings.Contains(c.license, " License") {
				p.PackageLicenseDeclared = c.license
			} else {
				p.PackageLicenseComments = "declared: " + c.license
			}
		}
		if c.sha256 != "" {
			p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: c.sha256}}
		}
		if c.purl != "" {
			p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: c.purl}}
		}
		rel := "CONTAINS"
		switch c.kind {
		case "container":
			p.PrimaryPackagePurpose, rel = "CONTAINER", "DESCENDANT_OF"
		case "layer":
			p.PrimaryPackagePurpose = "ARCHIVE"
		case "main":
			p.PrimaryPackagePurpose = "APPLICATION"
		case "toolchain":
			p.PrimaryPackagePurpose, rel = "FRAMEWORK", "BUILD_TOOL_OF"
		default:
			p.PrimaryPackagePurpose = "LIBRARY"
		}
		doc.Packages = append(doc.Packages, p)
		a, b := common.MakeDocElementID("", string(imgID)), common.MakeDocElementID("", string(id))
		if rel == "BUILD_TOOL_OF" {
			a, b = b, a
		}
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{RefA: a, RefB: b, Relationship: rel})
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.EscapeHTML(false)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cyclonedxDocument writes img's SBOM as CycloneDX 1.6 JSON.
func cyclonedxDocument(img Image) ([]byte, error) {
	imgRef := "image:" + img.Digest.String()
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuidOf(string(CycloneDX)+img.Name+"@"+img.Digest.String())
	bom.Metadata = &cdx.Metadata{
		Timestamp: img.Created.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: img.Tool}}},
		Component: &cdx.Component{
			BOMRef: imgRef, Type: cdx.ComponentTypeContainer, Name: img.Name, Version: img.Digest.String(),
			PackageURL: ociPURL(img.Name, img.Digest, img.Platform),
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: img.Digest.Hex}},
		},
	}
	var cs []cdx.Component
	var refs []string
	for _, c := range img.components() {
		ref := c.kind + ":" + c.purl + ":" + c.name + "@" + c.version
		cc := cdx.Component{BOMRef: ref, Name: c.name, Version: c.version, PackageURL: c.purl, Description: c.comment}
		switch c.kind {
		case "container":
			cc.Type = cdx.ComponentTypeContainer
		case "layer":
			cc.Type = cdx.ComponentTypeData
		case "main":
			cc.Type = cdx.ComponentTypeApplication
		case "toolchain":
			cc.Type = cdx.ComponentTypePlatform
		default:
			cc.Type = cdx.ComponentTypeLibrary
		}
		if c.sha256 != "" {
			cc.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: c.sha256}}
		}
		if c.license != "" {
			if spdxLicense().MatchString(c.license) && !strings.Contains(c.license, " License") {
				cc.Licenses = &cdx.Licenses{{Expression: c.license}}
			} else {
				cc.Licenses = &cdx.Licenses{{License: &cdx.License{Name: c.license}}}
			}
		}
		if c.file != "" {
			cc.Properties = &[]cdx.Property{{Name: "kiln:file", Value: c.file}}
		}
		cs = append(cs, cc)
		refs = append(refs, ref)
	}
	bom.Components = &cs
	bom.Dependencies = &[]cdx.Dependency{{Ref: imgRef, Dependencies: &refs}}
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetEscapeHTML(false).EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
