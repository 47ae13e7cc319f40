package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/pkg/attest"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/plan"
	"github.com/kiln-build/kiln/pkg/runtime"
)

// Attachment is a referrer of an image that the build made: an SBOM or
// the provenance statement, stored in the build's layout.
type Attachment struct {
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType"`
	// Subject is the digest of the manifest it is about.
	Subject string `json:"subject"`
}

// platformBuild is what building one platform's image made.
type platformBuild struct {
	image   v1.Image
	contrib *runtime.Contribution
	// layers are kiln's layers in the image (shared ones included).
	layers []mutate.Addendum
}

// attachments makes the referrers of a target's image: an SBOM of each
// platform's image (unless the format is none) and a provenance
// statement about the image and each platform's, attached to each of
// them.
func (b *builder) attachments(t *plan.Target, artifact layout.Artifact, builds []platformBuild) ([]v1.Image, error) {
	pl := b.plan
	date := pl.Project.Source.Date
	tool := "kiln " + Version()
	var refs []v1.Image
	var subjects []v1.Descriptor
	var digests []v1.Hash
	var toolchains []runtime.Package
	var inputs []runtime.Input
	for i, pb := range builds {
		d, err := layout.Subject(pb.image)
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, d)
		digests = append(digests, d.Digest)
		for _, p := range pb.contrib.Packages {
			if p.Toolchain {
				toolchains = append(toolchains, p)
			}
		}
		inputs = append(inputs, pb.contrib.Inputs...)
		if b.sbom == attest.None {
			continue
		}
		img := attest.Image{Name: t.ImageName, Platform: t.Platforms[i].String(), Digest: d.Digest, Packages: pb.contrib.Packages, Created: date, Tool: tool}
		if t.Base != nil {
			img.Base = &attest.Base{Name: t.Base.Name, Digest: t.Base.Images[i].Digest}
		}
		for _, l := range pb.layers {
			ld, err := l.Layer.Digest()
			if err != nil {
				return nil, err
			}
			img.Layers = append(img.Layers, attest.Layer{Digest: ld, CreatedBy: l.History.CreatedBy})
		}
		doc, err := attest.SBOM(b.sbom, img)
		if err != nil {
			return nil, err
		}
		ref, err := attest.Document(b.sbom.Type(), d, doc, b.sbom.File(), date)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	top, err := layout.Subject(artifact)
	if err != nil {
		return nil, err
	}
	if len(builds) > 1 {
		subjects = append([]v1.Descriptor{top}, subjects...)
	} else {
		digests = nil
	}
	statement, err := attest.ProvenanceStatement(b.provenance(t, top.Digest, digests, inputs, toolchains))
	if err != nil {
		return nil, err
	}
	for _, s := range subjects {
		ref, err := attest.Document(attest.InTotoType, s, statement, attest.ProvenanceFile, date)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// provenance describes the build of t's image.
func (b *builder) provenance(t *plan.Target, digest v1.Hash, platforms []v1.Hash, inputs []runtime.Input, toolchains []runtime.Package) attest.Build {
	pl := b.plan
	src := pl.Project.Source
	pb := attest.Build{Name: t.ImageName, Digest: digest, Platforms: platforms, Repo: src.Remote, Commit: src.Commit, Dirty: src.Dirty,
		Inputs: inputs, Toolchains: toolchains, Date: src.Date, Version: Version()}
	// A target named by its directory is named relative to the project,
	// so that the statement does not depend on where the source is.
	target := t.ID()
	if rel, err := filepath.Rel(pl.Project.Root, target); err == nil && filepath.IsAbs(target) {
		target = filepath.ToSlash(rel)
	}
	pb.Params = attest.Parameters{Targets: []string{target}, SBOM: b.sbom, Compression: string(b.layerOpt.Compression)}
	for _, p := range t.Platforms {
		pb.Params.Platforms = append(pb.Params.Platforms, p.String())
	}
	if t.Base != nil {
		pb.Base = &attest.Base{Name: t.Base.Name, Digest: t.Base.Digest}
		pb.Params.Base = t.Base.Name
	}
	if f := pl.Project.Config.Path; f != "" {
		if data, err := os.ReadFile(f); err == nil {
			sum := sha256.Sum256(data)
			pb.Params.Config = &attest.Resource{Name: "kiln.yaml", Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}
		}
	}
	if src.Commit != "" {
		pb.Params.Source = &attest.Resource{URI: src.Remote, Digest: map[string]string{"gitCommit": src.Commit}}
	}
	return pb
}

// writeAttachments stores refs, the referrers of the image named name,
// in the layout, and returns their index entries and records.
func writeAttachments(lay layout.Layout, name string, refs []v1.Image) ([]v1.Descriptor, []Attachment, error) {
	var descs []v1.Descriptor
	var recs []Attachment
	for _, r := range refs {
		if err := lay.Write(r); err != nil {
			return nil, nil, err
		}
		d, err := layout.ReferrerDescriptor(r, name)
		if err != nil {
			return nil, nil, err
		}
		sub, err := attest.Subject(r)
		if err != nil {
			return nil, nil, err
		}
		descs = append(descs, d)
		recs = append(recs, Attachment{Digest: d.Digest.String(), ArtifactType: d.ArtifactType, Subject: sub.String()})
	}
	return descs, recs, nil
}

// openAttachments reads an image's referrers from the build's layout.
func openAttachments(lay layout.Layout, img *Image) error {
	img.Referrers = nil
	for _, a := range img.Attachments {
		h, err := v1.NewHash(a.Digest)
		if err != nil {
			return err
		}
		r, err := lay.OpenReferrer(h)
		if err != nil {
			return fmt.Errorf("attachment %s of %s: %w", a.Digest, img.Name, err)
		}
		img.Referrers = append(img.Referrers, r)
	}
	return nil
}
