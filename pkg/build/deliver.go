package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/kiln-build/kiln/pkg/engine"
	"github.com/kiln-build/kiln/pkg/output"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/progress"
	"github.com/kiln-build/kiln/pkg/registry"
)

// destination is a parsed Options.Output.
type destination struct {
	kind string // "", "oci", "tar" or "oci-archive"
	path string // absolute
}

func parseOutput(dir, out string) (destination, error) {
	if out == "" {
		return destination{}, nil
	}
	kind, p, ok := strings.Cut(out, ":")
	if !ok || p == "" || (kind != "oci" && kind != "tar" && kind != "oci-archive") {
		return destination{}, fmt.Errorf("--output %q is not supported: use oci:DIR (an OCI image layout), tar:FILE (for docker load and podman load) or oci-archive:FILE", out)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return destination{kind: kind, path: filepath.Clean(p)}, nil
}

// deliver copies a finished build where Options ask: an output, a
// registry, a local engine.
func deliver(ctx context.Context, opt *Options, out destination, res *Result) error {
	src := output.BuildLayout(res.Build)
	descs, err := descriptors(src, res)
	if err != nil {
		return err
	}
	switch out.kind {
	case "oci":
		if err := output.CheckDir(out.path); err != nil {
			return err
		}
		release, err := output.Lock(ctx, out.path, func() {
			opt.Progress.Logf("waiting for another kiln build writing to %s", out.path)
		})
		if err != nil {
			return err
		}
		defer release()
		if err := (output.Layout{Root: out.path}).Import(src, descs...); err != nil {
			return err
		}
		res.setLayout(out.path)
	case "oci-archive":
		if err := output.WriteOCIArchive(src, out.path, descs...); err != nil {
			return err
		}
		res.Output = "oci-archive:" + out.path
		for i := range res.Images {
			res.Images[i].Reference = res.Output + ":" + res.Images[i].Name
		}
	case "tar":
		tags := map[string]v1.Hash{}
		for i, img := range res.Images {
			if len(img.Platforms) != 1 {
				return fmt.Errorf("tar:%s holds one platform per image, and %s was built for %d: add --platform, e.g. --platform %s", out.path, img.Name, len(img.Platforms), img.Platforms[0].Platform)
			}
			tag := localTag(img.Name, opt.Push.Tags)
			tags[tag] = descs[i].Digest
			res.Images[i].Reference = "docker-archive:" + out.path + ":" + tag
		}
		if err := output.WriteDockerArchive(src, out.path, tags); err != nil {
			return err
		}
		res.Output = "tar:" + out.path
	}
	if opt.Push.Repo != "" {
		if err := push(ctx, src, descs, res, opt.Push, opt.Registry, opt.Progress); err != nil {
			return err
		}
	}
	if opt.Load {
		if err := load(ctx, opt, src, res); err != nil {
			return err
		}
	}
	return nil
}

// load loads the host platform's image of each program into podman, or
// docker if podman is not installed.
func load(ctx context.Context, opt *Options, src output.Layout, res *Result) error {
	eng, err := engine.Find("", opt.Env)
	if errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("--load: %w, so there is nothing to load the image into: install one, or write an archive with --output tar:FILE and load it where one is", err)
	} else if err != nil {
		return err
	}
	lp, err := layout.FromPath(src.Root)
	if err != nil {
		return err
	}
	for i, img := range res.Images {
		d, err := hostManifest(img)
		if err != nil {
			return err
		}
		image, err := lp.Image(d)
		if err != nil {
			return err
		}
		tag, err := name.NewTag(localTag(img.Name, opt.Push.Tags))
		if err != nil {
			return fmt.Errorf("%s cannot name an image in %s: %w", img.Name, eng.Name, err)
		}
		step := opt.Progress.Start("loading "+tag.String()+" into "+eng.Name, 0)
		err = eng.Load(ctx, tag, image)
		step.Done(err)
		if err != nil {
			return err
		}
		res.Images[i].Loaded = eng.Name
		opt.Progress.Logf("loaded %s into %s", tag, eng.Name)
	}
	return nil
}

