package python

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/lazy"
	"github.com/kiln-build/kiln/pkg/atomicfile"
)

// pythonDir matches where a Python X.Y lives in an image: its library
// (usr/lib/pythonX.Y, usr/local/lib/pythonX.Y) or its interpreter
// (usr/bin/pythonX.Y, usr/local/bin/pythonX.Y).
var pythonDir = lazy.Regexp(`^(?:usr/|usr/local/)(lib|bin)/python(3\.[0-9]+)(?:/|$)`)

// FilesystemVersion learns the Python of an image from its file system,
// for bases whose config does not say (no PYTHON_VERSION, as Debian's and
// distroless images): the X.Y of a usr/lib/pythonX.Y or
// usr/local/lib/pythonX.Y directory, preferring those with a
// pythonX.Y interpreter beside them when there are several. It reads
// the layers' tar headers, honouring whiteouts.
func FilesystemVersion(img v1.Image) (string, error) {
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	libs, bins := map[string]bool{}, map[string]bool{}
	for _, l := range layers {
		if err := scanLayer(l, libs, bins); err != nil {
			return "", err
		}
	}
	var found, withBin []string
	for v := range libs {
		found = append(found, v)
		if bins[v] {
			withBin = append(withBin, v)
		}
	}
	if len(withBin) > 0 {
		found = withBin
	}
	slices.Sort(found)
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("it holds several Pythons (%s)", strings.Join(found, ", "))
}

// scanLayer adds the Python versions layer l installs to libs and bins,
// and removes those it deletes.
func scanLayer(l v1.Layer, libs, bins map[string]bool) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(name)
		if rest, ok := strings.CutPrefix(base, ".wh."); ok {
			if m := pythonDir().FindStringSubmatch(dir + rest); m != nil && dir+rest == strings.TrimSuffix(m[0], "/") {
				delete(set(m[1], libs, bins), m[2])
			}
			continue
		}
		if m := pythonDir().FindStringSubmatch(name); m != nil {
			set(m[1], libs, bins)[m[2]] = true
		}
	}
}

func set(kind string, libs, bins map[string]bool) map[string]bool {
	if kind == "lib" {
		return libs
	}
	return bins
}

// filesystemVersion is FilesystemVersion remembered by the image's config
// digest in the file cache (a JSON map), so that each base is read once.
// fetch, when set, makes the image's layers readable first.
func filesystemVersion(ctx context.Context, img v1.Image, fetch func(context.Context) error, cache string) (string, error) {
	cfg, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	known := map[string]string{}
	if data, err := os.ReadFile(cache); err == nil {
		json.Unmarshal(data, &known)
	}
	if v, ok := known[cfg.String()]; ok {
		return v, nil
	}
	if fetch != nil {
		if err := fetch(ctx); err != nil {
			return "", err
		}
	}
	v, err := FilesystemVersion(img)
	if err != nil {
		return "", err
	}
	known[cfg.String()] = v
	if data, err := json.Marshal(known); err == nil && os.MkdirAll(filepath.Dir(cache), 0o755) == nil {
		atomicfile.WriteBytes(cache, data, 0o644) // a cache: failing costs the next build a scan
	}
	return v, nil
}
