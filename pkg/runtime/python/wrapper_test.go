package python

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const testFunction = `import sys, threading, time

class Svc:
    def __init__(self):
        self.up = False
    def start(self):
        self.up = True
    def ready(self):
        return self.up
    def alive(self):
        return True
    def stop(self):
        time.sleep(float(__import__("os").environ.get("STOP_SLEEP", "0")))
        print("stop called", file=sys.stderr, flush=True)
    def handle(self, req):
        if req.path == "/boom":
            raise ValueError("boom")
        if req.path == "/slow":
            time.sleep(1)
            return "slow done"
        if req.path == "/none":
            return None
        if req.path == "/bad":
            return (200, "x")
        return 200, [("X-Seen", req.method)], {"path": req.path, "q": req.query, "body": req.text()}

def new():
    return Svc()
`

type service struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startService runs kiln_function.py on the host's python3 around a
// module, as an image would.
func startService(t *testing.T, src string, env ...string) *service {
	t.Helper()
	return startServiceFiles(t, map[string]string{"function.py": src}, nil, env...)
}

// startServiceFiles runs kiln_function.py with args around the module
// "function" in files.
func startServiceFiles(t *testing.T, files map[string]string, args []string, env ...string) *service {
	t.Helper()
	needPython(t)
	dir := t.TempDir()
	files["kiln_function.py"] = string(wrapperSource)
	writeFiles(t, dir, files)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("python3", append(append([]string{filepath.Join(dir, "kiln_function.py")}, args...), "function")...)
	cmd.Env = append(os.Environ(), append([]string{fmt.Sprintf("PORT=%d", port), "PYTHONPATH=" + dir, "PYTHONDONTWRITEBYTECODE=1"}, env...)...)
	s := &service{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(s.url + "/health/liveness"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not start:\n%s", s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

func fetch(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

func TestWrapperServes(t *testing.T) {
	s := startService(t, testFunction)
	// The answers of kiln's Go function service.
	for path, want := range map[string]string{"/health/readiness": "READY\n", "/health/liveness": "ALIVE\n"} {
		if code, _, body := fetch(t, "GET", s.url+path, ""); code != 200 || body != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, code, body, want)
		}
	}
	code, h, body := fetch(t, "POST", s.url+"/echo?a=1&a=2", "hi")
	if code != 200 || h.Get("X-Seen") != "POST" || h.Get("Content-Type") != "application/json" || body != `{"path": "/echo", "q": {"a": ["1", "2"]}, "body": "hi"}`+"\n" {
		t.Errorf("POST /echo: %d %v %q", code, h, body)
	}
	if code, _, body := fetch(t, "GET", s.url+"/boom", ""); code != 500 || body != "internal server error\n" {
		t.Errorf("GET /boom: %d %q", code, body)
	}
	if code, _, body := fetch(t, "GET", s.url+"/bad", ""); code != 500 {
		t.Errorf("GET /bad: %d %q", code, body)
	}
	if code, _, _ := fetch(t, "GET", s.url+"/none", ""); code != 204 {
		t.Errorf("GET /none: %d", code)
	}
	// Still serving after failures.
	if code, _, _ := fetch(t, "GET", s.url+"/after", ""); code != 200 {
		t.Errorf("GET /after: %d", code)
	}
	logs := s.logs.String()
	for _, want := range []string{"POST /echo?a=1&a=2 200", "ValueError: boom", "GET /boom 500", "returned a tuple of 2", "GET /none 204"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// TestWrapperStops: SIGTERM lets a request in flight finish, calls stop()
// and exits 0.
func TestWrapperStops(t *testing.T) {
	s := startService(t, testFunction)
	done := make(chan string)
	go func() {
		resp, err := http.Get(s.url + "/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(data)
	}()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if got := <-done; got != "slow done" {
		t.Errorf("the request in flight got %q", got)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("exit: %v\n%s", err, s.logs)
	}
	if !strings.Contains(s.logs.String(), "stop called") {
		t.Errorf("stop() was not called:\n%s", s.logs)
	}
}

// TestWrapperStopTimeout: a stop() that hangs does not keep the process
// past KILN_SHUTDOWN_TIMEOUT.
func TestWrapperStopTimeout(t *testing.T) {
	s := startService(t, testFunction, "STOP_SLEEP=30", "KILN_SHUTDOWN_TIMEOUT=1s") // a duration, as Go's service takes it
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	err := s.cmd.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %s with KILN_SHUTDOWN_TIMEOUT=1", d)
	}
	if err == nil || !strings.Contains(s.logs.String(), "stop() did not return within") {
		t.Errorf("exit %v, logs:\n%s", err, s.logs)
	}
}

func TestWrapperModuleHandle(t *testing.T) {
	s := startService(t, "def handle(req):\n    return b'raw'\n\ndef ready():\n    return False\n")
	if code, h, body := fetch(t, "GET", s.url+"/", ""); code != 200 || body != "raw" || h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET /: %d %q %v", code, body, h)
	}
	if code, _, body := fetch(t, "GET", s.url+"/health/readiness", ""); code != 503 || !strings.HasPrefix(body, "NOT READY: ") || !strings.Contains(body, "ready() returned False") {
		t.Errorf("readiness with ready() False: %d %q", code, body)
	}
}
