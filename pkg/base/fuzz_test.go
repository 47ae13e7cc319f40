package base

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/pkg/platform"
	"github.com/kiln-build/kiln/pkg/registry"
)

// offline is a transport that refuses every request: the fuzz target
// resolves from the cache only.
type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline")
}

// Placeholders in the fuzzed documents for the digests of the others,
// which the fuzzer could not guess.
var (
	childDigest  = []byte("<child>")
	configDigest = []byte("<config>")
)

// FuzzResolveCached runs what Resolve does with the manifests, indexes and
// configs a registry serves, on fuzzed bytes: top is what the reference
// points at (an index or a manifest), child a manifest an index may point
// at ("<child>" in top stands for its digest), config an image config
// ("<config>" stands for its digest). All three are put in the cache and
// the reference is by digest, so Resolve reads them without the network
// (the transport refuses every request). Resolve must not panic; its
// errors must say something; what it accepts must be consistent: one image
// per platform asked for, as many layers as the config has diff IDs, only
// OCI layer types, and a manifest that survives a JSON round trip.
func FuzzResolveCached(f *testing.F) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]},"config":{"Env":["PATH=/usr/bin"]}}`)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"<config>","size":10},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","size":3}]}`)
	docker := bytes.ReplaceAll(bytes.ReplaceAll(manifest, []byte("application/vnd.oci.image.manifest.v1+json"), []byte(types.DockerManifestSchema2)), []byte("application/vnd.oci.image.layer.v1.tar+gzip"), []byte(types.DockerLayer))
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<child>","size":1,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"<child>","size":1,"platform":{"os":"unknown","architecture":"unknown"}}]}`)
	f.Add(manifest, []byte{}, cfg, "")
	f.Add(docker, []byte{}, cfg, "linux/amd64")
	f.Add(index, manifest, cfg, "")
	f.Add(index, manifest, cfg, "linux/amd64")
	f.Add(index, manifest, cfg, "linux/arm64")
	f.Add([]byte(`{"manifests":[]}`), []byte{}, []byte{}, "")
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"<config>"},"layers":[]}`), []byte{}, []byte(`{"os":"windows","architecture":"amd64","rootfs":{"diff_ids":[]}}`), "")
	f.Add([]byte(`{"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}`), []byte{}, []byte{}, "")
	f.Add([]byte(`null`), []byte(`[]`), []byte(`{}`), "all")

	f.Fuzz(func(t *testing.T, top, child, config []byte, plats string) {
		var platforms []v1.Platform
		if plats != "" && plats != "all" {
			ps, err := platform.Parse(plats)
			if err != nil {
				return
			}
			platforms = ps
		}
		r := &Resolver{Cache: Cache{Dir: t.TempDir()}, Registry: registry.Options{Keychain: authn.NewMultiKeychain(), Transport: offline{}}}
		store := r.Cache.Blobs()
		put := func(data []byte) v1.Hash {
			d, err := store.WriteBytes(data, "")
			if err != nil {
				t.Fatal(err)
			}
			return d.Digest
		}
		cd := []byte(put(config).String())
		child = bytes.ReplaceAll(child, configDigest, cd)
		md := []byte(put(child).String())
		top = bytes.ReplaceAll(bytes.ReplaceAll(top, childDigest, md), configDigest, cd)
		td := put(top)

		if mt := mediaType(top); mt == "" {
			t.Fatalf("mediaType(%q) is empty", top)
		}
		const repo = "127.0.0.1:9/fuzz"
		b, err := r.Resolve(context.Background(), repo+"@"+td.String(), platforms)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("Resolve failed with an empty message")
			}
			return
		}
		if b.Digest != td {
			t.Fatalf("Digest = %s, want %s", b.Digest, td)
		}
		if len(b.Images) == 0 || (platforms != nil && len(b.Images) != len(platforms)) {
			t.Fatalf("%d images for platforms %v", len(b.Images), platforms)
		}
		for i, img := range b.Images {
			if platforms != nil && platform.String(img.Platform) != platform.String(platforms[i]) {
				t.Fatalf("image %d is for %s, want %s", i, platform.String(img.Platform), platform.String(platforms[i]))
			}
			cfg, err := img.Image.ConfigFile()
			if err != nil || len(img.layers) != len(cfg.RootFS.DiffIDs) {
				t.Fatalf("image %d: config %v (%v) with %d layers", i, cfg, err, len(img.layers))
			}
			if err := validateManifest(img.Image); err != nil {
				t.Fatalf("image %d: %v", i, err)
			}
			for _, l := range img.layers {
				mt, err := l.MediaType()
				if err != nil || (mt != types.OCILayer && mt != types.OCIUncompressedLayer && mt != types.OCILayerZStd) {
					t.Fatalf("layer media type %s, %v", mt, err)
				}
			}
			data, err := json.Marshal(cfg)
			if err != nil {
				t.Fatalf("config does not marshal: %v", err)
			}
			if _, err := v1.ParseConfigFile(bytes.NewReader(data)); err != nil {
				t.Fatalf("marshalled config does not parse: %v", err)
			}
		}
		// What Resolve read as an image manifest survives a round trip.
		used := [][]byte{top}
		if mediaType(top).IsIndex() {
			used = [][]byte{child, config}
		}
		for _, data := range used {
			var m v1.Manifest
			if json.Unmarshal(data, &m) != nil || m.Config.Digest == (v1.Hash{}) {
				continue
			}
			out, err := json.Marshal(m)
			if err != nil {
				t.Fatalf("manifest does not marshal: %v", err)
			}
			var again v1.Manifest
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("marshalled manifest does not parse: %v\n%s", err, out)
			}
			if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
				t.Fatalf("manifest round trip changed it:\n%s\n%s", out, out2)
			}
		}
	})
}

// validateManifest checks that the image kiln builds on has an OCI
// manifest whose layers match its config.
func validateManifest(img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		return fmt.Errorf("manifest %s with config %s, want OCI types", m.MediaType, m.Config.MediaType)
	}
	return nil
}
