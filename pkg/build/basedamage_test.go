package build_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/buildstore"
)

// TestDamagedBaseLayerInCache: a base layer damaged in the base cache
// after it was fetched is found when the next build copies it (the copy
// is hashed; since 2026-11-29 the copy starts while the program compiles),
// fetched again, and the build's layer is the right one.
func TestDamagedBaseLayerInCache(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ref := strings.TrimPrefix(reg.URL, "http://") + "/base:v1"
	layers := pushRandomBase(t, ref)
	dir := copyExample(t)
	cache := base.Cache{Dir: t.TempDir()}
	o := opts{Dir: dir, Base: ref, Platforms: "linux/amd64", Cache: cache}
	mustBuild(t, o)

	cached := cache.Blobs().Path(layers[0])
	data, err := os.ReadFile(cached)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(cached, data, 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "edit.go"), "package main\n\nvar edited = 1\n")
	res := mustBuild(t, o)
	if res.Reused {
		t.Fatal("the build after an edit reused the last one")
	}
	for what, p := range map[string]string{"the build's copy": buildstore.Layout(res.Build).Blobs().Path(layers[0]), "the cache": cached} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%s of the base layer: %v", what, err)
		}
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); got != layers[0].String() {
			t.Errorf("%s of the base layer hashes to %s, want %s", what, got, layers[0])
		}
	}
}
