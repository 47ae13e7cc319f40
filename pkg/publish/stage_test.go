package publish

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/lock"
)

// buildStore writes img into a build's layout under dir, as a build
// does, and returns its blob store and the image as read back.
func buildStore(t *testing.T, dir string, img v1.Image) (blob.Store, v1.Image) {
	t.Helper()
	lay := layout.Layout{Root: dir}
	if err := lay.Init(); err != nil {
		t.Fatal(err)
	}
	if err := lay.Write(img); err != nil {
		t.Fatal(err)
	}
	d, err := layout.Descriptor(img, "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := lay.Put(d); err != nil {
		t.Fatal(err)
	}
	a, _, err := lay.Open("app")
	if err != nil {
		t.Fatal(err)
	}
	s := lay.Blobs()
	s.Fresh = true
	return s, a.(v1.Image)
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range ls {
		h, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// TestStageThenPublish: staged layers are in the output before Publish,
// even when the build's folder moved after they were handed over (a
// build is renamed once complete), and Publish takes the Stage's lock
// over and releases it.
func TestStageThenPublish(t *testing.T) {
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	building := filepath.Join(t.TempDir(), "tmp-build")
	src, _ := buildStore(t, building, img)
	out := filepath.Join(t.TempDir(), "out")
	p := Layout{Dir: out}
	st := p.Stage(context.Background())
	defer st.Close()
	layers := layerDigests(t, img)
	for _, h := range layers {
		st.Add(src, h)
	}
	committed := filepath.Join(filepath.Dir(building), "committed")
	if err := os.Rename(building, committed); err != nil {
		t.Fatal(err)
	}
	st.finish()
	for _, h := range layers {
		if !fileExists((layout.Layout{Root: out}).Blobs().Path(h)) {
			t.Fatalf("layer %s was not staged", h)
		}
	}
	src.Dir = filepath.Join(committed, "blobs", "sha256")
	_, read := buildStore(t, committed, img)
	p.Staged, p.From = st, []blob.Store{src}
	if _, err := p.Publish(context.Background(), []Image{{Name: "app", Artifact: read}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, h := range layers {
		if !fileExists((layout.Layout{Root: out}).Blobs().Path(h)) {
			t.Fatalf("Close removed the published layer %s", h)
		}
	}
	if _, _, err := (layout.Layout{Root: out}).Open("app"); err != nil {
		t.Fatal(err)
	}
	lockFree(t, out)
}

// TestStageClosedUnpublished: a build that fails leaves the output as it
// was: the layers staged for it are removed (not those the layout had),
// no temporary file stays, and the lock is released.
func TestStageClosedUnpublished(t *testing.T) {
	had, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, _ = buildStore(t, out, had) // the output holds an image already
	before := testutil.Ls(t, filepath.Join(out, "blobs", "sha256"))

	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := buildStore(t, t.TempDir(), img)
	st := Layout{Dir: out}.Stage(context.Background())
	for _, h := range append(layerDigests(t, img), layerDigests(t, had)...) {
		st.Add(src, h) // the second image's layer is not in src: skipped
	}
	st.Close()
	if after := testutil.Ls(t, filepath.Join(out, "blobs", "sha256")); !slices.Equal(after, before) {
		t.Fatalf("blobs after a closed stage: %q, before: %q", after, before)
	}
	lockFree(t, out)
	st.Add(src, layerDigests(t, img)[0]) // after Close: nothing
	if after := testutil.Ls(t, filepath.Join(out, "blobs", "sha256")); !slices.Equal(after, before) {
		t.Fatalf("a blob added after Close was copied: %q", after)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// lockFree fails unless the layout's lock can be taken at once.
func lockFree(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	release, err := lock.Lock(ctx, dir, func() { t.Error("the layout's lock is still held") })
	if err != nil {
		t.Fatal(err)
	}
	release()
}

// TestStageRefusesNonLayout: an output folder that is neither empty nor a
// layout is refused as without staging, and nothing is written in it
// (no lock file, no blob). Publish's check once raced the stage's lock
// file (TestInitBuildServe, e2e).
func TestStageRefusesNonLayout(t *testing.T) {
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	src, read := buildStore(t, t.TempDir(), img)
	out := t.TempDir()
	testutil.WriteFile(t, filepath.Join(out, "notes.txt"), "mine")
	p := Layout{Dir: out}
	st := p.Stage(context.Background())
	defer st.Close()
	for _, h := range layerDigests(t, img) {
		st.Add(src, h)
	}
	p.Staged, p.From = st, []blob.Store{src}
	if _, err := p.Publish(context.Background(), []Image{{Name: "app", Artifact: read}}); err == nil || !strings.Contains(err.Error(), "neither empty nor an OCI image layout") {
		t.Fatalf("Publish into a folder that is not a layout: %v", err)
	}
	if got := testutil.Ls(t, out); !slices.Equal(got, []string{"notes.txt"}) {
		t.Fatalf("the folder holds %q", got)
	}
}
