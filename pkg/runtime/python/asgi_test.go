package python

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// asgiFunction has the shape of func's Python http template: a package
// "function" whose __init__ re-exports new from func.py, an instance with
// async handle(scope, receive, send), start(cfg), stop(), alive() and
// ready() returning (bool, message).
var asgiFunction = map[string]string{
	"function/__init__.py": "from .func import new\n",
	"function/func.py": `import asyncio
import logging
import sys


def new():
    return Function()


class Function:
    def __init__(self):
        self.cfg = {}

    async def handle(self, scope, receive, send):
        path = scope["path"]
        if path == "/slow":
            await asyncio.sleep(1)
        if path == "/boom":
            raise RuntimeError("boom")
        if path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]})
            for i in range(3):
                await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
            await send({"type": "http.response.body", "body": b"end"})
            return
        chunks, size = 0, 0
        while True:
            msg = await receive()
            assert msg["type"] == "http.request", msg
            if msg["body"]:
                chunks += 1
                size += len(msg["body"])
            if not msg.get("more_body"):
                break
        q = scope["query_string"].decode()
        body = "%s %s?%s chunks=%d bytes=%d greeting=%s" % (scope["method"], path, q, chunks, size, self.cfg.get("GREETING"))
        await send({"type": "http.response.start", "status": 201, "headers": [[b"content-type", b"text/plain"], [b"x-kiln", b"asgi"]]})
        await send({"type": "http.response.body", "body": body.encode()})

    def start(self, cfg):
        self.cfg = cfg
        print("start called with GREETING=%s" % cfg.get("GREETING"), file=sys.stderr, flush=True)

    def stop(self):
        print("stop called", file=sys.stderr, flush=True)

    def alive(self):
        return True, "Alive"

    def ready(self):
        if self.cfg.get("NOT_READY"):
            return False, "warming up"
        return True, "Ready"
`,
}

