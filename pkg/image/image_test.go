package image

import (
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestAppendPath(t *testing.T) {
	cases := []struct {
		env  []string
		want []string
	}{
		{nil, []string{"PATH=" + DefaultPath + ":/kiln/bin"}},
		{[]string{"A=1", "PATH=/opt/bin"}, []string{"A=1", "PATH=/opt/bin:/kiln/bin"}},
		{[]string{"PATH=/kiln/bin:/bin"}, []string{"PATH=/kiln/bin:/bin"}},
	}
	for _, c := range cases {
		if got := AppendPath(c.env, "/kiln/bin"); !slices.Equal(got, c.want) {
			t.Errorf("AppendPath(%q) = %q, want %q", c.env, got, c.want)
		}
	}
	env := []string{"PATH=/x"}
	AppendPath(env, "/y")
	if env[0] != "PATH=/x" {
		t.Error("AppendPath changed its argument")
	}
}

func TestSetEnv(t *testing.T) {
	got := SetEnv([]string{"A=1", "B=2"}, "A=3")
	if !slices.Equal(got, []string{"A=3", "B=2"}) {
		t.Errorf("replace: %q", got)
	}
	if got := SetEnv([]string{"A=1"}, "AB=2"); !slices.Equal(got, []string{"A=1", "AB=2"}) {
		t.Errorf("a key that is a prefix of another must not match: %q", got)
	}
}

// layers returns n random OCI layers with history entries.
func layers(t *testing.T, n int) []mutate.Addendum {
	t.Helper()
	var out []mutate.Addendum
	for i := range n {
		l, err := random.Layer(512, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: fmt.Sprintf("step %d", i)}})
	}
	return out
}

func TestNewFromScratch(t *testing.T) {
	created := time.Unix(1700000000, 0)
	p := v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	img, err := New(nil, layers(t, 2), Spec{
		Platform: p, Created: created, Entrypoint: []string{"/kiln/bin/app"}, Env: []string{"A=1"},
		User: "65532:65532", WorkingDir: "/", Labels: map[string]string{"l": "v"}, Ports: []string{"8080/tcp"},
		Annotations: map[string]string{"a": "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("invalid image: %v", err)
	}
	m, _ := img.Manifest()
	cfg, _ := img.ConfigFile()
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || m.Annotations["a"] != "b" || len(m.Layers) != 2 {
		t.Errorf("manifest %+v", m)
	}
	if cfg.Architecture != "arm" || cfg.Variant != "v7" || cfg.OS != "linux" || !cfg.Created.Equal(created) || cfg.Author != Author {
		t.Errorf("config platform/created: %+v", cfg)
	}
	c := cfg.Config
	if !slices.Equal(c.Entrypoint, []string{"/kiln/bin/app"}) || !slices.Equal(c.Env, []string{"A=1"}) || c.User != "65532:65532" || c.Labels["l"] != "v" {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ports %v", c.ExposedPorts)
	}
	if len(cfg.History) != 2 || cfg.History[1].CreatedBy != "step 1" {
		t.Errorf("history %+v", cfg.History)
	}
	// The same inputs give the same digest.
	again, _ := New(nil, nil, Spec{Platform: p, Created: created})
	other, _ := New(nil, nil, Spec{Platform: p, Created: created})
	if d1, d2 := digest(t, again), digest(t, other); d1 != d2 {
		t.Errorf("same inputs, digests %s and %s", d1, d2)
	}
}

func TestNewOnBase(t *testing.T) {
	base, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A Docker-typed base keeps its layers; the new image is OCI.
	base = mutate.MediaType(base, types.DockerManifestSchema2)
	bcfg, _ := base.ConfigFile()
	bcfg = bcfg.DeepCopy()
	bcfg.Config.Env = []string{"PATH=/usr/bin", "KO_DATA_PATH=/old"}
	bcfg.Config.Cmd = []string{"sh"}
	bcfg.Config.Labels = map[string]string{"base": "yes"}
	bcfg.History = []v1.History{{CreatedBy: "base 1"}, {CreatedBy: "base 2"}}
	base, err = mutate.ConfigFile(base, bcfg)
	if err != nil {
		t.Fatal(err)
	}
	img, err := New(base, layers(t, 1), Spec{
		Platform: v1.Platform{OS: "linux", Architecture: "amd64"},
		Env:      Environment(bcfg.Config.Env, []string{"PYTHONPATH=/app"}, []string{"A=1"}, "/kiln/bin", "/kiln/data"),
		Labels:   map[string]string{"mine": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("invalid image: %v", err)
	}
	m, _ := img.Manifest()
	bm, _ := base.Manifest()
	if m.MediaType != types.OCIManifestSchema1 || len(m.Layers) != 3 || m.Layers[0].Digest != bm.Layers[0].Digest {
		t.Errorf("manifest %+v", m)
	}
	cfg, _ := img.ConfigFile()
	if len(cfg.RootFS.DiffIDs) != 3 || cfg.RootFS.DiffIDs[1] != bcfg.RootFS.DiffIDs[1] || len(cfg.History) != 3 || cfg.History[0].CreatedBy != "base 1" {
		t.Errorf("rootfs %v history %+v", cfg.RootFS.DiffIDs, cfg.History)
	}
	if cfg.Config.Cmd != nil || cfg.Config.Labels["base"] != "yes" || cfg.Config.Labels["mine"] != "1" {
		t.Errorf("config %+v", cfg.Config)
	}
	// KO_DATA_PATH from the base is replaced, not repeated.
	want := []string{"PATH=/usr/bin:/kiln/bin", "KO_DATA_PATH=/kiln/data", "KILN_DATA_PATH=/kiln/data", "PYTHONPATH=/app", "A=1"}
	if !slices.Equal(cfg.Config.Env, want) {
		t.Errorf("env %q, want %q", cfg.Config.Env, want)
	}
}

func TestNewIndex(t *testing.T) {
	var imgs []v1.Image
	ps := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	for _, p := range ps {
		img, err := New(nil, layers(t, 1), Spec{Platform: p})
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	idx := NewIndex(imgs, ps, map[string]string{"k": "v"})
	if err := validate.Index(idx); err != nil {
		t.Fatalf("invalid index: %v", err)
	}
	im, _ := idx.IndexManifest()
	if im.MediaType != types.OCIImageIndex || im.Annotations["k"] != "v" || len(im.Manifests) != 2 {
		t.Fatalf("index %+v", im)
	}
	for i, d := range im.Manifests {
		if d.Platform == nil || d.Platform.Architecture != ps[i].Architecture || d.ArtifactType != "" || d.Digest != digest(t, imgs[i]) {
			t.Errorf("entry %d: %+v", i, d)
		}
	}
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
