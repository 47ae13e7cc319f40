package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/pkg/lock"
)

var refLine = regexp.MustCompile(`^oci:(\S+):(hello)$`)

func TestOutputLines(t *testing.T) {
	dir := example(t)
	out := filepath.Join(tempDir(t), "out")
	r := mustKiln(t, dir, "build", "--output", "oci:"+out, ".")
	m := refLine.FindStringSubmatch(strings.TrimSpace(r.stdout))
	if m == nil || m[1] != out {
		t.Fatalf("stdout %q, want one line oci:%s:hello", r.stdout, out)
	}
	if !strings.Contains(r.stderr, "building hello for linux/") {
		t.Errorf("progress should go to stderr, got %q", r.stderr)
	}
	validateLayout(t, out)

	r = mustKiln(t, dir, "build", "--json", "-q", "--output", "oci:"+out)
	var res struct {
		Output string
		Images []struct {
			Name, Reference, Digest string
			Platforms               []struct{ Platform, Digest string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, r.stdout)
	}
	if len(res.Images) != 1 || res.Images[0].Reference != "oci:"+out+":hello" {
		t.Fatalf("--json result %+v does not name oci:%s:hello", res, out)
	}
	idx, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil || !strings.Contains(string(idx), res.Images[0].Digest) {
		t.Fatalf("index.json does not hold %s: %s", res.Images[0].Digest, idx)
	}
	if r.stderr != "" {
		t.Errorf("-q should show no progress, got %q", r.stderr)
	}
}

// TestReproducibleCopies: two copies of the example in different
// directories, built through the CLI, give the same digest.
func TestReproducibleCopies(t *testing.T) {
	var digests []string
	for range 2 {
		dir := example(t)
		r := mustKiln(t, dir, "build", "-q", "--json", "--platform", "linux/amd64,linux/arm64,linux/arm/v7")
		m := regexp.MustCompile(`"digest": "(sha256:[0-9a-f]{64})"`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no digest in %q", r.stdout)
		}
		digests = append(digests, m[1])
	}
	if digests[0] != digests[1] {
		t.Fatalf("copies gave %s and %s", digests[0], digests[1])
	}
}

// lastBuild returns the fingerprint .kiln/last points at.
func lastBuild(t *testing.T, dir string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, ".kiln", "last"))
	if err != nil {
		t.Fatalf("no last link: %v", err)
	}
	return filepath.Base(target)
}

