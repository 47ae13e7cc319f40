package publish

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"github.com/kiln-build/kiln/internal/testutil"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/image"
	kl "github.com/kiln-build/kiln/pkg/layout"
)

func testImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for i := 0; i < 2; i++ {
		l, err := random.Layer(2048, types.OCILayer)
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
	cf.Config.Cmd = []string{"/app"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// srcLayout writes a layout holding imgs, named img-0, img-1..., as a
// build folder does, and returns it, the images read back from it, and
// their index entries.
func srcLayout(t *testing.T, imgs ...v1.Image) (kl.Layout, []Image, []v1.Descriptor) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{kl.RefNameAnnotation: "img-" + string(rune('0'+i))})); err != nil {
			t.Fatal(err)
		}
	}
	src := kl.Layout{Root: dir}
	idx, err := src.Index()
	if err != nil {
		t.Fatal(err)
	}
	var images []Image
	var descs []v1.Descriptor
	for _, d := range idx.Manifests {
		a, err := src.OpenDescriptor(d)
		if err != nil {
			t.Fatal(err)
		}
		name := d.Annotations[kl.RefNameAnnotation]
		images = append(images, Image{Name: name, Artifact: a})
		// kiln's entries carry an image's platform and no artifactType.
		kd, err := kl.Descriptor(a, name)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, kd)
	}
	return src, images, descs
}

func digestOf(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLayoutPublisher(t *testing.T) {
	ctx := context.Background()
	src, images, descs := srcLayout(t, testImage(t, "amd64"), testImage(t, "arm64"))
	dst := kl.Layout{Root: filepath.Join(t.TempDir(), "dst")}
	pub := Layout{Dir: dst.Root, From: []blob.Store{src.Blobs()}}
	foreign := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 100, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)},
		Annotations: map[string]string{kl.RefNameAnnotation: "other"}}
	stale := foreign
	stale.Annotations = map[string]string{kl.RefNameAnnotation: "img-0"}
	if err := dst.Init(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Put(foreign, stale); err != nil {
		t.Fatal(err)
	}

	locs, err := pub.Publish(ctx, images)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range locs {
		if want := "oci:" + dst.Root + ":" + images[i].Name; l.Ref != want || l.Kind != KindLayout || l.Image != images[i].Name {
			t.Errorf("location %d = %+v, want %s", i, l, want)
		}
	}
	idx, err := dst.Index()
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 3 || !reflect.DeepEqual(idx.Manifests[0], foreign) {
		t.Fatalf("index lists %v, want other, img-0, img-1", idx.Manifests)
	}
	if !reflect.DeepEqual(idx.Manifests[1:], descs) {
		t.Errorf("index lists %+v, want %+v", idx.Manifests[1:], descs)
	}
	srcBlobs := testutil.Ls(t, src.Blobs().Dir)
	if len(srcBlobs) == 0 || !slices.Equal(testutil.Ls(t, dst.Blobs().Dir), srcBlobs) {
		t.Errorf("dst holds %v, want %v", testutil.Ls(t, dst.Blobs().Dir), srcBlobs)
	}
	for _, b := range srcBlobs {
		a, err := os.Stat(filepath.Join(src.Blobs().Dir, b))
		if err != nil {
			t.Fatal(err)
		}
		c, err := os.Stat(filepath.Join(dst.Blobs().Dir, b))
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(a, c) {
			t.Errorf("blob %s was hard-linked: damage to one copy would spread to the other", b)
		}
	}
	lp, err := layout.FromPath(dst.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range descs {
		img, err := lp.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("imported image %s: %v", d.Digest, err)
		}
	}

	// Importing again changes nothing.
	before, err := os.ReadFile(filepath.Join(dst.Root, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, images); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dst.Root, "index.json"))
	if !bytes.Equal(before, after) {
		t.Errorf("importing again changed index.json:\n%s\nto\n%s", before, after)
	}

	// Images whose blobs are gone cannot be published.
	goneSrc, gone, _ := srcLayout(t, testImage(t, "386"))
	if err := os.RemoveAll(goneSrc.Blobs().Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := (Layout{Dir: filepath.Join(t.TempDir(), "dst2")}).Publish(ctx, gone); err == nil {
		t.Error("publishing images whose blobs are gone succeeded")
	}
}

