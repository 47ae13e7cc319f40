// Package base resolves base images: it picks the image for each platform
// from a reference (a tag or digest, a single image or an index, OCI or
// Docker media types) and keeps their blobs in a cache shared by every
// project on the machine, so a base pinned by digest builds offline once
// cached.
package base

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/blob"
	"github.com/kiln-build/kiln/pkg/lock"
)

// Cache is the machine-wide store of base image blobs: manifests, configs
// and layers, each verified against its digest when stored.
type Cache struct {
	Dir string
}

// DefaultCache is $KILN_CACHE_DIR, else kiln/ under the user's cache
// directory ($XDG_CACHE_HOME or ~/.cache on Linux).
func DefaultCache() (Cache, error) {
	if d := os.Getenv("KILN_CACHE_DIR"); d != "" {
		return Cache{Dir: d}, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return Cache{}, fmt.Errorf("no cache directory: %w; set KILN_CACHE_DIR", err)
	}
	return Cache{Dir: filepath.Join(d, "kiln")}, nil
}

// Blobs is the cache's blob store.
func (c Cache) Blobs() blob.Store {
	return blob.Store{Dir: filepath.Join(c.Dir, "blobs", "sha256")}
}

// Lock takes the cache's lock, shared (builds using it) or exclusive
// (pruning), so a prune never removes a blob a build is linking.
func (c Cache) Lock(ctx context.Context, exclusive bool) (func(), error) {
	if exclusive {
		return lock.Lock(ctx, c.Dir, nil)
	}
	return lock.RLock(ctx, c.Dir)
}

// Usage is what the cache holds.
type Usage struct {
	Blobs int
	Bytes int64
}

// Usage counts the cached blobs and their size.
func (c Cache) Usage() (Usage, error) {
	var u Usage
	err := c.walk(func(_ string, fi fs.FileInfo) error {
		u.Blobs++
		u.Bytes += fi.Size()
		return nil
	})
	return u, err
}

// Prune removes blobs not used for olderThan (all of them for 0) and
// returns what it removed. It holds the cache's exclusive lock meanwhile.
func (c Cache) Prune(ctx context.Context, olderThan time.Duration) (Usage, error) {
	var removed Usage
	if _, err := os.Stat(c.Dir); errors.Is(err, os.ErrNotExist) {
		return removed, nil
	}
	unlock, err := c.Lock(ctx, true)
	if err != nil {
		return removed, err
	}
	defer unlock()
	cutoff := time.Now().Add(-olderThan)
	err = c.walk(func(p string, fi fs.FileInfo) error {
		if olderThan > 0 && fi.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		removed.Blobs++
		removed.Bytes += fi.Size()
		return nil
	})
	if err == nil {
		err = c.Blobs().Clean()
	}
	return removed, err
}

func (c Cache) walk(fn func(string, fs.FileInfo) error) error {
	entries, err := os.ReadDir(c.Blobs().Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := v1.NewHash("sha256:" + e.Name()); err != nil {
			continue // a blob being written, not a blob
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := fn(filepath.Join(c.Blobs().Dir, e.Name()), fi); err != nil {
			return err
		}
	}
	return nil
}

// touch marks a blob as used now, for Prune's olderThan.
func touch(p string) {
	now := time.Now()
	os.Chtimes(p, now, now)
}
