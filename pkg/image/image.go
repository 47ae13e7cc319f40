// Package image assembles OCI image configs, manifests and indexes from
// layers, writing them as blobs.
package image

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/blob"
)

// DefaultPath is PATH in an image whose base sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Author is recorded in configs and history entries.
const Author = "kiln"

// Addendum is a layer with the history entry that says which step made it.
type Addendum struct {
	Layer     v1.Layer
	CreatedBy string
	Comment   string
}

// Base is the image a Spec builds on.
type Base struct {
	Config *v1.ConfigFile
	Layers []v1.Layer
}

// Spec is what goes into one platform's image.
type Spec struct {
	Platform   v1.Platform
	Created    time.Time // the source date: config, history and label times
	Base       *Base     // nil for an image from scratch
	Layers     []Addendum
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

// Config returns the image config file for s. On a base, the base's
// config is the starting point: its settings, history and diffIDs come
// first, and s's entrypoint, command, environment, user, working
// directory, labels and ports are set over them (labels and ports are
// merged). The base's Cmd is replaced, since it would become arguments to
// the new entrypoint.
func Config(s Spec) (*v1.ConfigFile, error) {
	created := v1.Time{Time: s.Created.UTC()}
	cfg := &v1.ConfigFile{
		Created:      created,
		Author:       Author,
		Architecture: s.Platform.Architecture,
		OS:           s.Platform.OS,
		Variant:      s.Platform.Variant,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}},
	}
	if s.Base != nil {
		b := s.Base.Config.DeepCopy()
		cfg.Config = b.Config
		cfg.OSVersion, cfg.OSFeatures = b.OSVersion, b.OSFeatures
		cfg.History = b.History
		for _, l := range s.Base.Layers {
			diffID, err := l.DiffID()
			if err != nil {
				return nil, err
			}
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		}
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
	for _, a := range s.Layers {
		diffID, err := a.Layer.DiffID()
		if err != nil {
			return nil, err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		cfg.History = append(cfg.History, v1.History{
			Author:    Author,
			Created:   created,
			CreatedBy: a.CreatedBy,
			Comment:   a.Comment,
		})
	}
	return cfg, nil
}

// Write stores the config and manifest of s in store, whose blobs must
// already hold the layers, and returns the manifest's descriptor with its
// platform.
func Write(store blob.Store, s Spec) (v1.Descriptor, error) {
	cfg, err := Config(s)
	if err != nil {
		return v1.Descriptor{}, err
	}
	cfgDesc, err := store.WriteJSON(cfg, types.OCIConfigJSON)
	if err != nil {
		return v1.Descriptor{}, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        cfgDesc,
		Layers:        []v1.Descriptor{},
		Annotations:   s.Annotations,
	}
	var layers []Addendum
	if s.Base != nil {
		for _, l := range s.Base.Layers {
			layers = append(layers, Addendum{Layer: l})
		}
	}
	layers = append(layers, s.Layers...)
	for _, a := range layers {
		d, err := descriptor(a.Layer)
		if err != nil {
			return v1.Descriptor{}, err
		}
		if !store.Has(d.Digest, d.Size) {
			return v1.Descriptor{}, fmt.Errorf("layer %s is not in %s", d.Digest, store.Dir)
		}
		m.Layers = append(m.Layers, d)
	}
	desc, err := store.WriteJSON(m, types.OCIManifestSchema1)
	if err != nil {
		return v1.Descriptor{}, err
	}
	p := s.Platform
	desc.Platform = &p
	return desc, nil
}

func descriptor(l v1.Layer) (v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, nil
}

// WriteIndex stores an image index over manifests (each carrying its
// platform), with annotations, and returns its descriptor.
func WriteIndex(store blob.Store, manifests []v1.Descriptor, annotations map[string]string) (v1.Descriptor, error) {
	idx := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     manifests,
		Annotations:   annotations,
	}
	return store.WriteJSON(idx, types.OCIImageIndex)
}

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
