package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestMain(m *testing.M) {
	// Keep the tests away from the user's credentials and quick to give up
	// on registries that always fail.
	dir, err := os.MkdirTemp("", "kiln-registry-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("HOME", dir)
	os.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	os.Unsetenv("DOCKER_AUTH_CONFIG")
	os.Unsetenv("REGISTRY_AUTH_FILE")
	os.Setenv("XDG_RUNTIME_DIR", dir)
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// anonymous is a keychain with no credentials.
var anonymous = authn.NewMultiKeychain()

// fast retries once, quickly: tests of registries that always fail give
// up at once.
var fast = &remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 2}

// repoBlobs is a blob store that keeps each repository's blobs apart, as
// real registries do, so that cross-repository mounts are visible.
type repoBlobs struct {
	mu sync.Mutex
	m  map[string][]byte // repo + "@" + digest
}

// key names blob h of repo. The registry passes the repository of a
// finished upload (PUT /v2/REPO/blobs/uploads/ID) as "REPO/blobs".
func key(repo string, h v1.Hash) string {
	return strings.TrimSuffix(repo, "/blobs") + "@" + h.String()
}

func (b *repoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[key(repo, h)]
	if !ok {
		return 0, ggcrregistry.ErrNotFound
	}
	return int64(len(data)), nil
}

func (b *repoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[key(repo, h)]
	if !ok {
		return nil, ggcrregistry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b *repoBlobs) Put(_ context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[key(repo, h)] = data
	return nil
}

// mount copies blob h from repository from to repo, if from has it.
func (b *repoBlobs) mount(from, repo, h string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[from+"@"+h]
	if ok {
		b.m[repo+"@"+h] = data
	}
	return ok
}

// testRegistry is an in-process registry on 127.0.0.1 that keeps
// repositories' blobs apart, implements cross-repository mounts and logs
// the requests it serves.
type testRegistry struct {
	srv  *httptest.Server
	Host string

	mu   sync.Mutex
	reqs []*http.Request
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	blobs := &repoBlobs{m: map[string][]byte{}}
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithBlobHandler(blobs))
	r := &testRegistry{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Clone(context.Background()))
		r.mu.Unlock()
		q := req.URL.Query()
		if req.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") != "" && strings.HasSuffix(req.URL.Path, "/blobs/uploads/") {
			repo := strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/v2/"), "/blobs/uploads/")
			if blobs.mount(q.Get("from"), repo, q.Get("mount")) {
				w.Header().Set("Docker-Content-Digest", q.Get("mount"))
				w.Header().Set("Location", "/v2/"+repo+"/blobs/"+q.Get("mount"))
				w.WriteHeader(http.StatusCreated)
				return
			}
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// requests returns the requests with method whose path contains sub and
// whose query, if query is set, has it.
func (r *testRegistry) requests(method, sub string, query map[string]string) []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*http.Request
next:
	for _, q := range r.reqs {
		if q.Method != method || !strings.Contains(q.URL.Path, sub) {
			continue
		}
		for k, v := range query {
			if q.URL.Query().Get(k) != v {
				continue next
			}
		}
		out = append(out, q)
	}
	return out
}

func (r *testRegistry) repo(t *testing.T, s string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(r.Host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func newImage(t *testing.T, base v1.Image, arch string, layers int) v1.Image {
	t.Helper()
	img := base
	if img == nil {
		img = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	for i := 0; i < layers; i++ {
		l, err := random.Layer(1024, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayout writes x (an image or an index) to a new OCI layout and
// returns the layout's directory and x's descriptor in its index.
func writeLayout(t *testing.T, x any) (string, v1.Descriptor) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	ann := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "app"})
	switch x := x.(type) {
	case v1.Image:
		err = lp.AppendImage(x, ann)
	case v1.ImageIndex:
		err = lp.AppendIndex(x, ann)
	}
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return dir, im.Manifests[0]
}

// artifact reads the image or index desc of the layout at dir.
func artifact(t *testing.T, dir string, desc v1.Descriptor) remote.Taggable {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType.IsIndex() {
		a, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkTags checks that every tag of repo points at d.
func checkTags(t *testing.T, repo name.Repository, tags []string, d v1.Hash) {
	t.Helper()
	for _, tag := range tags {
		desc, err := remote.Head(repo.Tag(tag))
		if err != nil {
			t.Errorf("tag %s: %v", tag, err)
			continue
		}
		if desc.Digest != d {
			t.Errorf("tag %s points at %s, want %s", tag, desc.Digest, d)
		}
	}
}

func TestPushImage(t *testing.T) {
	reg := newRegistry(t)
	img := newImage(t, nil, "amd64", 3)
	dir, desc := writeLayout(t, img)
	repo := reg.repo(t, "team/app")
	tags := []string{"v1.2.3", "latest", "stable"}
	ctx := context.Background()
	o := Options{Keychain: anonymous, Backoff: fast}

	got, err := Push(ctx, artifact(t, dir, desc), repo, tags, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := repo.Digest(desc.Digest.String()); got != want {
		t.Errorf("Push returned %s, want %s", got, want)
	}
	checkTags(t, repo, tags, desc.Digest)
	pushed, err := remote.Image(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pushed); err != nil {
		t.Errorf("the pushed image is not valid: %v", err)
	}
	if mt, _ := pushed.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("pushed media type %s, want %s", mt, types.OCIManifestSchema1)
	}
	if n := len(reg.requests(http.MethodPost, "/blobs/uploads/", nil)); n != 4 {
		t.Errorf("the first push started %d uploads, want 4 (3 layers and the config)", n)
	}

	// Everything is there: pushing again uploads nothing.
	before := len(reg.requests(http.MethodPost, "/blobs/uploads/", nil))
	writes := len(reg.requests(http.MethodPut, "/blobs/", nil)) + len(reg.requests(http.MethodPatch, "/blobs/", nil))
	if _, err := Push(ctx, artifact(t, dir, desc), repo, tags, nil, o); err != nil {
		t.Fatal(err)
	}
	if n := len(reg.requests(http.MethodPost, "/blobs/uploads/", nil)) - before; n != 0 {
		t.Errorf("pushing again started %d uploads", n)
	}
	if n := len(reg.requests(http.MethodPut, "/blobs/", nil)) + len(reg.requests(http.MethodPatch, "/blobs/", nil)) - writes; n != 0 {
		t.Errorf("pushing again wrote %d blobs", n)
	}
	checkTags(t, repo, tags, desc.Digest)
}

// TestPushUnchangedIsHeadsOnly: pushing an image again, through shared
// options, is one ping and a HEAD per tag, with no write; a tag moved
// elsewhere meanwhile is put back, and only it.
func TestPushUnchangedIsHeadsOnly(t *testing.T) {
	reg := newRegistry(t)
	dir, desc := writeLayout(t, newImage(t, nil, "amd64", 2))
	repo := reg.repo(t, "team/app")
	tags := []string{"v1", "latest"}
	ctx := context.Background()
	o, err := Options{Keychain: anonymous, Backoff: fast}.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, artifact(t, dir, desc), repo, tags, nil, o); err != nil {
		t.Fatal(err)
	}
	count := func() (pings, heads, writes int) {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		for _, q := range reg.reqs {
			switch {
			case q.URL.Path == "/v2/":
				pings++
			case q.Method == http.MethodHead && strings.Contains(q.URL.Path, "/manifests/"):
				heads++
			case q.Method != http.MethodGet && q.Method != http.MethodHead:
				writes++
			}
		}
		return
	}
	reg.mu.Lock()
	reg.reqs = nil
	reg.mu.Unlock()
	o2, err := Options{Keychain: anonymous, Backoff: fast}.Shared(ctx) // a new command
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Push(ctx, artifact(t, dir, desc), repo, tags, nil, o2); err != nil || got != repo.Digest(desc.Digest.String()) {
		t.Fatalf("Push again = %v, %v", got, err)
	}
	if pings, heads, writes := count(); pings != 1 || heads != len(tags) || writes != 0 {
		t.Errorf("pushing an unchanged image: %d pings, %d manifest HEADs, %d writes; want 1, %d, 0", pings, heads, writes, len(tags))
	}
	checkTags(t, repo, tags, desc.Digest)

	// "latest" moves to another image; the next push puts it back alone.
	odir, odesc := writeLayout(t, newImage(t, nil, "arm64", 1))
	if _, err := Push(ctx, artifact(t, odir, odesc), repo, []string{"latest"}, nil, o2); err != nil {
		t.Fatal(err)
	}
	before := len(reg.requests(http.MethodPut, "/manifests/", nil))
	if _, err := Push(ctx, artifact(t, dir, desc), repo, tags, nil, o2); err != nil {
		t.Fatal(err)
	}
	if puts := reg.requests(http.MethodPut, "/manifests/", nil)[before:]; len(puts) != 1 || !strings.HasSuffix(puts[0].URL.Path, "/latest") {
		t.Errorf("after latest moved, the push PUT %d manifests, want latest alone", len(puts))
	}
	checkTags(t, repo, tags, desc.Digest)
}

func TestPushDefaultTag(t *testing.T) {
	reg := newRegistry(t)
	dir, desc := writeLayout(t, newImage(t, nil, "arm64", 1))
	repo := reg.repo(t, "app")
	if _, err := Push(context.Background(), artifact(t, dir, desc), repo, nil, nil, Options{Keychain: anonymous, Backoff: fast}); err != nil {
		t.Fatal(err)
	}
	checkTags(t, repo, []string{"latest"}, desc.Digest)
}

func TestPushIndex(t *testing.T) {
	reg := newRegistry(t)
	amd := newImage(t, nil, "amd64", 2)
	arm := newImage(t, nil, "arm64", 2)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	dir, desc := writeLayout(t, idx)
	if !desc.MediaType.IsIndex() {
		t.Fatalf("layout entry has media type %s", desc.MediaType)
	}
	repo := reg.repo(t, "team/multi")
	tags := []string{"v1", "latest"}
	ctx := context.Background()
	got, err := Push(ctx, artifact(t, dir, desc), repo, tags, nil, Options{Keychain: anonymous, Backoff: fast})
	if err != nil {
		t.Fatal(err)
	}
	if got != repo.Digest(desc.Digest.String()) {
		t.Errorf("Push returned %s, want %s", got, repo.Digest(desc.Digest.String()))
	}
	checkTags(t, repo, tags, desc.Digest)
	pushed, err := remote.Index(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(pushed); err != nil {
		t.Errorf("the pushed index is not valid: %v", err)
	}
	im, err := pushed.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.Manifests[0].Digest != digest(t, amd) || im.Manifests[1].Digest != digest(t, arm) {
		t.Errorf("pushed index lists %+v", im.Manifests)
	}

	before := len(reg.requests(http.MethodPost, "/blobs/uploads/", nil))
	if _, err := Push(ctx, artifact(t, dir, desc), repo, tags, nil, Options{Keychain: anonymous, Backoff: fast}); err != nil {
		t.Fatal(err)
	}
	if n := len(reg.requests(http.MethodPost, "/blobs/uploads/", nil)) - before; n != 0 {
		t.Errorf("pushing the index again started %d uploads", n)
	}
}

func digest(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPushMounts(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	base := newImage(t, nil, "amd64", 2)
	baseRef := reg.repo(t, "lib/base").Tag("1.0")
	if err := remote.Write(baseRef, base); err != nil {
		t.Fatal(err)
	}
	app := newImage(t, base, "amd64", 1)
	dir, desc := writeLayout(t, app)
	baseLayers, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var mounts []Mount
	other, err := name.ParseReference("localhost:1/other/base:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range baseLayers {
		d := digest(t, l)
		// Twice, and from another registry: both skipped.
		mounts = append(mounts, Mount{Digest: d, From: baseRef}, Mount{Digest: d, From: baseRef}, Mount{Digest: d, From: other})
	}
	// A mount of a blob that is no layer of the image is ignored.
	mounts = append(mounts, Mount{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, From: baseRef})

	repo := reg.repo(t, "team/app")
	if _, err := Push(ctx, artifact(t, dir, desc), repo, []string{"v1"}, mounts, Options{Keychain: anonymous, Backoff: fast}); err != nil {
		t.Fatal(err)
	}
	for _, l := range baseLayers {
		d := digest(t, l).String()
		if n := len(reg.requests(http.MethodPost, "/v2/team/app/blobs/uploads/", map[string]string{"mount": d, "from": "lib/base"})); n != 1 {
			t.Errorf("%d requests to mount %s from lib/base, want 1", n, d)
		}
		if n := len(reg.requests(http.MethodPut, "/v2/team/app/blobs/", map[string]string{"digest": d})); n != 0 {
			t.Errorf("base layer %s was uploaded %d times rather than mounted", d, n)
		}
	}
	if n := len(reg.requests(http.MethodPost, "/blobs/uploads/", map[string]string{"from": "other/base"})); n != 0 {
		t.Errorf("%d mounts from another registry were attempted", n)
	}
	// The image's own layer was uploaded.
	appLayers, _ := app.Layers()
	own := digest(t, appLayers[2]).String()
	if n := len(reg.requests(http.MethodPut, "/v2/team/app/blobs/", map[string]string{"digest": own})); n != 1 {
		t.Errorf("the image's own layer was uploaded %d times, want 1", n)
	}
	pushed, err := remote.Image(repo.Tag("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pushed); err != nil {
		t.Errorf("the pushed image is not complete in its repository: %v", err)
	}

	// Mounts within the same repository are pointless and skipped.
	reg2 := newRegistry(t)
	repo2 := reg2.repo(t, "lib/base")
	same := []Mount{{Digest: digest(t, baseLayers[0]), From: repo2.Tag("1.0")}}
	if _, err := Push(ctx, artifact(t, dir, desc), repo2, []string{"app"}, same, Options{Keychain: anonymous, Backoff: fast}); err != nil {
		t.Fatal(err)
	}
	if n := len(reg2.requests(http.MethodPost, "/blobs/uploads/", map[string]string{"mount": digest(t, baseLayers[0]).String(), "from": "lib/base"})); n != 0 {
		t.Errorf("%d mounts from the repository itself", n)
	}
}

// drain collects updates until the channel is closed.
func drain(ch <-chan v1.Update) (<-chan []v1.Update, *sync.WaitGroup) {
	out := make(chan []v1.Update, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var all []v1.Update
		for u := range ch {
			all = append(all, u)
		}
		out <- all
	}()
	return out, &wg
}

// closedWithin waits for the channel drained by drain to be closed.
func closedWithin(t *testing.T, got <-chan []v1.Update, d time.Duration) []v1.Update {
	t.Helper()
	select {
	case all := <-got:
		return all
	case <-time.After(d):
		t.Fatal("the progress channel was not closed when Push returned")
		return nil
	}
}

func TestPushProgress(t *testing.T) {
	reg := newRegistry(t)
	for _, tc := range []struct {
		name string
		x    any
	}{
		{"image", newImage(t, nil, "amd64", 2)},
		{"index", mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: newImage(t, nil, "arm64", 2)})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, desc := writeLayout(t, tc.x)
			ch := make(chan v1.Update)
			got, _ := drain(ch)
			_, err := Push(context.Background(), artifact(t, dir, desc), reg.repo(t, tc.name), []string{"a", "b"}, nil, Options{Keychain: anonymous, Backoff: fast, Updates: ch})
			if err != nil {
				t.Fatal(err)
			}
			all := closedWithin(t, got, 5*time.Second)
			if len(all) == 0 {
				t.Fatal("no progress update")
			}
			last := all[len(all)-1]
			if last.Error != nil || last.Total == 0 || last.Complete != last.Total {
				t.Errorf("last update = %+v, want all of a non-zero total complete", last)
			}
		})
	}
}

// rawOnly has a manifest but is neither an image nor an index.
type rawOnly struct{}

func (rawOnly) RawManifest() ([]byte, error) { return []byte("{}"), nil }

func TestPushFailureClosesProgress(t *testing.T) {
	var hits sync.Map
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Store(req.Method+" "+req.URL.Path, true)
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	failingRepo, err := name.NewRepository(strings.TrimPrefix(failing.URL, "http://") + "/team/app")
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	img := newImage(t, nil, "amd64", 1)
	dir, desc := writeLayout(t, img)
	layers, _ := img.Layers()
	mounts := []Mount{{Digest: digest(t, layers[0]), From: failingRepo.Tag("base")}}
	// An image whose layers are gone, read from a layout since deleted.
	goneDir, goneDesc := writeLayout(t, newImage(t, nil, "arm64", 1))
	gone := artifact(t, goneDir, goneDesc)
	if err := os.RemoveAll(filepath.Join(goneDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	good := artifact(t, dir, desc)

	for _, tc := range []struct {
		name   string
		art    remote.Taggable
		repo   name.Repository
		mounts []Mount
	}{
		{"layers gone", gone, reg.repo(t, "app"), nil},
		{"neither image nor index", rawOnly{}, reg.repo(t, "app"), nil},
		{"registry failing", good, failingRepo, nil},
		{"registry failing mounts", good, failingRepo, mounts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan v1.Update)
			got, _ := drain(ch)
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := Push(context.Background(), tc.art, tc.repo, []string{"v1"}, tc.mounts, Options{Keychain: anonymous, Backoff: fast, Updates: ch})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Push succeeded")
				}
				if strings.Contains(tc.name, "registry") && !strings.Contains(err.Error(), failingRepo.RegistryStr()) {
					t.Errorf("error %q does not name the registry", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Push still running after 10s against a broken registry")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Push took %s to fail", d)
			}
			all := closedWithin(t, got, time.Second)
			for _, u := range all {
				if u.Error == nil && u.Complete > 0 {
					t.Errorf("a failed push reported progress %+v", u)
				}
			}
		})
	}
	if _, ok := hits.Load(http.MethodGet + " /v2/"); !ok {
		t.Error("the failing registry was never reached")
	}
}

func TestPushUnauthorized(t *testing.T) {
	const password = "hunter2-very-secret"
	srv := httptest.NewServer(basicAuth("kiln", "right", http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	repo, _ := name.NewRepository(host + "/team/app")
	dir, desc := writeLayout(t, newImage(t, nil, "amd64", 1))
	kc := staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "kiln", Password: password})}
	_, err := Push(context.Background(), artifact(t, dir, desc), repo, nil, nil, Options{Keychain: kc, Backoff: fast})
	if err == nil {
		t.Fatal("Push succeeded with a wrong password")
	}
	if !strings.Contains(err.Error(), "kiln login "+host) {
		t.Errorf("error %q does not suggest kiln login %s", err, host)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q shows the password", err)
	}
}

type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

func TestExplain(t *testing.T) {
	const password = "correct-horse-battery"
	srv := httptest.NewServer(basicAuth("kiln", "right", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.URL.Path, "/private/") {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"no"}]}`, http.StatusForbidden)
			return
		}
		http.NotFound(w, req)
	})))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	wrong := Options{Keychain: staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "kiln", Password: password})}, Backoff: fast}
	ref, _ := name.ParseReference(host + "/team/app:v1")
	_, err := remote.Head(ref, wrong.Remote(ctx)...)
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	e := wrong.Explain(err, host)
	for _, s := range []string{host, "401", "kiln login " + host} {
		if !strings.Contains(e.Error(), s) {
			t.Errorf("Explain(401) = %q, want it to mention %q", e, s)
		}
	}
	if strings.Contains(e.Error(), password) {
		t.Errorf("Explain(401) = %q shows the password", e)
	}
	// Wrapped errors are explained too.
	if e := wrong.Explain(fmt.Errorf("fetching: %w", err), host); !strings.Contains(e.Error(), "kiln login") {
		t.Errorf("Explain of a wrapped 401 = %q", e)
	}

	right := Options{Keychain: staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "kiln", Password: "right"})}, Backoff: fast}
	ref, _ = name.ParseReference(host + "/private/app:v1")
	_, err = remote.Head(ref, right.Remote(ctx)...)
	if err == nil {
		t.Fatal("a forbidden repository was readable")
	}
	if e := Explain(err, host); !strings.Contains(e.Error(), "403") || !strings.Contains(e.Error(), host) {
		t.Errorf("Explain(403) = %q", e)
	}

	plain := errors.New(`Get "https://` + host + `/v2/": http: server gave HTTP response to HTTPS client`)
	if e := Explain(plain, host); !errors.Is(e, ErrPlainHTTP) || !strings.Contains(e.Error(), host) {
		t.Errorf("Explain(plain HTTP) = %q", e)
	}
	other := errors.New("something else")
	if e := Explain(other, host); e != other {
		t.Errorf("Explain changed an unrelated error into %q", e)
	}
}

func TestOptions(t *testing.T) {
	var o Options
	if _, err := o.ParseReference("Not A Reference"); err == nil || !strings.Contains(err.Error(), "Not A Reference") {
		t.Errorf("ParseReference of an invalid reference = %v", err)
	}
	ref, err := o.ParseReference("alpine")
	if err != nil || ref.Name() != "index.docker.io/library/alpine:latest" {
		t.Errorf("ParseReference(alpine) = %v, %v", ref, err)
	}
	if _, err := o.ParseRepository("registry.example.com/team/App"); err == nil {
		t.Error("ParseRepository accepted upper case")
	}
	repo, err := (Options{Insecure: true}).ParseRepository("registry.example.com/team/app")
	if err != nil || repo.Scheme() != "http" {
		t.Errorf("insecure ParseRepository = %v (%s), %v; want plain HTTP", repo, repo.Scheme(), err)
	}
	if tr := (Options{Insecure: true}).transport().(*http.Transport); tr.TLSClientConfig == nil || !tr.TLSClientConfig.InsecureSkipVerify {
		t.Error("an insecure transport verifies TLS")
	}
	if tr := o.transport().(*http.Transport); tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify {
		t.Error("the default transport skips TLS verification")
	}
	if tr := o.transport(); tr == http.DefaultTransport {
		t.Error("the default transport is shared with http.DefaultTransport")
	}
	mine := &http.Transport{}
	if tr := (Options{Transport: mine}).transport(); tr != mine {
		t.Error("Options.Transport is not used")
	}
}

// TestExplainWithoutCredentials: a 401 to a request that carried no
// credentials says there were none, not that they were refused.
func TestExplainWithoutCredentials(t *testing.T) {
	srv := httptest.NewServer(basicAuth("kiln", "right", http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	anon := Options{Keychain: staticKeychain{authn.Anonymous}, Backoff: fast}
	ref, _ := name.ParseReference(host + "/team/app:v1")
	_, err := remote.Head(ref, anon.Remote(context.Background())...)
	if err == nil {
		t.Fatal("an anonymous request was accepted")
	}
	e := anon.Explain(err, host)
	if !strings.Contains(e.Error(), "kiln has none for it") || strings.Contains(e.Error(), "refused the credentials") || !strings.Contains(e.Error(), "kiln login "+host) {
		t.Errorf("Explain(401 without credentials) = %q", e)
	}
}

// TestPushBadTagBeforeUpload: a tag the distribution spec does not allow
// is refused, with a TagError, before any request reaches the registry
// (it used to be refused by the registry after every blob was uploaded).
func TestPushBadTagBeforeUpload(t *testing.T) {
	reg := newRegistry(t)
	dir, desc := writeLayout(t, newImage(t, nil, "amd64", 2))
	repo := reg.repo(t, "app")
	for _, tag := range []string{"bad tag!", "-x", ".x", "", strings.Repeat("a", 129), "a/b", "v1:2"} {
		_, err := Push(context.Background(), artifact(t, dir, desc), repo, []string{"v1", tag}, nil, Options{Keychain: anonymous, Backoff: fast})
		var te *TagError
		if !errors.As(err, &te) || te.Tag != tag {
			t.Errorf("Push with tag %q = %v, want a TagError naming it", tag, err)
		}
	}
	if n := len(reg.requests(http.MethodPost, "/blobs/uploads/", nil)) + len(reg.requests(http.MethodHead, "/blobs/", nil)); n != 0 {
		t.Errorf("%d blob requests reached the registry before the bad tag was refused", n)
	}
	if err := ValidateTags([]string{"v1.2.3", "latest", "_x", "A-b.c_d", strings.Repeat("a", 128)}); err != nil {
		t.Errorf("valid tags refused: %v", err)
	}
}