// localTag is how an image is named in archives and local engines.
func localTag(name string, tags []string) string {
	if len(tags) > 0 {
		return name + ":" + tags[0]
	}
	return name + ":latest"
}

// hostManifest picks the image for the host's platform.
func hostManifest(img Image) (v1.Hash, error) {
	host := platform.String(platform.Host())
	for _, p := range img.Platforms {
		if p.Platform == host {
			return v1.NewHash(p.Digest)
		}
	}
	return v1.Hash{}, fmt.Errorf("--load loads the image for this machine (%s), and %s was not built for it: add %s to --platform", host, img.Name, host)
}

// descriptors returns the index entries of res's images, in order.
func descriptors(lay output.Layout, res *Result) ([]v1.Descriptor, error) {
	idx, err := lay.Index()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	for _, img := range res.Images {
		found := false
		for _, d := range idx.Manifests {
			if d.Annotations[output.RefNameAnnotation] == img.Name && d.Digest.String() == img.Digest {
				out = append(out, d)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("build %s lacks image %s; build again", lay.Root, img.Name)
		}
	}
	return out, nil
}

// push publishes each image of a build. With one image the repository is
// p.Repo; with several, p.Repo/<last element of the image name>; without
// p.Repo, each image's own name, which must then include a registry.
func push(ctx context.Context, src output.Layout, descs []v1.Descriptor, res *Result, p Push, reg registry.Options, rep progress.Reporter) error {
	var mounts []registry.Mount
	if res.Base != nil {
		from, err := reg.ParseReference(res.Base.Name)
		if err != nil {
			return err
		}
		for _, l := range res.Base.Layers {
			h, err := v1.NewHash(l)
			if err != nil {
				return err
			}
			mounts = append(mounts, registry.Mount{Digest: h, From: from})
		}
	}
	for i, img := range res.Images {
		target := p.Repo
		switch {
		case target == "" && !hasRegistry(img.Name):
			return fmt.Errorf("image %s names no registry to push to: give one with --repo (e.g. --repo ghcr.io/org/%s) or use a name like registry.example.com/%s", img.Name, img.Name, img.Name)
		case target == "":
			target = img.Name
		case len(res.Images) > 1:
			target = strings.TrimSuffix(target, "/") + "/" + path.Base(img.Name)
		}
		repo, err := reg.ParseRepository(target)
		if err != nil {
			return err
		}
		updates := make(chan v1.Update, 16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			var step progress.Step
			var sent int64
			for u := range updates {
				if step == nil {
					step = rep.Start("pushing "+repo.String(), u.Total)
				}
				if u.Complete > sent {
					step.Add(u.Complete - sent)
					sent = u.Complete
				}
			}
			if step != nil {
				step.Done(nil)
			}
		}()
		r := reg
		r.Updates = updates
		ref, err := registry.Push(ctx, src.Root, descs[i], repo, p.Tags, mounts, r)
		<-done
		if err != nil {
			return err
		}
		res.Images[i].Pushed = ref.String()
	}
	return nil
}

// hasRegistry reports whether an image name starts with a registry host.
func hasRegistry(name string) bool {
	first, _, ok := strings.Cut(name, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// PushBuild publishes the images of a finished build: a .kiln build folder
// (default: the project's last build) or its build.json.
func PushBuild(ctx context.Context, buildDir string, p Push, reg registry.Options, rep progress.Reporter) (*Result, error) {
	if rep == nil {
		rep = progress.Discard
	}
	data, err := os.ReadFile(filepath.Join(buildDir, "build.json"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a kiln build (no build.json): run kiln build first, or name a folder under .kiln/builds", buildDir)
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("%s/build.json is corrupt: %w", buildDir, err)
	}
	res.setBuild(buildDir)
	src := output.BuildLayout(buildDir)
	descs, err := descriptors(src, &res)
	if err != nil {
		return nil, err
	}
	if err := push(ctx, src, descs, &res, p, reg, rep); err != nil {
		return nil, err
	}
	return &res, nil
}
