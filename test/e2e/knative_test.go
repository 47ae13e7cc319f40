package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Fixtures in the shapes of Knative Functions' templates (func create -l
// go|python -t http|cloudevents), each a directory holding only what func
// writes: func.yaml, .gitignore, .funcignore and the template's files.

const funcIgnores = "# Use the .funcignore file to exclude files which should not be\n# tracked in the image build.\n"

func funcYAML(name, runtime, extra string) string {
	return "# $schema: https://raw.githubusercontent.com/knative/func/release-1.20/schema/func_yaml-schema.json\n" +
		"# yaml-language-server: $schema=https://raw.githubusercontent.com/knative/func/release-1.20/schema/func_yaml-schema.json\n" +
		"specVersion: 0.36.0\nname: " + name + "\nruntime: " + runtime + "\ncreated: 2026-08-22T17:30:24.123456789+07:00\n" + extra
}

func funcProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(tempDir(t), "fn")
	files[".gitignore"] = "\n# Functions use the .func directory for local runtime data which should\n# generally not be tracked in source control.\n/.func\n"
	files[".funcignore"] = funcIgnores
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

const goFuncMod = "module function\n\ngo 1.21\n"

// The static http template (handle.go) of older projects: it echoes.
const goStaticHTTP = `package function

import (
	"fmt"
	"net/http"
	"net/http/httputil"
)

// Handle an HTTP Request.
func Handle(w http.ResponseWriter, r *http.Request) {
	dump, err := httputil.DumpRequest(r, true)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Println("Received request")
	fmt.Fprintf(w, "%q", dump)
}
`

// The static form with a context, which func's Go guide shows.
const goStaticCtxHTTP = `package function

import (
	"context"
	"fmt"
	"net/http"
)

func Handle(ctx context.Context, res http.ResponseWriter, req *http.Request) {
	fmt.Fprintf(res, "OK %s %v\n", req.URL.Path, ctx.Err() == nil)
}
`

// The instanced http template, with Start and Stop written out.
const goInstancedHTTP = `package function

import (
	"context"
	"fmt"
	"net/http"
)

// MyFunction is your function's implementation.
type MyFunction struct {
	greeting string
}

// New constructs an instance of your function.
func New() *MyFunction {
	return &MyFunction{}
}

// Handle a request.
func (f *MyFunction) Handle(res http.ResponseWriter, req *http.Request) {
	fmt.Println("OK: Request Received")
	fmt.Fprintf(res, "OK %s\n", f.greeting)
}

// Start is called when the function instance starts.
func (f *MyFunction) Start(ctx context.Context, cfg map[string]string) error {
	f.greeting = cfg["GREETING"]
	fmt.Println("function started, TOKEN set:", cfg["TOKEN"] != "")
	return nil
}

// Stop is called when the function instance is stopped.
func (f *MyFunction) Stop(ctx context.Context) error {
	fmt.Println("function stopped")
	return nil
}
`

const goInstancedHTTPTest = `package function

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandle(t *testing.T) {
	var (
		f   = New()
		w   = httptest.NewRecorder()
		req = httptest.NewRequest("GET", "http://example.com/test", nil)
		res *http.Response
	)
	f.Handle(w, req)
	res = w.Result()
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("unexpected response code: %v", res.StatusCode)
	}
}
`

// CloudEvents functions: the instanced template's shape and three others.
var goCloudEvents = map[string]string{
	"instanced (event) (*event.Event, error)": `package function

import (
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
)

type MyFunction struct{}

func New() *MyFunction { return &MyFunction{} }

func (f *MyFunction) Handle(e event.Event) (*event.Event, error) {
	fmt.Println("received", e.ID())
	r := event.New()
	r.SetID("response-" + e.ID())
	r.SetSource("function")
	r.SetType("function.response")
	r.SetData(event.ApplicationJSON, map[string]string{"message": "OK"})
	return &r, nil
}
`,
	"static (ctx, event) (*event.Event, error)": `package function

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Handle echoes the event.
func Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	return &e, nil
}
`,
	"static (ctx, event) error": `package function

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
)

func Handle(ctx context.Context, e event.Event) error {
	if e.Type() == "fail" {
		return errors.New("asked to fail")
	}
	fmt.Println("received", e.ID())
	return nil
}
`,
	"instanced (ctx) error": `package function

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
)

var _ event.Event

type F struct{}

func New() *F { return &F{} }

func (*F) Handle(ctx context.Context) error {
	fmt.Println("triggered")
	return nil
}
`,
}

