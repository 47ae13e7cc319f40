package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// kilnCLI runs kiln's command line in-process.
func kilnCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// TestCompletionValues: shell completion offers values for --platform,
// --kind, --runtime, --engine and --output.
func TestCompletionValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"build", "--platform", ""}, []string{"all", "linux/amd64", "linux/arm64", "linux/arm/v7"}},
		{[]string{"build", "--platform", "linux/amd64,"}, []string{"linux/amd64,linux/arm64"}},
		{[]string{"build", "--output", ""}, []string{"oci:", "tar:", "oci-archive:"}},
		{[]string{"init", "--kind", ""}, []string{"app", "function"}},
		{[]string{"init", "--runtime", ""}, []string{"go", "python"}},
		{[]string{"run", "--engine", ""}, []string{"podman", "docker"}},
	} {
		out, _, code := kilnCLI(t, append([]string{"__complete"}, c.args...)...)
		lines := strings.Split(out, "\n")
		for _, w := range c.want {
			found := false
			for _, l := range lines {
				found = found || l == w
			}
			if !found || code != 0 {
				t.Errorf("completing %q: %q lacks %q (exit %d)", c.args, out, w, code)
			}
		}
	}
}

// TestInitHere: kiln init . does not tell the user to cd into ".".
func TestInitHere(t *testing.T) {
	t.Chdir(t.TempDir())
	out, errOut, code := kilnCLI(t, "init", "--module", "example.com/here", ".")
	if code != 0 {
		t.Fatalf("kiln init .: exit %d\n%s", code, errOut)
	}
	if strings.Contains(out, "cd .") || !strings.Contains(out, "go test ./...") {
		t.Errorf("kiln init . said %q", out)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		t.Error(err)
	}
}

// TestInitHelpPython: kiln init --help says what a Python init writes,
// and does not promise it a test or a kiln.yaml.
func TestInitHelpPython(t *testing.T) {
	out, _, _ := kilnCLI(t, "init", "--help")
	if !strings.Contains(out, "--runtime python: pyproject.toml and main.py") || !strings.Contains(out, "no test,\nkiln.yaml or .gitignore") {
		t.Errorf("kiln init --help:\n%s", out)
	}
}

// TestLogoutCommand: kiln logout exists and says when there was nothing
// to remove.
func TestLogoutCommand(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	_, errOut, code := kilnCLI(t, "logout", "127.0.0.1:5999")
	if code != 0 || !strings.Contains(errOut, "not logged in to 127.0.0.1:5999") {
		t.Errorf("kiln logout: exit %d, %q", code, errOut)
	}
}
