package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
