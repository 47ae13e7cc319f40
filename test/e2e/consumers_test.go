package e2e

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildHello builds the example for the three platforms into a new layout
// and returns the layout directory.
func buildHello(t *testing.T, platforms string) string {
	t.Helper()
	out := filepath.Join(tempDir(t), "out")
	mustKiln(t, example(t), "build", "-q", "--platform", platforms, "--output", "oci:"+out)
	validateLayout(t, out)
	return out
}

// TestSkopeoAndUmoci has two independent readers of OCI layouts check a
// three-platform build: skopeo reads the index and each platform's image,
// and umoci unpacks each image, whose binary must be an ELF executable for
// that machine.
func TestSkopeoAndUmoci(t *testing.T) {
	needTool(t, "skopeo")
	needTool(t, "umoci")
	out := buildHello(t, "linux/amd64,linux/arm64,linux/arm/v7")

	var idx struct {
		MediaType string
		Manifests []struct {
			Digest   string
			Platform struct{ Architecture, OS, Variant string }
		}
	}
	raw := command(t, nil, "skopeo", "inspect", "--raw", "oci:"+out+":hello")
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 3 {
		t.Fatalf("skopeo sees %s with %d manifests, want an index of 3", idx.MediaType, len(idx.Manifests))
	}

	cases := []struct {
		arch, variant string
		machine       elf.Machine
	}{
		{"amd64", "", elf.EM_X86_64},
		{"arm64", "", elf.EM_AARCH64},
		{"arm", "v7", elf.EM_ARM},
	}
	split := filepath.Join(tempDir(t), "split")
	for _, c := range cases {
		t.Run(c.arch+c.variant, func(t *testing.T) {
			// skopeo 1.9's summary has no variant: read the config.
			var info struct{ Architecture, OS, Variant string }
			args := []string{"--override-os", "linux", "--override-arch", c.arch}
			if c.variant != "" {
				args = append(args, "--override-variant", c.variant)
			}
			js := command(t, nil, "skopeo", append(args, "inspect", "--config", "oci:"+out+":hello")...)
			if err := json.Unmarshal([]byte(js), &info); err != nil {
				t.Fatal(err)
			}
			if info.Architecture != c.arch || info.OS != "linux" || info.Variant != c.variant {
				t.Fatalf("skopeo resolved %+v for %s%s", info, c.arch, c.variant)
			}
			// umoci unpacks single images only: skopeo copies this
			// platform's manifest out of the index, bytes unchanged.
			tag := c.arch + c.variant
			command(t, nil, "skopeo", append(args, "copy", "oci:"+out+":hello", "oci:"+split+":"+tag)...)
			bundle := filepath.Join(tempDir(t), "bundle")
			command(t, nil, "umoci", "unpack", "--image", split+":"+tag, bundle)
			rootfs := filepath.Join(bundle, "rootfs")
			f, err := elf.Open(filepath.Join(rootfs, "kiln", "bin", "hello"))
			if err != nil {
				t.Fatalf("unpacked binary: %v", err)
			}
			defer f.Close()
			if f.Machine != c.machine || f.Type != elf.ET_EXEC {
				t.Errorf("binary is %v %v, want an %v executable", f.Machine, f.Type, c.machine)
			}
			passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc", "passwd"))
			data, _ := os.ReadFile(filepath.Join(rootfs, "kiln", "data", "greeting.txt"))
			if !strings.Contains(string(passwd), "nonroot:x:65532") || !strings.Contains(string(data), "data directory") {
				t.Errorf("unpacked rootfs lacks passwd or kodata: %q %q", passwd, data)
			}
		})
	}

	// A single-platform build is a plain manifest, which umoci unpacks
	// straight from kiln's layout.
	single := buildHello(t, "linux/arm64")
	bundle := filepath.Join(tempDir(t), "bundle")
	command(t, nil, "umoci", "unpack", "--image", single+":hello", bundle)
	var cfg struct {
		Process struct {
			Args []string
			User struct{ UID, GID int }
		}
	}
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil || json.Unmarshal(data, &cfg) != nil {
		t.Fatalf("runtime config: %v", err)
	}
	if len(cfg.Process.Args) != 1 || cfg.Process.Args[0] != "/kiln/bin/hello" || cfg.Process.User.UID != 65532 {
		t.Errorf("umoci's runtime config %+v: want /kiln/bin/hello as 65532", cfg.Process)
	}
}

// podman runs podman with the project's configuration and a throwaway
// store.
type podman struct {
	t     *testing.T
	store string
	env   []string
}

func newPodman(t *testing.T) *podman {
	needTool(t, "podman")
	p := &podman{t: t, store: tempDir(t), env: []string{
		"CONTAINERS_CONF=" + filepath.Join(repoRoot, "hack", "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(repoRoot, "hack", "storage.conf"),
	}}
	t.Cleanup(func() {
		p.run("rm", "-af", "-t", "0")
		p.run("rmi", "-af")
	})
	return p
}

func (p *podman) args(args ...string) []string {
	return append([]string{"--root", filepath.Join(p.store, "root"), "--runroot", filepath.Join(p.store, "run"), "--storage-driver", "vfs"}, args...)
}

func (p *podman) run(args ...string) string {
	return command(p.t, p.env, "podman", p.args(args...)...)
}

// TestPodmanRunsHello runs the built image with podman straight from the
// OCI layout and talks to it over HTTP.
func TestPodmanRunsHello(t *testing.T) {
	pm := newPodman(t)
	out := buildHello(t, "linux/amd64,linux/arm64,linux/arm/v7")
	id := strings.TrimSpace(pm.run("run", "-d", "-p", "127.0.0.1::8080", "oci:"+out+":hello"))
	defer pm.run("rm", "-f", "-t", "0", id)
	addr := strings.TrimSpace(pm.run("port", id, "8080/tcp"))
	base := "http://" + addr
	body := get(t, base+"/", 30*time.Second)
	if !strings.Contains(body, "Hello from kiln! (linux/amd64)") {
		t.Errorf("GET / answered %q", body)
	}
	if body := get(t, base+"/static/greeting.txt", 5*time.Second); !strings.Contains(body, "data directory") {
		t.Errorf("GET /static/greeting.txt answered %q", body)
	}
	user := strings.TrimSpace(pm.run("inspect", "--format", "{{.Config.User}}", id))
	if user != "65532:65532" {
		t.Errorf("container runs as %q", user)
	}
}

// get fetches url, retrying until the server answers or timeout passes.
func get(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %s: %s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestZstdImage: an image with zstd layers runs in podman. (go-containerregistry's
// validate reads layers as gzip only; podman verifies every blob's digest
// and every layer's diffID as it stores the image.)
func TestZstdImage(t *testing.T) {
	pm := newPodman(t)
	out := filepath.Join(tempDir(t), "out")
	mustKiln(t, example(t), "build", "-q", "--compression", "zstd", "--output", "oci:"+out)
	raw := command(t, nil, "skopeo", "inspect", "--raw", "oci:"+out+":hello")
	if strings.Count(raw, "tar+zstd") != 3 {
		t.Fatalf("want 3 zstd layers: %s", raw)
	}
	id := strings.TrimSpace(pm.run("run", "-d", "-p", "127.0.0.1::8080", "oci:"+out+":hello"))
	defer pm.run("rm", "-f", "-t", "0", id)
	addr := strings.TrimSpace(pm.run("port", id, "8080/tcp"))
	if body := get(t, "http://"+addr+"/", 30*time.Second); !strings.Contains(body, "Hello from kiln!") {
		t.Errorf("zstd image answered %q", body)
	}
}
