package attest

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/runtime"
)

// In-toto and SLSA identifiers.
const (
	StatementType  = "https://in-toto.io/Statement/v1"
	ProvenanceType = "https://slsa.dev/provenance/v1"
	// BuilderID identifies kiln as the builder.
	BuilderID = "https://github.com/kiln-build/kiln"
	// BuildType says how to read kiln's external parameters.
	BuildType = "https://github.com/kiln-build/kiln/blob/main/docs/supply-chain.md#provenance"
)

// Statement is an in-toto statement v1 with an SLSA provenance v1
// predicate. Plain structs: encoding/json writes them the same way every
// time.
type Statement struct {
	Type          string     `json:"_type"`
	Subject       []Resource `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     Provenance `json:"predicate"`
}

// Resource is an in-toto resource descriptor.
type Resource struct {
	Name   string            `json:"name,omitempty"`
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
	// Annotations say more about a resolved dependency.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Provenance is the SLSA v1 predicate.
type Provenance struct {
	BuildDefinition struct {
		BuildType            string     `json:"buildType"`
		ExternalParameters   Parameters `json:"externalParameters"`
		ResolvedDependencies []Resource `json:"resolvedDependencies,omitempty"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID      string            `json:"id"`
			Version map[string]string `json:"version,omitempty"`
		} `json:"builder"`
		Metadata struct {
			StartedOn  string `json:"startedOn,omitempty"`
			FinishedOn string `json:"finishedOn,omitempty"`
		} `json:"metadata"`
	} `json:"runDetails"`
}

// Parameters are the inputs a user chose: what to build and how.
type Parameters struct {
	Targets     []string  `json:"targets"`
	Platforms   []string  `json:"platforms"`
	Base        string    `json:"base,omitempty"`
	SBOM        Format    `json:"sbom"`
	Compression string    `json:"compression,omitempty"`
	Config      *Resource `json:"config,omitempty"`
	Source      *Resource `json:"source,omitempty"`
}

// Build is what the provenance of one image says.
type Build struct {
	// Name is the image's name; Digest that of its index (or manifest)
	// and Platforms those of its platforms' manifests: all are subjects.
	Name      string
	Digest    v1.Hash
	Platforms []v1.Hash
	Params    Parameters
	// Repo and Commit locate the source (Repo without credentials);
	// Dirty says the work tree had uncommitted changes.
	Repo, Commit string
	Dirty        bool
	Base         *Base
	Inputs       []runtime.Input
	Toolchains   []runtime.Package
	// Date is the source date; Version is kiln's.
	Date    time.Time
	Version string
}

// ProvenanceStatement writes the provenance statement of b.
func ProvenanceStatement(b Build) ([]byte, error) {
	st := Statement{Type: StatementType, PredicateType: ProvenanceType}
	for _, d := range append([]v1.Hash{b.Digest}, b.Platforms...) {
		st.Subject = append(st.Subject, Resource{Name: b.Name, Digest: map[string]string{d.Algorithm: d.Hex}})
	}
	p := &st.Predicate
	p.BuildDefinition.BuildType = BuildType
	p.BuildDefinition.ExternalParameters = b.Params
	var deps []Resource
	if b.Commit != "" {
		src := Resource{URI: b.Repo, Digest: map[string]string{"gitCommit": b.Commit}}
		if b.Repo != "" && !strings.HasPrefix(b.Repo, "git+") {
			src.URI = "git+" + b.Repo
		}
		if b.Dirty {
			src.Annotations = map[string]string{"dirty": "true"}
		}
		deps = append(deps, src)
	}
	if b.Base != nil {
		deps = append(deps, Resource{Name: "base image", URI: ociPURL(b.Base.Name, b.Base.Digest, ""), Digest: map[string]string{b.Base.Digest.Algorithm: b.Base.Digest.Hex}})
	}
	var files []Resource
	for _, in := range b.Inputs {
		files = append(files, Resource{Name: in.Name, Digest: map[string]string{"sha256": in.SHA256}})
	}
	for _, t := range b.Toolchains {
		files = append(files, Resource{Name: "toolchain", URI: packagePURL(t)})
	}
	slices.SortFunc(files, func(a, b Resource) int {
		return strings.Compare(a.Name+a.URI+a.Digest["sha256"], b.Name+b.URI+b.Digest["sha256"])
	})
	files = slices.CompactFunc(files, func(a, b Resource) bool { return a.Name+a.URI+a.Digest["sha256"] == b.Name+b.URI+b.Digest["sha256"] })
	p.BuildDefinition.ResolvedDependencies = append(deps, files...)
	p.RunDetails.Builder.ID = BuilderID
	p.RunDetails.Builder.Version = map[string]string{"kiln": b.Version}
	// The source date, not the clock: the same source gives the same
	// statement.
	date := b.Date.UTC().Format(time.RFC3339)
	p.RunDetails.Metadata.StartedOn, p.RunDetails.Metadata.FinishedOn = date, date
	return json.Marshal(st)
}
