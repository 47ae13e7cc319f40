package build_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/registry"
	"github.com/kiln-build/kiln/pkg/remotecache"
)

// fleet checks builds against a registry cache as a fresh machine sees
// them: another copy of the project in another directory, without .kiln.
type fleet struct {
	t     *testing.T
	cache remotecache.Cache
	repo  name.Repository
}

func newFleet(t *testing.T, repo string) *fleet {
	o := registry.Options{Insecure: true}
	r, err := o.ParseRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	return &fleet{t: t, cache: remotecache.Cache{Options: o}, repo: r}
}

// Lookup implements build.RemoteCache with the registry cache.
func (f *fleet) Lookup(ctx context.Context, fp string, names []string, platforms []v1.Platform) ([]build.RemoteImage, error) {
	repos := make([]name.Repository, len(names))
	for i := range names {
		repos[i] = f.repo
	}
	hits, err := f.cache.Lookup(ctx, fp, names, repos, platforms)
	var out []build.RemoteImage
	for _, h := range hits {
		out = append(out, build.RemoteImage{Ref: h.Ref.String(), Artifact: h.Artifact.(layout.Artifact)})
	}
	return out, err
}

// probe records what a build looked up, and stops the build on a miss:
// the tests need only the fingerprint, not the compile that would follow.
type probe struct {
	*fleet
	fp     string
	hit    bool
	cancel context.CancelFunc
}

func (p *probe) Lookup(ctx context.Context, fp string, names []string, platforms []v1.Platform) ([]build.RemoteImage, error) {
	p.fp = fp
	imgs, err := p.fleet.Lookup(ctx, fp, names, platforms)
	if err != nil {
		p.fleet.t.Fatalf("registry cache: %v", err)
	}
	if p.hit = imgs != nil; !p.hit {
		p.cancel()
	}
	return imgs, nil
}

// fresh builds o from a copy of its directory elsewhere, with the
// registry cache, and returns the fingerprint it looked up and whether it
// found it.
func (f *fleet) fresh(o opts) (fp string, hit bool) {
	t := f.t
	t.Helper()
	dst := filepath.Join(t.TempDir(), "elsewhere", filepath.Base(o.Dir))
	testutil.CopyDir(t, o.Dir, dst)
	o.Dir = dst
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &probe{fleet: f, cancel: cancel}
	bo := o.options(t)
	bo.Remote = p
	res, err := build.Build(ctx, bo)
	switch {
	case p.fp == "":
		t.Fatalf("a fresh copy did not look its build up in the registry: %v", err)
	case p.hit && err != nil:
		t.Fatalf("a fresh copy found its build in the registry, then: %v", err)
	case p.hit && (!res.Remote || res.Fingerprint != p.fp || len(res.Images) == 0 || res.Images[0].Artifact == nil):
		t.Fatalf("a fresh copy found its build in the registry, but the result is %+v", res)
	case !p.hit && !errors.Is(err, context.Canceled):
		t.Fatalf("a fresh copy missed the registry, and the build did not stop: %v", err)
	}
	return p.fp, p.hit
}

// record pushes res's images and tags them with its fingerprint, as
// kiln build --push does.
func (f *fleet) record(res *build.Result) {
	t := f.t
	t.Helper()
	ctx := context.Background()
	pub := publish.Registry{Repo: f.repo.String(), Options: f.cache.Options}
	for _, img := range res.Images {
		locs, err := pub.Publish(ctx, []publish.Image{{Name: img.Name, Artifact: img.Artifact}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := name.NewDigest(locs[0].Ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.cache.Record(ctx, res.Fingerprint, img.Name, f.repo, img.Artifact.(remote.Taggable), d); err != nil {
			t.Fatal(err)
		}
	}
}
