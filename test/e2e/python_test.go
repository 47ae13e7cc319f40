package e2e

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// pyEnv is what every Python test runs kiln with: the registry's
// credentials, a shared base cache, and pip pointed at the test's wheel
// folder only (no index is reachable).
type pyEnv struct {
	reg     *testRegistry
	env     []string
	base    string // the Python base image's reference
	version string // its Python version
	wheels  string // the wheel folder
}

func (e *pyEnv) kiln(t *testing.T, dir string, args ...string) run {
	t.Helper()
	return kiln(t, dir, e.env, args...)
}

func (e *pyEnv) mustKiln(t *testing.T, dir string, args ...string) run {
	t.Helper()
	r := e.kiln(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("kiln %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// project writes a Python project into a new directory, with kiln.yaml
// naming the test's base.
func (e *pyEnv) project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(tempDir(t), "proj")
	if _, ok := files["kiln.yaml"]; !ok {
		files["kiln.yaml"] = "base: " + e.base + "\n"
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

// wheelBackend is a PEP 517 build backend small enough to live in each
// test project (backend-path), so pip wheel builds wheels without
// setuptools' wheel package, which the host may lack (no index is
// reachable to fetch it).
const wheelBackend = `import base64, hashlib, os, re, zipfile

def _project():
    src = open("pyproject.toml").read()
    name = re.search(r'^name = "([^"]+)"', src, re.M).group(1)
    version = re.search(r'^version = "([^"]+)"', src, re.M).group(1)
    deps = re.findall(r'^requires-dist = "([^"]+)"', src, re.M)
    scripts = re.findall(r'^script = "([^"]+)"', src, re.M)
    return name, version, deps, scripts

def _record(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "sha256=%s,%d" % (digest, len(data))

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, deps, scripts = _project()
    files = {}
    for root, _, names in os.walk(name):
        for n in sorted(names):
            if n.endswith(".py"):
                p = os.path.join(root, n)
                files[p.replace(os.sep, "/")] = open(p, "rb").read()
    info = "%s-%s.dist-info" % (name, version)
    files[info + "/METADATA"] = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version) + "".join("Requires-Dist: %s\n" % d for d in deps)).encode()
    files[info + "/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: kiln-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if scripts:
        files[info + "/entry_points.txt"] = ("[console_scripts]\n" + "".join("%s\n" % s for s in scripts)).encode()
    record = "".join("%s,%s\n" % (p, _record(d)) for p, d in files.items()) + info + "/RECORD,,\n"
    files[info + "/RECORD"] = record.encode()
    filename = "%s-%s-py3-none-any.whl" % (name, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as z:
        for p, d in files.items():
            z.writestr(p, d)
    return filename
`

// pipWheel builds a tiny local project into a wheel with pip wheel, as a
// project's own wheels would be made, and returns the wheel's path.
func pipWheel(t *testing.T, out, name, version string, extra string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(tempDir(t), name)
	writeFile(t, filepath.Join(dir, "pyproject.toml"), fmt.Sprintf("[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n\n[project]\nname = \"%s\"\nversion = \"%s\"\n%s", name, version, extra))
	writeFile(t, filepath.Join(dir, "backend.py"), wheelBackend)
	for p, content := range files {
		writeFile(t, filepath.Join(dir, p), content)
	}
	command(t, []string{"PIP_CONFIG_FILE=/dev/null", "PIP_FIND_LINKS="}, "python3", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, dir)
	whl := filepath.Join(out, name+"-"+version+"-py3-none-any.whl")
	if _, err := os.Stat(whl); err != nil {
		t.Fatalf("pip wheel made no %s: %v", whl, err)
	}
	return whl
}

// makeWheels makes the test's wheel folder: greetlib (pure Python, with a
// console script) built by pip wheel; nativelib, built the same way and
// then retagged for x86_64 and for aarch64 with different content (ARCH
// and a fake _native.so), as a package with native code would publish;
// and x86only, which has no aarch64 wheel.
func makeWheels(t *testing.T, version string) string {
	t.Helper()
	dir := tempDir(t)
	pipWheel(t, dir, "greetlib", "1.0", "script = \"greet = greetlib:main\"\n", map[string]string{
		"greetlib/__init__.py": "def greet():\n    return 'hello from greetlib'\n\n\ndef main():\n    print(greet())\n",
	})
	build := tempDir(t)
	minor := strings.Join(strings.Split(version, ".")[:2], "")
	cp := "cp" + minor + "-cp" + minor + "-"
	native := pipWheel(t, build, "nativelib", "2.0", "requires-dist = \"greetlib>=1.0\"\n", map[string]string{"nativelib/__init__.py": "ARCH = None\n"})
	for _, arch := range []string{"x86_64", "aarch64"} {
		retag(t, native, dir, cp+"manylinux_2_17_"+arch+".manylinux2014_"+arch, map[string]string{
			"nativelib/__init__.py": fmt.Sprintf("ARCH = %q\n", arch),
			"nativelib/_native.so":  "not really ELF, built for " + arch + "\n",
		})
	}
	x86 := pipWheel(t, build, "x86only", "1.0", "", map[string]string{"x86only/__init__.py": "X = 1\n"})
	retag(t, x86, dir, cp+"manylinux_2_17_x86_64", nil)
	return dir
}

// retag rewrites a pure wheel as a platform wheel: the tag in its file name
// and WHEEL, files replaced or added, and a RECORD to match.
func retag(t *testing.T, src, dir, tag string, files map[string]string) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	content := map[string]string{}
	var distInfo string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		content[f.Name] = string(data)
		if strings.HasSuffix(f.Name, ".dist-info/WHEEL") {
			distInfo = path.Dir(f.Name)
		}
	}
	for k, v := range files {
		content[k] = v
	}
	content[distInfo+"/WHEEL"] = strings.NewReplacer("Tag: py3-none-any", "Tag: "+tag, "Root-Is-Purelib: true", "Root-Is-Purelib: false").Replace(content[distInfo+"/WHEEL"])
	delete(content, distInfo+"/RECORD")
	base := strings.TrimSuffix(filepath.Base(src), "-py3-none-any.whl")
	return writeWheelZip(t, filepath.Join(dir, base+"-"+tag+".whl"), distInfo, content)
}

// TestPython builds Python apps and functions on a Python base made by the
// test (Debian 12 with python3) in a local registry, with dependencies
// from a local wheel folder, and runs the amd64 images under podman.
func TestPython(t *testing.T) {
	needTool(t, "python3")
	start := time.Now()
	reg := startRegistry(t)
	base, version := pushPythonBase(t, reg)
	t.Logf("Python base ready in %s", time.Since(start).Round(time.Millisecond))
	e := &pyEnv{reg: reg, base: base, version: version, wheels: makeWheels(t, version)}
	e.env = append(reg.dockerConfig(t, reg.pass),
		"PIP_NO_INDEX=1", "PIP_FIND_LINKS="+e.wheels, "PIP_INDEX_URL=", "PIP_EXTRA_INDEX_URL=", "PIP_CONFIG_FILE=/dev/null")
	pm := newPodman(t)

	t.Run("app per platform", func(t *testing.T) { testPythonApp(t, e, pm) })
	t.Run("layers", func(t *testing.T) { testPythonLayers(t, e) })
	t.Run("function", func(t *testing.T) { testPythonFunction(t, e, pm) })
	t.Run("errors", func(t *testing.T) { testPythonErrors(t, e) })
	t.Run("declared kind", func(t *testing.T) { testPythonDeclaredKind(t, e) })
	t.Run("starters", func(t *testing.T) { testPythonStarters(t, e, pm) })
	t.Run("knative", func(t *testing.T) { testKnativePython(t, e, pm) })
	t.Run("base without PYTHON_VERSION", func(t *testing.T) { testPythonBaseWithoutVersion(t, e, pm) })
	t.Run("run --host", func(t *testing.T) { testPythonRunHost(t, e) })
}

const appMain = `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import greetlib
import nativelib


class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("arch=%s greet=%s\n" % (nativelib.ARCH, greetlib.greet())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ.get("PORT") or 8080)), H).serve_forever()
`

// testPythonApp: the arm64 image holds the aarch64 wheel and the amd64
// image the x86_64 one; the install is clean (no bytecode, no host paths,
// RECORDs that match); the amd64 image answers over HTTP.
func testPythonApp(t *testing.T, e *pyEnv, pm *podman) {
	dir := e.project(t, map[string]string{
		"pyproject.toml":                    "[project]\nname = \"Py_App\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"nativelib==2.0\"]\n",
		"main.py":                           appMain,
		".venv/pyvenv.cfg":                  "home = /usr/bin\n",
		"pkg/__pycache__/x.cpython-311.pyc": "junk",
	})
	out := filepath.Join(tempDir(t), "out")
	r := e.mustKiln(t, dir, "build", "--platform", "linux/amd64,linux/arm64", "--output", "oci:"+out)
	if !regexp.MustCompile(`oci:\S+:py-app\n`).MatchString(r.stdout) {
		t.Fatalf("stdout %q: want the image named py-app", r.stdout)
	}
	validateLayout(t, out)
	for arch, want := range map[string]string{"amd64": "x86_64", "arm64": "aarch64"} {
		img := layoutImage(t, out, "py-app", arch)
		layers := kilnLayers(t, img)
		deps, code := layers["pip"], layers["project"]
		if deps.files == nil || code.files == nil {
			t.Fatalf("%s: kiln layers %v: want pip and project", arch, keys(layers))
		}
		if got := deps.files["/kiln/python/deps/nativelib/__init__.py"].content; got != fmt.Sprintf("ARCH = %q\n", want) {
			t.Errorf("%s image holds nativelib %q, want the %s wheel", arch, got, want)
		}
		if !strings.Contains(deps.files["/kiln/python/deps/nativelib/_native.so"].content, want) {
			t.Errorf("%s image holds the wrong _native.so", arch)
		}
		checkCleanInstall(t, arch, deps)
		if _, ok := code.files["/app/main.py"]; !ok {
			t.Errorf("%s: code layer lacks /app/main.py: %v", arch, keys2(code.files))
		}
		for name := range code.files {
			if strings.Contains(name, ".venv") || strings.Contains(name, "__pycache__") || strings.Contains(name, "/.kiln") {
				t.Errorf("%s: the code layer holds %s", arch, name)
			}
		}
		// The SBOM lists the wheels pip installed for this platform.
		d, _ := img.Digest()
		minor := strings.Join(strings.Split(e.version, ".")[:2], "")
		checkWheelsInSBOM(t, layoutSBOM(t, out, d), e.wheels, map[string]string{
			"nativelib": fmt.Sprintf("nativelib-2.0-cp%s-cp%s-manylinux_2_17_%s.manylinux2014_%s.whl", minor, minor, want, want),
			"greetlib":  "greetlib-1.0-py3-none-any.whl",
		})
		cfg, _ := img.ConfigFile()
		if strings.Join(cfg.Config.Entrypoint, " ") != "python3 -m main" || cfg.Config.WorkingDir != "/app" {
			t.Errorf("%s: entrypoint %q, workdir %q", arch, cfg.Config.Entrypoint, cfg.Config.WorkingDir)
		}
		if !containsString(cfg.Config.Env, "PYTHONPATH=/app:/kiln/python/deps") || !containsString(cfg.Config.Env, "PYTHON_VERSION="+e.version) {
			t.Errorf("%s: env %q", arch, cfg.Config.Env)
		}
	}

	id := strings.TrimSpace(pm.run("run", "-d", "-p", "127.0.0.1::8080", "oci:"+out+":py-app"))
	defer pm.run("rm", "-f", "-t", "0", id)
	addr := strings.TrimSpace(pm.run("port", id, "8080/tcp"))
	if body := get(t, "http://"+addr+"/", 60*time.Second); body != "arch=x86_64 greet=hello from greetlib\n" {
		t.Errorf("the amd64 app answered %q", body)
	}
	// The dependency's console script runs with the image's python3.
	if got := pm.run("exec", id, "greet"); got != "hello from greetlib\n" {
		t.Errorf("greet printed %q", got)
	}
}

// checkCleanInstall: no bytecode, no direct_url.json, no path of the build
// machine, scripts on the image's python3, RECORD hashes that match.
func checkCleanInstall(t *testing.T, arch string, deps kilnLayer) {
	t.Helper()
	home, _ := os.UserHomeDir()
	for name, f := range deps.files {
		if strings.Contains(name, "__pycache__") || strings.HasSuffix(name, ".pyc") || strings.HasSuffix(name, "direct_url.json") {
			t.Errorf("%s: deps layer holds %s", arch, name)
		}
		for _, host := range []string{os.TempDir() + "/kiln-build-", home + "/"} {
			if strings.Contains(f.content, host) {
				t.Errorf("%s: %s holds the host path %s", arch, name, host)
			}
		}
	}
	greet, ok := deps.files["/kiln/bin/greet"]
	if !ok || !strings.HasPrefix(greet.content, "#!/usr/bin/env python3\n") || greet.mode&0o111 == 0 {
		t.Errorf("%s: /kiln/bin/greet is %+v", arch, greet)
	}
	records := 0
	for name, f := range deps.files {
		if !strings.HasSuffix(name, ".dist-info/RECORD") {
			continue
		}
		records++
		rows, err := csv.NewReader(strings.NewReader(f.content)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, row := range rows {
			if row[1] == "" {
				continue
			}
			p := filepath.Clean(filepath.Join("/kiln/python/deps", row[0]))
			got, ok := deps.files[p]
			if !ok {
				t.Errorf("%s: %s lists %s, which is not in the layer", arch, name, p)
				continue
			}
			sum := sha256.Sum256([]byte(got.content))
			if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); row[1] != want || row[2] != fmt.Sprint(len(got.content)) {
				t.Errorf("%s: %s has %s,%s for %s; the file has %s,%d", arch, name, row[1], row[2], p, want, len(got.content))
			}
		}
	}
	if records != 2 {
		t.Errorf("%s: %d RECORD files, want 2 (nativelib, greetlib)", arch, records)
	}
}

func keys(m map[string]kilnLayer) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func keys2(m map[string]tarFile) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// testPythonLayers: pure-Python dependencies give the same layer on both
// platforms; two copies of a project give the same image; editing a source
// file changes only the code layer.
func testPythonLayers(t *testing.T, e *pyEnv) {
	files := func() map[string]string {
		return map[string]string{
			"requirements.txt": "# pure Python only\ngreetlib==1.0\n",
			"app/__init__.py":  "",
			"app/__main__.py":  "import greetlib\nprint(greetlib.greet())\n",
		}
	}
	var digests []string
	var dirs []string
	for range 2 {
		dir := e.project(t, files())
		r := e.mustKiln(t, dir, "build", "-q", "--json", "--platform", "linux/amd64,linux/arm64")
		m := regexp.MustCompile(`"digest": "(sha256:[0-9a-f]{64})"`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("stdout %q", r.stdout)
		}
		digests = append(digests, m[1])
		dirs = append(dirs, dir)
	}
	if digests[0] != digests[1] {
		t.Errorf("two copies of the project gave %s and %s", digests[0], digests[1])
	}
	dir := dirs[0]
	lay := filepath.Join(dir, ".kiln", "last", "oci")
	name := "proj"
	before := map[string]map[string]kilnLayer{}
	baseLayer := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		img := layoutImage(t, lay, name, arch)
		before[arch] = kilnLayers(t, img)
		baseLayer[arch] = firstLayer(t, img)
		cfg, _ := img.ConfigFile()
		if strings.Join(cfg.Config.Entrypoint, " ") != "python3 -m app" {
			t.Errorf("entrypoint %q, want python3 -m app", cfg.Config.Entrypoint)
		}
	}
	if a, b := before["amd64"]["pip"].digest, before["arm64"]["pip"].digest; a == "" || a != b {
		t.Errorf("pure-Python deps layers: amd64 %s, arm64 %s; want one layer", a, b)
	}

	// Unchanged, the build is reused without running pip.
	if r := e.mustKiln(t, dir, "build", "--platform", "linux/amd64,linux/arm64"); !strings.Contains(r.stderr, "nothing changed since build") {
		t.Errorf("an unchanged project was built again:\n%s", r.stderr)
	}

	writeFile(t, filepath.Join(dir, "app", "__main__.py"), "import greetlib\nprint(greetlib.greet().upper())\n")
	e.mustKiln(t, dir, "build", "-q", "--platform", "linux/amd64,linux/arm64")
	for _, arch := range []string{"amd64", "arm64"} {
		img := layoutImage(t, lay, name, arch)
		after := kilnLayers(t, img)
		if after["pip"].digest != before[arch]["pip"].digest {
			t.Errorf("%s: editing a source changed the deps layer", arch)
		}
		if after["project"].digest == before[arch]["project"].digest {
			t.Errorf("%s: editing a source left the code layer as it was", arch)
		}
		if firstLayer(t, img) != baseLayer[arch] {
			t.Errorf("%s: the base layer changed", arch)
		}
	}
}

func firstLayer(t *testing.T, img v1.Image) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers: %v", err)
	}
	d, _ := layers[0].Digest()
	return d.String()
}

