package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// initProject runs kiln init for kind into a new directory and returns
// the project directory, whose name (and so the image's) is "svc".
func initProject(t *testing.T, kind string) string {
	t.Helper()
	parent := tempDir(t)
	r := mustKiln(t, parent, "init", "--kind", kind, "svc")
	if !strings.Contains(r.stdout, "Wrote a Go "+kind+", module svc, in svc") {
		t.Errorf("kiln init said %q", r.stdout)
	}
	return filepath.Join(parent, "svc")
}

// goTest runs go test in dir, with no network.
func goTest(t *testing.T, dir string) {
	t.Helper()
	command(t, []string{"GOPROXY=off"}, "go", "-C", dir, "test", "./...")
}

// buildTo builds the project into a new lower-case layout for podman.
func buildTo(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(tempDir(t), "out")
	mustKiln(t, dir, "build", "-q", "--output", "oci:"+out)
	validateLayout(t, out)
	return out
}

// TestInitBuildServe: each kind of project from kiln init passes its tests,
// builds, and its image answers HTTP under podman.
func TestInitBuildServe(t *testing.T) {
	for _, kind := range []string{"app", "function"} {
		t.Run(kind, func(t *testing.T) {
			pm := newPodman(t)
			dir := initProject(t, kind)
			goTest(t, dir)
			out := buildTo(t, dir)
			id := strings.TrimSpace(pm.run("run", "-d", "-p", "127.0.0.1::8080", "oci:"+out+":svc"))
			base := "http://" + strings.TrimSpace(pm.run("port", id, "8080/tcp"))
			if body := get(t, base+"/?name=e2e", 30*time.Second); !strings.Contains(body, "Hello, e2e! This is svc.") {
				t.Errorf("GET / answered %q", body)
			}
			if kind == "function" {
				for path, want := range map[string]string{"/health/readiness": "READY", "/health/liveness": "ALIVE"} {
					if body := get(t, base+path, 5*time.Second); strings.TrimSpace(body) != want {
						t.Errorf("GET %s answered %q", path, body)
					}
				}
			}
			pm.run("stop", "-t", "10", id)
			logs := pm.logs(id)
			if kind == "function" && !strings.Contains(logs, "svc: Stop called after 1 requests") {
				t.Errorf("Stop was not called:\n%s", logs)
			}
			if kind == "app" && !strings.Contains(logs, "svc stopped") {
				t.Errorf("the app did not stop gracefully:\n%s", logs)
			}
		})
	}
}

// lifecycle is a function with endpoints that panic, take a second, and
// never end, and a Stop that logs.
const lifecycle = `package svc

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"
)

type Function struct{}

func New() *Function { return &Function{} }

func (*Function) Handle(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/panic":
		panic("handler panicked on purpose")
	case "/slow":
		time.Sleep(time.Second)
		fmt.Fprint(w, "slow done")
	case "/hang":
		time.Sleep(time.Hour)
	default:
		fmt.Fprint(w, "ok")
	}
}

func (*Function) Stop(ctx context.Context) error {
	log.Print("lifecycle: Stop called")
	return nil
}
`

// TestFunctionPanicAndStop: under podman, a handler panic is a 500 and the
// next request succeeds; SIGTERM lets a request in flight finish, cuts off
// one that never ends at the bound, calls Stop, and ends the container
// well within the bound.
func TestFunctionPanicAndStop(t *testing.T) {
	const bound = 4 * time.Second
	pm := newPodman(t)
	dir := initProject(t, "function")
	writeFile(t, filepath.Join(dir, "function.go"), lifecycle)
	os.Remove(filepath.Join(dir, "function_test.go"))
	out := buildTo(t, dir)
	id := strings.TrimSpace(pm.run("run", "-d", "-e", "KILN_SHUTDOWN_TIMEOUT="+bound.String(), "-p", "127.0.0.1::8080", "oci:"+out+":svc"))
	base := "http://" + strings.TrimSpace(pm.run("port", id, "8080/tcp"))
	get(t, base+"/", 30*time.Second)

	resp, err := http.Get(base + "/panic")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("GET /panic: %s, want 500", resp.Status)
	}
	if body := get(t, base+"/", 5*time.Second); body != "ok" {
		t.Errorf("GET / after the panic answered %q", body)
	}

	slow := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- resp.Status + " " + string(body)
	}()
	go func() {
		c := &http.Client{Timeout: 30 * time.Second}
		if resp, err := c.Get(base + "/hang"); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond) // both requests are in the handler
	begin := time.Now()
	pm.run("kill", "--signal", "TERM", id)
	code := strings.TrimSpace(pm.run("wait", id))
	took := time.Since(begin)
	if took > bound+3*time.Second {
		t.Errorf("the container took %v to stop after SIGTERM; the bound is %v", took, bound)
	}
	if code != "0" {
		t.Errorf("exit code %s, want 0", code)
	}
	if got := <-slow; got != "200 OK slow done" {
		t.Errorf("the request in flight got %q, want it to finish", got)
	}
	logs := pm.logs(id)
	at := 0
	for _, want := range []string{
		"panic serving GET /panic: handler panicked on purpose", "GET /panic 500",
		"received SIGTERM: stopping, within 4s", "waiting for 2 requests in flight", "GET /slow 200",
		"1 requests still running after 3s: closing their connections",
		"calling Stop", "lifecycle: Stop called", "Stop returned", "stopped",
	} {
		i := strings.Index(logs[at:], want)
		if i < 0 {
			t.Fatalf("logs lack %q (in this order):\n%s", want, logs)
		}
		at += i + len(want)
	}
}

