package remotecache_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/pkg/registry"
	"github.com/kiln-build/kiln/pkg/remotecache"
)

func platformImage(t *testing.T, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// TestLookup: a tag is a hit only for a complete image of the platforms
// asked for; recording in another repository copies the image there.
func TestLookup(t *testing.T) {
	var puts atomic.Int64
	h := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			puts.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	c := remotecache.Cache{Options: registry.Options{Insecure: true}}
	repo, err := c.Options.ParseRepository(host + "/team/app")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fp := strings.Repeat("ab", 32)
	lookup := func(platforms ...v1.Platform) []remotecache.Hit {
		t.Helper()
		hits, err := c.Lookup(ctx, fp, []string{"app"}, []name.Repository{repo}, platforms)
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}

	if hits := lookup(amd64); hits != nil {
		t.Fatalf("empty registry: %v", hits)
	}
	img := platformImage(t, amd64)
	if err := remote.Write(repo.Tag("v1"), img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if err := c.Record(ctx, fp, "app", repo, img, repo.Digest(d.String())); err != nil {
		t.Fatal(err)
	}
	// Recording it again, as an unchanged push does, writes nothing.
	before := puts.Load()
	if err := c.Record(ctx, fp, "app", repo, img, repo.Digest(d.String())); err != nil {
		t.Fatal(err)
	}
	if n := puts.Load() - before; n != 0 {
		t.Errorf("recording a recorded build again PUT %d manifests", n)
	}
	if tag := remotecache.Tag(fp, "app"); len(tag) != 72 || tag == remotecache.Tag(fp, "other") {
		t.Errorf("tag %q: want 72 characters, different for another image", tag)
	}
	hits := lookup(amd64)
	if len(hits) != 1 || hits[0].Ref.DigestStr() != d.String() {
		t.Fatalf("hit %v, want %s", hits, d)
	}
	if hits := lookup(arm64); hits != nil {
		t.Errorf("an amd64 image was a hit for arm64")
	}
	if hits := lookup(amd64, arm64); hits != nil {
		t.Errorf("an image was a hit for two platforms")
	}
	if hits, _ := c.Lookup(ctx, fp, []string{"other"}, []name.Repository{repo}, []v1.Platform{amd64}); hits != nil {
		t.Errorf("another image's name was a hit")
	}

	// An index for both platforms, recorded in another repository: it is
	// copied there, and then found there.
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: platformImage(t, arm64), Descriptor: v1.Descriptor{Platform: &arm64}})
	if err := remote.WriteIndex(repo.Tag("multi"), idx); err != nil {
		t.Fatal(err)
	}
	cacheRepo, _ := c.Options.ParseRepository(host + "/cache")
	id, _ := idx.Digest()
	fp2 := strings.Repeat("cd", 32)
	if err := c.Record(ctx, fp2, "app", cacheRepo, idx, repo.Digest(id.String())); err != nil {
		t.Fatal(err)
	}
	hits, err = c.Lookup(ctx, fp2, []string{"app"}, []name.Repository{cacheRepo}, []v1.Platform{amd64, arm64})
	if err != nil || len(hits) != 1 || hits[0].Ref.DigestStr() != id.String() {
		t.Fatalf("index: %v, %v", hits, err)
	}
	if hits, _ := c.Lookup(ctx, fp2, []string{"app"}, []name.Repository{cacheRepo}, []v1.Platform{arm64, amd64}); hits != nil {
		t.Errorf("an index was a hit for its platforms in another order")
	}

	// A layer gone from the repository: a miss, not a broken push.
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v2/team/app/blobs/"+ld.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("deleting a blob: %s", resp.Status)
	}
	if hits := lookup(amd64); hits != nil {
		t.Errorf("an image with a missing layer was a hit")
	}
}
