package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pipCounter puts a python3 on PATH that counts pip installs in a file
// before running the real one, and returns the environment and a function
// reading the count.
func pipCounter(t *testing.T) (env []string, count func() int) {
	t.Helper()
	real, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal(err)
	}
	bin := tempDir(t)
	log := filepath.Join(bin, "pip.log")
	writeFile(t, filepath.Join(bin, "python3"), "#!/bin/sh\ncase \"$*\" in *\"-m pip install\"*) echo install >> "+log+";; esac\nexec "+real+" \"$@\"\n")
	if err := os.Chmod(filepath.Join(bin, "python3"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, func() int {
		data, _ := os.ReadFile(log)
		return strings.Count(string(data), "install")
	}
}

// testPythonRebuilds: built twice into ./out inside the project, with
// wheels in ./wheels (PIP_FIND_LINKS=./wheels), the code layer holds
// neither out/ nor wheels/ nor what .gitignore lists; a code-only edit
// reuses the dependency layer without running pip.
func testPythonRebuilds(t *testing.T, e *pyEnv) {
	dir := e.project(t, map[string]string{
		"requirements.txt": "greetlib==1.0\n",
		"app/__init__.py":  "",
		"app/__main__.py":  "import greetlib\nprint(greetlib.greet())\n",
		".gitignore":       "notes.txt\n",
		"notes.txt":        "not for the image\n",
	})
	whl, err := filepath.Glob(filepath.Join(e.wheels, "greetlib-*.whl"))
	if err != nil || len(whl) != 1 {
		t.Fatalf("no greetlib wheel in %s", e.wheels)
	}
	data, err := os.ReadFile(whl[0])
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "wheels", filepath.Base(whl[0])), string(data))
	env, pips := pipCounter(t)
	env = append(append(append([]string(nil), e.env...), env...), "PIP_FIND_LINKS=./wheels")
	codeLayer := func() map[string]tarFile {
		img := layoutImage(t, filepath.Join(dir, "out"), "proj", "amd64")
		return kilnLayers(t, img)["project"].files
	}
	for i := range 2 {
		start := time.Now()
		r := kiln(t, dir, env, "build", "-q", "--platform", "linux/amd64", "--output", "oci:out")
		t.Logf("build %d: %s", i+1, time.Since(start).Round(time.Millisecond))
		if r.code != 0 {
			t.Fatalf("build %d: %s", i+1, r.stderr)
		}
		if want := "oci:" + filepath.Join(dir, "out") + ":proj\n"; r.stdout != want {
			t.Errorf("build %d printed %q, want %q", i+1, r.stdout, want)
		}
	}
	for name := range codeLayer() {
		for _, bad := range []string{"/app/out", "/app/wheels", "/app/notes.txt"} {
			if strings.HasPrefix(name, bad) {
				t.Errorf("the code layer of the second build holds %s", name)
			}
		}
	}
	if n := pips(); n != 1 {
		t.Errorf("two builds of an unchanged project ran pip %d times, want 1", n)
	}
	writeFile(t, filepath.Join(dir, "app", "__main__.py"), "import greetlib\nprint(greetlib.greet(), 'edited')\n")
	start := time.Now()
	r := kiln(t, dir, env, "build", "-q", "--platform", "linux/amd64", "--output", "oci:out")
	if r.code != 0 {
		t.Fatalf("build after an edit: %s", r.stderr)
	}
	t.Logf("build after a code-only edit (no pip): %s", time.Since(start).Round(time.Millisecond))
	if n := pips(); n != 1 {
		t.Errorf("a code-only edit ran pip again (%d installs in all)", n)
	}
	if got := codeLayer()["/app/app/__main__.py"].content; !strings.Contains(got, "edited") {
		t.Errorf("the edit is not in the image: %q", got)
	}
	if deps := kilnLayers(t, layoutImage(t, filepath.Join(dir, "out"), "proj", "amd64"))["pip"].files; deps["/kiln/python/deps/greetlib/__init__.py"].content == "" {
		t.Errorf("the reused dependency layer lacks greetlib")
	}
	writeFile(t, filepath.Join(dir, "requirements.txt"), "greetlib==1.0\nnativelib==2.0\n")
	start = time.Now()
	defer func() {
		t.Logf("build after a requirements change (pip): %s", time.Since(start).Round(time.Millisecond))
	}()
	if r := kiln(t, dir, append(env, "PIP_FIND_LINKS=./wheels "+e.wheels), "build", "-q", "--platform", "linux/amd64", "--output", "oci:out"); r.code != 0 {
		t.Fatalf("build after a requirement change: %s", r.stderr)
	}
	if n := pips(); n != 2 {
		t.Errorf("a changed requirements.txt ran pip %d times in all, want 2", n)
	}
}

