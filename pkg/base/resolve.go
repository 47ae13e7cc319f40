package base

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"

	"github.com/kiln-build/kiln/pkg/layer"
	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/registry"
)

// Base is a resolved base image reference.
type Base struct {
	// Ref is the reference as given, and Name its full form, recorded in
	// the org.opencontainers.image.base.name annotation.
	Ref  name.Reference
	Name string
	// Digest is what Ref points at: the index, or the single image.
	Digest v1.Hash
	// Images holds one image per platform, in the order asked for.
	Images []*Image
}

// Image is the base for one platform. Its layers are read from the cache
// once Fetch has fetched them.
type Image struct {
	Platform v1.Platform
	Digest   v1.Hash // of its manifest in the registry
	// Image is the base as kiln builds on it: its config, and its layers
	// with OCI media types (Docker's are the same bytes), read from the
	// cache.
	Image  v1.Image
	layers []*layer.Layer
	repo   name.Repository // where the layers come from
}

// Resolver finds base images and keeps their blobs in the cache.
type Resolver struct {
	Cache    Cache
	Registry registry.Options
	// Logf, if set, is told when a damaged cached blob is fetched again.
	Logf func(format string, args ...any)

	fetches singleflight.Group
}

// Resolve resolves ref for each platform; nil platforms means every
// platform the base offers ("--platform all"), leaving out attestations
// and non-Linux images. A reference by digest whose blobs are cached
// resolves without the network.
func (r *Resolver) Resolve(ctx context.Context, ref string, platforms []v1.Platform) (*Base, error) {
	pref, err := r.Registry.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	b := &Base{Ref: pref, Name: pref.Name()}
	data, mt, digest, err := r.manifest(ctx, pref)
	if err != nil {
		return nil, err
	}
	b.Digest = digest
	if mt.IsIndex() {
		var idx v1.IndexManifest
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("base %s: bad index: %w", ref, err)
		}
		descs, err := pick(ref, idx.Manifests, platforms)
		if err != nil {
			return nil, err
		}
		for i, d := range descs {
			img, err := r.image(ctx, pref.Context().Digest(d.Digest.String()), d.Digest, platformOf(d, platforms, i))
			if err != nil {
				return nil, err
			}
			b.Images = append(b.Images, img)
		}
		return b, nil
	}
	img, err := r.imageFrom(ctx, pref, digest, data, mt)
	if err != nil {
		return nil, err
	}
	if img.Platform.OS == "" {
		cfg, _ := img.Image.ConfigFile()
		return nil, fmt.Errorf("base %s is a single image for %s, which kiln cannot build for: choose a Linux base",
			ref, platform.String(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}))
	}
	if platforms == nil {
		platforms = []v1.Platform{img.Platform}
	}
	for _, p := range platforms {
		if !sameArch(p, img.Platform) {
			return nil, &SingleImageError{Ref: ref, Platform: img.Platform, Wanted: p}
		}
		one := *img
		one.Platform = p
		b.Images = append(b.Images, &one)
	}
	return b, nil
}

// SingleImageError says that a base is one image, for another platform.
type SingleImageError struct {
	Ref              string
	Platform, Wanted v1.Platform
}

func (e *SingleImageError) Error() string {
	return fmt.Sprintf("base %s is a single image for %s, not %s: choose a multi-platform base, or build for %s only",
		e.Ref, platform.String(e.Platform), platform.String(e.Wanted), platform.String(e.Platform))
}

func platformOf(d v1.Descriptor, asked []v1.Platform, i int) v1.Platform {
	if asked != nil {
		return asked[i]
	}
	p, _ := platform.ParseOne(d.Platform.OS + "/" + d.Platform.Architecture + variantSuffix(d.Platform.Variant))
	return p
}

func variantSuffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}

// pick chooses the index entry for each platform.
func pick(ref string, entries []v1.Descriptor, platforms []v1.Platform) ([]v1.Descriptor, error) {
	var usable []v1.Descriptor
	var offered []string
	nested := false
	for _, d := range entries {
		if d.MediaType.IsIndex() {
			nested = true
			continue
		}
		if d.Platform == nil || d.Platform.OS == "unknown" || d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		p, err := platform.ParseOne(d.Platform.OS + "/" + d.Platform.Architecture + variantSuffix(d.Platform.Variant))
		if err != nil {
			continue // not Linux, or an architecture Go cannot build for
		}
		usable = append(usable, d)
		offered = append(offered, platform.String(p))
	}
	if platforms == nil {
		if nested {
			return nil, fmt.Errorf("base %s holds a nested index, which kiln does not support: use the digest of one of its indexes as the base", ref)
		}
		if len(usable) == 0 {
			return nil, fmt.Errorf("base %s offers no Linux platform kiln can build for", ref)
		}
		return usable, nil
	}
	var out []v1.Descriptor
	for _, want := range platforms {
		found := false
		for i, d := range usable {
			if offered[i] == platform.String(want) {
				out = append(out, d)
				found = true
				break
			}
		}
		if !found {
			if nested {
				return nil, fmt.Errorf("base %s holds a nested index, which kiln does not support: use the digest of one of its indexes as the base", ref)
			}
			return nil, fmt.Errorf("base %s has no image for %s; it offers %s", ref, platform.String(want), strings.Join(offered, ", "))
		}
	}
	return out, nil
}