// assertPreviousIntact checks that the build fp is still "last", whole and
// valid, and that nothing holds the lock.
func assertPreviousIntact(t *testing.T, dir, fp string) {
	t.Helper()
	if got := lastBuild(t, dir); got != fp {
		t.Errorf("last -> %s, want the previous good build %s", got, fp)
	}
	validateLayout(t, filepath.Join(dir, ".kiln", "builds", fp, "oci"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	release, err := lock.Lock(ctx, filepath.Join(dir, ".kiln"), nil)
	if err != nil {
		t.Fatalf("the lock on .kiln is still held after kiln exited: %v", err)
	}
	release()
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string) (args []string, env []string)
		code   int
		want   []string // fragments of stderr
	}{
		{"not a main package", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "lib", "lib.go"), "package lib\n")
			return []string{"build", "./lib"}, nil
		}, 1, []string{"./lib is not a main package or a function", "package lib exports no func Handle or func New", "package main", "func Handle(http.ResponseWriter, *http.Request)", "func New() T", "Start(context.Context, map[string]string) error"}},
		{"function with a wrong signature", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "fn", "fn.go"), "package fn\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter) {}\n")
			return []string{"build", "./fn"}, nil
		}, 1, []string{"./fn is not a main package or a function", "fn.go:5: Handle is func(w http.ResponseWriter), want one of the Handle signatures listed below", "\tfunc Handle(http.ResponseWriter, *http.Request)\n", "func New() T"}},
		{"main package declared a function", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "kiln.yaml"), "kind: function\n")
			return []string{"build"}, nil
		}, 1, []string{"kiln.yaml: kind: function, but example.com/hello is package main", "func Handle(http.ResponseWriter, *http.Request)"}},
		{"compile error", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "broken.go"), "package main\n\nfunc broken() { nope() }\n")
			return []string{"build"}, nil
		}, 1, []string{"go build of example.com/hello for linux/", "undefined: nope", "fix the errors above"}},
		{"unknown platform", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "--platform", "linux/sparc64"}, nil
		}, 1, []string{`unknown architecture "sparc64"`, "known:"}},
		{"not linux", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "--platform", "windows/amd64"}, nil
		}, 1, []string{"kiln builds Linux images"}},
		{"escaping symlink", func(t *testing.T, dir string) ([]string, []string) {
			symlink(t, "../main.go", filepath.Join(dir, "kodata", "main.go"))
			return []string{"build"}, nil
		}, 1, []string{filepath.Join("kodata", "main.go"), "outside", "copy the file in instead"}},
		{"absolute symlink", func(t *testing.T, dir string) ([]string, []string) {
			symlink(t, "/etc/hostname", filepath.Join(dir, "kodata", "host"))
			return []string{"build"}, nil
		}, 1, []string{filepath.Join("kodata", "host"), "absolute path /etc/hostname"}},
		{"unknown key in kiln.yaml", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "kiln.yaml"), "name: hello\nplatfroms: [linux/amd64]\n")
			return []string{"build"}, nil
		}, 1, []string{"kiln.yaml:2", `unknown key "platfroms"`, "known keys"}},
		{"malformed kiln.yaml", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "kiln.yaml"), "name: [hello\n")
			return []string{"build"}, nil
		}, 1, []string{"kiln.yaml", "malformed YAML"}},
		{"bad value in kiln.yaml", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "kiln.yaml"), "ports: [http]\n")
			return []string{"build"}, nil
		}, 1, []string{"kiln.yaml", `"http" is not a port`}},
		{"bad SOURCE_DATE_EPOCH", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build"}, []string{"SOURCE_DATE_EPOCH=yesterday"}
		}, 1, []string{`SOURCE_DATE_EPOCH="yesterday"`, "Unix time"}},
		{"no such directory", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "./nowhere"}, nil
		}, 1, []string{"./nowhere: no such directory"}},
		{"unknown output", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "--output", "docker:hello"}, nil
		}, 1, []string{`--output "docker:hello" is not supported`, "oci:DIR"}},
		{"data entry with an absolute path", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "kiln.yaml"), "data: [\"/etc:/leak\"]\n")
			return []string{"build"}, nil
		}, 1, []string{`data: "/etc:/leak"`, "absolute path", "inside the project"}},
		{"data entry leaving the project", func(t *testing.T, dir string) ([]string, []string) {
			writeFile(t, filepath.Join(dir, "kiln.yaml"), "data: [\"../../../../../../../../tmp:/leak\"]\n")
			return []string{"build"}, nil
		}, 1, []string{`data: "../../../../../../../../tmp:/leak"`, "leaves the project"}},
		{"bad tag", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "-t", "bad tag!", "--push", "127.0.0.1:9/x"}, nil
		}, 2, []string{"--tag:", `"bad tag!" is not a valid tag`}},
		{"tar onto a directory", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "--output", "tar:" + filepath.Join(dir, "kodata")}, nil
		}, 1, []string{"--output:", "kodata is a directory", "name a file"}},
		{"oci layout to stdout", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "--output", "oci:-"}, nil
		}, 1, []string{"oci:-", "tar:-"}},
		{"unknown sbom format", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "--sbom", "swid"}, nil
		}, 1, []string{`--sbom: unknown SBOM format "swid"`, "spdx, cyclonedx or none"}},
		{"unknown flag", func(t *testing.T, dir string) ([]string, []string) {
			return []string{"build", "--platfrom", "linux/amd64"}, nil
		}, 2, []string{"unknown flag: --platfrom"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := example(t)
			mustKiln(t, dir, "build", "-q")
			good := lastBuild(t, dir)
			args, env := c.break_(t, dir)
			r := kiln(t, dir, env, args...)
			if r.code != c.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", r.code, c.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("a failed build printed to stdout: %q", r.stdout)
			}
			assertPreviousIntact(t, dir, good)
		})
	}
}

