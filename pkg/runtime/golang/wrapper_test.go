package golang

import (
	"github.com/kiln-build/kiln/pkg/config"

	"bytes"
	"context"
	"errors"
	"fmt"
	"go/format"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// testFunction exercises every part of the generated service.
const testFunction = `package fn

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"
)

type F struct{ cfg map[string]string }

func New() *F { return &F{} }

func (f *F) Start(ctx context.Context, cfg map[string]string) error {
	if cfg["FAIL_START"] != "" {
		return errors.New("no database")
	}
	f.cfg = cfg
	log.Print("test Start called")
	return nil
}

func (f *F) Handle(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/panic":
		w.Header().Set("X-Half", "set before the panic")
		panic("boom")
	case "/panic-late":
		fmt.Fprint(w, "partial")
		w.(http.Flusher).Flush()
		panic("late boom")
	case "/slow":
		time.Sleep(time.Second)
		fmt.Fprint(w, "slow done")
	case "/hang":
		time.Sleep(time.Hour)
	default:
		fmt.Fprintf(w, "hello %s", f.cfg["GREETING"])
	}
}

func (f *F) Stop(ctx context.Context) error {
	log.Print("test Stop called")
	return nil
}

func (f *F) Ready(ctx context.Context) (bool, error) { return f.cfg["READY"] != "no", nil }

func (f *F) Alive(ctx context.Context) (bool, error) {
	if f.cfg["ALIVE_ERR"] != "" {
		return false, errors.New(f.cfg["ALIVE_ERR"])
	}
	return true, nil
}
`

const staticFunction = `package fn

import (
	"fmt"
	"net/http"
)

func Handle(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "static hello") }
`

// buildFunction compiles the function src for this machine, as kiln run
// --host does, and returns the binary and the module directory.
func buildFunction(t *testing.T, src string) (string, string) {
	t.Helper()
	dir := module(t, map[string]string{"go.mod": goMod, "fn.go": src})
	pkgs, err := Resolve(context.Background(), dir, nil, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "fn")
	if err := New(pkgs[0], Options{Env: os.Environ(), WorkDir: t.TempDir()}).BuildHost(context.Background(), bin); err != nil {
		t.Fatal(err)
	}
	return bin, dir
}

// logBuffer collects a process's stderr.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type service struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *logBuffer
	port string
	done chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// start runs the service with env and waits until it answers, unless
// it exits first.
func start(t *testing.T, bin string, env ...string) *service {
	t.Helper()
	s := &service{t: t, logs: &logBuffer{}, port: freePort(t), done: make(chan error, 1)}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append([]string{"PORT=" + s.port}, env...)
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		s.done <- nil
	})
	addr := "127.0.0.1:" + s.port
	for _, kv := range env {
		if a, ok := strings.CutPrefix(kv, "LISTEN_ADDRESS="); ok {
			addr = a
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			s.done <- nil
			return s
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the service did not listen on %s:\n%s", s.port, s.logs)
	return nil
}

func (s *service) get(path string) (int, string, error) {
	return get("http://127.0.0.1:" + s.port + path)
}

func get(url string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (s *service) mustGet(path string, wantCode int, wantBody string) {
	s.t.Helper()
	code, body, err := s.get(path)
	if err != nil || code != wantCode || !strings.Contains(body, wantBody) {
		s.t.Errorf("GET %s = %d %q, %v; want %d with %q\nlogs:\n%s", path, code, body, err, wantCode, wantBody, s.logs)
	}
}

// wait waits for the process to exit and returns its status and how long
// it took.
func (s *service) wait(limit time.Duration) (int, time.Duration) {
	s.t.Helper()
	begin := time.Now()
	select {
	case err := <-s.done:
		s.done <- nil
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(begin)
		}
		return 0, time.Since(begin)
	case <-time.After(limit):
		s.t.Fatalf("the service did not exit within %v:\n%s", limit, s.logs)
		return 0, 0
	}
}

func (s *service) signal(sig os.Signal) {
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// logOrder checks that the lines appear in the logs in this order.
func logOrder(t *testing.T, logs string, lines ...string) {
	t.Helper()
	at := 0
	for _, l := range lines {
		i := strings.Index(logs[at:], l)
		if i < 0 {
			t.Errorf("logs lack %q after offset %d:\n%s", l, at, logs)
			return
		}
		at += i + len(l)
	}
}

func TestServiceServes(t *testing.T) {
	bin, _ := buildFunction(t, testFunction)
	s := start(t, bin, "GREETING=kiln")
	s.mustGet("/", 200, "hello kiln")
	s.mustGet("/health/readiness", 200, "READY")
	s.mustGet("/health/liveness", 200, "ALIVE")

	// A panic before the response becomes a 500, without the handler's
	// headers; the service keeps serving.
	resp, err := http.Get("http://127.0.0.1:" + s.port + "/panic")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || resp.Header.Get("X-Half") != "" {
		t.Errorf("GET /panic: %s, X-Half %q; want 500 without the handler's header", resp.Status, resp.Header.Get("X-Half"))
	}
	s.mustGet("/", 200, "hello kiln")

	// A panic after the response began cuts it off.
	if code, body, err := s.get("/panic-late"); err == nil {
		t.Errorf("GET /panic-late = %d %q, want the response cut off", code, body)
	}
	s.mustGet("/", 200, "hello kiln")

	// Listening on :PORT reaches IPv6 too.
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		if code, body, err := get("http://[::1]:" + s.port + "/"); err != nil || code != 200 || body != "hello kiln" {
			t.Errorf("GET over IPv6 = %d %q, %v", code, body, err)
		}
	}

	logs := s.logs.String()
	for _, want := range []string{"test Start called", "serving function example.com/fn on [::]:" + s.port, "GET / 200 10B", "GET /health/readiness 200", "panic serving GET /panic: boom", "GET /panic 500", "panic serving GET /panic-late: late boom", "GET /panic-late 200 7B", "(response cut off by a panic)"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// One line per request, none of them written by net/http's recovery.
	if strings.Contains(logs, "http: panic serving") && !strings.Contains(logs, "ErrAbortHandler") {
		t.Errorf("net/http logged a panic the service should have handled:\n%s", logs)
	}
}

func TestServiceHealth(t *testing.T) {
	bin, _ := buildFunction(t, testFunction)
	s := start(t, bin, "READY=no", "ALIVE_ERR=disk full")
	s.mustGet("/health/readiness", 503, "NOT READY")
	s.mustGet("/health/liveness", 503, "NOT ALIVE: disk full")
	s.mustGet("/", 200, "hello")
}

func TestServiceStatic(t *testing.T) {
	bin, _ := buildFunction(t, staticFunction)
	s := start(t, bin)
	s.mustGet("/anything", 200, "static hello")
	s.mustGet("/health/readiness", 200, "READY")
	s.mustGet("/health/liveness", 200, "ALIVE")
	s.signal(syscall.SIGTERM)
	if code, _ := s.wait(10 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0:\n%s", code, s.logs)
	}
}

// TestServiceContextHandle: Handle(ctx, w, r), static and instanced,
// gets the request's context.
func TestServiceContextHandle(t *testing.T) {
	for name, src := range map[string]string{
		"static": `package fn
import ("context"; "fmt"; "net/http")
func Handle(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "ctx is the request's: %v", ctx == r.Context())
}
`,
		"instanced": `package fn
import ("context"; "fmt"; "net/http")
type F struct{ greeting string }
func New() *F { return &F{"hi"} }
func (f *F) Handle(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s, ctx is the request's: %v", f.greeting, ctx == r.Context())
}
`} {
		t.Run(name, func(t *testing.T) {
			bin, _ := buildFunction(t, src)
			s := start(t, bin)
			s.mustGet("/x", 200, "ctx is the request's: true")
			s.mustGet("/health/liveness", 200, "ALIVE")
		})
	}
}

// TestServiceDrains: SIGTERM lets the request in flight finish, then calls
// Stop, then exits 0.
func TestServiceDrains(t *testing.T) {
	bin, _ := buildFunction(t, testFunction)
	s := start(t, bin)
	type answer struct {
		code int
		body string
		err  error
	}
	slow := make(chan answer, 1)
	go func() {
		code, body, err := s.get("/slow")
		slow <- answer{code, body, err}
	}()
	for !strings.Contains(s.logs.String(), "serving function") {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the request is in the handler
	s.signal(syscall.SIGTERM)
	code, _ := s.wait(10 * time.Second)
	a := <-slow
	if a.err != nil || a.code != 200 || a.body != "slow done" {
		t.Errorf("request in flight got %d %q, %v; want it to finish", a.code, a.body, a.err)
	}
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	logOrder(t, s.logs.String(), "received SIGTERM: stopping, within 8s", "waiting for 1 requests in flight", "GET /slow 200", "calling Stop", "test Stop called", "Stop returned", "stopped")
}

// TestServiceShutdownBound: a request that never ends does not hold the
// service past KILN_SHUTDOWN_TIMEOUT, and Stop is still called.
func TestServiceShutdownBound(t *testing.T) {
	bin, _ := buildFunction(t, testFunction)
	s := start(t, bin, "KILN_SHUTDOWN_TIMEOUT=1s")
	go s.get("/hang")
	time.Sleep(300 * time.Millisecond)
	s.signal(syscall.SIGTERM)
	_, took := s.wait(10 * time.Second)
	if took > 4*time.Second {
		t.Errorf("took %v to stop with a 1s bound", took)
	}
	logOrder(t, s.logs.String(), "stopping, within 1s", "1 requests still running after 750ms: closing their connections", "calling Stop", "test Stop called", "Stop returned", "stopped")
}

// TestServiceSecondSignal: a second signal ends the process at once.
func TestServiceSecondSignal(t *testing.T) {
	bin, _ := buildFunction(t, testFunction)
	s := start(t, bin)
	go s.get("/hang")
	time.Sleep(300 * time.Millisecond)
	s.signal(syscall.SIGINT)
	time.Sleep(200 * time.Millisecond)
	s.signal(syscall.SIGINT)
	code, took := s.wait(5 * time.Second)
	if code != 1 || took > 3*time.Second {
		t.Errorf("exit %d after %v, want 1 at once", code, took)
	}
	logOrder(t, s.logs.String(), "received SIGINT: stopping", "received SIGINT again: exiting now")
}

func TestServiceBadSettings(t *testing.T) {
	bin, _ := buildFunction(t, testFunction)
	for _, c := range []struct {
		env  string
		code int
		want string
	}{
		{"PORT=http", 2, `PORT="http" is not a port number`},
		{"KILN_SHUTDOWN_TIMEOUT=soon", 2, `KILN_SHUTDOWN_TIMEOUT="soon" is not a duration`},
		{"FAIL_START=1", 1, "Start failed: no database"},
	} {
		cmd := exec.Command(bin)
		cmd.Env = []string{"PORT=" + freePort(t), c.env}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v, output %q; want exit %d saying %q", c.env, err, out, c.code, c.want)
		}
	}
	// LISTEN_ADDRESS wins over PORT.
	port := freePort(t)
	s := start(t, bin, "LISTEN_ADDRESS=127.0.0.1:"+port)
	if code, _, err := get("http://127.0.0.1:" + port + "/"); err != nil || code != 200 {
		t.Errorf("GET on LISTEN_ADDRESS: %d, %v", code, err)
	}
	if !strings.Contains(s.logs.String(), "on 127.0.0.1:"+port) {
		t.Errorf("logs: %s", s.logs)
	}
}

// TestWrapperSource: every variant of the generated main package is gofmt
// clean and passes go vet, compiled through the overlay.
func TestWrapperSource(t *testing.T) {
	for _, f := range []*Function{{}, {Instance: true}, {Instance: true, Start: true, Stop: true, Ready: true, Alive: true}, {Context: true},
		{CloudEvents: true}, {CloudEvents: true, Instance: true, Context: true, ErrorResult: true}, {CloudEvents: true, Event: true, EventResult: true, ErrorResult: true}} {
		src, err := WrapperSource(Package{ImportPath: "example.com/fn", Kind: config.KindFunction, Function: f})
		if err != nil {
			t.Fatal(err)
		}
		if formatted, _ := format.Source(src); !bytes.Equal(formatted, src) {
			t.Errorf("%+v: not gofmt clean", f)
		}
		for _, want := range []string{"// Code generated by kiln; DO NOT EDIT.", `function "example.com/fn"`} {
			if !bytes.Contains(src, []byte(want)) {
				t.Errorf("%+v: source lacks %q", f, want)
			}
		}
		calls := map[string]bool{"f.Start(": f.Start, "f.Stop(": f.Stop, "f.Ready": f.Ready, "f.Alive": f.Alive, "function.New()": f.Instance, "function.Handle": !f.Instance,
			`"github.com/cloudevents/sdk-go/v2/event"`: f.Event, "serveTrigger(func": f.CloudEvents && !f.Event, "serveEvents(func": f.Event}
		for call, want := range calls {
			if bytes.Contains(src, []byte(call)) != want {
				t.Errorf("%+v: source has %s: %v, want %v", f, call, !want, want)
			}
		}
	}
	if _, err := WrapperSource(Package{ImportPath: "example.com/app", Kind: config.KindApp}); err == nil {
		t.Error("WrapperSource of an app: no error")
	}

	// go vet cannot run in a directory that exists only in an overlay, so
	// it checks a copy written to disk.
	dir := module(t, map[string]string{"go.mod": goMod, "fn.go": testFunction})
	pkgs, err := Resolve(context.Background(), dir, nil, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	src, err := WrapperSource(pkgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "svc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "svc", "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go vet of the generated package: %v\n%s", err, out)
	}
}

// TestFunctionLeavesTreeAlone: fingerprinting and building a function
// writes nothing into its module, and the fingerprint does not depend on
// where kiln's work directory is.
func TestFunctionLeavesTreeAlone(t *testing.T) {
	dir := module(t, map[string]string{"go.mod": goMod, "fn.go": testFunction})
	before := tree(t, dir)
	pkgs, err := Resolve(context.Background(), dir, nil, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	p := v1.Platform{OS: "linux", Architecture: "arm64"}
	fingerprint := func() string {
		var b strings.Builder
		// No compile ahead: nothing here would wait for it, and it would
		// still be writing into the work folder as the test removes it.
		if err := New(pkgs[0], Options{Env: os.Environ(), WorkDir: t.TempDir(), NoEarlyBuild: true}).Fingerprint(context.Background(), &b, p); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	fp := fingerprint()
	if fp != fingerprint() {
		t.Error("the fingerprint changes with the work directory")
	}
	for _, want := range []string{"function example.com/fn wrapper ", "pkg example.com/fn\nfile fn.go ", "pkg example.com/fn/" + wrapperPrefix} {
		if !strings.Contains(fp, want) {
			t.Errorf("fingerprint lacks %q:\n%s", want, fp)
		}
	}
	buildFunction(t, testFunction)
	if err := New(pkgs[0], Options{Env: os.Environ(), WorkDir: t.TempDir()}).BuildHost(context.Background(), filepath.Join(t.TempDir(), "bin")); err != nil {
		t.Fatal(err)
	}
	if after := tree(t, dir); !slices.Equal(before, after) {
		t.Errorf("the module changed: %v -> %v", before, after)
	}

	// Changing the function changes the fingerprint.
	if err := os.WriteFile(filepath.Join(dir, "fn.go"), []byte(testFunction+"\n// changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fingerprint() == fp {
		t.Error("the fingerprint did not change with the function's source")
	}
}

func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d", p, fi.Mode(), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFunctionOverlayFlagRefused(t *testing.T) {
	dir := module(t, map[string]string{"go.mod": goMod, "fn.go": staticFunction})
	pkgs, err := Resolve(context.Background(), dir, nil, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	b := New(pkgs[0], Options{Env: os.Environ(), WorkDir: t.TempDir(), Flags: []string{"-overlay=x.json"}})
	err = b.BuildHost(context.Background(), filepath.Join(t.TempDir(), "bin"))
	if err == nil || !strings.Contains(err.Error(), "-overlay=x.json cannot be used with the function") {
		t.Errorf("error %v", err)
	}
}
