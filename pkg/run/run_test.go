package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/testutil"
)

// binDir makes a directory holding executables with the given names.
func binDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindEngine(t *testing.T) {
	both, dockerOnly, none := binDir(t, "podman", "docker"), binDir(t, "docker"), binDir(t)
	notExec := t.TempDir()
	if err := os.WriteFile(filepath.Join(notExec, "podman"), []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, engine string
		want               string // the engine's path, or a fragment of the error
	}{
		{"podman first", both, "", filepath.Join(both, "podman")},
		{"docker when podman is missing", dockerOnly + ":" + none, "", filepath.Join(dockerOnly, "docker")},
		{"first on PATH wins for one engine", none + ":" + dockerOnly + ":" + both, "", filepath.Join(both, "podman")},
		{"docker chosen", both, "docker", filepath.Join(both, "docker")},
		{"non-executable file skipped", notExec + ":" + dockerOnly, "", filepath.Join(dockerOnly, "docker")},
		{"relative PATH entries ignored", ".:" + none, "", "neither is installed"},
		{"none", none, "", "neither is installed (not found on PATH): install one of them (e.g. apt-get install podman), or run the program directly on this machine"},
		{"chosen but missing", dockerOnly, "podman", "podman is not installed (not found on PATH)"},
		{"unknown engine", both, "lxc", `engine "lxc": kiln runs images with podman or docker`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := []string{"HOME=/nowhere", "PATH=" + c.path}
			e, err := FindEngine(c.engine, env)
			if strings.HasPrefix(c.want, "/") {
				if err != nil || e.Path != c.want || e.Name != filepath.Base(c.want) || e.Env[1] != env[1] {
					t.Fatalf("FindEngine = %+v, %v; want %s", e, err, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("FindEngine = %+v, %v; want an error with %q", e, err, c.want)
			}
		})
	}
	if _, err := FindEngine("", []string{"PATH=" + none}); !errors.Is(err, ErrNoEngine) {
		t.Errorf("no engine: %v, want ErrNoEngine", err)
	}
}

// TestRunNoEngine: without an engine, Run says so before building.
func TestRunNoEngine(t *testing.T) {
	err := Run(context.Background(), Options{Dir: t.TempDir(), Env: []string{"PATH=" + binDir(t)}})
	if !errors.Is(err, ErrNoEngine) {
		t.Fatalf("Run = %v, want ErrNoEngine", err)
	}
}

func TestPickPort(t *testing.T) {
	free := freePort(t)
	if p, err := pickPort(free); p != free || err != nil {
		t.Errorf("pickPort(%d) = %d, %v", free, p, err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	if _, err := pickPort(busyPort); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d is in use", busyPort)) || !errors.Is(err, ErrPortInUse) {
		t.Errorf("pickPort(%d) of a port in use: %v", busyPort, err)
	}
	if _, err := pickPort(70000); err == nil {
		t.Error("pickPort(70000): no error")
	}
	// With 8080 taken, another free port.
	l, err := net.Listen("tcp", "127.0.0.1:8080")
	if err == nil {
		defer l.Close()
	}
	p, err := pickPort(0)
	if err != nil || p == 8080 || p == 0 {
		t.Fatalf("pickPort(0) = %d, %v with 8080 taken", p, err)
	}
	if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
		t.Errorf("the port picked is not free: %v", err)
	} else {
		l2.Close()
	}
}

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(body)
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const function = `package fn

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
)

type F struct{ greeting string }

func New() *F { return &F{} }

func (f *F) Start(_ context.Context, cfg map[string]string) error {
	f.greeting = cfg["GREETING"]
	return nil
}

func (f *F) Handle(w http.ResponseWriter, r *http.Request) {
	data, _ := os.ReadFile(os.Getenv("KO_DATA_PATH") + "/file.txt")
	fmt.Fprintf(w, "%s %s", f.greeting, data)
}

func (f *F) Stop(context.Context) error {
	log.Print("fn: Stop called")
	return nil
}
`

// TestRunHost runs a function on this machine: it serves on the port
// given, with its kodata and the environment asked for, and a cancelled
// context stops it gracefully.
func TestRunHost(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "go.mod"), "module example.com/fn\n\ngo 1.22\n")
	testutil.WriteFile(t, filepath.Join(dir, "fn.go"), function)
	testutil.WriteFile(t, filepath.Join(dir, "kodata", "file.txt"), "from kodata")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	started := make(chan Started, 1)
	port := freePort(t)
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{Dir: dir, Host: true, Port: port, RunEnv: []string{"GREETING=hi"}, Stderr: &stderr, Started: func(s Started) { started <- s }})
	}()
	var s Started
	select {
	case s = <-started:
	case err := <-errc:
		t.Fatalf("Run ended before starting: %v", err)
	}
	if s.Program != "fn" || s.Engine != "host" || s.URL != "http://127.0.0.1:"+strconv.Itoa(port)+"/" {
		t.Errorf("started %+v", s)
	}
	if body := httpGet(t, s.URL); body != "hi from kodata" {
		t.Errorf("GET %s = %q", s.URL, body)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	logs := stderr.String()
	for _, want := range []string{"on 127.0.0.1:" + strconv.Itoa(port), "received SIGTERM", "fn: Stop called", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %q:\n%s", want, logs)
		}
	}
	if _, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		t.Error("something still listens after Run returned")
	}
}

// TestRunHostExit: a program that ends by itself ends Run, with its status.
func TestRunHostExit(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "go.mod"), "module example.com/quits\n\ngo 1.22\n")
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main\n\nimport \"os\"\n\nfunc main() { os.Exit(3) }\n")
	err := Run(context.Background(), Options{Dir: dir, Host: true, Port: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "quits exited with exit status 3") {
		t.Fatalf("Run = %v", err)
	}
	if ee, ok := err.(*ExitError); !ok || ee.Code != 3 {
		t.Errorf("Run = %#v, want an *ExitError with code 3 (kiln run exits with it)", err)
	}
	if err := Run(context.Background(), Options{Dir: dir, Host: true, RunEnv: []string{"NOEQUALS"}}); err == nil || !strings.Contains(err.Error(), `environment variable "NOEQUALS": write KEY=VALUE`) {
		t.Errorf("bad env: %v", err)
	}
}
