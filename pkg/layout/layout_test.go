package layout

import (
	"encoding/json"
	"errors"
	"github.com/kiln-build/kiln/internal/testutil"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestCheckDir(t *testing.T) {
	root := t.TempDir()
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(root, "layout")
	testutil.WriteFile(t, filepath.Join(layout, "oci-layout"), LayoutFile)
	testutil.WriteFile(t, filepath.Join(layout, "index.json"), "{}")
	other := filepath.Join(root, "other")
	testutil.WriteFile(t, filepath.Join(other, "README.md"), "mine")
	file := filepath.Join(root, "file")
	testutil.WriteFile(t, file, "x")

	for _, dir := range []string{filepath.Join(root, "missing"), filepath.Join(root, "missing", "deeper"), empty, layout} {
		if err := CheckDir(dir); err != nil {
			t.Errorf("CheckDir(%s) = %v, want it accepted", dir, err)
		}
	}
	err := CheckDir(other)
	if err == nil {
		t.Fatalf("CheckDir accepted a directory holding other files")
	}
	for _, w := range []string{other, "neither empty nor an OCI image layout", "choose a new or empty directory"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if !errors.Is(err, ErrNotLayout) {
		t.Errorf("error %q is not ErrNotLayout, for the command line to say which flag to change", err)
	}
	if err := CheckDir(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("CheckDir of a file = %v, want an error naming it", err)
	}
}

func TestLayoutInit(t *testing.T) {
	l := Layout{Root: filepath.Join(t.TempDir(), "out")}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(l.Root, "oci-layout"))
	if err != nil {
		t.Fatal(err)
	}
	var ol struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(data, &ol); err != nil || ol.Version != "1.0.0" {
		t.Errorf("oci-layout = %q (%v), want imageLayoutVersion 1.0.0", data, err)
	}
	if fi, err := os.Stat(filepath.Join(l.Root, "blobs", "sha256")); err != nil || !fi.IsDir() {
		t.Errorf("blobs/sha256 is not a directory: %v", err)
	}
	if l.Blobs().Dir != filepath.Join(l.Root, "blobs", "sha256") {
		t.Errorf("Blobs().Dir = %s", l.Blobs().Dir)
	}
	if err := CheckDir(l.Root); err != nil {
		t.Errorf("CheckDir refuses a layout Init made: %v", err)
	}

	// Leftovers of an interrupted build go; everything else stays.
	blobs := l.Blobs().Dir
	testutil.WriteFile(t, filepath.Join(blobs, ".tmp-123"), "partial blob")
	testutil.WriteFile(t, filepath.Join(blobs, "abc"), "a blob")
	testutil.WriteFile(t, filepath.Join(l.Root, ".tmp-index.json-42"), "partial index")
	testutil.WriteFile(t, filepath.Join(l.Root, "index.json"), `{"schemaVersion":2}`)
	testutil.WriteFile(t, filepath.Join(l.Root, "oci-layout"), `{"imageLayoutVersion":"1.0.0","kept":true}`)
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	if got := testutil.Ls(t, blobs); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("blobs after Init: %q, want [abc]", got)
	}
	if got := testutil.Ls(t, l.Root); !slices.Equal(got, []string{"blobs", "index.json", "oci-layout"}) {
		t.Errorf("layout after Init: %q", got)
	}
	if data, _ := os.ReadFile(filepath.Join(l.Root, "oci-layout")); !strings.Contains(string(data), "kept") {
		t.Errorf("Init rewrote an existing oci-layout: %q", data)
	}
}

func desc(name, hex string) v1.Descriptor {
	d := v1.Descriptor{
		MediaType: types.OCIManifestSchema1,
		Digest:    v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(hex, 64)},
		Size:      100,
	}
	if name != "" {
		d.Annotations = map[string]string{RefNameAnnotation: name}
	}
	return d
}

func readIndex(t *testing.T, l Layout) v1.IndexManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.Root, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatalf("index.json is not valid JSON: %v\n%s", err, data)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != types.OCIImageIndex {
		t.Errorf("index.json: schemaVersion %d mediaType %q", idx.SchemaVersion, idx.MediaType)
	}
	return idx
}

func refs(idx v1.IndexManifest) []string {
	var out []string
	for _, d := range idx.Manifests {
		out = append(out, d.Annotations[RefNameAnnotation]+"@"+d.Digest.Hex[:1])
	}
	return out
}

