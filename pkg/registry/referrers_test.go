package registry

import (
	"context"
	"net/http"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestPushReferrerOnce: a referrer is PUT and listed for its subject (in
// the fallback tag of a registry without the referrers API); pushed again
// it is left alone; lost from the list, it is PUT again and listed. The
// same holds for one under a tag (cosign's .sig and .att).
func TestPushReferrerOnce(t *testing.T) {
	reg := newRegistry(t)
	repo := reg.repo(t, "team/app")
	ctx := context.Background()
	o, err := Options{Keychain: anonymous, Backoff: fast}.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subject := newImage(t, nil, "amd64", 1)
	d, err := Push(ctx, subject, repo, []string{"v1"}, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	sdesc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: mustHash(t, d.DigestStr()), Size: sizeOf(t, subject)}
	for _, tag := range []string{"", "sha256-" + sdesc.Digest.Hex + ".att"} {
		img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer([]byte("sbom "+tag), "text/spdx+json")})
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(mutate.ConfigMediaType(img, "application/vnd.kiln.test"), types.OCIManifestSchema1)
		r := mutate.Subject(img, sdesc).(v1.Image)
		rd, err := r.Digest()
		if err != nil {
			t.Fatal(err)
		}
		puts := func() int { return len(reg.requests(http.MethodPut, "/manifests/", nil)) }
		listed := func() bool {
			idx, err := remote.Referrers(repo.Digest(sdesc.Digest.String()), remote.WithAuthFromKeychain(anonymous))
			if err != nil {
				t.Fatal(err)
			}
			im, _ := idx.IndexManifest()
			for _, m := range im.Manifests {
				if m.Digest == rd {
					return true
				}
			}
			return false
		}
		before := puts()
		if err := PushReferrer(ctx, Referrer{Image: r, Tag: tag}, repo, o); err != nil {
			t.Fatal(err)
		}
		if puts() == before || !listed() {
			t.Fatalf("tag %q: the first push PUT %d manifests, listed %v", tag, puts()-before, listed())
		}
		before = puts()
		if err := PushReferrer(ctx, Referrer{Image: r, Tag: tag}, repo, o); err != nil {
			t.Fatal(err)
		}
		if n := puts() - before; n != 0 {
			t.Errorf("tag %q: pushing a listed referrer again PUT %d manifests, want none", tag, n)
		}
		// The registry loses the list (the fallback tag now lists nothing).
		if err := remote.Put(repo.Tag("sha256-"+sdesc.Digest.Hex), mutate.IndexMediaType(empty.Index, types.OCIImageIndex), remote.WithAuthFromKeychain(anonymous)); err != nil {
			t.Fatal(err)
		}
		if listed() {
			t.Fatal("the referrer is still listed after the list was emptied")
		}
		if err := PushReferrer(ctx, Referrer{Image: r, Tag: tag}, repo, o); err != nil {
			t.Fatal(err)
		}
		if !listed() {
			t.Errorf("tag %q: a referrer lost from the list was not listed again", tag)
		}
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sizeOf(t *testing.T, img v1.Image) int64 {
	t.Helper()
	n, err := img.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