// combined runs podman and returns stdout and stderr together.
func (p *podman) combined(args ...string) string {
	cmd := exec.Command("podman", p.args(args...)...)
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

const functionSource = `import sys, time

class Greeter:
    def __init__(self):
        self.started = False

    def start(self):
        self.started = True

    def ready(self):
        return self.started

    def stop(self):
        print("stop called", file=sys.stderr, flush=True)

    def handle(self, req):
        if req.path == "/boom":
            raise RuntimeError("boom")
        if req.path == "/json":
            return {"method": req.method, "body": req.text()}
        name = req.query.get("name", ["world"])[0]
        return 201, {"X-Kind": "function"}, "hello %s\n" % name


def new():
    return Greeter()
`

// testPythonFunction runs a function with new() under podman: its answers,
// health endpoints, a failing request, and a graceful stop.
func testPythonFunction(t *testing.T, e *pyEnv, pm *podman) {
	dir := e.project(t, map[string]string{
		"pyproject.toml": "[project]\nname = \"greeter\"\nversion = \"1\"\n",
		"function.py":    functionSource,
	})
	out := filepath.Join(tempDir(t), "out")
	e.mustKiln(t, dir, "build", "-q", "--platform", "linux/amd64", "--output", "oci:"+out)
	img := layoutImage(t, out, "greeter", "amd64")
	cfg, _ := img.ConfigFile()
	if strings.Join(cfg.Config.Entrypoint, " ") != "python3 /kiln/python/kiln_function.py function" {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if _, ok := kilnLayers(t, img)["Python"]; !ok {
		t.Errorf("no function service layer")
	}

	id := strings.TrimSpace(pm.run("run", "-d", "-e", "PORT=9090", "-p", "127.0.0.1::9090", "oci:"+out+":greeter"))
	defer pm.run("rm", "-f", "-t", "0", id)
	base := "http://" + strings.TrimSpace(pm.run("port", id, "9090/tcp"))
	get(t, base+"/health/liveness", 60*time.Second)
	if body := get(t, base+"/health/readiness", 5*time.Second); body != "READY\n" {
		t.Errorf("readiness: %q", body)
	}
	resp, err := http.Get(base + "/?name=kiln")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	if resp.StatusCode != 201 || body != "hello kiln\n" || resp.Header.Get("X-Kind") != "function" {
		t.Errorf("GET /?name=kiln: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, err = http.Get(base + "/boom")
	if err != nil || resp.StatusCode != 500 {
		t.Errorf("GET /boom: %v %v", resp, err)
	} else {
		readAll(resp)
	}
	resp, err = http.Post(base+"/json", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(resp); resp.Header.Get("Content-Type") != "application/json" || body != "{\"method\": \"POST\", \"body\": \"payload\"}\n" {
		t.Errorf("POST /json after a failure: %d %q", resp.StatusCode, body)
	}
	stopStart := time.Now()
	pm.run("stop", "-t", "20", id)
	if d := time.Since(stopStart); d > 10*time.Second {
		t.Errorf("stopping took %s", d)
	}
	logs := pm.combined("logs", id)
	for _, want := range []string{"GET /?name=kiln 201", "RuntimeError: boom", "GET /boom 500", "stop called", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if code := strings.TrimSpace(pm.run("inspect", "--format", "{{.State.ExitCode}}", id)); code != "0" {
		t.Errorf("exit code %s after SIGTERM, want 0", code)
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// testPythonErrors: a dependency without a wheel for a platform, and a
// function of the wrong shape, fail with messages that say what to do.
func testPythonErrors(t *testing.T, e *pyEnv) {
	dir := e.project(t, map[string]string{
		"requirements.txt": "x86only\n",
		"main.py":          "import x86only\n",
	})
	r := e.kiln(t, dir, "build", "-q", "--platform", "linux/amd64,linux/arm64")
	if r.code == 0 || !strings.Contains(r.stderr, "no wheel of x86only for linux/arm64") {
		t.Errorf("a dependency without an arm64 wheel: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("no wheel for arm64:\n%s", r.stderr)
	e.mustKiln(t, dir, "build", "-q", "--platform", "linux/amd64")

	bad := e.project(t, map[string]string{
		"pyproject.toml": "[project]\nname = \"bad\"\n",
		"function.py":    "def handle(request, extra):\n    return 'x'\n",
	})
	r = e.kiln(t, bad, "build", "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "must take exactly one argument") || !strings.Contains(r.stderr, "def handle(request)") {
		t.Errorf("a handle of the wrong shape: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("wrong shape:\n%s", r.stderr)

	old := e.project(t, map[string]string{
		"pyproject.toml": "[project]\nname = \"new\"\nrequires-python = \">=3.12\"\n",
		"main.py":        "print(1)\n",
	})
	r = e.kiln(t, old, "build", "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "has Python "+e.version+", and requires-python is \">=3.12\"") {
		t.Errorf("a base whose Python requires-python refuses: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("requires-python:\n%s", r.stderr)
}

// testPythonDeclaredKind: kind: in kiln.yaml decides between a project's
// app and its function, --json reports it, and a Go-only key is refused
// by name.
func testPythonDeclaredKind(t *testing.T, e *pyEnv) {
	for _, kind := range []string{"function", "app"} {
		dir := e.project(t, map[string]string{
			"kiln.yaml":      "base: " + e.base + "\nkind: " + kind + "\n",
			"pyproject.toml": "[project]\nname = \"both\"\n",
			"main.py":        "print('app')\n",
			"function.py":    "def handle(request):\n    return 'fn'\n",
		})
		out := filepath.Join(tempDir(t), "out")
		r := e.mustKiln(t, dir, "build", "-q", "--json", "--platform", "linux/amd64", "--output", "oci:"+out)
		var res struct{ Images []struct{ Kind string } }
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Images) != 1 || res.Images[0].Kind != kind {
			t.Errorf("kind: %s: --json says %+v (%v)\n%s", kind, res.Images, err, r.stdout)
		}
		cfg, _ := layoutImage(t, out, "both", "amd64").ConfigFile()
		isFunction := strings.Contains(strings.Join(cfg.Config.Entrypoint, " "), "kiln_function.py")
		if isFunction != (kind == "function") {
			t.Errorf("kind: %s: entrypoint %q", kind, cfg.Config.Entrypoint)
		}
	}
	dir := e.project(t, map[string]string{
		"kiln.yaml":      "base: " + e.base + "\nldflags: [-s, -w]\n",
		"pyproject.toml": "[project]\nname = \"app\"\n",
		"main.py":        "print('app')\n",
	})
	r := e.kiln(t, dir, "build", "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "kiln.yaml:2: ldflags is not used by the python runtime") {
		t.Errorf("ldflags in a Python project: exit %d\n%s", r.code, r.stderr)
	}
}

// testPythonStarters: both starters of kiln init build and serve HTTP on
// :8080 with no change.
func testPythonStarters(t *testing.T, e *pyEnv, pm *podman) {
	for _, kind := range []string{"app", "function"} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(tempDir(t), "hello-"+kind)
			e.mustKiln(t, filepath.Dir(dir), "init", "--runtime", "python", "--kind", kind, dir)
			out := filepath.Join(tempDir(t), "out")
			e.mustKiln(t, dir, "build", "-q", "--base", e.base, "--platform", "linux/amd64", "--output", "oci:"+out)
			id := strings.TrimSpace(pm.run("run", "-d", "-p", "127.0.0.1::8080", "oci:"+out+":hello-"+kind))
			defer pm.run("rm", "-f", "-t", "0", id)
			addr := strings.TrimSpace(pm.run("port", id, "8080/tcp"))
			body := get(t, "http://"+addr+"/", 60*time.Second)
			want := map[string]string{"app": "Hello from kiln!\n", "function": "Hello, world!\n"}[kind]
			if body != want {
				t.Errorf("%s starter answered %q, want %q", kind, body, want)
			}
			start := time.Now()
			pm.run("stop", "-t", "20", id)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%s starter took %s to stop", kind, d)
			}
		})
	}
}
