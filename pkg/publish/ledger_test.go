package publish

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/registry"
)

type mapLedger map[string]bool

func (l mapLedger) Has(k string) bool  { return l[k] }
func (l mapLedger) Add(k string) error { l[k] = true; return nil }

// TestRegistryLedger: a push of a build whose referrers its ledger says
// were published makes no referrer request; another set of referrers (a
// new signature, another SBOM) is published.
func TestRegistryLedger(t *testing.T) {
	var mu sync.Mutex
	var reqs []string
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.Path)
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	img := testImage(t, "amd64")
	subject := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: digestOf(t, img)}
	if raw, err := img.RawManifest(); err == nil {
		subject.Size = int64(len(raw))
	}
	referrer := func(text string) v1.Image {
		r, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer([]byte(text), "text/plain")})
		if err != nil {
			t.Fatal(err)
		}
		r = mutate.MediaType(mutate.ConfigMediaType(r, "application/vnd.kiln.test"), types.OCIManifestSchema1)
		return mutate.Subject(r, subject).(v1.Image)
	}
	ledger := mapLedger{}
	opts, err := registry.Options{Insecure: true, Keychain: authn.NewMultiKeychain()}.Shared(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	push := func(refs ...v1.Image) []string {
		t.Helper()
		mu.Lock()
		reqs = nil
		mu.Unlock()
		p := Registry{Repo: host + "/team/app", Options: opts, Ledger: ledger}
		if _, err := p.Publish(context.Background(), []Image{{Name: "app", Artifact: img, Referrers: refs}}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		var touched []string
		for _, r := range reqs {
			if strings.Contains(r, "/referrers/") || strings.Contains(r, "/manifests/sha256") || strings.HasPrefix(r, "PUT ") {
				touched = append(touched, r)
			}
		}
		return touched
	}
	sbom := referrer("sbom")
	if got := push(sbom); len(got) == 0 || len(ledger) != 1 {
		t.Fatalf("first push: referrer requests %q, ledger %v", got, ledger)
	}
	if got := push(sbom); len(got) != 0 {
		t.Errorf("a push the ledger knows made referrer requests: %q", got)
	}
	if got := push(sbom, referrer("signature")); len(got) == 0 || len(ledger) != 2 {
		t.Errorf("a push with another referrer: requests %q, ledger %v; want it published and recorded", got, ledger)
	}
}
