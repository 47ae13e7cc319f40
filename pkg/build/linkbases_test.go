package build

import (
	"context"
	"fmt"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/pkg/base"
	"github.com/kiln-build/kiln/pkg/buildstore"
	"github.com/kiln-build/kiln/pkg/plan"
)

// TestLinkBasesStopsWhenCancelled: the base layers copied into a build
// during the compile stop being copied when the build is cancelled (a
// Ctrl-C does not wait for a large base's copies); not cancelled, every
// layer is copied.
func TestLinkBasesStopsWhenCancelled(t *testing.T) {
	cache := base.Cache{Dir: t.TempDir()}
	bi := &BaseImage{Name: "base"}
	for i := range 3 {
		d, err := cache.Blobs().WriteBytes([]byte(fmt.Sprintf("layer %d", i)), "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		bi.Layers = append(bi.Layers, d.Digest.String())
	}
	b := &builder{plan: &plan.Plan{Resolver: &base.Resolver{Cache: cache}}}
	for _, cancelled := range []bool{true, false} {
		lay := buildstore.Layout(t.TempDir())
		if err := lay.Init(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if cancelled {
			cancel()
		}
		<-b.linkBases(ctx, lay, map[string]*BaseImage{"base": bi})
		cancel()
		for _, l := range bi.Layers {
			h, _ := v1.NewHash(l)
			if copied := lay.Blobs().Has(h, int64(len("layer 0"))); copied == cancelled {
				t.Errorf("cancelled %v: layer %s copied: %v", cancelled, l, copied)
			}
		}
	}
}