func sameArch(a, b v1.Platform) bool {
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
}

// manifest fetches what ref points at: from the cache when ref is a digest
// already stored, else from the registry (and stores it).
func (r *Resolver) manifest(ctx context.Context, ref name.Reference) ([]byte, types.MediaType, v1.Hash, error) {
	if d, ok := ref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return nil, "", v1.Hash{}, err
		}
		if data, ok := r.cached(h); ok {
			return data, mediaType(data), h, nil
		}
	}
	desc, err := remote.Get(ref, r.Registry.Remote(ctx)...)
	if err != nil {
		return nil, "", v1.Hash{}, fmt.Errorf("fetching base %s: %w", ref, r.Registry.Explain(err, ref.Context().RegistryStr()))
	}
	if err := r.store(desc.Manifest, desc.Digest); err != nil {
		return nil, "", v1.Hash{}, err
	}
	return desc.Manifest, desc.MediaType, desc.Digest, nil
}

// mediaType reads the media type of a stored manifest or index.
func mediaType(data []byte) types.MediaType {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	json.Unmarshal(data, &m)
	if m.MediaType == "" && m.Manifests != nil {
		return types.OCIImageIndex
	}
	if m.MediaType == "" {
		return types.OCIManifestSchema1
	}
	return m.MediaType
}

// store puts verified bytes in the cache.
func (r *Resolver) store(data []byte, want v1.Hash) error {
	d, err := r.Cache.Blobs().WriteBytes(data, "")
	if err != nil {
		return fmt.Errorf("writing to the cache %s: %w", r.Cache.Dir, err)
	}
	if d.Digest != want {
		return fmt.Errorf("the registry served %s for %s", d.Digest, want)
	}
	return nil
}

func (r *Resolver) image(ctx context.Context, ref name.Digest, digest v1.Hash, p v1.Platform) (*Image, error) {
	data, mt, _, err := r.manifest(ctx, ref)
	if err != nil {
		return nil, err
	}
	img, err := r.imageFrom(ctx, ref, digest, data, mt)
	if err != nil {
		return nil, err
	}
	img.Platform = p
	return img, nil
}

func (r *Resolver) imageFrom(ctx context.Context, ref name.Reference, digest v1.Hash, data []byte, mt types.MediaType) (*Image, error) {
	if mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2 {
		return nil, fmt.Errorf("base %s is a %s, which kiln cannot build on (it takes OCI and Docker v2 images)", ref, mt)
	}
	var m v1.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("base %s: bad manifest: %w", ref, err)
	}
	cfgData, err := r.blob(ctx, ref.Context(), m.Config.Digest)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgData))
	if err != nil {
		return nil, fmt.Errorf("base %s: bad config: %w", ref, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("base %s: its config lists %d layers and its manifest %d", ref, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	img := &Image{Digest: digest, repo: ref.Context()}
	img.Platform, _ = platform.ParseOne(cfg.OS + "/" + cfg.Architecture + variantSuffix(cfg.Variant))
	core := &cachedImage{config: cfgData, layers: map[v1.Hash]*layer.Layer{}}
	oci := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: m.Config.Digest, Size: m.Config.Size},
		Layers:        []v1.Descriptor{},
	}
	for i, d := range m.Layers {
		mt, err := ociLayerType(d.MediaType)
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", ref, err)
		}
		// A descriptor without a valid digest or size names no blob.
		if _, err := v1.NewHash(d.Digest.String()); err != nil || d.Size < 0 {
			return nil, fmt.Errorf("base %s: layer %d of its manifest has no valid digest and size (%q, %d): the registry served a broken manifest", ref, i+1, d.Digest, d.Size)
		}
		l := layer.Stored(r.Cache.Blobs().Path(d.Digest), d.Digest, cfg.RootFS.DiffIDs[i], d.Size, mt)
		img.layers = append(img.layers, l)
		core.layers[d.Digest] = l
		oci.Layers = append(oci.Layers, l.Descriptor())
	}
	if core.manifest, err = json.Marshal(oci); err != nil {
		return nil, err
	}
	if img.Image, err = partial.CompressedToImage(core); err != nil {
		return nil, err
	}
	return img, nil
}

// cachedImage is a base image as kiln reads it from the cache: its config
// as the registry served it, and a manifest with OCI media types.
type cachedImage struct {
	manifest, config []byte
	layers           map[v1.Hash]*layer.Layer
}

func (c *cachedImage) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *cachedImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *cachedImage) RawManifest() ([]byte, error)        { return c.manifest, nil }
func (c *cachedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := c.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("base layer %s is not in the image", h)
}

// ociLayerType maps Docker layer media types to their OCI equivalents
// (the bytes are the same), so images on Docker bases are pure OCI.
func ociLayerType(mt types.MediaType) (types.MediaType, error) {
	switch mt {
	case types.DockerLayer, types.OCILayer:
		return types.OCILayer, nil
	case types.DockerUncompressedLayer, types.OCIUncompressedLayer:
		return types.OCIUncompressedLayer, nil
	case types.OCILayerZStd:
		return mt, nil
	}
	return "", fmt.Errorf("layer type %s is not supported (foreign or non-distributable layers cannot be copied)", mt)
}

