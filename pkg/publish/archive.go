package publish

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/atomicfile"
)

// Import copies the images descs of the layout src into l (its blobs by
// hard link where possible) and names them in l's index. src must hold only
// those images' blobs, as a build folder does. Call it holding l's lock.
func (l Layout) Import(src Layout, descs ...v1.Descriptor) error {
	if err := l.Init(); err != nil {
		return err
	}
	hashes, err := src.blobs()
	if err != nil {
		return err
	}
	for _, h := range hashes {
		if err := l.Blobs().Link(src.Blobs(), h); err != nil {
			return err
		}
	}
	return l.Put(descs...)
}

// blobs lists the layout's complete blobs.
func (l Layout) blobs() ([]v1.Hash, error) {
	entries, err := os.ReadDir(l.Blobs().Dir)
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, e := range entries {
		if h, err := v1.NewHash("sha256:" + e.Name()); err == nil {
			out = append(out, h)
		}
	}
	return out, nil
}

// WriteOCIArchive writes the images descs of src as an OCI archive: a tar
// of an OCI image layout holding only them. file is replaced atomically.
func WriteOCIArchive(src Layout, file string, descs ...v1.Descriptor) error {
	idx, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		return err
	}
	hashes, err := src.blobs()
	if err != nil {
		return err
	}
	slices.SortFunc(hashes, func(a, b v1.Hash) int { return strings.Compare(a.Hex, b.Hex) })
	return writeFileAtomic(file, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		dir := func(n string) error {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: n, Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
		}
		file := func(n string, size int64, r io.Reader) error {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
				return err
			}
			_, err := io.Copy(tw, r)
			return err
		}
		if err := file("oci-layout", int64(len(layoutFile)), strings.NewReader(layoutFile)); err != nil {
			return err
		}
		if err := file("index.json", int64(len(idx)), bytes.NewReader(idx)); err != nil {
			return err
		}
		for _, d := range []string{"blobs/", "blobs/sha256/"} {
			if err := dir(d); err != nil {
				return err
			}
		}
		for _, h := range hashes {
			f, err := os.Open(src.Blobs().Path(h))
			if err != nil {
				return err
			}
			fi, err := f.Stat()
			if err == nil {
				err = file("blobs/sha256/"+h.Hex, fi.Size(), f)
			}
			f.Close()
			if err != nil {
				return err
			}
		}
		return tw.Close()
	})
}

// WriteDockerArchive writes single-platform images of src, each under a tag
// ("hello:latest" maps to the manifest digest), in the format of "docker
// save", which "docker load" and "podman load" accept. file is replaced
// atomically.
func WriteDockerArchive(src Layout, file string, images map[string]v1.Hash) error {
	lp, err := layout.FromPath(src.Root)
	if err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	for tag, h := range images {
		ref, err := name.NewTag(tag)
		if err != nil {
			return fmt.Errorf("%q cannot name an image in a tar archive: %w", tag, err)
		}
		img, err := lp.Image(h)
		if err != nil {
			return err
		}
		refs[ref] = img
	}
	return writeFileAtomic(file, func(w io.Writer) error { return tarball.MultiRefWrite(refs, w) })
}

// writeFileAtomic writes file through a temporary file in its directory,
// so readers never see it half-written.
func writeFileAtomic(file string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(file, 0o644, write)
}
