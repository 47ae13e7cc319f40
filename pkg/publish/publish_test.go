package publish

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/pkg/engine"
	"github.com/kiln-build/kiln/pkg/image"
	"github.com/kiln-build/kiln/pkg/registry"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// twoPlatforms returns an index over an amd64 and an arm64 image.
func twoPlatforms(t *testing.T) (v1.ImageIndex, map[string]v1.Image) {
	t.Helper()
	amd, arm := testImage(t, "amd64"), testImage(t, "arm64")
	return image.NewIndex([]v1.Image{amd, arm}, []v1.Platform{amd64, arm64}, nil), map[string]v1.Image{"amd64": amd, "arm64": arm}
}

func TestForPlatform(t *testing.T) {
	idx, imgs := twoPlatforms(t)
	for arch, want := range imgs {
		got, err := ForPlatform("app", idx, v1.Platform{OS: "linux", Architecture: arch})
		if err != nil || digestOf(t, got) != digestOf(t, want) {
			t.Errorf("%s from the index: %v", arch, err)
		}
	}
	if got, err := ForPlatform("app", imgs["arm64"], arm64); err != nil || digestOf(t, got) != digestOf(t, imgs["arm64"]) {
		t.Errorf("a single image for its own platform: %v", err)
	}
	var pe *PlatformError
	_, err := ForPlatform("app", idx, v1.Platform{OS: "linux", Architecture: "s390x"})
	if !errors.As(err, &pe) || pe.Want != "linux/s390x" || len(pe.Built) != 2 || !strings.Contains(err.Error(), "app was built for linux/amd64, linux/arm64, not linux/s390x") {
		t.Errorf("a platform the index lacks: %v", err)
	}
	if _, err := ForPlatform("app", imgs["amd64"], arm64); !errors.As(err, &pe) || pe.Built[0] != "linux/amd64" {
		t.Errorf("a single image for another platform: %v", err)
	}
}

// fakePodman writes a podman that answers "image inspect" as the real one
// does for an image it does not have, and saves what "load" reads.
func fakePodman(t *testing.T) (*engine.Engine, string) {
	t.Helper()
	dir := t.TempDir()
	saved := filepath.Join(dir, "loaded.tar")
	script := "#!/bin/sh\nPATH=/usr/bin:/bin\ncase \"$1\" in\n" +
		"image) exit 125 ;;\n" +
		"load) cat > " + saved + " ; echo Loaded ;;\n" +
		"esac\n"
	if err := os.WriteFile(filepath.Join(dir, "podman"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Find("podman", []string{"PATH=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	return e, saved
}

// The engine publisher loads the image for the platform asked for (by
// default this machine's) from an index of any size.
func TestEnginePublisherLoadsOnePlatform(t *testing.T) {
	idx, imgs := twoPlatforms(t)
	eng, saved := fakePodman(t)
	pub := Engine{Engine: eng, Prefix: "localhost/kiln/", Tag: "dev", Platform: &arm64}
	_, err := pub.Publish(context.Background(), []Image{{Name: "app", Artifact: idx}})
	// The fake engine never reports the image as loaded, so Load fails its
	// final check; what it was handed is what counts here.
	if err == nil || !strings.Contains(err.Error(), "did not give image") {
		t.Fatalf("Publish = %v, want the fake engine's missing image to be noticed", err)
	}
	ref, _ := name.NewTag("localhost/kiln/app:dev")
	got, err := tarball.ImageFromPath(saved, &ref)
	if err != nil {
		t.Fatalf("the engine was not handed a docker archive of localhost/kiln/app:dev: %v", err)
	}
	gotCfg, _ := got.ConfigName()
	wantCfg, _ := imgs["arm64"].ConfigName()
	if gotCfg != wantCfg {
		t.Errorf("loaded the image with config %s, want the arm64 one, %s", gotCfg, wantCfg)
	}

	// By default, this machine's platform; none in the index is an error
	// naming the platforms built.
	host := map[string]bool{"amd64": true, "arm64": true}[runtime.GOARCH]
	_, err = Engine{Engine: eng}.Publish(context.Background(), []Image{{Name: "app", Artifact: idx}})
	var pe *PlatformError
	if host && errors.As(err, &pe) {
		t.Errorf("the host's platform %s is in the index, but: %v", runtime.GOARCH, err)
	}
	if !host && !errors.As(err, &pe) {
		t.Errorf("no image for %s: %v", runtime.GOARCH, err)
	}
}

func TestRegistryPublisher(t *testing.T) {
	s := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	idx, _ := twoPlatforms(t)
	single := testImage(t, "amd64")
	opts := registry.Options{Insecure: true, Keychain: authn.NewMultiKeychain()}
	ctx := context.Background()

	// One image goes to the repository itself, under each tag.
	locs, err := Registry{Repo: host + "/team/app", Tags: []string{"v1", "latest"}, Options: opts}.Publish(ctx, []Image{{Name: "app", Artifact: idx}})
	if err != nil {
		t.Fatal(err)
	}
	if want := host + "/team/app@" + digestOf(t, idx).String(); len(locs) != 1 || locs[0].Ref != want || locs[0].Kind != KindRegistry {
		t.Errorf("locations %+v, want %s", locs, want)
	}
	for _, tag := range []string{"v1", "latest"} {
		ref, _ := name.ParseReference(host+"/team/app:"+tag, name.Insecure)
		d, err := remote.Head(ref)
		if err != nil || d.Digest != digestOf(t, idx) {
			t.Errorf("tag %s: %v, %v", tag, d, err)
		}
	}

	// Several go to REPO/<last element of each name>.
	imgs := []Image{{Name: "example.com/team/api", Artifact: single}, {Name: "worker", Artifact: idx}}
	locs, err = Registry{Repo: host + "/apps", Options: opts}.Publish(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != 2 || !strings.HasPrefix(locs[0].Ref, host+"/apps/api@") || !strings.HasPrefix(locs[1].Ref, host+"/apps/worker@") {
		t.Errorf("locations %+v", locs)
	}

	// With no repository, a name without a registry is refused before
	// anything is sent.
	_, err = Registry{Options: opts}.Publish(ctx, []Image{{Name: "hello", Artifact: single}})
	if err == nil || !strings.Contains(err.Error(), "names no registry to push to") {
		t.Errorf("no repository: %v", err)
	}
	locs, err = Registry{Options: opts}.Publish(ctx, []Image{{Name: host + "/own/name", Artifact: single}})
	if err != nil || !strings.HasPrefix(locs[0].Ref, host+"/own/name@") {
		t.Errorf("an image named with its registry: %+v, %v", locs, err)
	}
}

// Multi publishes to each publisher in turn and stops at the first that
// fails.
func TestMulti(t *testing.T) {
	ctx := context.Background()
	images := []Image{{Name: "app", Artifact: testImage(t, "amd64")}}
	dir := t.TempDir()
	file := filepath.Join(dir, "app.tar")
	locs, err := Multi{Layout{Dir: filepath.Join(dir, "oci")}, OCIArchive{File: file}}.Publish(ctx, images)
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != 2 || locs[0].Kind != KindLayout || locs[1].Kind != KindArchive || locs[1].Ref != "oci-archive:"+file+":app" {
		t.Errorf("locations %+v", locs)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	after := filepath.Join(dir, "after.tar")
	_, err = Multi{Layout{Dir: notDir}, OCIArchive{File: after}}.Publish(ctx, images)
	if err == nil {
		t.Fatal("publishing into a file as a layout succeeded")
	}
	if _, err := os.Stat(after); !os.IsNotExist(err) {
		t.Errorf("the publisher after a failed one ran: %v", err)
	}
}
