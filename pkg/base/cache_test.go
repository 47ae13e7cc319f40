package base

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func putBlob(t *testing.T, c Cache, content string) v1.Hash {
	t.Helper()
	d, err := c.Blobs().WriteBytes([]byte(content), "")
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

func age(t *testing.T, p string, by time.Duration) {
	t.Helper()
	old := time.Now().Add(-by)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestCacheUsageAndPrune(t *testing.T) {
	c := Cache{Dir: filepath.Join(t.TempDir(), "kiln")}
	ctx := context.Background()

	// A cache never used is empty, and pruning it creates nothing.
	if u, err := c.Usage(); err != nil || u != (Usage{}) {
		t.Fatalf("Usage of a missing cache = %+v, %v", u, err)
	}
	if u, err := c.Prune(ctx, 0); err != nil || u != (Usage{}) {
		t.Fatalf("Prune of a missing cache = %+v, %v", u, err)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("Prune created %s", c.Dir)
	}

	putBlob(t, c, "one")
	putBlob(t, c, "three")
	putBlob(t, c, "three") // stored once
	u, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u != (Usage{Blobs: 2, Bytes: 8}) {
		t.Errorf("Usage = %+v, want 2 blobs of 8 bytes", u)
	}

	removed, err := c.Prune(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if removed != u {
		t.Errorf("Prune removed %+v, want %+v", removed, u)
	}
	if u, err := c.Usage(); err != nil || u != (Usage{}) {
		t.Errorf("Usage after Prune = %+v, %v; want empty", u, err)
	}
}

func TestCachePruneOlderThan(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	oldBlob := putBlob(t, c, "old blob")
	newBlob := putBlob(t, c, "new")
	age(t, c.Blobs().Path(oldBlob), 48*time.Hour)

	removed, err := c.Prune(context.Background(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if removed != (Usage{Blobs: 1, Bytes: int64(len("old blob"))}) {
		t.Errorf("Prune removed %+v, want the old blob only", removed)
	}
	if _, err := os.Stat(c.Blobs().Path(oldBlob)); !os.IsNotExist(err) {
		t.Errorf("the blob unused for 48h is still there: %v", err)
	}
	if _, err := os.Stat(c.Blobs().Path(newBlob)); err != nil {
		t.Errorf("the blob used just now was pruned: %v", err)
	}
}

// A base resolved from the cache counts as used, so pruning old blobs
// keeps it.
func TestCacheResolveTouches(t *testing.T) {
	reg := newRegistry(t, nil)
	img := image(t, true, "linux", "amd64", "", randomLayer(t, types.OCILayer))
	d := reg.push(t, "base/img:v1", img)
	c := Cache{Dir: t.TempDir()}
	r := resolver(c.Dir)
	ctx := context.Background()
	ref := reg.Host + "/base/img@" + d.String()
	b, err := r.Resolve(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := link(ctx, r, b.Images[0], c.Blobs()); err != nil { // linking into itself is a no-op
		t.Fatal(err)
	}
	u, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Blobs != 3 { // manifest, config, layer
		t.Fatalf("the cache holds %d blobs, want 3", u.Blobs)
	}
	entries, _ := os.ReadDir(c.Blobs().Dir)
	for _, e := range entries {
		age(t, filepath.Join(c.Blobs().Dir, e.Name()), 48*time.Hour)
	}
	r = resolver(c.Dir)
	b, err = r.Resolve(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := link(ctx, r, b.Images[0], c.Blobs()); err != nil {
		t.Fatal(err)
	}
	removed, err := c.Prune(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if removed.Blobs != 0 {
		t.Errorf("Prune removed %d blobs of a base used just now", removed.Blobs)
	}
}

func TestCachePruneWaitsForUsers(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	d := putBlob(t, c, "in use")
	unlock, err := c.Lock(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	// Shared locks do not exclude each other.
	unlock2, err := c.Lock(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Prune(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Prune while a build uses the cache = %v, want it to wait until cancelled", err)
	}
	if _, err := os.Stat(c.Blobs().Path(d)); err != nil {
		t.Errorf("Prune removed a blob while the cache was in use: %v", err)
	}
	unlock()
	if removed, err := c.Prune(context.Background(), 0); err != nil || removed.Blobs != 1 {
		t.Errorf("Prune after the build = %+v, %v; want 1 blob removed", removed, err)
	}
}

func TestCachePruneCleansLeftovers(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	putBlob(t, c, "kept")
	w, err := c.Blobs().Create()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write([]byte("half-written"))
	// A killed writer leaves its temporary file behind; it is no blob.
	if u, err := c.Usage(); err != nil || u != (Usage{Blobs: 1, Bytes: 4}) {
		t.Errorf("Usage with a blob being written = %+v, %v; want 1 blob of 4 bytes", u, err)
	}
	if _, err := c.Prune(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if tmp := tmpFiles(t, c.Dir); len(tmp) != 0 {
		t.Errorf("Prune left %v", tmp)
	}
	if u, err := c.Usage(); err != nil || u.Blobs != 1 {
		t.Errorf("Usage after Prune = %+v, %v; want the recent blob kept", u, err)
	}
}

func TestDefaultCache(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KILN_CACHE_DIR", filepath.Join(dir, "explicit"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	c, err := DefaultCache()
	if err != nil || c.Dir != filepath.Join(dir, "explicit") {
		t.Errorf("DefaultCache with KILN_CACHE_DIR = %q, %v", c.Dir, err)
	}
	if got, want := c.Blobs().Dir, filepath.Join(dir, "explicit", "blobs", "sha256"); got != want {
		t.Errorf("Blobs().Dir = %s, want %s", got, want)
	}

	t.Setenv("KILN_CACHE_DIR", "")
	c, err = DefaultCache()
	if err != nil || c.Dir != filepath.Join(dir, "xdg", "kiln") {
		t.Errorf("DefaultCache with XDG_CACHE_HOME = %q, %v; want %s", c.Dir, err, filepath.Join(dir, "xdg", "kiln"))
	}

	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", filepath.Join(dir, "home"))
	c, err = DefaultCache()
	if err != nil || c.Dir != filepath.Join(dir, "home", ".cache", "kiln") {
		t.Errorf("DefaultCache with only HOME = %q, %v", c.Dir, err)
	}

	t.Setenv("HOME", "")
	if c, err := DefaultCache(); err == nil || c.Dir != "" {
		t.Errorf("DefaultCache without any directory = %q, %v; want an error", c.Dir, err)
	}
}