// testPythonBaseWithoutVersion: a Debian-style base whose config sets no
// PYTHON_VERSION builds, its Python learnt from its file system; the
// app runs on it.
func testPythonBaseWithoutVersion(t *testing.T, e *pyEnv, pm *podman) {
	ref, version := pushPythonBaseAs(t, e.reg, "3.11-noversion", false)
	dir := e.project(t, map[string]string{
		"kiln.yaml":        "base: " + ref + "\n",
		"requirements.txt": "greetlib==1.0\n",
		"main.py":          "import sys, greetlib\nprint(greetlib.greet(), '%d.%d' % sys.version_info[:2])\n",
	})
	out := filepath.Join(tempDir(t), "out")
	r := e.kiln(t, dir, "build", "-q", "--platform", "linux/amd64", "--output", "oci:"+out)
	if r.code != 0 {
		t.Fatalf("a base without PYTHON_VERSION: exit %d\n%s", r.code, r.stderr)
	}
	deps := kilnLayers(t, layoutImage(t, out, "proj", "amd64"))["pip"]
	if deps.files["/kiln/python/deps/greetlib/__init__.py"].content == "" {
		t.Errorf("no greetlib in the dependency layer: %v", keys2(deps.files))
	}
	minor := strings.Join(strings.Split(version, ".")[:2], ".")
	if got := pm.run("run", "--rm", "--network", "none", "oci:"+out+":proj"); got != "hello from greetlib "+minor+"\n" {
		t.Errorf("the app printed %q", got)
	}
}

// testPythonRunHost: kiln run --host serves a Python function with the
// host's python3, its dependencies installed for this machine, and an app
// with a [project.scripts] entry runs too, kiln exiting with its status.
func testPythonRunHost(t *testing.T, e *pyEnv) {
	dir := e.project(t, map[string]string{
		"requirements.txt": "greetlib==1.0\n",
		"function.py":      "import greetlib\n\ndef handle(req):\n    return greetlib.greet() + '\\n'\n",
	})
	port := freePort(t)
	rk := startKilnRun(t, dir, e.env, "--host", "--port", port)
	if rk.where != "on this machine" {
		t.Errorf("kiln run said it runs %s", rk.where)
	}
	if body := get(t, rk.url, 60*time.Second); body != "hello from greetlib\n" {
		t.Errorf("the function answered %q", body)
	}
	rk.interrupt(t)

	app := e.project(t, map[string]string{
		"pyproject.toml":      "[project]\nname = \"hostapp\"\nversion = \"1\"\ndependencies = [\"greetlib==1.0\"]\n[project.scripts]\nhostapp = \"hostapp:main\"\n",
		"hostapp/__init__.py": "import sys, greetlib\n\ndef main():\n    print(greetlib.greet(), 'on', sys.platform)\n    return 3\n",
	})
	r := e.kiln(t, app, "run", "--host")
	if r.code != 3 || !strings.Contains(r.stdout, "hello from greetlib on linux") {
		t.Errorf("kiln run --host of an app: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
}
