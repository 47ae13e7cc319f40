package build_test

import (
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kiln-build/kiln/pkg/buildstore"
)

// TestDamagedBuildRebuilt: a reused .kiln build was not verified, so a
// damaged config or a truncated layer in it was published as it was. Now
// the manifests and configs (read anyway) are hashed and the layers'
// sizes checked before a build is reused; a damaged one is built again.
func TestDamagedBuildRebuilt(t *testing.T) {
	dir := copyExample(t)
	first := mustBuild(t, opts{Dir: dir})
	img := first.Images[0].Artifact.(v1.Image)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	blobs := buildstore.Layout(first.Build).Blobs()
	for _, c := range []struct {
		name   string
		damage func(p string) error
		blob   v1.Descriptor
	}{
		{"config with a flipped byte", flipByte, m.Config},
		{"truncated layer", func(p string) error { return os.Truncate(p, 10) }, m.Layers[len(m.Layers)-1]},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := blobs.Path(c.blob.Digest)
			if err := c.damage(p); err != nil {
				t.Fatal(err)
			}
			res := mustBuild(t, opts{Dir: dir})
			if res.Reused {
				t.Fatal("the damaged build was reused")
			}
			if res.Images[0].Digest != first.Images[0].Digest {
				t.Errorf("the rebuild made %s, want the same image %s", res.Images[0].Digest, first.Images[0].Digest)
			}
			if err := validate.Image(res.Images[0].Artifact.(v1.Image)); err != nil {
				t.Errorf("the rebuilt image is not valid: %v", err)
			}
			if again := mustBuild(t, opts{Dir: dir}); !again.Reused {
				t.Error("the repaired build is not reused")
			}
		})
	}
}

func flipByte(p string) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	data[len(data)/2] ^= 0x01
	return os.WriteFile(filepath.Clean(p), data, 0o644)
}