// untar extracts the tar file into dir, returning the names in order.
func untar(t *testing.T, file, dir string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(time0) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" {
			t.Errorf("%s: mtime %v, owner %d:%d %q; want a reproducible header", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("%s: unexpected tar entry type %c", h.Name, h.Typeflag)
		}
	}
	return names
}

var time0 = time.Unix(0, 0)

func TestWriteOCIArchive(t *testing.T) {
	ctx := context.Background()
	amd, arm := testImage(t, "amd64"), testImage(t, "arm64")
	src, images, descs := srcLayout(t, amd, arm)
	outDir := filepath.Join(t.TempDir(), "out")
	file := filepath.Join(outDir, "app.tar")
	locs, err := OCIArchive{File: file}.Publish(ctx, images)
	if err != nil {
		t.Fatal(err)
	}
	if locs[1].Ref != "oci-archive:"+file+":img-1" || locs[1].Kind != KindArchive {
		t.Errorf("location %+v", locs[1])
	}
	if got := testutil.Ls(t, outDir); !slices.Equal(got, []string{"app.tar"}) {
		t.Errorf("%s holds %v, want only app.tar", outDir, got)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("archive mode = %v, %v; want 0644", fi.Mode().Perm(), err)
	}

	dir := t.TempDir()
	names := untar(t, file, dir)
	blobs := testutil.Ls(t, src.Blobs().Dir)
	want := []string{"oci-layout", "index.json", "blobs/", "blobs/sha256/"}
	for _, b := range blobs {
		want = append(want, "blobs/sha256/"+b)
	}
	if !slices.Equal(names, want) {
		t.Errorf("archive entries %v, want %v", names, want)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("the archive is not a valid OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(im.Manifests, descs) {
		t.Errorf("the archive's index lists %+v, want %+v", im.Manifests, descs)
	}
	if im.MediaType != types.OCIImageIndex || im.SchemaVersion != 2 {
		t.Errorf("the archive's index is %s v%d", im.MediaType, im.SchemaVersion)
	}
	for i, img := range []v1.Image{amd, arm} {
		got, err := lp.Image(descs[i].Digest)
		if err != nil {
			t.Fatal(err)
		}
		if digestOf(t, got) != digestOf(t, img) {
			t.Errorf("image %d has digest %s, want %s", i, digestOf(t, got), digestOf(t, img))
		}
	}

	// The same images give the same bytes.
	again := filepath.Join(outDir, "again.tar")
	if _, err := (OCIArchive{File: again}).Publish(ctx, images); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(file)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("writing the same archive twice gave different bytes")
	}

	// Only the images asked for are named.
	one := filepath.Join(outDir, "one.tar")
	if _, err := (OCIArchive{File: one}).Publish(ctx, images[1:]); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	untar(t, one, dir)
	lp, err = layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ = lp.ImageIndex()
	if im, err := idx.IndexManifest(); err != nil || !reflect.DeepEqual(im.Manifests, descs[1:]) {
		t.Errorf("the archive of one image lists %+v, %v", im, err)
	}
	if names := untar(t, one, t.TempDir()); len(names) != 4+4 {
		t.Errorf("the archive of one image holds %d entries, want its manifest, config and 2 layers: %v", len(names), names)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("the archive of one image is not valid: %v", err)
	}
}

