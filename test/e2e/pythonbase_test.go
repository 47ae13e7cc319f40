package e2e

import (
	"archive/tar"
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	kl "github.com/kiln-build/kiln/pkg/layout"
	"github.com/kiln-build/kiln/pkg/lock"
)

// pythonBaseKey names the cached rootfs; change it when the recipe in
// makePythonRootfs changes.
const pythonBaseKey = "debian-bookworm-minbase-python3-v1"

// testCacheDir is where slow fixtures are kept between test runs:
// $KILN_TEST_CACHE, else kiln-test in the user's cache directory.
func testCacheDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KILN_TEST_CACHE")
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(c, "kiln-test")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type pythonRootfs struct {
	Layer   string // gzip tar of the root file system
	Version string // its Python's version, e.g. 3.11.2
}

// pythonBaseRootfs returns a Debian 12 (minbase) root file system with
// python3, as a layer. The first run makes it with debootstrap (about a
// minute, from Debian's mirror) and caches it; later runs take it from the
// cache. Two test processes at once wait for each other.
func pythonBaseRootfs(t *testing.T) pythonRootfs {
	t.Helper()
	cache := testCacheDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	release, err := lock.Lock(ctx, cache, func() { t.Logf("waiting for another test process making the Python base in %s", cache) })
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	rf := pythonRootfs{Layer: filepath.Join(cache, pythonBaseKey+".tar.gz")}
	meta := filepath.Join(cache, pythonBaseKey+".json")
	if data, err := os.ReadFile(meta); err == nil && json.Unmarshal(data, &rf) == nil {
		if _, err := os.Stat(rf.Layer); err == nil {
			return rf
		}
	}
	needTool(t, "debootstrap")
	if os.Getuid() != 0 {
		t.Skip("making the Python base image with debootstrap needs root")
	}
	start := time.Now()
	root := filepath.Join(cache, pythonBaseKey+".tmp")
	os.RemoveAll(root)
	defer os.RemoveAll(root)
	mirror := os.Getenv("KILN_TEST_DEBIAN_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include=python3", "bookworm", root, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, tailLines(string(out), 30))
	}
	// Package caches and documentation only make the layer bigger.
	for _, p := range []string{"var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info"} {
		entries, _ := os.ReadDir(filepath.Join(root, p))
		for _, e := range entries {
			os.RemoveAll(filepath.Join(root, p, e.Name()))
		}
	}
	version, err := exec.Command("chroot", root, "python3", "-c", "import platform; print(platform.python_version())").Output()
	if err != nil {
		t.Fatalf("python3 in the new root: %v", err)
	}
	rf.Version = strings.TrimSpace(string(version))
	tmp := rf.Layer + ".tmp"
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-C", root, "-czf", tmp, ".")
	if out, err := tarCmd.CombinedOutput(); err != nil {
		t.Fatalf("packing the root file system: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, rf.Layer); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(rf)
	if err := os.WriteFile(meta, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("made the Python base rootfs (Python %s) in %s", rf.Version, time.Since(start).Round(time.Second))
	return rf
}

// pushPythonBase pushes a two-platform Python base to the registry and
// returns its reference. Its config sets PYTHON_VERSION, as the official
// python images do. Only the amd64 image is real: the arm64 entry reuses
// the amd64 root file system under an arm64 config, which is enough for
// builds (kiln never runs the base) but must never be run.
func pushPythonBase(t *testing.T, reg *testRegistry) (ref string, version string) {
	t.Helper()
	return pushPythonBaseAs(t, reg, "3.11-bookworm", true)
}

// pushPythonBaseAs pushes the Python base as library/python:tag, with
// PYTHON_VERSION in its config when withVersion (else as Debian-based
// images such as distroless/python3 are: the version only in the file
// system).
func pushPythonBaseAs(t *testing.T, reg *testRegistry, tag string, withVersion bool) (ref string, version string) {
	t.Helper()
	rf := pythonBaseRootfs(t)
	l, err := tarball.LayerFromFile(rf.Layer, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
	img, err := mutate.Append(base, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "debootstrap --variant=minbase --include=python3 bookworm (kiln test base)"}})
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = "linux", arch
		cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		if withVersion {
			cfg.Config.Env = append(cfg.Config.Env, "PYTHON_VERSION="+rf.Version)
		}
		cfg.Config.Cmd = []string{"python3"}
		one, err := mutate.ConfigFile(img, cfg)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: one, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	ref = reg.addr + "/library/python:" + tag
	if err := remote.WriteIndex(mustRef(t, ref), idx, reg.remoteOpts()...); err != nil {
		t.Fatalf("pushing the Python base: %v", err)
	}
	return ref, rf.Version
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeWheelZip writes a wheel holding files, with a RECORD of their
// sha256 hashes as PEP 427 says, and returns its path.
func writeWheelZip(t *testing.T, p, distInfo string, files map[string]string) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	var names []string
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	var record strings.Builder
	for _, name := range names {
		content := []byte(files[name])
		zf, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		zf.Write(content)
		sum := sha256.Sum256(content)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(content))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", distInfo)
	zf, _ := zw.Create(distInfo + "/RECORD")
	zf.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// layoutImage returns the image name for one platform from an OCI layout.
func layoutImage(t *testing.T, dir, name, arch string) v1.Image {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Annotations[kl.RefNameAnnotation] != name {
			continue
		}
		if !d.MediaType.IsIndex() {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cm, _ := child.IndexManifest()
		for _, m := range cm.Manifests {
			if m.Platform != nil && m.Platform.Architecture == arch {
				img, err := child.Image(m.Digest)
				if err != nil {
					t.Fatal(err)
				}
				return img
			}
		}
	}
	t.Fatalf("%s has no image %s for %s", dir, name, arch)
	return nil
}

// kilnLayer is one layer kiln added, with its history entry.
type kilnLayer struct {
	createdBy string
	digest    string
	files     map[string]tarFile
}

type tarFile struct {
	mode    int64
	typ     byte
	content string
}

// kilnLayers returns the layers after the base's (the last n with
// history entries by kiln), keyed by the first word after "kiln: ".
func kilnLayers(t *testing.T, img v1.Image) map[string]kilnLayer {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]kilnLayer{}
	for i := 1; i <= len(layers) && i <= len(cfg.History); i++ {
		h := cfg.History[len(cfg.History)-i]
		rest, ok := strings.CutPrefix(h.CreatedBy, "kiln: ")
		if !ok {
			break
		}
		key := strings.Fields(rest)[0]
		l := layers[len(layers)-i]
		d, _ := l.Digest()
		kl := kilnLayer{createdBy: h.CreatedBy, digest: d.String(), files: map[string]tarFile{}}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			kl.files["/"+strings.TrimSuffix(hdr.Name, "/")] = tarFile{mode: hdr.Mode, typ: hdr.Typeflag, content: string(data)}
		}
		rc.Close()
		out[key] = kl
	}
	return out
}