func TestASGIServes(t *testing.T) {
	s := startServiceFiles(t, copyFiles(asgiFunction), nil, "GREETING=hi")
	if code, h, body := fetch(t, "POST", s.url+"/echo?a=1", "hello"); code != 201 || h.Get("X-Kiln") != "asgi" || body != "POST /echo?a=1 chunks=1 bytes=5 greeting=hi" {
		t.Errorf("POST /echo: %d %v %q", code, h, body)
	}
	for path, want := range map[string]string{"/health/readiness": "READY\n", "/health/liveness": "ALIVE\n"} {
		if code, _, body := fetch(t, "GET", s.url+path, ""); code != 200 || body != want {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}
	// A streamed response is chunked.
	if code, h, body := fetch(t, "GET", s.url+"/stream", ""); code != 200 || body != "part0;part1;part2;end" || h.Get("Content-Length") != "" {
		t.Errorf("GET /stream: %d %v %q", code, h, body)
	}
	if code, _, body := fetch(t, "GET", s.url+"/boom", ""); code != 500 || body != "internal server error\n" {
		t.Errorf("GET /boom: %d %q", code, body)
	}

	// A request body sent in pieces reaches receive() in pieces, before
	// the client has finished sending it.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 3; i++ {
			pw.Write(bytes.Repeat([]byte("x"), 1000))
			time.Sleep(200 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := http.Post(s.url+"/stream-in", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "bytes=3000") || strings.Contains(string(body), "chunks=1 ") {
		t.Errorf("streamed body: %q, want 3000 bytes in several chunks", body)
	}

	// Keep-alive: the second request reuses the connection.
	reused := false
	client := &http.Client{Transport: &http.Transport{}}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", s.url+"/k", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = reused || i.Reused }}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if !reused {
		t.Error("the connection was not kept alive")
	}

	// Requests are served concurrently: five one-second requests take
	// about a second.
	begin := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.Get(s.url + "/slow"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("five concurrent slow requests took %s", d)
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	logs := s.logs.String()
	for _, want := range []string{"start called with GREETING=hi", "POST /echo?a=1 201 ", "RuntimeError: boom", "GET /boom 500", "received SIGTERM", "stop called", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestASGIHealthMessages(t *testing.T) {
	s := startServiceFiles(t, copyFiles(asgiFunction), nil, "NOT_READY=1")
	if code, _, body := fetch(t, "GET", s.url+"/health/readiness", ""); code != 503 || body != "NOT READY: warming up\n" {
		t.Errorf("readiness: %d %q", code, body)
	}
}

// TestASGILifespan: an ASGI app without start or stop gets the lifespan
// events, startup before the first request and shutdown on SIGTERM.
func TestASGILifespan(t *testing.T) {
	s := startServiceFiles(t, map[string]string{"function.py": `import sys
state = {"started": False}

async def handle(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                state["started"] = True
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                print("lifespan shutdown", file=sys.stderr, flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"started=%s" % str(state["started"]).encode()})
`}, nil)
	if code, _, body := fetch(t, "GET", s.url+"/", ""); code != 200 || body != "started=True" {
		t.Errorf("GET /: %d %q", code, body)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil || !strings.Contains(s.logs.String(), "lifespan shutdown") {
		t.Errorf("exit %v, logs:\n%s", err, s.logs)
	}
}

// TestASGINoLifespan: an app that ignores the lifespan scope starts at
// once and serves.
func TestASGINoLifespan(t *testing.T) {
	s := startServiceFiles(t, map[string]string{"function.py": `async def handle(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"plain"})
`}, nil)
	if code, _, body := fetch(t, "GET", s.url+"/", ""); code != 200 || body != "plain" {
		t.Errorf("GET /: %d %q", code, body)
	}
}

// ceFunction has the shape of func's Python cloudevents template, with
// the CloudEvent class of the cloudevents package when it is installed
// and a stand-in with the same constructor otherwise.
var ceFunction = map[string]string{
	"function/__init__.py": "from .func import new\n",
	"function/func.py": `try:
    from cloudevents.core.v1.event import CloudEvent
except ImportError:
    class CloudEvent:
        def __init__(self, attributes, data=None):
            self._a, self._d = attributes, data
        def get_attributes(self):
            return dict(self._a)
        def get_data(self):
            return self._d


def new():
    return Function()


class Function:
    async def handle(self, scope, receive, send):
        ev = scope["event"]
        if ev.get_type() == "fail":
            raise RuntimeError("asked to fail")
        out = CloudEvent(
            attributes={"type": "function.response", "source": "function", "id": "response-%s" % ev.get_id()},
            data={"message": "OK", "got": ev.get_data()},
        )
        if ev.get_type() == "binary":
            await send.binary(out)
        else:
            await send(out)
`,
}

func TestCloudEventsPython(t *testing.T) {
	s := startServiceFiles(t, copyFiles(ceFunction), []string{"--cloudevents"})
	post := func(h map[string]string, body string) (int, http.Header, string) {
		req, _ := http.NewRequest("POST", s.url+"/", strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	check := func(what string, code int, h http.Header, body string) {
		var doc map[string]any
		if code != 200 || h.Get("Content-Type") != "application/cloudevents+json" || json.Unmarshal([]byte(body), &doc) != nil ||
			doc["type"] != "function.response" || doc["id"] != "response-e1" || doc["specversion"] != "1.0" || fmt.Sprint(doc["data"]) != "map[got:map[n:1] message:OK]" {
			t.Errorf("%s: %d %v %q", what, code, h, body)
		}
	}
	code, h, body := post(map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e1", "Ce-Source": "test", "Ce-Type": "t", "Content-Type": "application/json"}, `{"n":1}`)
	check("binary request", code, h, body)
	code, h, body = post(map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0","id":"e1","source":"test","type":"t","datacontenttype":"application/json","data":{"n":1}}`)
	check("structured request", code, h, body)
	code, h, body = post(map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e1", "Ce-Source": "test", "Ce-Type": "binary", "Content-Type": "application/json"}, `{"n":1}`)
	if code != 200 || h.Get("Ce-Type") != "function.response" || h.Get("Ce-Id") != "response-e1" || h.Get("Content-Type") != "application/json" || body != `{"message": "OK", "got": {"n": 1}}` {
		t.Errorf("send.binary: %d %v %q", code, h, body)
	}
	if code, _, body := post(map[string]string{"Content-Type": "text/plain"}, "hello"); code != 400 || !strings.Contains(body, "expects CloudEvent requests") {
		t.Errorf("plain POST: %d %q", code, body)
	}
	if code, _, body := post(map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "t"}, ""); code != 400 || !strings.Contains(body, "lacks id, source") {
		t.Errorf("incomplete event: %d %q", code, body)
	}
	code, h, body = post(map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e2", "Ce-Source": "test", "Ce-Type": "fail"}, "")
	if code != 500 || h.Get("Content-Type") != "application/cloudevents+json" || !strings.Contains(body, `"type": "dev.functions.error"`) || !strings.Contains(body, "Error: asked to fail") {
		t.Errorf("failing function: %d %v %q", code, h, body)
	}
}

func copyFiles(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