func TestWriteDockerArchive(t *testing.T) {
	ctx := context.Background()
	amd, arm := testImage(t, "amd64"), testImage(t, "arm64")
	_, images, _ := srcLayout(t, amd, arm)
	images[0].Name, images[1].Name = "example.com/team/hello", "hello"
	file := filepath.Join(t.TempDir(), "images.tar")
	locs, err := DockerArchive{File: file, Tag: "v1"}.Publish(ctx, images)
	if err != nil {
		t.Fatal(err)
	}
	if locs[0].Ref != "docker-archive:"+file+":example.com/team/hello:v1" {
		t.Errorf("location %+v", locs[0])
	}
	for tag, img := range map[string]v1.Image{"example.com/team/hello:v1": amd, "hello:v1": arm} {
		ref, err := name.NewTag(tag)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tarball.ImageFromPath(file, &ref)
		if err != nil {
			t.Fatalf("reading %s from the archive: %v", tag, err)
		}
		gotCfg, err := got.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		wantCfg, _ := img.ConfigName()
		if gotCfg != wantCfg {
			t.Errorf("%s has config %s, want %s", tag, gotCfg, wantCfg)
		}
		gl, _ := got.Layers()
		wl, _ := img.Layers()
		if len(gl) != len(wl) {
			t.Fatalf("%s has %d layers, want %d", tag, len(gl), len(wl))
		}
		for i := range gl {
			if digestOf(t, gl[i]) != digestOf(t, wl[i]) {
				t.Errorf("%s layer %d differs", tag, i)
			}
		}
		if err := validate.Image(got); err != nil {
			t.Errorf("%s: %v", tag, err)
		}
	}
	missing, _ := name.NewTag("hello:missing")
	if _, err := tarball.ImageFromPath(file, &missing); err == nil {
		t.Error("the archive holds a tag it was not given")
	}

	// Errors before writing leave nothing.
	bad := filepath.Join(t.TempDir(), "bad.tar")
	_, err = DockerArchive{File: bad, Tag: "Not A Tag"}.Publish(ctx, images[:1])
	if err == nil || !strings.Contains(err.Error(), "Not A Tag") {
		t.Errorf("a docker archive with an invalid tag = %v", err)
	}
	idx := image.NewIndex([]v1.Image{amd, arm}, []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, nil)
	_, err = DockerArchive{File: bad}.Publish(ctx, []Image{{Name: "multi", Artifact: idx}})
	var pe *PlatformError
	if !errors.As(err, &pe) || len(pe.Built) != 2 || pe.Want != "" {
		t.Errorf("a docker archive of a two-platform image = %v, want a PlatformError", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("failed writes created %s", bad)
	}
}

func TestWriteArchivesAtomic(t *testing.T) {
	ctx := context.Background()
	src, images, descs := srcLayout(t, testImage(t, "amd64"))
	outDir := t.TempDir()
	file := filepath.Join(outDir, "app.tar")
	testutil.WriteFile(t, file, "previous archive")
	check := func(what string) {
		t.Helper()
		if got := testutil.Ls(t, outDir); !slices.Equal(got, []string{"app.tar"}) {
			t.Errorf("after %s, %s holds %v, want only app.tar", what, outDir, got)
		}
		if data, _ := os.ReadFile(file); string(data) != "previous archive" {
			t.Errorf("after %s, app.tar was changed", what)
		}
	}

	// A layer that cannot be read fails the archives halfway: a copy of
	// the layout whose second layer is a directory, then missing.
	broken := kl.Layout{Root: filepath.Join(t.TempDir(), "broken")}
	if err := os.MkdirAll(broken.Blobs().Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"oci-layout", "index.json"} {
		data, err := os.ReadFile(filepath.Join(src.Root, f))
		if err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, filepath.Join(broken.Root, f), string(data))
	}
	for _, b := range testutil.Ls(t, src.Blobs().Dir) {
		if err := os.Link(filepath.Join(src.Blobs().Dir, b), filepath.Join(broken.Blobs().Dir, b)); err != nil {
			t.Fatal(err)
		}
	}
	img, err := broken.OpenDescriptor(descs[0])
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.(v1.Image).Layers()
	second := broken.Blobs().Path(digestOf(t, layers[1]))
	if err := os.Remove(second); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(second, 0o755); err != nil {
		t.Fatal(err)
	}
	brokenImages := []Image{{Name: "img-0", Artifact: img}}
	if _, err := (OCIArchive{File: file}).Publish(ctx, brokenImages); err == nil {
		t.Fatal("an OCI archive read a directory as a blob")
	}
	check("a failed OCI archive")
	if err := os.Remove(second); err != nil {
		t.Fatal(err)
	}
	if _, err := (DockerArchive{File: file}).Publish(ctx, brokenImages); err == nil {
		t.Fatal("a docker archive was written with a missing layer")
	}
	check("a failed Docker archive")

	// Success replaces the file and leaves nothing else.
	for _, pub := range []Publisher{OCIArchive{File: file}, DockerArchive{File: file}} {
		if _, err := pub.Publish(ctx, images); err != nil {
			t.Fatal(err)
		}
		if got := testutil.Ls(t, outDir); !slices.Equal(got, []string{"app.tar"}) {
			t.Errorf("after a write, %s holds %v", outDir, got)
		}
		if data, _ := os.ReadFile(file); string(data) == "previous archive" {
			t.Error("a successful write left the old file")
		}
	}
}
