package golang

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ceShape is one of the twelve CloudEvents Handle shapes, as source.
type ceShape struct {
	params, results string
	want            Function
}

// ceShapes builds the twelve shapes from what they vary in.
func ceShapes() []ceShape {
	var out []ceShape
	for _, ev := range []bool{false, true} {
		for _, ctx := range []bool{false, true} {
			var ps []string
			if ctx {
				ps = append(ps, "ctx context.Context")
			}
			if ev {
				ps = append(ps, "e event.Event")
			}
			rs := []string{"", "error"}
			if ev {
				rs = append(rs, "*event.Event", "(*event.Event, error)")
			}
			for _, r := range rs {
				out = append(out, ceShape{strings.Join(ps, ", "), r, Function{
					CloudEvents: true, Context: ctx, Event: ev,
					EventResult: strings.Contains(r, "*event.Event"), ErrorResult: strings.Contains(r, "error"),
				}})
			}
		}
	}
	return out
}

// body is a Handle of the shape: with an event, it fails for type
// "fail", and answers (when it returns events) with an event of type
// "<type>.reply" carrying the request's data; without one, it logs.
func (s ceShape) body() string {
	var b strings.Builder
	if !s.want.Event {
		b.WriteString("\tfmt.Fprintln(os.Stderr, \"triggered\")\n")
		if s.want.ErrorResult {
			b.WriteString("\treturn nil\n")
		}
		return b.String()
	}
	if s.want.ErrorResult {
		b.WriteString("\tif e.Type() == \"fail\" {\n")
		if s.want.EventResult {
			b.WriteString("\t\treturn nil, errors.New(\"asked to fail\")\n")
		} else {
			b.WriteString("\t\treturn errors.New(\"asked to fail\")\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("\tfmt.Fprintln(os.Stderr, \"got\", e.ID())\n")
	switch {
	case s.want.EventResult:
		b.WriteString("\tr := event.New()\n\tr.SetID(\"re-\" + e.ID())\n\tr.SetSource(\"fn\")\n\tr.SetType(e.Type() + \".reply\")\n\tr.SetExtension(\"shape\", \"x\")\n\tr.SetData(e.DataContentType(), e.Data())\n")
		if s.want.ErrorResult {
			b.WriteString("\treturn &r, nil\n")
		} else {
			b.WriteString("\treturn &r\n")
		}
	case s.want.ErrorResult:
		b.WriteString("\treturn nil\n")
	}
	return b.String()
}

const ceImports = "import (\n\t\"context\"\n\t\"errors\"\n\t\"fmt\"\n\t\"os\"\n\n\t\"github.com/cloudevents/sdk-go/v2/event\"\n)\n\nvar (\n\t_ = errors.New\n\t_ = fmt.Sprint\n\t_ = os.Exit\n\t_ = context.Background\n\t_ event.Event\n)\n\n"

// static is the shape as a package-level Handle; instanced, as the
// method of the type New returns, with Start and Stop.
func (s ceShape) static(pkg string) string {
	return "package " + pkg + "\n\n" + ceImports + "func Handle(" + s.params + ") " + s.results + " {\n" + s.body() + "}\n"
}

func (s ceShape) instanced(pkg string) string {
	return "package " + pkg + "\n\n" + ceImports + `type F struct{}

func New() *F { return &F{} }

func (*F) Start(context.Context, map[string]string) error { fmt.Fprintln(os.Stderr, "started"); return nil }

func (*F) Stop(context.Context) error { fmt.Fprintln(os.Stderr, "stopped it"); return nil }

func (*F) Handle(` + s.params + ") " + s.results + " {\n" + s.body() + "}\n"
}

// ceModule writes a module requiring the CloudEvents SDK, with the
// packages given, and completes its go.sum from the module cache or the
// Go module proxy.
func ceModule(t *testing.T, files map[string]string) string {
	t.Helper()
	files["go.mod"] = "module example.com/ce\n\ngo 1.23\n\nrequire github.com/cloudevents/sdk-go/v2 v2.16.2\n"
	dir := module(t, files)
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	return dir
}

// TestCloudEventShapesDetected: every one of the twelve shapes is a
// function, static and instanced, with the facts the service needs.
func TestCloudEventShapesDetected(t *testing.T) {
	shapes := ceShapes()
	if len(shapes) != 12 || len(CloudEventShapes()) != 12 {
		t.Fatalf("%d shapes here, %d in kiln; want 12", len(shapes), len(CloudEventShapes()))
	}
	files := map[string]string{}
	for i, s := range shapes {
		files[fmt.Sprintf("s%d/fn.go", i)] = s.static(fmt.Sprintf("s%d", i))
		files[fmt.Sprintf("i%d/fn.go", i)] = s.instanced(fmt.Sprintf("i%d", i))
	}
	dir := ceModule(t, files)
	pkgs, err := Resolve(context.Background(), dir, []string{"./..."}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Function{}
	for _, p := range pkgs {
		got[strings.TrimPrefix(p.ImportPath, "example.com/ce/")] = p.Function
	}
	for i, s := range shapes {
		st, in := got[fmt.Sprintf("s%d", i)], got[fmt.Sprintf("i%d", i)]
		wantIn := s.want
		wantIn.Instance, wantIn.Start, wantIn.Stop = true, true, true
		if st == nil || *st != s.want {
			t.Errorf("static Handle(%s) %s: %+v, want %+v", s.params, s.results, st, s.want)
		}
		if in == nil || *in != wantIn {
			t.Errorf("instanced Handle(%s) %s: %+v, want %+v", s.params, s.results, in, wantIn)
		}
	}
}

// TestCloudEventShapesRejected: near misses are explained.
func TestCloudEventShapesRejected(t *testing.T) {
	for name, tt := range map[string]struct{ src, want string }{
		"event by pointer":         {"func Handle(e *event.Event) error { return nil }", "Handle is func(e *event.Event) error, want one of the Handle signatures"},
		"event returned by value":  {"func Handle(e event.Event) event.Event { return e }", "Handle is func(e event.Event) event.Event"},
		"event result without one": {"func Handle(ctx context.Context) *event.Event { return nil }", "Handle is func(ctx context.Context) *event.Event"},
		"event before context":     {"func Handle(e event.Event, ctx context.Context) {}", "Handle is func(e event.Event, ctx context.Context)"},
		"results swapped":          {"func Handle(e event.Event) (error, *event.Event) { return nil, nil }", "Handle is func(e event.Event) (error, *event.Event)"},
		"instanced, wrong shape":   {"type F struct{}\nfunc New() *F { return &F{} }\nfunc (*F) Handle(e event.Event) bool { return true }", "New returns *F, whose method Handle is func(e event.Event) bool, want one of the Handle signatures"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := ceModule(t, map[string]string{"fn.go": "package fn\n\n" + ceImports + tt.src + "\n"})
			_, err := Resolve(context.Background(), dir, []string{"."}, os.Environ())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "A CloudEvents Handle") {
				t.Fatalf("error %v, want one with %q and the signatures", err, tt.want)
			}
		})
	}
}

// ceRequest sends an event in binary or structured mode and returns the
// response.
func ceRequest(t *testing.T, port string, structured bool, typ string) (*http.Response, string) {
	t.Helper()
	var req *http.Request
	if structured {
		req, _ = http.NewRequest("POST", "http://127.0.0.1:"+port+"/", strings.NewReader(`{"specversion":"1.0","id":"s1","source":"test","type":"`+typ+`","datacontenttype":"application/json","data":{"n":1}}`))
		req.Header.Set("Content-Type", "application/cloudevents+json")
	} else {
		req, _ = http.NewRequest("POST", "http://127.0.0.1:"+port+"/", strings.NewReader(`{"n":1}`))
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", "b1")
		req.Header.Set("Ce-Source", "test")
		req.Header.Set("Ce-Type", typ)
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestCloudEventShapesServed: each of the twelve shapes, built into a
// service, answers binary and structured events as func's middleware
// does: 200 with the response event in binary mode, 200 and no body
// without one, 500 for an error, 415 for a request that is no event,
// 400 for an invalid one, 405 for GET.
func TestCloudEventShapesServed(t *testing.T) {
	shapes := ceShapes()
	files := map[string]string{}
	for i, s := range shapes {
		files[fmt.Sprintf("s%d/fn.go", i)] = s.static(fmt.Sprintf("s%d", i))
	}
	files["i3/fn.go"] = shapes[11].instanced("i3")
	dir := ceModule(t, files)
	pkgs, err := Resolve(context.Background(), dir, []string{"./..."}, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		name := strings.TrimPrefix(p.ImportPath, "example.com/ce/")
		f := *p.Function
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "svc")
			if err := New(p, Options{Env: os.Environ(), WorkDir: t.TempDir()}).BuildHost(context.Background(), bin); err != nil {
				t.Fatal(err)
			}
			s := start(t, bin)
			s.mustGet("/health/readiness", 200, "READY")
			if code, _, _ := s.get("/"); code != 405 {
				t.Errorf("GET /: %d, want 405", code)
			}
			for _, structured := range []bool{false, true} {
				resp, body := ceRequest(t, s.port, structured, "ping")
				if resp.StatusCode != 200 {
					t.Errorf("structured %v: %d %q\n%s", structured, resp.StatusCode, body, s.logs)
					continue
				}
				if f.EventResult {
					if resp.Header.Get("Ce-Type") != "ping.reply" || resp.Header.Get("Ce-Source") != "fn" || !strings.HasPrefix(resp.Header.Get("Ce-Id"), "re-") ||
						resp.Header.Get("Ce-Shape") != "x" || resp.Header.Get("Content-Type") != "application/json" || body != `{"n":1}` {
						t.Errorf("structured %v: response %v %q, want a binary-mode event", structured, resp.Header, body)
					}
				} else if body != "" || resp.Header.Get("Ce-Id") != "" {
					t.Errorf("structured %v: response %v %q, want none", structured, resp.Header, body)
				}
			}
			if f.Event {
				if resp, _ := ceRequest(t, s.port, false, "fail"); f.ErrorResult && resp.StatusCode != 500 {
					t.Errorf("failing event: %d, want 500", resp.StatusCode)
				}
				resp, err := http.Post("http://127.0.0.1:"+s.port+"/", "text/plain", strings.NewReader("hello"))
				if err != nil || resp.StatusCode != 415 {
					t.Errorf("plain POST: %v %v, want 415", resp, err)
				}
				req, _ := http.NewRequest("POST", "http://127.0.0.1:"+s.port+"/", nil)
				req.Header.Set("Ce-Specversion", "1.0")
				req.Header.Set("Ce-Type", "t")
				resp, err = http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 400 {
					t.Errorf("event without id or source: %v %v, want 400", resp, err)
				}
			} else {
				if resp, err := http.Post("http://127.0.0.1:"+s.port+"/", "text/plain", strings.NewReader("x")); err != nil || resp.StatusCode != 200 {
					t.Errorf("plain POST: %v %v, want 200", resp, err)
				}
			}
			s.signal(os.Interrupt)
			if code, _ := s.wait(10e9); code != 0 {
				t.Errorf("exit %d\n%s", code, s.logs)
			}
			switch {
			case f.Instance:
				logOrder(t, s.logs.String(), "started", "got b1", "got s1", "stopped it")
			case f.Event:
				logOrder(t, s.logs.String(), "got b1", "got s1")
			default:
				logOrder(t, s.logs.String(), "triggered", "triggered", "triggered")
			}
		})
	}
}
