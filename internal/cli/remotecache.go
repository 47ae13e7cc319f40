package cli

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/pflag"

	"github.com/kiln-build/kiln/pkg/build"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/publish"
	"github.com/kiln-build/kiln/pkg/registry"
	"github.com/kiln-build/kiln/pkg/remotecache"
)

// cacheFlags say whether and where builds are shared through a registry.
type cacheFlags struct {
	off  bool
	repo string
}

func (c *cacheFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&c.off, "no-remote-cache", false, "with --push, do not look the build up in the registry before building, nor record it there (see docs/ci.md)")
	fs.StringVar(&c.repo, "cache-repo", "", "with --push, look builds up and record them in this repository rather than the one pushed to")
}

// registryCache shares builds pushed to push through the registry; it is
// nil when there is no push or it is turned off.
type registryCache struct {
	// lookup is false when the build has outputs besides the push.
	lookup bool
	cache  remotecache.Cache
	push   publish.Registry
	repo   *name.Repository // --cache-repo, else nil: the repository pushed to
}

// newRegistryCache returns the cache kiln build uses, or nil. Builds
// are looked up only when pushing is the build's only delivery (an
// --output or --load needs the image's bytes here, which a hit in the
// registry does not bring); every push is recorded.
func (c cacheFlags) newRegistryCache(d delivery, reg registry.Options) (*registryCache, error) {
	if c.repo != "" && d.push == "" {
		return nil, usageError{fmt.Errorf("--cache-repo is the registry cache of builds that are pushed: add --push REPO")}
	}
	if c.off || d.push == "" {
		return nil, nil
	}
	rc := &registryCache{
		lookup: d.output.kind == "" && !d.load,
		cache:  remotecache.Cache{Options: reg},
		push:   publish.Registry{Repo: d.push, Options: reg},
	}
	if c.repo != "" {
		r, err := reg.ParseRepository(c.repo)
		if err != nil {
			return nil, usageError{fmt.Errorf("--cache-repo: %w", err)}
		}
		rc.repo = &r
	}
	return rc, nil
}

// repos are the repositories the images named names are cached in.
func (rc *registryCache) repos(names []string) ([]name.Repository, error) {
	var out []name.Repository
	for _, n := range names {
		if rc.repo != nil {
			out = append(out, *rc.repo)
			continue
		}
		t, err := rc.push.Target(publish.Image{Name: n}, len(names) > 1)
		if err != nil {
			return nil, err
		}
		r, err := rc.push.Options.ParseRepository(t)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Lookup implements build.RemoteCache.
func (rc *registryCache) Lookup(ctx context.Context, fp string, names []string, platforms []v1.Platform) ([]build.RemoteImage, error) {
	repos, err := rc.repos(names)
	if err != nil {
		return nil, err
	}
	hits, err := rc.cache.Lookup(ctx, fp, names, repos, platforms)
	if err != nil || hits == nil {
		return nil, err
	}
	var out []build.RemoteImage
	for _, h := range hits {
		a, ok := h.Artifact.(layout.Artifact)
		if !ok {
			return nil, fmt.Errorf("%s is neither an image nor an index", h.Ref)
		}
		out = append(out, build.RemoteImage{Ref: h.Ref.String(), Artifact: a})
	}
	return out, nil
}

// record tags the pushed images of res with its fingerprint, so that
// builds elsewhere find them; a build that came from the registry is
// recorded there already.
func (rc *registryCache) record(ctx context.Context, res *build.Result) error {
	if rc == nil || res.Remote {
		return nil
	}
	var names []string
	for _, img := range res.Images {
		names = append(names, img.Name)
	}
	repos, err := rc.repos(names)
	if err != nil {
		return err
	}
	for i, img := range res.Images {
		if img.Pushed == "" {
			continue
		}
		pushed, err := name.NewDigest(img.Pushed, name.Insecure)
		if err != nil {
			return err
		}
		a, ok := img.Artifact.(remote.Taggable)
		if !ok {
			return fmt.Errorf("image %s cannot be tagged", img.Name)
		}
		// An earlier push of this build recorded it there already.
		key := "fingerprint " + repos[i].Tag(remotecache.Tag(res.Fingerprint, img.Name)).String() + " " + pushed.DigestStr()
		l := ledger(res)
		if l != nil && l.Has(key) {
			continue
		}
		if err := rc.cache.Record(ctx, res.Fingerprint, img.Name, repos[i], a, pushed); err != nil {
			return err
		}
		if l != nil {
			l.Add(key) // a cache: failing to keep it costs the next push a HEAD
		}
	}
	return nil
}
