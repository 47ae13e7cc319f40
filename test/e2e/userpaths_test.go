package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrintedReferencesWork: each line kiln build prints works, as printed,
// with skopeo and podman, and --json carries the same string as "ref".
func TestPrintedReferencesWork(t *testing.T) {
	needTool(t, "skopeo")
	pm := newPodman(t)
	dir := example(t)
	work := tempDir(t)
	for _, out := range []string{"oci:" + filepath.Join(work, "out"), "tar:" + filepath.Join(work, "hello.tar"), "oci-archive:" + filepath.Join(work, "hello-oci.tar")} {
		line := strings.TrimSpace(mustKiln(t, dir, "build", "-q", "--output", out).stdout)
		if strings.Contains(line, "\n") {
			t.Fatalf("--output %s printed several lines: %q", out, line)
		}
		raw := command(t, nil, "skopeo", "inspect", "--raw", line)
		if !strings.Contains(raw, "schemaVersion") {
			t.Errorf("skopeo inspect --raw %s: %s", line, raw)
		}
		if id := strings.TrimSpace(pm.run("pull", "-q", line)); id == "" {
			t.Errorf("podman pull %s gave no image", line)
		}
		var res struct {
			Images []struct{ Ref, Digest string }
		}
		r := mustKiln(t, dir, "build", "-q", "--json", "--output", out)
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("--json: %v\n%s", err, r.stdout)
		}
		if len(res.Images) != 1 || res.Images[0].Ref != line || !strings.HasPrefix(res.Images[0].Digest, "sha256:") {
			t.Errorf("--json --output %s: images %+v, want ref %q and a digest", out, res.Images, line)
		}
	}
	// A tag names the image in the layout too, as skopeo and podman read
	// it; the plain name stays.
	out := filepath.Join(work, "tagged")
	line := strings.TrimSpace(mustKiln(t, dir, "build", "-q", "-t", "v1", "--output", "oci:"+out).stdout)
	if line != "oci:"+out+":hello:v1" {
		t.Fatalf("-t v1 -o oci:DIR printed %q, want oci:%s:hello:v1", line, out)
	}
	for _, ref := range []string{line, "oci:" + out + ":hello"} {
		if raw := command(t, nil, "skopeo", "inspect", "--raw", ref); !strings.Contains(raw, "schemaVersion") {
			t.Errorf("skopeo inspect --raw %s: %s", ref, raw)
		}
	}
}
