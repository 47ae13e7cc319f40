package base

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/platform"
)

// multi is an index of three Linux images plus a Windows image and an
// attestation, which kiln must skip.
type multi struct {
	index  v1.Hash
	images map[string]v1.Image // by normalised platform
	order  []string            // the Linux platforms in index order
}

func pushMulti(t *testing.T, reg *testRegistry, repo string) multi {
	t.Helper()
	shared := randomLayer(t, types.OCILayer)
	m := multi{images: map[string]v1.Image{}}
	win := image(t, true, "windows", "amd64", "", randomLayer(t, types.OCILayer))
	amd := image(t, true, "linux", "amd64", "", shared, randomLayer(t, types.OCILayer))
	arm64 := image(t, true, "linux", "arm64", "v8", shared, randomLayer(t, types.OCILayer))
	arm := image(t, true, "linux", "arm", "v7", shared, randomLayer(t, types.OCILayer))
	att := image(t, true, "unknown", "unknown", "", randomLayer(t, types.OCILayer))
	idx := index(t, types.OCIImageIndex,
		entry{add: win, plat: &v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.1"}},
		entry{add: amd, plat: &v1.Platform{OS: "linux", Architecture: "amd64"}},
		entry{add: arm64, plat: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		entry{add: arm, plat: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		entry{add: att, plat: &v1.Platform{OS: "unknown", Architecture: "unknown"}, annotations: map[string]string{
			"vnd.docker.reference.type":   "attestation-manifest",
			"vnd.docker.reference.digest": digestOf(t, amd).String(),
		}},
	)
	m.index = reg.push(t, repo, idx)
	m.images["linux/amd64"], m.images["linux/arm64"], m.images["linux/arm/v7"] = amd, arm64, arm
	m.order = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}
	return m
}

// checkImage compares a resolved image with the one pushed.
func checkImage(t *testing.T, got *Image, want v1.Image, plat string) {
	t.Helper()
	if platform.String(got.Platform) != plat {
		t.Errorf("image platform = %s, want %s", platform.String(got.Platform), plat)
	}
	if d := digestOf(t, want); got.Digest != d {
		t.Errorf("%s: image digest = %s, want %s", plat, got.Digest, d)
	}
	cf, err := want.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	gotCfg, err := got.Image.ConfigFile()
	if err != nil {
		t.Fatalf("%s: no config: %v", plat, err)
	}
	if !reflect.DeepEqual(gotCfg.Config.Env, cf.Config.Env) || gotCfg.Config.WorkingDir != "/srv" {
		t.Errorf("%s: config = %+v, want env %v and workdir /srv", plat, gotCfg.Config, cf.Config.Env)
	}
	if !reflect.DeepEqual(gotCfg.RootFS.DiffIDs, cf.RootFS.DiffIDs) {
		t.Errorf("%s: diffIDs = %v, want %v", plat, gotCfg.RootFS.DiffIDs, cf.RootFS.DiffIDs)
	}
	layers, err := want.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.layers) != len(layers) {
		t.Fatalf("%s: %d layers, want %d", plat, len(got.layers), len(layers))
	}
	for i, l := range layers {
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		size, _ := l.Size()
		gd, _ := got.layers[i].Digest()
		gdiff, _ := got.layers[i].DiffID()
		gsize, _ := got.layers[i].Size()
		if gd != d || gdiff != diff || gsize != size {
			t.Errorf("%s: layer %d = %s/%s/%d, want %s/%s/%d", plat, i, gd, gdiff, gsize, d, diff, size)
		}
	}
}

func TestResolveIndexPlatformsInOrder(t *testing.T) {
	reg := newRegistry(t, nil)
	m := pushMulti(t, reg, "base/multi:v1")
	r := resolver(t.TempDir())

	want := []string{"linux/arm/v7", "linux/amd64", "linux/arm64"}
	b, err := r.Resolve(context.Background(), reg.Host+"/base/multi:v1", plats(t, "linux/arm/v7,linux/amd64,linux/arm64/v8"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Digest != m.index {
		t.Errorf("Digest = %s, want the index's %s", b.Digest, m.index)
	}
	if b.Name != reg.Host+"/base/multi:v1" {
		t.Errorf("Name = %q, want %q", b.Name, reg.Host+"/base/multi:v1")
	}
	if len(b.Images) != len(want) {
		t.Fatalf("got %d images, want %d", len(b.Images), len(want))
	}
	for i, p := range want {
		checkImage(t, b.Images[i], m.images[p], p)
	}

	// One platform only, and "linux/arm" meaning linux/arm/v7.
	b, err = r.Resolve(context.Background(), reg.Host+"/base/multi:v1", plats(t, "linux/arm"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Images) != 1 {
		t.Fatalf("got %d images, want 1", len(b.Images))
	}
	checkImage(t, b.Images[0], m.images["linux/arm/v7"], "linux/arm/v7")
}

func TestResolveAllPlatforms(t *testing.T) {
	reg := newRegistry(t, nil)
	m := pushMulti(t, reg, "base/multi:v1")
	b, err := resolver(t.TempDir()).Resolve(context.Background(), reg.Host+"/base/multi:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range b.Images {
		got = append(got, platform.String(img.Platform))
	}
	if !reflect.DeepEqual(got, m.order) {
		t.Fatalf("all platforms = %v, want %v (no windows, no attestation, arm64/v8 as arm64)", got, m.order)
	}
	for i, p := range m.order {
		checkImage(t, b.Images[i], m.images[p], p)
	}
}

func TestResolveMissingPlatform(t *testing.T) {
	reg := newRegistry(t, nil)
	pushMulti(t, reg, "base/multi:v1")
	ref := reg.Host + "/base/multi:v1"
	_, err := resolver(t.TempDir()).Resolve(context.Background(), ref, plats(t, "linux/amd64,linux/s390x"))
	if err == nil {
		t.Fatal("Resolve found an image for linux/s390x in an index without one")
	}
	for _, s := range []string{ref, "linux/s390x", "linux/amd64, linux/arm64, linux/arm/v7"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	for _, s := range []string{"windows", "unknown"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q offers %s, which kiln cannot use", err, s)
		}
	}
}

func TestResolveNestedIndex(t *testing.T) {
	reg := newRegistry(t, nil)
	inner := index(t, types.OCIImageIndex,
		entry{add: image(t, true, "linux", "amd64", "", randomLayer(t, types.OCILayer)), plat: &v1.Platform{OS: "linux", Architecture: "amd64"}})
	reg.push(t, "base/nested:v1", index(t, types.OCIImageIndex, entry{add: inner}))
	r := resolver(t.TempDir())
	for _, ps := range [][]v1.Platform{nil, plats(t, "linux/amd64")} {
		_, err := r.Resolve(context.Background(), reg.Host+"/base/nested:v1", ps)
		if err == nil || !strings.Contains(err.Error(), "nested index") {
			t.Errorf("Resolve(%v) of a nested index = %v, want a nested index error", ps, err)
		}
	}
}

func TestResolveSingleImage(t *testing.T) {
	reg := newRegistry(t, nil)
	oci := image(t, true, "linux", "amd64", "", randomLayer(t, types.OCILayer), randomLayer(t, types.OCILayer))
	docker := image(t, false, "linux", "arm64", "v8", randomLayer(t, types.DockerLayer), randomLayer(t, types.DockerLayer))
	if mt, _ := docker.MediaType(); mt != types.DockerManifestSchema2 {
		t.Fatalf("test image has media type %s, want Docker's", mt)
	}
	ociDigest := reg.push(t, "base/oci:v1", oci)
	dockerDigest := reg.push(t, "base/docker:v1", docker)
	r := resolver(t.TempDir())
	ctx := context.Background()

	for _, tc := range []struct {
		ref    string
		img    v1.Image
		digest v1.Hash
		plat   string
	}{
		{"base/oci:v1", oci, ociDigest, "linux/amd64"},
		{"base/docker:v1", docker, dockerDigest, "linux/arm64"},
	} {
		ref := reg.Host + "/" + tc.ref
		for _, ps := range [][]v1.Platform{nil, plats(t, tc.plat)} {
			b, err := r.Resolve(ctx, ref, ps)
			if err != nil {
				t.Fatalf("Resolve(%s, %v): %v", ref, ps, err)
			}
			if b.Digest != tc.digest || b.Name != ref {
				t.Errorf("Resolve(%s) = %s %s, want %s %s", ref, b.Name, b.Digest, ref, tc.digest)
			}
			if len(b.Images) != 1 {
				t.Fatalf("Resolve(%s, %v) gave %d images, want 1", ref, ps, len(b.Images))
			}
			checkImage(t, b.Images[0], tc.img, tc.plat)
			for i, l := range b.Images[0].layers {
				if mt, _ := l.MediaType(); mt != types.OCILayer {
					t.Errorf("%s layer %d has media type %s, want %s", ref, i, mt, types.OCILayer)
				}
			}
		}

		_, err := r.Resolve(ctx, ref, plats(t, "linux/amd64,linux/arm/v7"))
		var se *SingleImageError
		if !errors.As(err, &se) {
			t.Fatalf("Resolve(%s) for another platform = %v, want a *SingleImageError", ref, err)
		}
		if platform.String(se.Platform) != tc.plat || !strings.Contains(se.Error(), "build for "+tc.plat+" only") {
			t.Errorf("SingleImageError = %+v (%q), want it to name %s", se, se, tc.plat)
		}
	}
}

func TestResolveDockerManifestList(t *testing.T) {
	reg := newRegistry(t, nil)
	amd := image(t, false, "linux", "amd64", "", randomLayer(t, types.DockerLayer))
	arm := image(t, false, "linux", "arm", "v6", randomLayer(t, types.DockerLayer))
	idx := index(t, types.DockerManifestList,
		entry{add: amd, plat: &v1.Platform{OS: "linux", Architecture: "amd64"}},
		entry{add: arm, plat: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}})
	d := reg.push(t, "base/list:v1", idx)
	b, err := resolver(t.TempDir()).Resolve(context.Background(), reg.Host+"/base/list:v1", plats(t, "linux/arm/v6,linux/amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Digest != d || len(b.Images) != 2 {
		t.Fatalf("Resolve = %s with %d images, want %s with 2", b.Digest, len(b.Images), d)
	}
	checkImage(t, b.Images[0], arm, "linux/arm/v6")
	checkImage(t, b.Images[1], amd, "linux/amd64")
	if mt, _ := b.Images[0].layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type = %s, want %s", mt, types.OCILayer)
	}
}

func TestResolveFullName(t *testing.T) {
	reg := newRegistry(t, nil)
	img := image(t, true, "linux", "amd64", "", randomLayer(t, types.OCILayer))
	d := reg.push(t, "team/base:latest", img)
	b, err := resolver(t.TempDir()).Resolve(context.Background(), reg.Host+"/team/base", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != reg.Host+"/team/base:latest" || b.Digest != d {
		t.Errorf("Resolve = %s %s, want %s %s", b.Name, b.Digest, reg.Host+"/team/base:latest", d)
	}
	if _, err := resolver(t.TempDir()).Resolve(context.Background(), "Not A Reference", nil); err == nil {
		t.Error("Resolve accepted an invalid reference")
	}
}

func TestResolveOffline(t *testing.T) {
	reg := newRegistry(t, nil)
	m := pushMulti(t, reg, "base/multi:v1")
	single := image(t, false, "linux", "amd64", "", randomLayer(t, types.DockerLayer))
	singleDigest := reg.push(t, "base/single:v1", single)
	dir := t.TempDir()
	ctx := context.Background()
	byDigest := reg.Host + "/base/multi@" + m.index.String()
	singleByDigest := reg.Host + "/base/single@" + singleDigest.String()
	byTag := reg.Host + "/base/multi:v1"

	first, err := resolver(dir).Resolve(ctx, byDigest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resolver(dir).Resolve(ctx, singleByDigest, nil); err != nil {
		t.Fatal(err)
	}
	store := blob.Store{Dir: t.TempDir()}
	if err := link(ctx, resolver(dir), first.Images[0], store); err != nil {
		t.Fatal(err)
	}
	reg.srv.Close()
	served := reg.count("", "")

	second, err := resolver(dir).Resolve(ctx, byDigest, nil)
	if err != nil {
		t.Fatalf("resolving a cached base by digest offline: %v", err)
	}
	if second.Digest != m.index || len(second.Images) != 3 {
		t.Fatalf("offline Resolve = %s with %d images, want %s with 3", second.Digest, len(second.Images), m.index)
	}
	for i, p := range m.order {
		checkImage(t, second.Images[i], m.images[p], p)
	}
	b, err := resolver(dir).Resolve(ctx, singleByDigest, plats(t, "linux/amd64"))
	if err != nil {
		t.Fatalf("resolving a cached single image by digest offline: %v", err)
	}
	checkImage(t, b.Images[0], single, "linux/amd64")
	// The layers already cached link without the registry.
	if err := link(ctx, resolver(dir), second.Images[0], blob.Store{Dir: t.TempDir()}); err != nil {
		t.Errorf("linking cached layers offline: %v", err)
	}

	if _, err := resolver(dir).Resolve(ctx, byTag, nil); err == nil {
		t.Error("a reference by tag resolved without the registry")
	}
	// Layers never fetched cannot be linked offline.
	if err := link(ctx, resolver(dir), second.Images[1], blob.Store{Dir: t.TempDir()}); err == nil {
		t.Error("Fetch succeeded offline for layers never cached")
	}
	if n := reg.count("", ""); n != served {
		t.Errorf("the closed registry served %d requests", n-served)
	}
}

func TestLink(t *testing.T) {
	reg := newRegistry(t, nil)
	img := image(t, false, "linux", "amd64", "", randomLayer(t, types.DockerLayer), randomLayer(t, types.DockerLayer))
	reg.push(t, "base/img:v1", img)
	r := resolver(t.TempDir())
	ctx := context.Background()
	b, err := r.Resolve(ctx, reg.Host+"/base/img:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	store := blob.Store{Dir: t.TempDir()}
	if err := link(ctx, r, b.Images[0], store); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		size, _ := l.Size()
		if !r.Cache.Blobs().Has(d, size) || !store.Has(d, size) {
			t.Fatalf("layer %s is not in the cache and the store", d)
		}
		a, err := os.Stat(r.Cache.Blobs().Path(d))
		if err != nil {
			t.Fatal(err)
		}
		c, err := os.Stat(store.Path(d))
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(a, c) {
			t.Errorf("layer %s was hard-linked into the store: damaging one would damage the other", d)
		}
	}
	// The resolved layers read the cached bytes.
	for _, l := range b.Images[0].layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if d, _ := l.Digest(); err != nil || h != d {
			t.Errorf("Compressed() of layer %s hashes to %s (%v)", d, h, err)
		}
		// Uncompressed gives the tar whose sha256 the base's config lists.
		urc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		uh, _, err := v1.SHA256(urc)
		urc.Close()
		if diffID, _ := l.DiffID(); err != nil || uh != diffID {
			t.Errorf("Uncompressed() of layer %s hashes to %s (%v), want the diffID %s", h, uh, err, diffID)
		}
	}
	checkStore(t, r.Cache.Blobs())
	checkStore(t, store)

	gets := reg.count(http.MethodGet, "/blobs/")
	if err := link(ctx, r, b.Images[0], blob.Store{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if n := reg.count(http.MethodGet, "/blobs/") - gets; n != 0 {
		t.Errorf("linking cached layers again downloaded %d blobs", n)
	}
}

// corrupting flips bytes of the blobs named in bad as they are served.
func corrupting(bad map[string]bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			i := strings.LastIndex(req.URL.Path, "/blobs/")
			if req.Method != http.MethodGet || i < 0 || !bad[req.URL.Path[i+len("/blobs/"):]] {
				h.ServeHTTP(w, req)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			for j := 0; j < len(body); j += 7 {
				body[j] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			io.Copy(w, bytes.NewReader(body))
		})
	}
}

func TestLinkCorruptBlob(t *testing.T) {
	bad := map[string]bool{}
	reg := newRegistry(t, corrupting(bad))
	good := randomLayer(t, types.OCILayer)
	evil := randomLayer(t, types.OCILayer)
	img := image(t, true, "linux", "amd64", "", good, evil)
	reg.push(t, "base/img:v1", img)
	evilDigest := digestOf(t, evil)
	bad[evilDigest.String()] = true // set before any request is served with it

	r := resolver(t.TempDir())
	ctx := context.Background()
	b, err := r.Resolve(ctx, reg.Host+"/base/img:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	store := blob.Store{Dir: t.TempDir()}
	err = link(ctx, r, b.Images[0], store)
	if err == nil {
		t.Fatal("Link accepted a corrupt layer")
	}
	if !strings.Contains(err.Error(), evilDigest.String()) {
		t.Errorf("error %q does not name the corrupt layer %s", err, evilDigest)
	}
	if _, err := os.Stat(r.Cache.Blobs().Path(evilDigest)); !os.IsNotExist(err) {
		t.Errorf("the corrupt layer is in the cache: %v", err)
	}
	if _, err := os.Stat(store.Path(evilDigest)); !os.IsNotExist(err) {
		t.Errorf("the corrupt layer is in the store: %v", err)
	}
	if tmp := tmpFiles(t, r.Cache.Dir); len(tmp) != 0 {
		t.Errorf("temporary files left in the cache: %v", tmp)
	}
	checkStore(t, r.Cache.Blobs())
	if reg.count(http.MethodGet, evilDigest.String()) == 0 {
		t.Error("the corrupt layer was never requested")
	}
}

func TestLinkCorruptConfig(t *testing.T) {
	bad := map[string]bool{}
	reg := newRegistry(t, corrupting(bad))
	img := image(t, true, "linux", "amd64", "", randomLayer(t, types.OCILayer))
	reg.push(t, "base/img:v1", img)
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	bad[cfg.String()] = true
	r := resolver(t.TempDir())
	if _, err := r.Resolve(context.Background(), reg.Host+"/base/img:v1", nil); err == nil {
		t.Fatal("Resolve accepted a corrupt config")
	}
	if _, err := os.Stat(r.Cache.Blobs().Path(cfg)); !os.IsNotExist(err) {
		t.Errorf("the corrupt config is in the cache: %v", err)
	}
	checkStore(t, r.Cache.Blobs())
}

func TestLinkConcurrent(t *testing.T) {
	reg := newRegistry(t, nil)
	s1, s2 := randomLayer(t, types.DockerLayer), randomLayer(t, types.DockerLayer)
	amd := image(t, false, "linux", "amd64", "", s1, s2, randomLayer(t, types.DockerLayer))
	arm := image(t, false, "linux", "arm64", "", s1, s2, randomLayer(t, types.DockerLayer))
	reg.push(t, "base/multi:v1", index(t, types.DockerManifestList,
		entry{add: amd, plat: &v1.Platform{OS: "linux", Architecture: "amd64"}},
		entry{add: arm, plat: &v1.Platform{OS: "linux", Architecture: "arm64"}}))
	r := resolver(t.TempDir())
	ctx := context.Background()
	b, err := r.Resolve(ctx, reg.Host+"/base/multi:v1", plats(t, "linux/amd64,linux/arm64"))
	if err != nil {
		t.Fatal(err)
	}
	shared := blob.Store{Dir: t.TempDir()}
	own := []blob.Store{{Dir: t.TempDir()}, {Dir: t.TempDir()}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for round := 0; round < 2; round++ {
		for i, img := range b.Images {
			wg.Add(2)
			go func() { defer wg.Done(); errs <- link(ctx, r, img, shared) }()
			go func() { defer wg.Done(); errs <- link(ctx, r, img, own[i]) }()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, img := range b.Images {
		for _, l := range img.layers {
			d, _ := l.Digest()
			size, _ := l.Size()
			if !shared.Has(d, size) || !own[i].Has(d, size) {
				t.Errorf("layer %s of %s is missing", d, platform.String(img.Platform))
			}
		}
	}
	for _, s := range append(own, shared, r.Cache.Blobs()) {
		checkStore(t, s)
		if tmp := tmpFiles(t, s.Dir); len(tmp) != 0 {
			t.Errorf("temporary files left: %v", tmp)
		}
	}
}

func TestOCILayerType(t *testing.T) {
	for in, want := range map[types.MediaType]types.MediaType{
		types.DockerLayer:             types.OCILayer,
		types.OCILayer:                types.OCILayer,
		types.DockerUncompressedLayer: types.OCIUncompressedLayer,
		types.OCIUncompressedLayer:    types.OCIUncompressedLayer,
		types.OCILayerZStd:            types.OCILayerZStd,
	} {
		if got, err := ociLayerType(in); err != nil || got != want {
			t.Errorf("ociLayerType(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, mt := range []types.MediaType{types.DockerForeignLayer, types.OCIRestrictedLayer, "application/octet-stream"} {
		if _, err := ociLayerType(mt); err == nil {
			t.Errorf("ociLayerType(%s) accepted it", mt)
		}
	}
}

func TestResolveForeignLayer(t *testing.T) {
	reg := newRegistry(t, nil)
	img := image(t, false, "linux", "amd64", "", randomLayer(t, types.DockerForeignLayer))
	reg.push(t, "base/foreign:v1", img)
	_, err := resolver(t.TempDir()).Resolve(context.Background(), reg.Host+"/base/foreign:v1", nil)
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("Resolve of an image with a foreign layer = %v, want a not supported error", err)
	}
}

func TestResolveSingleImageNotLinux(t *testing.T) {
	reg := newRegistry(t, nil)
	reg.push(t, "base/win:v1", image(t, false, "windows", "amd64", "", randomLayer(t, types.DockerLayer)))
	ref := reg.Host + "/base/win:v1"
	for _, ps := range [][]v1.Platform{nil, plats(t, "linux/amd64")} {
		b, err := resolver(t.TempDir()).Resolve(context.Background(), ref, ps)
		if err == nil {
			t.Errorf("Resolve(%v) of a Windows image gave %d images for %v", ps, len(b.Images), platform.String(b.Images[0].Platform))
			continue
		}
		if !strings.Contains(err.Error(), "windows/amd64") {
			t.Errorf("Resolve(%v) of a Windows image = %q, want it to name windows/amd64", ps, err)
		}
	}
}

// TestFetchReportsBytes: Missing says how many bytes a fetch downloads,
// and Fetch reports exactly those as they come; a cached base downloads
// nothing.
func TestFetchReportsBytes(t *testing.T) {
	reg := newRegistry(t, nil)
	img := image(t, true, "linux", "amd64", "", randomLayer(t, types.OCILayer), randomLayer(t, types.OCILayer))
	reg.push(t, "base/img:v1", img)
	r := resolver(t.TempDir())
	ctx := context.Background()
	b, err := r.Resolve(ctx, reg.Host+"/base/img:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	layers, _ := img.Layers()
	for _, l := range layers {
		n, _ := l.Size()
		want += n
	}
	if got := r.Missing(b.Images[0]); got != want {
		t.Errorf("Missing = %d, want the layers' %d bytes", got, want)
	}
	var got int64
	if err := r.Fetch(ctx, b.Images[0], func(n int64) { got += n }); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Fetch reported %d bytes, want %d", got, want)
	}
	if m := r.Missing(b.Images[0]); m != 0 {
		t.Errorf("after Fetch, Missing = %d", m)
	}
}
