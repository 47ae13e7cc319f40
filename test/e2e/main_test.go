// Package e2e tests kiln end to end: the kiln binary is built and run as a
// user would run it, and its images are checked by real consumers
// (go-containerregistry's validate, skopeo, umoci, podman).
//
// Tests that need a tool skip when it is missing, unless KILN_E2E=1 (set
// by hack/test.sh and CI), which makes a missing tool a failure.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kiln-build/kiln/internal/testutil"
)

var (
	kilnBin  string // the kiln binary under test
	repoRoot string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	// A world-readable directory, so tests can run kiln as another user.
	binDir, err := os.MkdirTemp("", "kiln-e2e-bin-")
	if err == nil {
		err = os.Chmod(binDir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kilnBin = filepath.Join(binDir, "kiln")
	cmd := exec.Command("go", "build", "-o", kilnBin, "./cmd/kiln")
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kiln:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// tempDir returns a new lower-case directory (podman names images pulled
// from oci:DIR after DIR, and image names must be lower case).
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "kiln-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// needTool skips the test when name is not installed, or fails it when
// KILN_E2E=1 says the environment must be complete.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KILN_E2E") == "1" {
			t.Fatalf("%s is not installed, and KILN_E2E=1 requires it: run hack/install-test-deps.sh", name)
		}
		t.Skipf("%s is not installed (hack/install-test-deps.sh installs it)", name)
	}
	return p
}

// example copies examples/hello into a new directory.
func example(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(tempDir(t), "hello")
	testutil.CopyDir(t, filepath.Join(repoRoot, "examples", "hello"), dst)
	return dst
}

type run struct {
	stdout, stderr string
	code           int
}

// kiln runs the kiln binary in dir and waits for it.
func kiln(t *testing.T, dir string, env []string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kilnBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running kiln: %v", err)
	}
	return r
}

// mustKiln runs kiln and fails the test unless it succeeds.
func mustKiln(t *testing.T, dir string, args ...string) run {
	t.Helper()
	r := kiln(t, dir, nil, args...)
	if r.code != 0 {
		t.Fatalf("kiln %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// cleanEnv is the environment without what would change images.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") {
			out = append(out, kv)
		}
	}
	return out
}

// validateLayout checks a layout with go-containerregistry's validate.
func validateLayout(t *testing.T, dir string) {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("%s is not a layout: %v", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("%s does not validate: %v", dir, err)
	}
}

// command runs an external tool and returns its stdout, failing the test
// with its stderr if it fails.
func command(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
