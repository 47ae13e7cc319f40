// Package layout reads and writes OCI image layouts, the one on-disk model
// of kiln's images: builds are written into one (.kiln's), outputs are
// copies of them, and everything is read back through go-containerregistry
// (v1.Image, v1.ImageIndex). Blobs are written through pkg/blob, so a
// killed write never leaves a partial blob under a digest's name, and
// index.json is replaced atomically.
package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/atomicfile"
	"github.com/kiln-build/kiln/pkg/blob"
)

// RefNameAnnotation names an image in index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// ImageAnnotation names, on the index.json entry of a referrer (an SBOM,
// a signature), the image it belongs to, so that replacing the image
// replaces its referrers too.
const ImageAnnotation = "dev.kiln.image"

const LayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// ErrNotLayout says that a directory holds files but no OCI image layout,
// which kiln will not write into.
var ErrNotLayout = errors.New("is neither empty nor an OCI image layout; choose a new or empty directory")

// Layout is an OCI image layout directory.
type Layout struct {
	Root string
	// Cache says the layout is a cache whose readers check what they read
	// (a .kiln build, verified before it is reused): its files are
	// replaced atomically but not synced, which a crash may leave damaged.
	Cache bool
}

// Blobs is the layout's blob store.
func (l Layout) Blobs() blob.Store {
	return blob.Store{Dir: filepath.Join(l.Root, "blobs", "sha256")}
}

// CheckDir accepts a directory that kiln may write a layout into: one that
// does not exist yet, is empty, or is already an OCI image layout.
func CheckDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot use %s as output: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("%s %w", dir, ErrNotLayout)
	}
	return nil
}

// Init creates the layout's skeleton if it is missing and removes files
// that an interrupted build left half-written. Call it while holding the
// lock on the layout.
func (l Layout) Init() error {
	if err := os.MkdirAll(l.Blobs().Dir, 0o755); err != nil {
		return err
	}
	if err := (blob.Store{Dir: l.Root}).Clean(); err != nil {
		return err
	}
	p := filepath.Join(l.Root, "oci-layout")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		if err := l.writeAtomic(p, []byte(LayoutFile)); err != nil {
			return err
		}
	}
	return l.Blobs().Clean()
}

// Index reads index.json; a layout without one has an empty index.
func (l Layout) Index() (*v1.IndexManifest, error) {
	data, err := os.ReadFile(filepath.Join(l.Root, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s/index.json is not valid: %w", l.Root, err)
	}
	return &idx, nil
}

// Put records images in index.json, each under the ref name in its
// annotations, and referrers (entries without a ref name, see
// ReferrerDescriptor). An entry of the same name is replaced, with the
// referrers of the image it named; others are kept. index.json is
// replaced atomically, so readers see the old or the new index, never a
// mix.
func (l Layout) Put(images ...v1.Descriptor) error {
	idx, err := l.Index()
	if err != nil {
		return err
	}
	names := map[string]bool{}
	referrers := map[v1.Hash]bool{}
	for _, d := range images {
		if n := d.Annotations[RefNameAnnotation]; n != "" {
			names[n] = true
		} else {
			referrers[d.Digest] = true
		}
	}
	kept := []v1.Descriptor{}
	for _, d := range idx.Manifests {
		n, ok := d.Annotations[RefNameAnnotation]
		switch {
		case ok && names[n]:
		case !ok && (referrers[d.Digest] || names[d.Annotations[ImageAnnotation]]):
		default:
			kept = append(kept, d)
		}
	}
	idx.SchemaVersion = 2
	idx.MediaType = types.OCIImageIndex
	idx.Manifests = append(kept, images...)
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return l.writeAtomic(filepath.Join(l.Root, "index.json"), append(data, '\n'))
}

// Artifact is an image or an index: a v1.Image or a v1.ImageIndex.
type Artifact interface {
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
	Size() (int64, error)
	RawManifest() ([]byte, error)
}

// Descriptor returns the index entry of a, named name in the layout; an
// image's entry says its platform.
func Descriptor(a Artifact, name string) (v1.Descriptor, error) {
	d := v1.Descriptor{Annotations: map[string]string{RefNameAnnotation: name}}
	var err error
	if d.MediaType, err = a.MediaType(); err != nil {
		return d, err
	}
	if d.Digest, err = a.Digest(); err != nil {
		return d, err
	}
	if d.Size, err = a.Size(); err != nil {
		return d, err
	}
	if img, ok := a.(v1.Image); ok {
		cfg, err := img.ConfigFile()
		if err != nil {
			return d, err
		}
		d.Platform = cfg.Platform()
	}
	return d, nil
}

// ReferrerDescriptor returns the index entry of the referrer r of the
// image named image: no ref name (tools such as oras list it as a
// referrer of its subject, not as an image), its artifact type, and the
// image's name in ImageAnnotation.
func ReferrerDescriptor(r v1.Image, image string) (v1.Descriptor, error) {
	d, err := Subject(r)
	if err != nil {
		return d, err
	}
	m, err := r.Manifest()
	if err != nil {
		return d, err
	}
	d.ArtifactType, d.Annotations = m.ArtifactType, map[string]string{ImageAnnotation: image}
	return d, nil
}

// Subject returns the bare descriptor of a (media type, digest, size), as
// a referrer's subject names it.
func Subject(a Artifact) (v1.Descriptor, error) {
	var d v1.Descriptor
	var err error
	if d.MediaType, err = a.MediaType(); err != nil {
		return d, err
	}
	if d.Digest, err = a.Digest(); err != nil {
		return d, err
	}
	d.Size, err = a.Size()
	return d, err
}

// OpenReferrer returns the referrer manifest h of the layout.
func (l Layout) OpenReferrer(h v1.Hash) (v1.Image, error) {
	a, err := l.OpenDescriptor(v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h})
	if err != nil {
		return nil, err
	}
	return a.(v1.Image), nil
}