// runningLine is what kiln run prints once the program runs.
var runningLine = regexp.MustCompile(`kiln: \S+ is running (in \w+|on this machine) at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops it\)`)

// kilnRun starts kiln run with args in dir and returns it once it prints
// the URL, with its stderr so far and to come.
type runningKiln struct {
	cmd    *exec.Cmd
	url    string
	where  string
	mu     sync.Mutex
	stderr strings.Builder
	done   chan error
}

func startKilnRun(t *testing.T, dir string, env []string, args ...string) *runningKiln {
	t.Helper()
	rk := &runningKiln{done: make(chan error, 1)}
	rk.cmd = exec.Command(kilnBin, append([]string{"run"}, args...)...)
	rk.cmd.Dir = dir
	rk.cmd.Env = append(cleanEnv(), env...)
	stderr, err := rk.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	rk.cmd.Stdout = io.Discard
	if err := rk.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rk.cmd.Process.Kill()
	})
	found := make(chan []string, 1)
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			rk.mu.Lock()
			rk.stderr.WriteString(lines.Text() + "\n")
			rk.mu.Unlock()
			if m := runningLine.FindStringSubmatch(lines.Text()); m != nil {
				found <- m
			}
		}
		rk.done <- rk.cmd.Wait()
	}()
	select {
	case m := <-found:
		rk.where, rk.url = m[1], m[2]
	case err := <-rk.done:
		t.Fatalf("kiln run ended (%v) before running the program:\n%s", err, rk.logs())
	case <-time.After(3 * time.Minute):
		t.Fatalf("kiln run did not start the program:\n%s", rk.logs())
	}
	return rk
}

