# kiln's HTTP service for Python functions: it imports the function's
# module and serves it on $PORT (default 8080), with the standard library
# only. See docs/python.md for the contract:
#
#   def handle(request) -> body | (status, headers, body)
#   def new() -> object with handle(self, request), and optionally
#                start(), stop(), ready(), alive()
#
# Module-level start/stop/ready/alive are used with a module-level handle.
import errno
import importlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

READINESS = "/health/readiness"
LIVENESS = "/health/liveness"


def log(msg):
    sys.stderr.write("kiln-function: %s\n" % msg)
    sys.stderr.flush()


class Request:
    """One HTTP request: method, path, query (name -> list of values),
    headers (case-insensitive), body (bytes)."""

    def __init__(self, method, target, headers, body):
        parts = urlsplit(target)
        self.method = method
        self.target = target
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body

    def text(self, encoding="utf-8"):
        return self.body.decode(encoding)

    def json(self):
        return json.loads(self.body or b"null")


class HandlerError(Exception):
    pass


def encode_body(body):
    """Returns (bytes, default content type) for a handler's body."""
    if body is None:
        return b"", None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode("utf-8") + b"\n", "application/json"
    raise HandlerError("the body is a %s; return bytes, str, a dict or list (JSON) or None" % type(body).__name__)


def response(result):
    """Turns what handle returned into (status, [(name, value)], bytes)."""
    status, headers, body = 200, [], result
    if isinstance(result, tuple):
        if len(result) != 3:
            raise HandlerError("handle returned a tuple of %d; return (status, headers, body) or just a body" % len(result))
        status, headers, body = result
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise HandlerError("status %r is not an HTTP status (100-599)" % (status,))
        if headers is None:
            headers = []
        elif isinstance(headers, dict):
            headers = list(headers.items())
        else:
            headers = list(headers)
    elif result is None:
        status = 204
    data, ctype = encode_body(body)
    if ctype and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", ctype))
    return status, [(str(k), str(v)) for k, v in headers], data


class Service:
    def __init__(self, target, timeout):
        self.target = target
        self.timeout = timeout
        self.handle = getattr(target, "handle", None)
        if not callable(self.handle):
            raise SystemExit("kiln-function: %r has no handle(request) method" % (target,))
        self.stopping = False
        self.active = 0
        self.cond = threading.Condition()

    def hook(self, name):
        fn = getattr(self.target, name, None)
        return fn if callable(fn) else None

    def check(self, name):
        # The same answers as kiln's Go function service: READY or ALIVE,
        # else 503 with NOT READY: why.
        state = "READY" if name == "ready" else "ALIVE"
        if self.stopping:
            return False, "NOT %s: stopping" % state
        fn = self.hook(name)
        if fn is None:
            return True, state
        try:
            ok = fn()
        except Exception as e:
            return False, "NOT %s: %s() raised %s" % (state, name, e)
        if ok is None or ok:
            return True, state
        return False, "NOT %s: %s() returned %r" % (state, name, ok)

    def enter(self):
        with self.cond:
            self.active += 1

    def leave(self):
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def drain(self, deadline):
        with self.cond:
            while self.active > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def make_handler(svc):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kiln-function"
        sys_version = ""

        def log_message(self, fmt, *args):
            pass  # one line per request is written by finish_request

        def read_body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""

        def send(self, status, headers, data):
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            if svc.stopping:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def serve(self):
            start = time.monotonic()
            svc.enter()
            status = 500
            try:
                body = self.read_body()
                path = urlsplit(self.path).path
                if path in (READINESS, LIVENESS) and self.command in ("GET", "HEAD"):
                    ok, why = svc.check("ready" if path == READINESS else "alive")
                    status = 200 if ok else 503
                    self.send(status, [("Content-Type", "text/plain; charset=utf-8")], (why + "\n").encode())
                    return
                req = Request(self.command, self.path, self.headers, body)
                try:
                    status, headers, data = response(svc.handle(req))
                except BaseException:
                    log("%s %s: the handler failed:\n%s" % (self.command, self.path, traceback.format_exc().rstrip()))
                    status, headers, data = 500, [("Content-Type", "text/plain; charset=utf-8")], b"internal server error\n"
                self.send(status, headers, data)
            finally:
                svc.leave()
                log("%s %s %d %.1fms" % (self.command, self.path, status, (time.monotonic() - start) * 1000))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = serve

    return Handler


class DualStackServer(ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET6

    def server_bind(self):
        # One socket for IPv6 and IPv4, where the kernel allows it.
        try:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        except (AttributeError, OSError):
            pass
        super().server_bind()


def listen(port, handler):
    try:
        return DualStackServer(("::", port), handler)
    except OSError as e:
        if socket.has_ipv6 and e.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
            raise

    class V4Server(ThreadingHTTPServer):
        daemon_threads = True

    return V4Server(("0.0.0.0", port), handler)


def run_bounded(fn, timeout, what):
    """Calls fn in a thread and waits at most timeout seconds."""
    done = threading.Event()
    err = []

    def call():
        try:
            fn()
        except BaseException:
            err.append(traceback.format_exc().rstrip())
        finally:
            done.set()

    threading.Thread(target=call, daemon=True).start()
    if not done.wait(max(timeout, 0)):
        log("%s did not return within %.1fs; exiting anyway" % (what, timeout))
        return False
    if err:
        log("%s failed:\n%s" % (what, err[0]))
        return False
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: kiln_function.py MODULE")
    # Seconds, or a duration as Go's service reads it: 500ms, 30s, 1m.
    m = re.match(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$", os.environ.get("KILN_SHUTDOWN_TIMEOUT") or "8")
    if not m:
        sys.exit("kiln-function: KILN_SHUTDOWN_TIMEOUT=%r is not a duration such as 30s, or a number of seconds" % os.environ["KILN_SHUTDOWN_TIMEOUT"])
    timeout = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]
    port = int(os.environ.get("PORT") or 8080)
    # The function's module comes from PYTHONPATH, not from beside this file.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    module = importlib.import_module(sys.argv[1])
    new = getattr(module, "new", None)
    target = new() if callable(new) else module
    svc = Service(target, timeout)
    start = svc.hook("start")
    if start is not None:
        start()

    server = listen(port, make_handler(svc))
    stop_signal = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_signal.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    log("serving %s on port %d" % (sys.argv[1], port))
    while not stop_signal.wait(1):
        pass

    # Graceful stop: refuse new connections, let requests in flight finish,
    # then call stop(), all within the shutdown timeout.
    deadline = time.monotonic() + timeout
    svc.stopping = True
    log("stopping (at most %.0fs)" % timeout)
    server.shutdown()
    server.server_close()
    clean = svc.drain(deadline)
    if not clean:
        log("requests still running after %.0fs" % timeout)
    stop = svc.hook("stop")
    if stop is not None:
        clean = run_bounded(stop, deadline - time.monotonic(), "stop()") and clean
    log("stopped")
    sys.stderr.flush()
    os._exit(0 if clean else 1)


if __name__ == "__main__":
    main()
