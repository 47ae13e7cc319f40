package base

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/blob"
)

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) said(t *testing.T, what ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	all := strings.Join(l.lines, "\n")
	for _, w := range what {
		if !strings.Contains(all, w) {
			t.Errorf("kiln did not say %q; it said:\n%s", w, all)
		}
	}
}

func flip(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, 10)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 10); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedCacheRefetched: the base cache checked only that a blob
// existed (layers: existence and size). A cached layer with a byte
// flipped was used and produced an invalid image, a truncated one made
// every later build fail without a hint, and a same-size replacement of
// the cached index was trusted. Now each is detected where its bytes are
// read (or by its size), fetched again, and said.
func TestDamagedCacheRefetched(t *testing.T) {
	reg := newRegistry(t, nil)
	m := pushMulti(t, reg, "base/multi:v1")
	ctx := context.Background()
	byDigest := reg.Host + "/base/multi@" + m.index.String()

	setup := func(t *testing.T) (*Resolver, *logs, *Base) {
		dir := t.TempDir()
		r := resolver(dir)
		b, err := r.Resolve(ctx, byDigest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Fetch(ctx, b.Images[0], nil); err != nil {
			t.Fatal(err)
		}
		l := &logs{}
		r = resolver(dir)
		r.Logf = l.Logf
		return r, l, b
	}
	layerOf := func(b *Base) (v1.Hash, int64) {
		d := b.Images[0].layers[0].Descriptor()
		return d.Digest, d.Size
	}

	t.Run("flipped byte in a layer", func(t *testing.T) {
		r, l, b := setup(t)
		d, size := layerOf(b)
		flip(t, r.Cache.Blobs().Path(d))
		b, err := r.Resolve(ctx, byDigest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Fetch(ctx, b.Images[0], nil); err != nil {
			t.Fatal(err)
		}
		store := blob.Store{Dir: t.TempDir()}
		err = store.Link(r.Cache.Blobs(), d)
		var ce *blob.CorruptError
		if !errors.As(err, &ce) || ce.Digest != d {
			t.Fatalf("copying the damaged layer out of the cache: %v, want a CorruptError", err)
		}
		// What the build does with that error.
		if ok, err := r.Refetch(ctx, b.Images, d); !ok || err != nil {
			t.Fatalf("Refetch = %v, %v", ok, err)
		}
		if err := store.Link(r.Cache.Blobs(), d); err != nil {
			t.Fatal(err)
		}
		if !store.Has(d, size) {
			t.Error("the layer is not in the store after it was fetched again")
		}
		l.said(t, d.String(), "damaged", "fetching it again")
	})

	t.Run("truncated layer", func(t *testing.T) {
		r, l, b := setup(t)
		d, size := layerOf(b)
		if err := os.Truncate(r.Cache.Blobs().Path(d), size/2); err != nil {
			t.Fatal(err)
		}
		b, err := r.Resolve(ctx, byDigest, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Fetch(ctx, b.Images[0], nil); err != nil {
			t.Fatal(err)
		}
		if !r.Cache.Blobs().Has(d, size) {
			t.Error("the truncated layer was not fetched again")
		}
		l.said(t, d.String(), fmt.Sprintf("%d bytes, not %d", size/2, size), "fetching it again")
	})

	for _, which := range []string{"index", "config"} {
		t.Run("same-size replaced "+which, func(t *testing.T) {
			r, l, b := setup(t)
			h := m.index
			if which == "config" {
				cfg, _ := b.Images[0].Image.ConfigName()
				h = cfg
			}
			flip(t, r.Cache.Blobs().Path(h))
			b2, err := r.Resolve(ctx, byDigest, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b2.Digest != m.index || len(b2.Images) != len(b.Images) {
				t.Errorf("resolved %s with %d images after the damage, want %s with %d", b2.Digest, len(b2.Images), m.index, len(b.Images))
			}
			data, err := os.ReadFile(r.Cache.Blobs().Path(h))
			if got, _, _ := v1.SHA256(strings.NewReader(string(data))); err != nil || got != h {
				t.Errorf("the cached %s still hashes to %s", which, got)
			}
			l.said(t, h.String(), "damaged", "fetching it again")
		})
	}
}

// TestBadBaseLayerRefused: a base layer whose bytes are not gzip though
// its media type says so, or whose uncompressed content does not hash to
// the config's diff_id, passed through into images. Both are refused when
// the layer is first fetched into the cache (checked on the bytes as they
// stream in), and nothing is cached.
func TestBadBaseLayerRefused(t *testing.T) {
	reg := newRegistry(t, nil)
	ctx := context.Background()

	notGzip := image(t, false, "linux", "amd64", "", static.NewLayer([]byte("plain bytes, not gzip"), types.DockerLayer))
	reg.push(t, "base/notgzip:v1", notGzip)

	good := image(t, false, "linux", "amd64", "", randomLayer(t, types.DockerLayer))
	cf, err := good.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	wrong, err := mutate.ConfigFile(good, cf)
	if err != nil {
		t.Fatal(err)
	}
	reg.push(t, "base/wrongdiff:v1", wrong)

	for _, c := range []struct{ ref, want string }{
		{"base/notgzip:v1", "not gzip"},
		{"base/wrongdiff:v1", "diff_id is sha256:abab"},
	} {
		t.Run(c.ref, func(t *testing.T) {
			r := resolver(t.TempDir())
			b, err := r.Resolve(ctx, reg.Host+"/"+c.ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Fetch(ctx, b.Images[0], nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("fetching the layers of %s: %v, want an error saying %q", c.ref, err, c.want)
			}
			d := b.Images[0].layers[0].Descriptor()
			if _, err := os.Stat(r.Cache.Blobs().Path(d.Digest)); err == nil {
				t.Error("the bad layer was kept in the cache")
			}
		})
	}
}
