package build_test

import (
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/pkg/base"
)

// pushRandomBase pushes a linux/amd64 image of one random layer to ref
// and returns its layers' digests.
func pushRandomBase(t *testing.T, ref string) []v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	var out []v1.Hash
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// Each target builds on its own base (targets.X.base), a target with none
// on kiln's empty base, in one build.
func TestPerTargetBase(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	baseA, baseB := host+"/base-a:v1", host+"/base-b:v1"
	layersA, layersB := pushRandomBase(t, baseA), pushRandomBase(t, baseB)

	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/multi\n\ngo 1.22\n")
	for _, n := range []string{"api", "worker", "plain"} {
		write(t, filepath.Join(dir, "cmd", n, "main.go"), "package main\n\nfunc main() { println(\""+n+"\") }\n")
	}
	write(t, filepath.Join(dir, "kiln.yaml"), "targets:\n  cmd/api: {base: "+baseA+"}\n  ./cmd/worker:\n    base: "+baseB+"\n    user: nobody\n")
	out := filepath.Join(t.TempDir(), "out")
	res := mustBuild(t, opts{Dir: dir, Targets: []string{"./cmd/api", "./cmd/worker", "./cmd/plain"}, Platforms: "linux/amd64", Cache: base.Cache{Dir: t.TempDir()}, Output: "oci:" + out})
	if res.Base != nil {
		t.Errorf("result names one base %+v for images on different bases", res.Base)
	}
	want := map[string]struct {
		ref    string
		layers []v1.Hash
	}{"api": {baseA, layersA}, "worker": {baseB, layersB}, "plain": {}}
	for _, img := range res.Images {
		w := want[img.Name]
		switch {
		case w.ref == "" && img.Base != nil:
			t.Errorf("%s: base %+v, want none", img.Name, img.Base)
		case w.ref != "" && (img.Base == nil || img.Base.Name != w.ref || len(img.Base.Layers) != 1 || img.Base.Layers[0] != w.layers[0].String()):
			t.Errorf("%s: base %+v, want %s", img.Name, img.Base, w.ref)
		}
		im := images(t, out, img.Name)["linux/amd64"]
		layers, err := im.Layers()
		if err != nil {
			t.Fatal(err)
		}
		first, _ := layers[0].Digest()
		if w.ref != "" && first != w.layers[0] {
			t.Errorf("%s: first layer %s, want its base's %s", img.Name, first, w.layers[0])
		}
		files, _ := files(t, im)
		if _, ok := files["/etc/passwd"]; ok != (w.ref == "") {
			t.Errorf("%s: kiln's /etc/passwd present=%v; want it only on the empty base", img.Name, ok)
		}
		// Its SBOM and provenance name its own base, no other.
		docs := referrerText(t, img.Referrers)
		for _, b := range []string{baseA, baseB} {
			if strings.Contains(docs, b) != (b == w.ref) {
				t.Errorf("%s: its SBOM and provenance mention %s: %v; its base is %q", img.Name, b, strings.Contains(docs, b), w.ref)
			}
		}
		cf, _ := im.ConfigFile()
		if img.Name == "worker" && cf.Config.User != "nobody" {
			t.Errorf("worker runs as %q: a user name is accepted on its base", cf.Config.User)
		}
	}
}

// referrerText is the content of every layer of refs (SBOMs, provenance).
func referrerText(t *testing.T, refs []v1.Image) string {
	t.Helper()
	if len(refs) == 0 {
		t.Fatal("the image has no SBOM or provenance")
	}
	var b strings.Builder
	for _, r := range refs {
		layers, err := r.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			b.Write(data)
		}
	}
	return b.String()
}