func TestPut(t *testing.T) {
	l := Layout{Root: t.TempDir()}

	idx, err := l.Index()
	if err != nil || len(idx.Manifests) != 0 || idx.SchemaVersion != 2 {
		t.Fatalf("Index of a layout without index.json = %+v, %v; want an empty index", idx, err)
	}

	steps := []struct {
		put  []v1.Descriptor
		want []string
	}{
		{[]v1.Descriptor{desc("api", "a"), desc("worker", "b")}, []string{"api@a", "worker@b"}},
		// Same name replaced, others kept.
		{[]v1.Descriptor{desc("api", "c")}, []string{"worker@b", "api@c"}},
		{[]v1.Descriptor{desc("cron", "d")}, []string{"worker@b", "api@c", "cron@d"}},
		{[]v1.Descriptor{desc("worker", "e"), desc("cron", "f")}, []string{"api@c", "worker@e", "cron@f"}},
		{nil, []string{"api@c", "worker@e", "cron@f"}},
	}
	for i, s := range steps {
		if err := l.Put(s.put...); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := readIndex(t, l)
		if r := refs(got); !slices.Equal(r, s.want) {
			t.Errorf("step %d: index holds %q, want %q", i, r, s.want)
		}
		idx, err := l.Index()
		if err != nil || !slices.Equal(refs(*idx), s.want) {
			t.Errorf("step %d: Index() = %v, %v", i, idx, err)
		}
	}
	// No temporary files are left next to index.json.
	if got := testutil.Ls(t, l.Root); !slices.Equal(got, []string{"index.json"}) {
		t.Errorf("layout holds %q", got)
	}
}

func TestPutKeepsForeignEntries(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	// An index written by another tool, with an entry without a ref name.
	foreign := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` +
		strings.Repeat("9", 64) + `","size":5}]}`
	testutil.WriteFile(t, filepath.Join(l.Root, "index.json"), foreign)
	if err := l.Put(desc("api", "a")); err != nil {
		t.Fatal(err)
	}
	idx := readIndex(t, l)
	if r := refs(idx); !slices.Equal(r, []string{"@9", "api@a"}) {
		t.Errorf("index holds %q, want the foreign entry kept", r)
	}
}

func TestIndexCorrupt(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	testutil.WriteFile(t, filepath.Join(l.Root, "index.json"), "{not json")
	if _, err := l.Index(); err == nil || !strings.Contains(err.Error(), "index.json is not valid") {
		t.Errorf("Index of a corrupt index.json: %v", err)
	}
	if err := l.Put(desc("api", "a")); err == nil {
		t.Errorf("Put over a corrupt index.json succeeded")
	}
	if data, _ := os.ReadFile(filepath.Join(l.Root, "index.json")); string(data) != "{not json" {
		t.Errorf("Put replaced a corrupt index.json it could not read: %q", data)
	}
}

// TestPutReferrers: referrers (entries without a ref name) are added once,
// replaced with the image they belong to, and foreign ones are kept.
func TestPutReferrers(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	referrer := func(image, hex string) v1.Descriptor {
		d := desc("", hex)
		d.Annotations = map[string]string{ImageAnnotation: image}
		return d
	}
	foreign := desc("", "9")
	steps := []struct {
		put  []v1.Descriptor
		want []string
	}{
		{[]v1.Descriptor{desc("api", "a"), referrer("api", "b"), foreign}, []string{"api@a", "@b", "@9"}},
		// The same referrer again is not listed twice.
		{[]v1.Descriptor{referrer("api", "b")}, []string{"api@a", "@9", "@b"}},
		// A new api replaces api's referrers; the foreign entry stays.
		{[]v1.Descriptor{desc("api", "c"), referrer("api", "d")}, []string{"@9", "api@c", "@d"}},
		// Another image's referrers are not api's.
		{[]v1.Descriptor{desc("web", "e"), referrer("web", "f")}, []string{"@9", "api@c", "@d", "web@e", "@f"}},
	}
	for i, s := range steps {
		if err := l.Put(s.put...); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r := refs(readIndex(t, l)); !slices.Equal(r, s.want) {
			t.Errorf("step %d: index holds %q, want %q", i, r, s.want)
		}
	}
}
