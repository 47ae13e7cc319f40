package publish

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/engine"
	"github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/progress"
)

// Engine loads images into a local container engine (podman, docker) as
// Prefix+NAME:TAG (Tag default "latest"). From an image built for several
// platforms it loads the one for Platform (default: this machine's).
type Engine struct {
	Engine   *engine.Engine
	Prefix   string // e.g. "localhost/kiln/"
	Tag      string
	Platform *v1.Platform
	Progress progress.Reporter
}

// Publish implements Publisher.
func (p Engine) Publish(ctx context.Context, images []Image) ([]Location, error) {
	rep := p.Progress
	if rep == nil {
		rep = progress.Discard
	}
	want := platform.Host()
	if p.Platform != nil {
		want = *p.Platform
	}
	var out []Location
	for _, img := range images {
		one, err := ForPlatform(img.Name, img.Artifact, want)
		if err != nil {
			return nil, err
		}
		tag, err := name.NewTag(LocalTag(p.Prefix+img.Name, p.Tag))
		if err != nil {
			return nil, fmt.Errorf("%s cannot name an image in %s: %w", img.Name, p.Engine.Name, err)
		}
		step := rep.Start("loading "+tag.String()+" into "+p.Engine.Name, 0)
		err = p.Engine.Load(ctx, tag, one)
		step.Done(err)
		if err != nil {
			return nil, err
		}
		out = append(out, Location{Image: img.Name, Kind: KindEngine, Ref: tag.String()})
	}
	return out, nil
}

// ForPlatform returns the image of a (image name's) for platform p: a
// itself when it is an image for p, or the image for p in an index.
func ForPlatform(name string, a layout.Artifact, p v1.Platform) (v1.Image, error) {
	switch a := a.(type) {
	case v1.Image:
		cfg, err := a.ConfigFile()
		if err != nil {
			return nil, err
		}
		if got := cfg.Platform(); got == nil || !got.Satisfies(p) {
			built := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
			return nil, &PlatformError{Image: name, Built: []string{built.String()}, Want: p.String()}
		}
		return a, nil
	case v1.ImageIndex:
		im, err := a.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			if m.Platform != nil && m.Platform.Satisfies(p) && !m.MediaType.IsIndex() {
				return a.Image(m.Digest)
			}
		}
		return nil, &PlatformError{Image: name, Built: platforms(im), Want: p.String()}
	}
	return nil, fmt.Errorf("%T is neither an image nor an index", a)
}
