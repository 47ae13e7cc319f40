package publish

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/registry"
)

// Registry pushes images to a registry: with one image to Repo, with
// several to Repo/<last element of each name>; with no Repo, each to its
// own name, which must then start with a registry host.
type Registry struct {
	Repo string
	// Tags are pushed in order; none means "latest".
	Tags []string
	// Mounts are layers (a base image's) that may be mounted from another
	// repository of the same registry rather than uploaded.
	Mounts   []registry.Mount
	Options  registry.Options
	Progress progress.Reporter
	// Namer, when set, names each image's repository under Repo (a
	// naming strategy); otherwise one image goes to Repo itself, several
	// to Repo/<last element of each name>.
	Namer func(repo string, img Image) string
	// DockerHub lets a Repo without a registry host mean Docker Hub, as
	// it does in ko's KO_DOCKER_REPO; otherwise only a Repo that says
	// docker.io goes there.
	DockerHub bool
	// Signer, if set, signs each image, its platforms and its provenance
	// in cosign's format.
	Signer Signer
	// Ledger, if set, remembers the images whose referrers were published
	// whole: pushed again, they are not checked again.
	Ledger Ledger
}

// Ledger remembers registry writes known done, by opaque keys, so that
// publishing the same build again skips them (buildstore.Published keeps
// one per build).
type Ledger interface {
	Has(key string) bool
	Add(key string) error
}

// Target is the repository img goes to.
func (p Registry) Target(img Image, several bool) (string, error) {
	target := p.Repo
	switch {
	case target == "" && !HasRegistry(img.Name):
		return "", fmt.Errorf("image %s names no registry to push to: give a repository (e.g. ghcr.io/org/%s), or name it like registry.example.com/%s", img.Name, img.Name, img.Name)
	case target == "":
		return img.Name, nil
	case p.Namer != nil:
		target = p.Namer(target, img)
	case several:
		target = strings.TrimSuffix(target, "/") + "/" + path.Base(img.Name)
	}
	if !HasRegistry(target) && !p.DockerHub {
		return "", fmt.Errorf("%s names no registry host: write the registry, e.g. ghcr.io/%s, or docker.io/%s for Docker Hub", p.Repo, p.Repo, p.Repo)
	}
	return target, nil
}

// Publish implements Publisher.
func (p Registry) Publish(ctx context.Context, images []Image) ([]Location, error) {
	rep := p.Progress
	if rep == nil {
		rep = progress.Discard
	}
	// Every tag is checked before any image is pushed.
	if err := registry.ValidateTags(p.Tags); err != nil {
		return nil, err
	}
	var out []Location
	for _, img := range images {
		target, err := p.Target(img, len(images) > 1)
		if err != nil {
			return nil, err
		}
		repo, err := p.Options.ParseRepository(target)
		if err != nil {
			return nil, err
		}
		ref, err := p.push(ctx, rep, img.Artifact, repo)
		if err != nil {
			return nil, err
		}
		refs, err := attached(img, p.Signer, repo.Name())
		if err != nil {
			return nil, err
		}
		key, err := referrersKey(ref, refs)
		if err != nil {
			return nil, err
		}
		if p.Ledger != nil && p.Ledger.Has(key) {
			refs = nil // published whole by an earlier push of this build
		}
		if len(refs) > 0 {
			step := rep.Start("attaching SBOMs, provenance and signatures to "+repo.String(), 0)
			for _, r := range refs {
				if err = registry.PushReferrer(ctx, r, repo, p.Options); err != nil {
					break
				}
			}
			step.Done(err)
			if err != nil {
				return nil, err
			}
			if p.Ledger != nil {
				p.Ledger.Add(key) // a cache: failing to keep it costs the next push the checks
			}
		}
		out = append(out, Location{Image: img.Name, Kind: KindRegistry, Ref: ref.String()})
	}
	return out, nil
}

// push pushes one artifact, showing the upload's progress.
func (p Registry) push(ctx context.Context, rep progress.Reporter, a remote.Taggable, repo name.Repository) (name.Digest, error) {
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var step progress.Step
		var sent int64
		for u := range updates {
			if step == nil {
				step = rep.Start("pushing "+repo.String(), u.Total)
			}
			if u.Complete > sent {
				step.Add(u.Complete - sent)
				sent = u.Complete
			}
		}
		if step != nil {
			step.Done(nil)
		}
	}()
	o := p.Options
	o.Updates = updates
	ref, err := registry.Push(ctx, a, repo, p.Tags, p.Mounts, o)
	<-done
	return ref, err
}

// HasRegistry reports whether an image name starts with a registry host
// (docker.io included).
func HasRegistry(name string) bool {
	first, _, ok := strings.Cut(name, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// referrersKey names, in a Ledger, the publication of refs (which differ
// with the signing key, the SBOM format) as referrers of ref.
func referrersKey(ref name.Digest, refs []registry.Referrer) (string, error) {
	h := sha256.New()
	for _, r := range refs {
		d, err := r.Image.Digest()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %s\n", d, r.Tag)
	}
	return fmt.Sprintf("referrers %s %x", ref, h.Sum(nil)), nil
}
