// Package image assembles images and indexes as go-containerregistry
// values (v1.Image, v1.ImageIndex) with its mutate package: a base (or
// nothing), layers with their history, and the settings kiln gives the
// config. Nothing here reads or writes layer bytes: layers arrive with
// their digests known, and configs and manifests are computed in memory.
package image

import (
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPath is PATH in an image whose base sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Author is recorded in configs.
const Author = "kiln"

// Spec is what kiln sets in one platform's image.
type Spec struct {
	Platform   v1.Platform
	Created    time.Time // the source date
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=value, in order
	User       string
	WorkingDir string
	Labels     map[string]string
	Ports      []string // "8080/tcp"
	// Annotations go on the manifest.
	Annotations map[string]string
}

// scratch is the empty image with OCI media types.
var scratch = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)

// New returns the image of base (nil for none) with layers on top and s's
// settings. On a base, the base's config is the starting point: its
// settings, history and diffIDs come first, and s's entrypoint, command,
// environment, user, working directory, labels and ports are set over them
// (labels and ports are merged). The base's Cmd is replaced, since it
// would become arguments to the new entrypoint.
func New(base v1.Image, layers []mutate.Addendum, s Spec) (v1.Image, error) {
	cfg := &v1.ConfigFile{
		Created:      v1.Time{Time: s.Created.UTC()},
		Author:       Author,
		Architecture: s.Platform.Architecture,
		OS:           s.Platform.OS,
		Variant:      s.Platform.Variant,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}},
	}
	start := scratch
	if base != nil {
		b, err := base.ConfigFile()
		if err != nil {
			return nil, err
		}
		cfg.Config = b.Config
		cfg.OSVersion, cfg.OSFeatures = b.OSVersion, b.OSFeatures
		cfg.History = b.History
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, b.RootFS.DiffIDs...)
		start = mutate.ConfigMediaType(mutate.MediaType(base, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	c := &cfg.Config
	c.Entrypoint, c.Cmd, c.Env, c.User, c.WorkingDir = s.Entrypoint, s.Cmd, s.Env, s.User, s.WorkingDir
	for k, v := range s.Labels {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	for _, p := range s.Ports {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[p] = struct{}{}
	}
	img, err := mutate.ConfigFile(start, cfg)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.Append(img, layers...); err != nil {
		return nil, err
	}
	if len(s.Annotations) > 0 {
		img = mutate.Annotations(img, s.Annotations).(v1.Image)
	}
	return img, nil
}

// NewIndex returns an OCI image index over images, the i-th for
// platforms[i], with annotations.
func NewIndex(images []v1.Image, platforms []v1.Platform, annotations map[string]string) v1.ImageIndex {
	adds := make([]mutate.IndexAddendum, len(images))
	for i, img := range images {
		p := platforms[i]
		adds[i] = mutate.IndexAddendum{Add: plainImage{img}, Descriptor: v1.Descriptor{Platform: &p}}
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	return idx
}

// Environment is an image's environment: the base's, PATH (the base's or
// the configured one) with the program's directory pathDir, the data path
// variables (KILN_DATA_PATH and ko's KO_DATA_PATH) set to dataPath, the
// runtime's variables (Python's PYTHONPATH), and the configured ones,
// which win over all others.
func Environment(base, runtimeEnv, configured []string, pathDir, dataPath string) []string {
	env := append([]string(nil), base...)
	for _, kv := range configured {
		if strings.HasPrefix(kv, "PATH=") {
			env = SetEnv(env, kv)
		}
	}
	env = AppendPath(env, pathDir)
	env = SetEnv(SetEnv(env, "KILN_DATA_PATH="+dataPath), "KO_DATA_PATH="+dataPath)
	for _, kv := range runtimeEnv {
		env = SetEnv(env, kv)
	}
	for _, kv := range configured {
		if !strings.HasPrefix(kv, "PATH=") {
			env = SetEnv(env, kv)
		}
	}
	return env
}

// plainImage is an image whose index entry carries no artifactType: the
// OCI spec keeps that for artifacts, and go-containerregistry would
// otherwise copy the config's media type there.
type plainImage struct{ v1.Image }

func (plainImage) ArtifactType() (string, error) { return "", nil }

// AppendPath returns env with dir added at the end of PATH, setting PATH to
// DefaultPath plus dir when env has none.
func AppendPath(env []string, dir string) []string {
	out := append([]string(nil), env...)
	for i, e := range out {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			for _, d := range strings.Split(v, ":") {
				if d == dir {
					return out
				}
			}
			out[i] = "PATH=" + v + ":" + dir
			return out
		}
	}
	return append(out, "PATH="+DefaultPath+":"+dir)
}

// SetEnv returns env with KEY=value set, replacing an earlier KEY.
func SetEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	out := append([]string(nil), env...)
	for i, e := range out {
		if k, _, _ := strings.Cut(e, "="); k == key {
			out[i] = kv
			return out
		}
	}
	return append(out, kv)
}