// cached returns the small blob h (a manifest, an index, a config) from
// the cache if it is there and hashes to h. A damaged one (a flipped
// byte, a same-size replacement) is removed, said, and reported missing,
// so it is fetched again: its bytes are read anyway, hashing them is
// nearly free.
func (r *Resolver) cached(h v1.Hash) ([]byte, bool) {
	p := r.Cache.Blobs().Path(h)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(data)); got != h {
		r.evict(h, fmt.Sprintf("hashes to %s", got))
		return nil, false
	}
	touch(p)
	return data, true
}

// evict removes the damaged cached blob h, saying why.
func (r *Resolver) evict(h v1.Hash, why string) {
	os.Remove(r.Cache.Blobs().Path(h))
	if r.Logf != nil {
		r.Logf("the cached base blob %s was damaged (%s); fetching it again", h, why)
	}
}

// blob returns a small blob (a config) from the cache or the registry.
func (r *Resolver) blob(ctx context.Context, repo name.Repository, h v1.Hash) ([]byte, error) {
	if data, ok := r.cached(h); ok {
		return data, nil
	}
	if err := r.fetch(ctx, repo, v1.Descriptor{Digest: h, Size: -1}, v1.Hash{}, nil); err != nil {
		return nil, err
	}
	data, ok := r.cached(h)
	if !ok {
		return nil, fmt.Errorf("base blob %s vanished from the cache %s", h, r.Cache.Dir)
	}
	return data, nil
}

// fetch makes sure blob d is in the cache, downloading it if not. A cached
// blob of the wrong size (truncated) is fetched again. A download must
// hash to d's digest, and a layer (diffID set) must decompress to a tar
// whose sha256 is diffID, checked on the bytes as they stream in; add, if
// set, is told of the bytes as they come. Concurrent fetches of one blob download it once.
func (r *Resolver) fetch(ctx context.Context, repo name.Repository, d v1.Descriptor, diffID v1.Hash, add func(int64)) error {
	h := d.Digest
	p := r.Cache.Blobs().Path(h)
	if fi, err := os.Stat(p); err == nil {
		if d.Size < 0 || fi.Size() == d.Size {
			touch(p)
			return nil
		}
		r.evict(h, fmt.Sprintf("%d bytes, not %d", fi.Size(), d.Size))
	}
	_, err, _ := r.fetches.Do(h.String(), func() (any, error) {
		l, err := remote.Layer(repo.Digest(h.String()), r.Registry.Remote(ctx)...)
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("fetching %s from %s: %w", h, repo, r.Registry.Explain(err, repo.RegistryStr()))
		}
		defer rc.Close()
		w, err := r.Cache.Blobs().Create()
		if err != nil {
			return nil, err
		}
		defer w.Abort()
		var src io.Reader = rc
		if add != nil {
			src = countingReader{rc, add}
		}
		check := newDiffCheck(d.MediaType, diffID)
		if _, err := io.Copy(io.MultiWriter(w, check), src); err != nil {
			check.Close()
			return nil, fmt.Errorf("fetching %s from %s: %w", h, repo, r.Registry.Explain(err, repo.RegistryStr()))
		}
		if err := check.Close(); err != nil {
			return nil, fmt.Errorf("base layer %s from %s: %w", h, repo, err)
		}
		if err := w.Verify(h); err != nil {
			return nil, fmt.Errorf("%s served corrupt data: %w", repo.RegistryStr(), err)
		}
		return nil, nil
	})
	return err
}

// Fetch makes sure img's layers are in the cache, downloading those that
// are not; add, if set, is told of the bytes downloaded (Missing says how
// many to expect).
func (r *Resolver) Fetch(ctx context.Context, img *Image, add func(n int64)) error {
	for _, l := range img.layers {
		if err := r.fetch(ctx, img.repo, l.Descriptor(), diffIDOf(l), add); err != nil {
			return err
		}
	}
	return nil
}

// Missing is the size of img's layers that are not in the cache: what
// Fetch downloads.
func (r *Resolver) Missing(img *Image) int64 {
	var n int64
	for _, l := range img.layers {
		d, _ := l.Digest()
		size, _ := l.Size()
		if !r.Cache.Blobs().Has(d, size) {
			n += size
		}
	}
	return n
}

// countingReader tells add how many bytes each Read gave.
type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(int64(n))
	return n, err
}

// Refetch replaces the damaged cached blob h, a layer of one of images
// (found damaged when it was read), by a fresh download. It reports false
// if h is no layer of theirs.
func (r *Resolver) Refetch(ctx context.Context, images []*Image, h v1.Hash) (bool, error) {
	for _, img := range images {
		for _, l := range img.layers {
			if d, _ := l.Digest(); d == h {
				r.evict(h, "its content does not match its digest")
				return true, r.fetch(ctx, img.repo, l.Descriptor(), diffIDOf(l), nil)
			}
		}
	}
	return false, nil
}
