package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/testutil"
)

// TestUserJourney walks the README's own commands in order, as a newcomer
// would, and checks what they would see: the set-up build into ./out run
// with podman; a new function from kiln init, tested, run with kiln run and
// called; a push with -v; the --json of a build and of kiln push; a
// dependency's main package by import path; ./... with a malformed
// function; a Python project built twice into ./out on the suite's Python
// base (testPythonRebuilds).
func TestUserJourney(t *testing.T) {
	needTool(t, "skopeo")
	pm := newPodman(t)
	clone := tempDir(t)
	testutil.CopyDir(t, filepath.Join(repoRoot, "examples", "hello"), filepath.Join(clone, "examples", "hello"))

	// kiln build --output oci:./out ./examples/hello
	r := mustKiln(t, clone, "build", "--output", "oci:./out", "./examples/hello")
	out := filepath.Join(clone, "out")
	if line := strings.TrimSpace(r.stdout); line != "oci:"+out+":hello" {
		t.Errorf("the set-up build printed %q, want oci:%s:hello", line, out)
	}
	command(t, nil, "skopeo", "inspect", "--raw", strings.TrimSpace(r.stdout))
	// podman run --rm -p 127.0.0.1:8080:8080 oci:out:hello; curl localhost:8080
	port := freePort(t)
	id := strings.TrimSpace(pm.runIn(clone, "run", "-d", "-p", "127.0.0.1:"+port+":8080", "oci:out:hello"))
	if body := get(t, "http://127.0.0.1:"+port+"/", 30*time.Second); !strings.Contains(body, "Hello from kiln!") {
		t.Errorf("curl localhost:%s answered %q", port, body)
	}
	pm.run("rm", "-f", "-t", "0", id)

	// kiln init --kind function hello && cd hello; go test ./...; kiln run; curl
	r = mustKiln(t, clone, "init", "--kind", "function", "hello")
	if !strings.Contains(r.stdout, "cd hello") {
		t.Errorf("kiln init said %q", r.stdout)
	}
	fn := filepath.Join(clone, "hello")
	goTest(t, fn)
	rk := startKilnRun(t, fn, pm.kilnEnv(), "--port", freePort(t))
	if body := get(t, rk.url+"?name=you", 60*time.Second); !strings.Contains(body, "Hello, you!") {
		t.Errorf("curl '%s?name=you' answered %q", rk.url, body)
	}
	rk.interrupt(t)

	// kiln build --push REGISTRY/org/app -t v1.2.3, with -v
	reg := startRegistry(t)
	env := reg.dockerConfig(t, reg.pass)
	repo := reg.addr + "/org/app"
	r = kiln(t, fn, env, "-v", "build", "--push", repo, "-t", "v1.2.3", "--insecure-registry")
	if r.code != 0 {
		t.Fatalf("kiln build --push: %s", r.stderr)
	}
	m := pushedRE.FindStringSubmatch(strings.TrimSpace(r.stdout))
	if m == nil || m[1] != repo {
		t.Fatalf("the push printed %q, want %s@sha256:...", r.stdout, repo)
	}
	// The build was made by kiln run already (it is reused); -v shows the
	// go commands that checked so, and the registry traffic.
	for _, want := range []string{"kiln -v: $ cd " + fn + " && go list ", "kiln -v: registry: PUT http://" + reg.addr + "/v2/org/app/manifests/v1.2.3 201"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v output lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, reg.pass) {
		t.Error("-v output shows the password")
	}
	pm.run("pull", "-q", "--tls-verify=false", "--creds", reg.user+":"+reg.pass, strings.TrimSpace(r.stdout))

	// kiln build --json | jq -r '.images[0].digest'; kiln push --json
	var res struct {
		Reused bool
		Images []struct{ Ref, Digest, Pushed string }
	}
	r = mustKiln(t, fn, "build", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Images) != 1 || !strings.HasPrefix(res.Images[0].Digest, "sha256:") || !res.Reused {
		t.Errorf("kiln build --json (unchanged project): %v %+v", err, res)
	}
	command(t, nil, "skopeo", "inspect", "--raw", res.Images[0].Ref)
	r = kiln(t, fn, env, "push", "--repo", repo, "--insecure-registry", "--json")
	res.Reused = false
	if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil || !res.Reused || res.Images[0].Ref != m[0] || res.Images[0].Pushed != m[0] {
		t.Errorf("kiln push --json: exit %d, %v, %+v, want reused and ref %s\n%s", r.code, err, res, m[0], r.stderr)
	}

	// kiln build ./... with a malformed function beside the programs.
	writeFile(t, filepath.Join(fn, "badfn", "f.go"), "package badfn\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter) {}\n")
	r = kiln(t, fn, nil, "build", "-q", "./...")
	if r.code == 0 || !strings.Contains(r.stderr, "Handle is func(w http.ResponseWriter)") {
		t.Errorf("kiln build ./... with badfn: exit %d\n%s", r.code, r.stderr)
	}
	os.RemoveAll(filepath.Join(fn, "badfn"))

	// A dependency's main package by import path, as ko builds it.
	proxyEnv := testutil.GoProxy(t, map[string]map[string]string{
		"example.com/tool": {
			"go.mod":           "module example.com/tool\n\ngo 1.22\n",
			"cmd/tool/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"tool\") }\n",
		},
	})
	app := filepath.Join(clone, "app")
	writeFile(t, filepath.Join(app, "go.mod"), "module example.com/app\n\ngo 1.22\n")
	writeFile(t, filepath.Join(app, "tools.go"), "//go:build tools\n\npackage app\n\nimport _ \"example.com/tool/cmd/tool\"\n")
	command(t, proxyEnv, "go", "-C", app, "get", "example.com/tool@v1.0.0")
	r = kiln(t, app, proxyEnv, "build", "-q", "--output", "oci:"+filepath.Join(clone, "tools"), "example.com/tool/cmd/tool")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "oci:"+filepath.Join(clone, "tools")+":tool" {
		t.Fatalf("kiln build example.com/tool/cmd/tool: exit %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	if got := pm.run("run", "--rm", "--network", "none", "oci:"+filepath.Join(clone, "tools")+":tool"); got != "tool\n" {
		t.Errorf("the dependency's program printed %q", got)
	}

	// A Python project, built twice into ./out, then edited.
	needTool(t, "python3")
	base, version := pushPythonBase(t, reg)
	e := &pyEnv{reg: reg, base: base, version: version, wheels: makeWheels(t, version)}
	e.env = append(reg.dockerConfig(t, reg.pass), "PIP_NO_INDEX=1", "PIP_FIND_LINKS="+e.wheels, "PIP_INDEX_URL=", "PIP_EXTRA_INDEX_URL=", "PIP_CONFIG_FILE=/dev/null")
	testPythonRebuilds(t, e)
}

// runIn runs podman in dir (for relative oci: paths, as a user types them).
func (p *podman) runIn(dir string, args ...string) string {
	p.t.Helper()
	return command(p.t, p.env, "sh", append([]string{"-c", `cd "$0" && exec podman "$@"`, dir}, p.args(args...)...)...)
}
