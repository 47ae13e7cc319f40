package base

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/registry"
)

// testRegistry is an in-process registry on 127.0.0.1 that logs the
// requests it serves.
type testRegistry struct {
	srv  *httptest.Server
	Host string

	mu   sync.Mutex
	reqs []string
}

// newRegistry starts a registry; wrap, if set, wraps its handler.
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	r := &testRegistry{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// count returns how many requests had method (any for "") and a path
// containing sub.
func (r *testRegistry) count(method, sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.reqs {
		m, p, _ := strings.Cut(q, " ")
		if (method == "" || m == method) && strings.Contains(p, sub) {
			n++
		}
	}
	return n
}

func (r *testRegistry) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.Host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (r *testRegistry) push(t *testing.T, s string, x interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}) v1.Hash {
	t.Helper()
	ref := r.ref(t, s)
	var err error
	switch x := x.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, x)
	case v1.Image:
		err = remote.Write(ref, x)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return digestOf(t, x)
}

func digestOf(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func resolver(dir string) *Resolver {
	// Retries of a closed test registry would only slow the tests down.
	noRetry := &remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 1}
	return &Resolver{Cache: Cache{Dir: dir}, Registry: registry.Options{Keychain: authn.NewMultiKeychain(), Backoff: noRetry}}
}

func plats(t *testing.T, list string) []v1.Platform {
	t.Helper()
	ps, err := platform.Parse(list)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func randomLayer(t *testing.T, mt types.MediaType) v1.Layer {
	t.Helper()
	l, err := random.Layer(512, mt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// image builds an image for os/arch/variant holding layers, with OCI or
// Docker media types and an environment naming its platform.
func image(t *testing.T, oci bool, goos, arch, variant string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := empty.Image
	if oci {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = goos, arch, variant
	cf.Config.Env = []string{"PLATFORM=" + goos + "/" + arch + "/" + variant}
	cf.Config.WorkingDir = "/srv"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type entry struct {
	add         mutate.Appendable
	plat        *v1.Platform
	annotations map[string]string
}

func index(t *testing.T, mt types.MediaType, entries ...entry) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, mt)
	for _, e := range entries {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: e.add, Descriptor: v1.Descriptor{Platform: e.plat, Annotations: e.annotations}})
	}
	return idx
}

// tmpFiles lists files in dir (recursively) whose names mark them as
// unfinished writes.
func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// checkStore fails unless every blob of s hashes to its name.
func checkStore(t *testing.T, s blob.Store) {
	t.Helper()
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(s.Dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("blob %s in %s holds content hashing to %x", e.Name(), s.Dir, sum)
		}
	}
}

// link fetches img's layers into the cache and links them into store, as
// a build's layout does when it writes an image on img.
func link(ctx context.Context, r *Resolver, img *Image, store blob.Store) error {
	if err := r.Fetch(ctx, img, nil); err != nil {
		return err
	}
	for _, l := range img.layers {
		d, _ := l.Digest()
		if err := store.Link(r.Cache.Blobs(), d); err != nil {
			return err
		}
	}
	return nil
}