// Write stores the blobs of a (its manifests, configs and layers) in the
// layout, without naming it in index.json (Put does). A blob the layout
// has is kept; one found in a store of from is linked or copied from
// there; others are streamed from a and verified against their digest.
func (l Layout) Write(a Artifact, from ...blob.Store) error {
	store := l.Blobs()
	return Walk(a, func(b Blob) error {
		if store.Has(b.Digest, b.Size) {
			return nil
		}
		for _, src := range from {
			if src.Has(b.Digest, b.Size) {
				return store.Link(src, b.Digest)
			}
		}
		r, err := b.Open()
		if err != nil {
			return err
		}
		defer r.Close()
		if err := store.Put(b.Digest, r); err != nil {
			return fmt.Errorf("%s: %w", b.Digest, err)
		}
		return nil
	})
}

// Blob is one blob of an artifact.
type Blob struct {
	Digest v1.Hash
	Size   int64
	Open   func() (io.ReadCloser, error)
}

// Walk calls fn for every blob of a: for an image its layers, config and
// manifest; for an index its children's blobs, then its own manifest. A
// blob shared by several images is visited once for each.
func Walk(a Artifact, fn func(Blob) error) error {
	switch a := a.(type) {
	case v1.ImageIndex:
		if err := eachChild(a, func(c Artifact) error { return Walk(c, fn) }); err != nil {
			return err
		}
	case v1.Image:
		layers, err := a.Layers()
		if err != nil {
			return err
		}
		for _, layer := range layers {
			d, err := layer.Digest()
			if err != nil {
				return err
			}
			n, err := layer.Size()
			if err != nil {
				return err
			}
			if err := fn(Blob{Digest: d, Size: n, Open: layer.Compressed}); err != nil {
				return fmt.Errorf("layer %s: %w", d, err)
			}
		}
		cfg, err := a.RawConfigFile()
		if err != nil {
			return err
		}
		if err := fn(bytesBlob(cfg)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%T is neither an image nor an index", a)
	}
	m, err := a.RawManifest()
	if err != nil {
		return err
	}
	return fn(bytesBlob(m))
}

// bytesBlob is a blob held in memory (a manifest, a config).
func bytesBlob(data []byte) Blob {
	h, n, _ := v1.SHA256(bytes.NewReader(data))
	return Blob{Digest: h, Size: n, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// Corrupt reports the digest of the blob that err (from Write) found
// damaged, if it says so.
func Corrupt(err error) (v1.Hash, bool) {
	var ce *blob.CorruptError
	if errors.As(err, &ce) {
		return ce.Digest, true
	}
	return v1.Hash{}, false
}

// Open returns the image or index named name in the layout.
func (l Layout) Open(name string) (Artifact, v1.Descriptor, error) {
	idx, err := l.Index()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	for _, d := range idx.Manifests {
		if d.Annotations[RefNameAnnotation] == name {
			a, err := l.OpenDescriptor(d)
			return a, d, err
		}
	}
	return nil, v1.Descriptor{}, fmt.Errorf("%s holds no image named %s", l.Root, name)
}

// OpenDescriptor returns the image or index d of the layout.
func (l Layout) OpenDescriptor(d v1.Descriptor) (Artifact, error) {
	p, err := layout.FromPath(l.Root)
	if err != nil {
		return nil, err
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	if d.MediaType.IsIndex() {
		return root.ImageIndex(d.Digest)
	}
	return root.Image(d.Digest)
}

// writeAtomic replaces p with data through a rename.
func (l Layout) writeAtomic(p string, data []byte) error {
	if l.Cache {
		return atomicfile.WriteCache(p, data, 0o644)
	}
	return atomicfile.WriteBytes(p, data, 0o644)
}

// Verify checks the artifact a, read from the layout, without reading its
// layers: every manifest and config hashes to its digest and has its size
// (their bytes are read anyway), and every layer is there with its size.
// Layers are hashed where they are read: copied to an output, archived.
func (l Layout) Verify(a Artifact) error {
	want, err := a.Digest()
	if err != nil {
		return err
	}
	raw, err := a.RawManifest()
	if err != nil {
		return err
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(raw)); got != want {
		return fmt.Errorf("manifest %s is damaged: it hashes to %s", want, got)
	}
	switch a := a.(type) {
	case v1.ImageIndex:
		if err := eachChild(a, l.Verify); err != nil {
			return err
		}
	case v1.Image:
		m, err := a.Manifest()
		if err != nil {
			return err
		}
		cfg, err := a.RawConfigFile()
		if err != nil {
			return err
		}
		if got, n, _ := v1.SHA256(bytes.NewReader(cfg)); got != m.Config.Digest || n != m.Config.Size {
			return fmt.Errorf("config %s is damaged: %d bytes hashing to %s", m.Config.Digest, n, got)
		}
		for _, d := range m.Layers {
			if !l.Blobs().Has(d.Digest, d.Size) {
				return fmt.Errorf("layer %s is missing or not %d bytes long", d.Digest, d.Size)
			}
		}
	}
	return nil
}

// eachChild calls fn for each image or index an index lists.
func eachChild(a v1.ImageIndex, fn func(Artifact) error) error {
	im, err := a.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		var child Artifact
		if d.MediaType.IsIndex() {
			child, err = a.ImageIndex(d.Digest)
		} else {
			child, err = a.Image(d.Digest)
		}
		if err != nil {
			return err
		}
		if err := fn(child); err != nil {
			return err
		}
	}
	return nil
}
