// Package output writes what a build produces: OCI image layouts, the
// project's .kiln build directories, and the locks that keep two builds
// from writing the same place at once.
package output

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/blob"
)

// RefNameAnnotation names an image in index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

const layoutFile = `{"imageLayoutVersion":"1.0.0"}`

// Layout is an OCI image layout directory.
type Layout struct {
	Root string
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
		return fmt.Errorf("%s is neither empty nor an OCI image layout; choose a new or empty directory for --output oci:DIR", dir)
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
		if err := writeAtomic(p, []byte(layoutFile)); err != nil {
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
// annotations. An entry of the same name is replaced and others are kept.
// index.json is replaced atomically, so readers see the old or the new
// index, never a mix.
func (l Layout) Put(images ...v1.Descriptor) error {
	idx, err := l.Index()
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, d := range images {
		names[d.Annotations[RefNameAnnotation]] = true
	}
	kept := []v1.Descriptor{}
	for _, d := range idx.Manifests {
		if !names[d.Annotations[RefNameAnnotation]] {
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
	return writeAtomic(filepath.Join(l.Root, "index.json"), append(data, '\n'))
}

// writeAtomic replaces p with data through a rename.
func writeAtomic(p string, data []byte) error {
	return writeFileAtomic(p, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