func (rk *runningKiln) logs() string {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	return rk.stderr.String()
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for kiln to exit.
func (rk *runningKiln) interrupt(t *testing.T) {
	t.Helper()
	if err := rk.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-rk.done:
		if err != nil {
			t.Errorf("kiln run exited with %v after Ctrl-C, want 0:\n%s", err, rk.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("kiln run did not stop after Ctrl-C:\n%s", rk.logs())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestKilnRunPodman: kiln run builds the function, runs it in podman on the
// port asked for, streams its logs, and on Ctrl-C stops the container
// (Stop is called) and removes it. A project path with upper case letters,
// which podman cannot pull oci:DIR from, makes no difference.
func TestKilnRunPodman(t *testing.T) {
	pm := newPodman(t)
	parent := filepath.Join(tempDir(t), "Projects")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	mustKiln(t, parent, "init", "--kind", "function", "svc")
	dir := filepath.Join(parent, "svc")
	port := freePort(t)
	for round := range 2 {
		rk := startKilnRun(t, dir, pm.kilnEnv(), "--port", port, "-e", "GREETING=Howdy")
		if rk.where != "in podman" || rk.url != "http://127.0.0.1:"+port+"/" {
			t.Errorf("kiln run said it runs %s at %s", rk.where, rk.url)
		}
		if body := get(t, rk.url+"?name=run", 30*time.Second); !strings.Contains(body, "Howdy, run! This is svc.") {
			t.Errorf("GET answered %q", body)
		}
		rk.interrupt(t)
		logs := rk.logs()
		for _, want := range []string{"GET /?name=run 200", "received SIGTERM", "svc: Stop called after 1 requests", "kiln: stopped"} {
			if !strings.Contains(logs, want) {
				t.Errorf("round %d: kiln run's output lacks %q:\n%s", round, want, logs)
			}
		}
		if ps := strings.TrimSpace(pm.run("ps", "-a", "--format", "{{.Names}}")); ps != "" {
			t.Errorf("round %d: containers left behind: %s", round, ps)
		}
	}
	// Both rounds used one image, loaded once.
	if images := strings.Fields(pm.run("images", "-q")); len(images) != 1 {
		t.Errorf("images in the store: %v, want the one kiln run loaded", images)
	}
}

// TestKilnRunDockerCLI runs kiln run --engine docker against a docker
// command that is podman's docker-compatible command line over the test's
// store: it checks the docker route (docker-archive into "docker load",
// run, stop, rm) with a real engine, as no Docker daemon runs here.
func TestKilnRunDockerCLI(t *testing.T) {
	pm := newPodman(t)
	bin := tempDir(t)
	shim := fmt.Sprintf("#!/bin/sh\nexec podman %s \"$@\"\n", strings.Join(pm.args(), " "))
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := initProject(t, "app")
	env := append(pm.kilnEnv(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	rk := startKilnRun(t, dir, env, "--engine", "docker", "--port", freePort(t))
	if rk.where != "in docker" {
		t.Errorf("kiln run said it runs %s", rk.where)
	}
	if body := get(t, rk.url, 30*time.Second); !strings.Contains(body, "Hello, world! This is svc.") {
		t.Errorf("GET answered %q", body)
	}
	rk.interrupt(t)
	if !strings.Contains(rk.logs(), "svc stopped") {
		t.Errorf("the app was not stopped gracefully:\n%s", rk.logs())
	}
	if ps := strings.TrimSpace(pm.run("ps", "-a", "--format", "{{.Names}}")); ps != "" {
		t.Errorf("containers left behind: %s", ps)
	}
}

// TestKilnRunHost: kiln run --host serves the function from a host
// process on 127.0.0.1 and stops it cleanly on Ctrl-C.
func TestKilnRunHost(t *testing.T) {
	dir := initProject(t, "function")
	port := freePort(t)
	rk := startKilnRun(t, dir, nil, "--host", "--port", port)
	if rk.where != "on this machine" || rk.url != "http://127.0.0.1:"+port+"/" {
		t.Errorf("kiln run said it runs %s at %s", rk.where, rk.url)
	}
	if body := get(t, rk.url+"?name=host", 30*time.Second); !strings.Contains(body, "Hello, host! This is svc.") {
		t.Errorf("GET answered %q", body)
	}
	rk.interrupt(t)
	logs := rk.logs()
	for _, want := range []string{"serving function svc on 127.0.0.1:" + port, "received SIGTERM", "calling Stop", "svc: Stop called after 1 requests", "Stop returned", "kiln: stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %q:\n%s", want, logs)
		}
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
		c.Close()
		t.Error("the function still listens after kiln run exited")
	}
}

func TestKilnRunNoEngine(t *testing.T) {
	dir := initProject(t, "function")
	r := kiln(t, dir, []string{"PATH=" + tempDir(t)}, "run")
	if r.code != 1 || !strings.Contains(r.stderr, "neither is installed") || !strings.Contains(r.stderr, "kiln run --host") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestInitErrors(t *testing.T) {
	dir := tempDir(t)
	writeFile(t, filepath.Join(dir, "svc", "notes.txt"), "mine")
	r := kiln(t, dir, nil, "init", "--kind", "function", "svc")
	if r.code != 1 || !strings.Contains(r.stderr, "is not empty (it holds notes.txt)") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("non-empty directory: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	mustKiln(t, dir, "init", "--kind", "function", "--force", "svc")
	if _, err := os.Stat(filepath.Join(dir, "svc", "function.go")); err != nil {
		t.Error("--force wrote no function.go")
	}
	if r := kiln(t, dir, nil, "init"); r.code != 2 || !strings.Contains(r.stderr, "kiln init takes one directory") {
		t.Errorf("no directory: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := kiln(t, dir, nil, "init", "--kind", "lambda", "x"); r.code != 1 || !strings.Contains(r.stderr, `kind "lambda" is not one kiln knows`) {
		t.Errorf("bad kind: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// kilnEnv is the environment that makes podman, run by kiln, use the
// test's configuration and throwaway store.
func (p *podman) kilnEnv() []string {
	conf := filepath.Join(p.store, "storage.conf")
	if _, err := os.Stat(conf); err != nil {
		content := fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(p.store, "root"), filepath.Join(p.store, "run"))
		if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	return []string{p.env[0], "CONTAINERS_STORAGE_CONF=" + conf}
}

// logs returns a container's output.
func (p *podman) logs(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", p.args("logs", id)...)
	cmd.Env = append(os.Environ(), p.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman logs: %v\n%s", err, out)
	}
	return string(out)
}