// runFunc builds the project and runs its image, named after func.yaml,
// in podman; it returns the base URL and the container.
func runFunc(t *testing.T, pm *podman, dir, name string, env ...string) (string, string) {
	t.Helper()
	out := buildTo(t, dir)
	args := []string{"run", "-d", "-p", "127.0.0.1::8080"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	id := strings.TrimSpace(pm.run(append(args, "oci:"+out+":"+name)...))
	base := "http://" + strings.TrimSpace(pm.run("port", id, "8080/tcp"))
	get(t, base+"/health/readiness", 60*time.Second)
	return base, id
}

func postEvent(t *testing.T, url string, structured bool, id, typ string) (*http.Response, string) {
	t.Helper()
	var req *http.Request
	if structured {
		req, _ = http.NewRequest("POST", url, strings.NewReader(`{"specversion":"1.0","id":"`+id+`","source":"e2e","type":"`+typ+`","datacontenttype":"application/json","data":{"n":1}}`))
		req.Header.Set("Content-Type", "application/cloudevents+json")
	} else {
		req, _ = http.NewRequest("POST", url, strings.NewReader(`{"n":1}`))
		for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": id, "Ce-Source": "e2e", "Ce-Type": typ, "Content-Type": "application/json"} {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestKnativeGo: func's Go http and cloudevents projects build unchanged,
// into images named after func.yaml, and answer as func's middleware
// does.
func TestKnativeGo(t *testing.T) {
	pm := newPodman(t)
	t.Run("http static", func(t *testing.T) {
		for name, src := range map[string]string{"echo-fn": goStaticHTTP, "ctx-fn": goStaticCtxHTTP} {
			dir := funcProject(t, map[string]string{"func.yaml": funcYAML(name, "go", ""), "go.mod": goFuncMod, "handle.go": src})
			base, id := runFunc(t, pm, dir, name)
			resp, err := http.Post(base+"/some/path", "text/plain", strings.NewReader("hi"))
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(resp)
			if resp.StatusCode != 200 || !strings.Contains(body, "/some/path") {
				t.Errorf("%s: POST: %d %q", name, resp.StatusCode, body)
			}
			if body := get(t, base+"/health/liveness", 5*time.Second); body != "ALIVE\n" {
				t.Errorf("%s: liveness %q", name, body)
			}
			pm.run("rm", "-f", "-t", "0", id)
		}
	})

	t.Run("http instanced", func(t *testing.T) {
		dir := funcProject(t, map[string]string{
			"func.yaml": funcYAML("hello-fn", "go", "run:\n  envs:\n  - name: GREETING\n    value: from func.yaml\n  - name: TOKEN\n    value: '{{ secret:creds:token }}'\n"),
			"go.mod":    goFuncMod, "function.go": goInstancedHTTP, "function_test.go": goInstancedHTTPTest,
		})
		goTest(t, dir)
		r := mustKiln(t, dir, "build", "--output", "oci:"+filepath.Join(tempDir(t), "x"))
		if !strings.Contains(r.stderr, "not baked into the image: run.envs TOKEN = {{ secret:creds:token }}") {
			t.Errorf("the secret reference was not reported:\n%s", r.stderr)
		}
		base, id := runFunc(t, pm, dir, "hello-fn")
		if body := get(t, base+"/", 5*time.Second); body != "OK from func.yaml\n" {
			t.Errorf("GET / answered %q", body)
		}
		pm.run("stop", "-t", "10", id)
		logs := pm.logs(id)
		for _, want := range []string{"function started, TOKEN set: false", "GET / 200", "function stopped"} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %q:\n%s", want, logs)
			}
		}
	})

	t.Run("init templates", func(t *testing.T) {
		for _, tmpl := range []string{"http", "cloudevents"} {
			dir := filepath.Join(tempDir(t), "go-"+tmpl)
			mustKiln(t, filepath.Dir(dir), "init", "--template", tmpl, dir)
			goTest(t, dir)
			base, id := runFunc(t, pm, dir, "go-"+tmpl, "GREETING=there")
			if tmpl == "http" {
				if body := get(t, base+"/", 5*time.Second); body != "OK there\n" {
					t.Errorf("GET / answered %q", body)
				}
			} else if resp, body := postEvent(t, base+"/", false, "e1", "ping"); resp.StatusCode != 200 || resp.Header.Get("Ce-Id") != "response-e1" || body != `{"message":"OK"}` {
				t.Errorf("event answered %d %v %q", resp.StatusCode, resp.Header, body)
			}
			pm.run("rm", "-f", "-t", "0", id)
		}
	})

	t.Run("cloudevents", func(t *testing.T) {
		i := 0
		for shape, src := range goCloudEvents {
			i++
			name := "ce-fn-" + string(rune('a'+i))
			dir := funcProject(t, map[string]string{
				"func.yaml": funcYAML(name, "go", "invoke: cloudevent\n"),
				"go.mod":    "module function\n\ngo 1.23\n\nrequire github.com/cloudevents/sdk-go/v2 v2.16.2\n", "function.go": src,
			})
			command(t, nil, "go", "-C", dir, "mod", "tidy") // writes go.sum, as the template ships one
			base, id := runFunc(t, pm, dir, name)
			for _, structured := range []bool{false, true} {
				resp, body := postEvent(t, base+"/", structured, "e1", "ping")
				switch {
				case resp.StatusCode != 200:
					t.Errorf("%s (structured %v): %d %q", shape, structured, resp.StatusCode, body)
				case strings.HasPrefix(shape, "instanced (event)"):
					var data map[string]string
					if resp.Header.Get("Ce-Type") != "function.response" || resp.Header.Get("Ce-Id") != "response-e1" || json.Unmarshal([]byte(body), &data) != nil || data["message"] != "OK" {
						t.Errorf("%s: response %v %q", shape, resp.Header, body)
					}
				case strings.Contains(shape, "*event.Event"):
					if resp.Header.Get("Ce-Type") != "ping" || resp.Header.Get("Ce-Source") != "e2e" || body != `{"n":1}` {
						t.Errorf("%s: echo %v %q", shape, resp.Header, body)
					}
				case body != "":
					t.Errorf("%s: body %q, want none", shape, body)
				}
			}
			if strings.Contains(shape, "(ctx, event) error") {
				if resp, _ := postEvent(t, base+"/", false, "e2", "fail"); resp.StatusCode != 500 {
					t.Errorf("%s: failing event answered %d", shape, resp.StatusCode)
				}
			}
			if resp, err := http.Get(base + "/"); err != nil || resp.StatusCode != 405 {
				t.Errorf("%s: GET / answered %v %v", shape, resp, err)
			}
			pm.run("rm", "-f", "-t", "0", id)
		}
	})
}

// func's Python pyproject.toml, without the template's dependencies
// (httpx, pytest, pytest-asyncio and, for cloudevents, cloudevents),
// which no index here serves.
const pyFuncProject = `[project]
name = "function"
description = ""
version = "0.1.0"
requires-python = ">=3.9"
readme = "README.md"
license = "MIT"
dependencies = []
authors = [
  { name="Your Name", email="you@example.com"},
]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.pytest.ini_options]
asyncio_mode = "strict"
asyncio_default_fixture_loop_scope = "function"
`

// func's Python http template, with a handler that streams the request
// body and a slow path.
const pyFuncHTTP = `import asyncio
import logging


def new():
    """ New is the only method that must be implemented by a Function.
    The instance returned can be of any name.
    """
    return Function()


class Function:
    def __init__(self):
        self.greeting = None

    async def handle(self, scope, receive, send):
        """ Handle all HTTP requests to this Function other than readiness
        and liveness probes."""
        logging.info("OK: Request Received")
        if scope["path"] == "/slow":
            await asyncio.sleep(2)
        chunks, size = 0, 0
        more = True
        while more:
            msg = await receive()
            more = msg.get("more_body", False)
            if msg.get("body"):
                chunks += 1
                size += len(msg["body"])
        await send({
            'type': 'http.response.start',
            'status': 200,
            'headers': [
                [b'content-type', b'text/plain'],
            ],
        })
        await send({
            'type': 'http.response.body',
            'body': ("OK %s chunks=%d bytes=%d" % (self.greeting, chunks, size)).encode(),
        })

    def start(self, cfg):
        """ start is an optional method which is called when a new Function
        instance is started."""
        self.greeting = cfg.get("GREETING")
        logging.warning("Function starting with GREETING=%s", self.greeting)

    def stop(self):
        """ stop is an optional method which is called when a function is
        stopped."""
        logging.warning("Function stopping")

    def alive(self):
        return True, "Alive"

    def ready(self):
        return True, "Ready"
`

// func's Python cloudevents template; the CloudEvent class comes from the
// cloudevents package when it is installed.
const pyFuncCloudEvents = `import logging

try:
    from cloudevents.core.v1.event import CloudEvent
except ImportError:  # no index here serves the cloudevents package
    class CloudEvent:
        def __init__(self, attributes, data=None):
            self.attributes, self.data = attributes, data

        def get_attributes(self):
            return dict(self.attributes)

        def get_data(self):
            return self.data


def new():
    return Function()


class Function:
    async def handle(self, scope, receive, send):
        """ Handle all CloudEvents sent to this Function."""
        logging.info("OK: CloudEvent Received")
        event = scope["event"]
        response = CloudEvent(
            attributes={
                "type": "function.response",
                "source": "function",
                "id": f"response-{event.get_id()}",
            },
            data={"message": "OK", "in": event.get_data()},
        )
        await send(response)

    def start(self, cfg):
        logging.info("Function starting")

    def stop(self):
        logging.info("Function stopping")
`

// testKnativePython: func's Python http and cloudevents projects build
// unchanged and answer as func's middleware would.
func testKnativePython(t *testing.T, e *pyEnv, pm *podman) {
	build := func(dir string) string {
		out := filepath.Join(tempDir(t), "out")
		e.mustKiln(t, dir, "build", "-q", "--base", e.base, "--platform", "linux/amd64", "--output", "oci:"+out)
		return out
	}
	start := func(out, name string) (string, string) {
		id := strings.TrimSpace(pm.run("run", "-d", "-p", "127.0.0.1::8080", "oci:"+out+":"+name))
		base := "http://" + strings.TrimSpace(pm.run("port", id, "8080/tcp"))
		get(t, base+"/health/liveness", 60*time.Second)
		return base, id
	}

	dir := funcProject(t, map[string]string{
		"func.yaml":            funcYAML("py-hello", "python", "run:\n  envs:\n  - name: GREETING\n    value: hi\n"),
		"pyproject.toml":       pyFuncProject,
		"README.md":            "# Python HTTP Function\n",
		"function/__init__.py": "from .func import new\n",
		"function/func.py":     pyFuncHTTP,
		"tests/test_func.py":   "import pytest\nfrom function import new\n",
	})
	base, id := start(build(dir), "py-hello")
	defer pm.run("rm", "-f", "-t", "0", id)
	if body := get(t, base+"/health/readiness", 5*time.Second); body != "READY\n" {
		t.Errorf("readiness: %q", body)
	}
	if body := get(t, base+"/", 5*time.Second); body != "OK hi chunks=0 bytes=0" {
		t.Errorf("GET /: %q", body)
	}
	// The body reaches receive() in pieces as the client sends them.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 3; i++ {
			pw.Write([]byte(strings.Repeat("x", 1000)))
			time.Sleep(300 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := http.Post(base+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(resp); !strings.Contains(body, "bytes=3000") || strings.Contains(body, "chunks=1 ") {
		t.Errorf("streamed POST: %q", body)
	}
	// Four two-second requests at once take about two seconds.
	begin := time.Now()
	done := make(chan string)
	for i := 0; i < 4; i++ {
		go func() {
			resp, err := http.Get(base + "/slow")
			if err != nil {
				done <- err.Error()
				return
			}
			done <- readAll(resp)
		}()
	}
	for i := 0; i < 4; i++ {
		if body := <-done; !strings.HasPrefix(body, "OK hi") {
			t.Errorf("slow request: %q", body)
		}
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("four concurrent two-second requests took %s", d)
	}
	pm.run("stop", "-t", "20", id)
	logs := pm.combined("logs", id)
	for _, want := range []string{"Function starting with GREETING=hi", "POST /upload 200", "received SIGTERM", "Function stopping", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if code := strings.TrimSpace(pm.run("inspect", "--format", "{{.State.ExitCode}}", id)); code != "0" {
		t.Errorf("exit code %s after SIGTERM, want 0", code)
	}

	dir = funcProject(t, map[string]string{
		"func.yaml":            funcYAML("py-events", "python", "invoke: cloudevent\n"),
		"pyproject.toml":       pyFuncProject,
		"function/__init__.py": "from .func import new\n",
		"function/func.py":     pyFuncCloudEvents,
	})
	base, id = start(build(dir), "py-events")
	defer pm.run("rm", "-f", "-t", "0", id)
	for _, structured := range []bool{false, true} {
		resp, body := postEvent(t, base+"/", structured, "e1", "ping")
		var doc map[string]any
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/cloudevents+json" || json.Unmarshal([]byte(body), &doc) != nil ||
			doc["type"] != "function.response" || doc["id"] != "response-e1" || doc["source"] != "function" {
			t.Errorf("structured %v: %d %v %q", structured, resp.StatusCode, resp.Header, body)
		}
	}
	resp, err = http.Post(base+"/", "text/plain", strings.NewReader("not an event"))
	if err != nil || resp.StatusCode != 400 {
		t.Errorf("plain POST: %v %v, want 400", resp, err)
	}

	// kiln init --template writes projects that test, build and serve.
	for _, tmpl := range []string{"http", "cloudevents"} {
		dir := filepath.Join(tempDir(t), "py-"+tmpl)
		e.mustKiln(t, filepath.Dir(dir), "init", "--runtime", "python", "--template", tmpl, dir)
		command(t, nil, "sh", "-c", "cd "+dir+" && python3 -m unittest discover -s tests")
		base, id := start(build(dir), "py-"+tmpl)
		if tmpl == "http" {
			if body := get(t, base+"/", 5*time.Second); body != "OK None" {
				t.Errorf("GET / answered %q", body)
			}
		} else if resp, body := postEvent(t, base+"/", true, "e1", "ping"); resp.StatusCode != 200 || !strings.Contains(body, `"id": "response-e1"`) {
			t.Errorf("event answered %d %q", resp.StatusCode, body)
		}
		pm.run("rm", "-f", "-t", "0", id)
	}
}

// TestKnativePushTarget: kiln push without --repo sends a func project's
// last build where func.yaml says, registry/name:latest or image.
func TestKnativePushTarget(t *testing.T) {
	reg := startRegistry(t)
	env := append(reg.dockerConfig(t, reg.pass), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=")
	dir := funcProject(t, map[string]string{"func.yaml": funcYAML("pushed-fn", "go", "registry: "+reg.addr+"/alice\n"), "go.mod": goFuncMod, "handle.go": goStaticCtxHTTP})
	mustKiln(t, dir, "build", "-q")
	r := kiln(t, dir, env, "push", "--insecure-registry")
	if r.code != 0 || !strings.HasPrefix(r.stdout, reg.addr+"/alice/pushed-fn@sha256:") {
		t.Fatalf("kiln push: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := remote.Image(mustRef(t, reg.addr+"/alice/pushed-fn:latest"), reg.remoteOpts()...); err != nil {
		t.Errorf("no %s/alice/pushed-fn:latest: %v", reg.addr, err)
	}

	writeFile(t, filepath.Join(dir, "func.yaml"), funcYAML("pushed-fn", "go", "registry: "+reg.addr+"/alice\nimage: "+reg.addr+"/bob/other:v1\n"))
	r = kiln(t, dir, env, "push", "--insecure-registry")
	if r.code != 0 || !strings.HasPrefix(r.stdout, reg.addr+"/bob/other@sha256:") {
		t.Fatalf("kiln push to image: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := remote.Image(mustRef(t, reg.addr+"/bob/other:v1"), reg.remoteOpts()...); err != nil {
		t.Errorf("no %s/bob/other:v1: %v", reg.addr, err)
	}
}