// TestUnreadableFile: a data file kiln cannot read is named in the error.
// Root reads everything, so as root the build runs as user 65534.
func TestUnreadableFile(t *testing.T) {
	dir := example(t)
	mustKiln(t, dir, "build", "-q")
	good := lastBuild(t, dir)
	secret := filepath.Join(dir, "kodata", "secret.txt")
	writeFile(t, secret, "hidden")
	if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kilnBin, "build")
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	if os.Geteuid() == 0 {
		home := filepath.Join(filepath.Dir(dir), "home")
		if err := os.MkdirAll(home, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dir, home} {
			if err := chownTree(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Env = append(cmd.Env, "HOME="+home, "GOCACHE="+filepath.Join(home, "cache"), "GOPATH="+filepath.Join(home, "go"), "TMPDIR="+home)
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("build with an unreadable file succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "cannot read "+secret) || !strings.Contains(string(out), "permission denied") {
		t.Errorf("message does not name the file and the cause:\n%s", out)
	}
	assertPreviousIntact(t, dir, good)
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// TestSecondBuildWaits holds the project's lock as another build would,
// and checks that kiln waits, says so, and finishes once it is released.
func TestSecondBuildWaits(t *testing.T) {
	dir := example(t)
	release, err := lock.Lock(context.Background(), filepath.Join(dir, ".kiln"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kilnBin, "build")
	cmd.Dir, cmd.Env = dir, cleanEnv()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	waited := false
	for lines.Scan() {
		if strings.Contains(lines.Text(), "waiting for another kiln build") {
			waited = true
			break
		}
	}
	if !waited {
		t.Fatal("kiln did not say it was waiting for the lock")
	}
	time.Sleep(300 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatal("kiln finished while another build held the lock")
	}
	release()
	go io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kiln failed after the lock was released: %v", err)
	}
	validateLayout(t, filepath.Join(dir, ".kiln", "last", "oci"))
}

// startSlowBuild starts a build with a large data directory and returns
// once it is writing its layers.
func startSlowBuild(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	big, err := os.Create(filepath.Join(dir, "kodata", "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// Random-looking data that gzip cannot shrink, so writing it takes time.
	chunk := make([]byte, 1<<20)
	seed := uint32(1)
	for i := range chunk {
		seed = seed*1664525 + 1013904223
		chunk[i] = byte(seed >> 24)
	}
	for i := range 512 {
		chunk[0] = byte(i)
		if _, err := big.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	big.Close()
	cmd := exec.Command(kilnBin, append([]string{"build"}, args...)...)
	cmd.Dir, cmd.Env = dir, cleanEnv()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		// The certificates layer is written right before the data layer.
		if strings.Contains(lines.Text(), "certificates and users layer") {
			go io.Copy(io.Discard, stderr)
			time.Sleep(200 * time.Millisecond)
			return cmd
		}
	}
	cmd.Wait()
	t.Fatal("the build ended before writing layers")
	return nil
}

func TestKilledBuildLeavesPreviousUsable(t *testing.T) {
	t.Run("project", func(t *testing.T) {
		dir := example(t)
		mustKiln(t, dir, "build", "-q")
		good := lastBuild(t, dir)
		cmd := startSlowBuild(t, dir)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		assertPreviousIntact(t, dir, good)
		// The next build succeeds and clears the interrupted one away.
		mustKiln(t, dir, "build", "-q")
		entries, _ := os.ReadDir(filepath.Join(dir, ".kiln", "builds"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".tmp-") {
				t.Errorf("interrupted build folder %s left behind", e.Name())
			}
		}
	})
	t.Run("oci layout", func(t *testing.T) {
		dir := example(t)
		out := filepath.Join(tempDir(t), "out")
		r := mustKiln(t, dir, "build", "-q", "--output", "oci:"+out)
		before, _ := os.ReadFile(filepath.Join(out, "index.json"))
		cmd := startSlowBuild(t, dir, "--output", "oci:"+out)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		after, _ := os.ReadFile(filepath.Join(out, "index.json"))
		if string(before) != string(after) {
			t.Fatalf("index.json changed by a killed build:\n%s\n->\n%s", before, after)
		}
		validateLayout(t, out)
		mustKiln(t, dir, "build", "-q", "--output", "oci:"+out)
		validateLayout(t, out)
		blobs, _ := os.ReadDir(filepath.Join(out, "blobs", "sha256"))
		for _, b := range blobs {
			if strings.HasPrefix(b.Name(), ".tmp-") {
				t.Errorf("half-written blob %s left behind", b.Name())
			}
		}
		_ = r
	})
}

func TestInterruptCleansUp(t *testing.T) {
	dir := example(t)
	mustKiln(t, dir, "build", "-q")
	good := lastBuild(t, dir)
	cmd := startSlowBuild(t, dir)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted kiln exited with %v, want 130", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, ".kiln", "builds"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("interrupted build left %s", e.Name())
		}
	}
	assertPreviousIntact(t, dir, good)
}

func writeFile(t *testing.T, p, content string) { testutil.WriteFile(t, p, content) }

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}
