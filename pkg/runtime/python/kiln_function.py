# kiln's HTTP service for Python functions: it imports the function's
# module and serves it with an HTTP/1.1 server of its own, written on the
# standard library (asyncio). See docs/functions.md for the contracts:
#
#   kiln's:   def handle(request) -> body | (status, headers, body)
#             def new() -> object with handle(self, request)
#   func's:   def new() -> object with
#                 async def handle(self, scope, receive, send)  (ASGI 3)
#             async def handle(scope, receive, send)             (static)
#
# and, on the object new() returns (or the module), optionally start()
# or start(cfg), stop(), ready() and alive(), returning a bool or
# (bool, message). With --cloudevents (func.yaml's invoke: cloudevent),
# an ASGI handle finds the request's CloudEvent in scope["event"] and
# sends its answer with await send(event).
#
# Its behaviour is that of kiln's Go function service: the address is
# LISTEN_ADDRESS (host:port), else :$PORT, else :8080; /health/readiness
# and /health/liveness answer READY / ALIVE (503 NOT READY, NOT ALIVE);
# SIGTERM or SIGINT stop it gracefully within KILN_SHUTDOWN_TIMEOUT
# (default 8s); each request is logged on one line.
import asyncio
import base64
import datetime
import importlib
import inspect
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, unquote, urlsplit

READINESS = "/health/readiness"
LIVENESS = "/health/liveness"
DEFAULT_SHUTDOWN_TIMEOUT = 8.0
MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20  # for handlers that get the whole body
CHUNK = 64 << 10
IDLE_TIMEOUT = 60  # seconds a connection may wait for its next request head
REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently", 302: "Found",
    304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large", 415: "Unsupported Media Type",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}


def log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%Y/%m/%d %H:%M:%S"), msg))
    sys.stderr.flush()


def duration(seconds):
    """Writes a duration as Go's time.Duration does, to the microsecond."""
    us = int(round(seconds * 1e6))
    if us < 1000:
        return "%d\u00b5s" % us
    if us < 1000000:
        return ("%.3f" % (us / 1000.0)).rstrip("0").rstrip(".") + "ms"
    return ("%.6f" % (us / 1e6)).rstrip("0").rstrip(".") + "s"


def parse_timeout(v):
    """KILN_SHUTDOWN_TIMEOUT: seconds ("30", "1.5") or a Go duration ("30s", "500ms", "1m")."""
    if not v:
        return DEFAULT_SHUTDOWN_TIMEOUT
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", v.strip())
    if not m:
        raise ValueError(v)
    return float(m.group(1)) * {None: 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def listen_address():
    """(host, port): LISTEN_ADDRESS if set, else :$PORT, else :8080. An
    empty host, [::] or 0.0.0.0 listen on every address."""
    addr = os.environ.get("LISTEN_ADDRESS")
    if not addr:
        port = os.environ.get("PORT") or "8080"
        addr = ":" + port
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError("LISTEN_ADDRESS or PORT %r is not host:port or a port number" % addr)
    return host.strip("[]"), int(port)


class Request:
    """One HTTP request for kiln's own contract: method, path, query (name
    -> list of values), headers (case-insensitive), body (bytes)."""

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


class Headers:
    """Case-insensitive header lookup over a list of (name, value)."""

    def __init__(self, items):
        self.items_ = items

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self.items_:
            if k.lower() == name:
                return v
        return default

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self.items_)

    def keys(self):
        return [k for k, _ in self.items_]

    def __iter__(self):
        return iter(self.keys())


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
    """Turns what a synchronous handle returned into (status, [(name, value)], bytes)."""
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


# --- CloudEvents, read and written with the standard library -------------

CE_REQUIRED = ("id", "source", "type", "specversion")


class BadEvent(ValueError):
    pass


class CloudEvent:
    """A CloudEvent with the reading methods of the cloudevents 2.x
    package's CloudEvent (get_id(), get_data(), get_attributes(), ...),
    which func's Python template uses. CloudEvent(attributes, data) makes
    one; a missing id becomes a random UUID and specversion 1.0."""

    def __init__(self, attributes, data=None):
        attrs = dict(attributes)
        attrs.setdefault("specversion", "1.0")
        if not attrs.get("id"):
            attrs["id"] = str(uuid.uuid4())
        self._attributes = attrs
        self._data = data

    def get_attributes(self):
        return dict(self._attributes)

    def get_data(self):
        return self._data

    def get_extension(self, name):
        return self._attributes.get(name)

    def __getattr__(self, name):
        if name.startswith("get_"):
            key = name[4:]
            return lambda: self._attributes.get(key)
        raise AttributeError(name)

    def __getitem__(self, key):
        return self._attributes[key]

    def __repr__(self):
        return "CloudEvent(%r, %r)" % (self._attributes, self._data)


def media_type(ctype):
    return (ctype or "").split(";")[0].strip().lower()


def decode_data(data, ctype):
    """A dict or list for JSON, a str for text, else bytes."""
    mt = media_type(ctype)
    if mt == "" or mt == "application/json" or mt.endswith("+json"):
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            if mt:
                raise BadEvent("the data is not JSON, as its content type %s says" % ctype)
            return data
    if mt.startswith("text/"):
        return data.decode("utf-8", "replace")
    return data


def read_event(headers, body):
    """The CloudEvent of a request: binary mode when a ce- header is
    present, else structured mode (application/cloudevents+json)."""
    attrs = {}
    for k, v in headers:
        lk = k.lower()
        if lk.startswith("ce-") and len(lk) > 3:
            attrs[lk[3:]] = unquote(v)
    if attrs:
        ctype = Headers(headers).get("content-type")
        if ctype:
            attrs["datacontenttype"] = ctype
        data = decode_data(body, ctype)
    elif media_type(Headers(headers).get("content-type")) == "application/cloudevents+json":
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise BadEvent("the structured CloudEvent is not JSON: %s" % e)
        if not isinstance(doc, dict):
            raise BadEvent("the structured CloudEvent is not a JSON object")
        data = doc.pop("data", None)
        if "data_base64" in doc:
            data = base64.b64decode(doc.pop("data_base64"))
        attrs = doc
    else:
        raise BadEvent("This endpoint expects CloudEvent requests.")
    missing = [a for a in CE_REQUIRED if not attrs.get(a)]
    if missing:
        raise BadEvent("the CloudEvent lacks %s" % ", ".join(missing))
    ev = CloudEvent(attrs, data)
    return ev


def event_parts(ev):
    """(attributes, data) of a CloudEvent: kiln's, the cloudevents
    package's (either version), or any object with get_attributes() and
    get_data()."""
    if hasattr(ev, "get_attributes") and hasattr(ev, "get_data"):
        attrs, data = dict(ev.get_attributes()), ev.get_data()
    elif hasattr(ev, "get_data") and hasattr(ev, "__iter__"):  # cloudevents 1.x
        attrs, data = {k: ev[k] for k in ev}, ev.get_data()
    else:
        raise TypeError("send() takes a CloudEvent or an ASGI message dict, not %s" % type(ev).__name__)
    # As the cloudevents package does when it makes an event.
    attrs.setdefault("specversion", "1.0")
    if not attrs.get("id"):
        attrs["id"] = str(uuid.uuid4())
    return attrs, data


def attr_text(v):
    if isinstance(v, datetime.datetime):
        s = v.isoformat()
        return s[:-6] + "Z" if s.endswith("+00:00") else s
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def encode_data(data, ctype):
    """(bytes, content type) of event data in binary mode."""
    if data is None:
        return b"", ctype
    if isinstance(data, (bytes, bytearray)):
        return bytes(data), ctype or "application/octet-stream"
    if isinstance(data, str) and media_type(ctype) not in ("application/json", ""):
        return data.encode("utf-8"), ctype
    return json.dumps(data).encode("utf-8"), ctype or "application/json"


def structured(ev):
    attrs, data = event_parts(ev)
    doc = {k: attr_text(v) for k, v in attrs.items() if v is not None}
    if isinstance(data, (bytes, bytearray)):
        doc["data_base64"] = base64.b64encode(data).decode()
    elif data is not None:
        doc["data"] = data
    return [(b"content-type", b"application/cloudevents+json")], json.dumps(doc).encode("utf-8")


def binary(ev):
    attrs, data = event_parts(ev)
    headers = []
    ctype = attrs.pop("datacontenttype", None)
    for k, v in attrs.items():
        if v is not None:
            headers.append((("ce-" + k).encode(), attr_text(v).encode("utf-8")))
    body, ctype = encode_data(data, ctype)
    if ctype:
        headers.append((b"content-type", ctype.encode()))
    return headers, body


class EventSender:
    """The send a CloudEvents function gets: await send(event[, status])
    answers with the event in structured mode, send.binary() in binary
    mode; send.http(message) sends a raw ASGI message; an ASGI message
    dict passed to send itself goes out as it is."""

    def __init__(self, send):
        self._send = send

    async def __call__(self, ev, status=200):
        if isinstance(ev, dict):
            return await self._send(ev)
        return await self._answer(structured(ev), status)

    async def structured(self, ev, status=200):
        return await self._answer(structured(ev), status)

    async def binary(self, ev, status=200):
        return await self._answer(binary(ev), status)

    async def http(self, message):
        return await self._send(message)

    async def _answer(self, parts, status):
        headers, body = parts
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})


# --- the function ---------------------------------------------------------


class Function:
    def __init__(self, module, cloudevents):
        new = getattr(module, "new", None)
        self.target = new() if callable(new) else module
        self.handle = getattr(self.target, "handle", None)
        if not callable(self.handle):
            raise SystemExit("kiln-function: %r has no handle method" % (self.target,))
        self.asgi = inspect.iscoroutinefunction(self.handle) or inspect.iscoroutinefunction(getattr(self.handle, "__call__", None))
        if cloudevents and not self.asgi:
            raise SystemExit("kiln-function: func.yaml says invoke: cloudevent, but handle is not async def handle(scope, receive, send)")
        self.cloudevents = cloudevents
        # ASGI lifespan events go to handle only when the function has no
        # start or stop of its own (func's middleware calls those instead).
        self.lifespan = self.asgi and self.hook("start") is None and self.hook("stop") is None

    def hook(self, name):
        fn = getattr(self.target, name, None)
        return fn if callable(fn) else None

    def start_args(self, fn):
        try:
            params = [p for p in inspect.signature(fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        except (TypeError, ValueError):
            params = []
        return (dict(os.environ),) if params else ()


async def run_hook(fn, *args):
    r = fn(*args)
    if inspect.isawaitable(r):
        r = await r
    return r


# --- the server -----------------------------------------------------------


class Server:
    def __init__(self, fn, timeout):
        self.fn = fn
        self.timeout = timeout
        self.stopping = False
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.conns = set()
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="handle")

    async def check(self, name):
        if self.stopping:
            return False, "stopping"
        hook = self.fn.hook(name)
        if hook is None:
            return True, None
        try:
            if inspect.iscoroutinefunction(hook):
                r = await hook()
            else:
                r = await asyncio.get_running_loop().run_in_executor(self.pool, hook)
        except Exception as e:
            return False, "%s() raised %s" % (name, e)
        msg = None
        if isinstance(r, tuple) and len(r) == 2:
            r, msg = r
        ok = r is None or bool(r)
        if not ok and msg is None:
            msg = "%s() returned %r" % (name, r)
        return ok, msg

    async def connection(self, reader, writer):
        task = asyncio.current_task()
        self.conns.add(task)
        try:
            while True:
                keep = await self.exchange(reader, writer)
                if not keep or self.stopping:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception:
            log("connection failed:\n%s" % traceback.format_exc().rstrip())
        finally:
            self.conns.discard(task)
            try:
                writer.close()
            except Exception:
                pass

    async def exchange(self, reader, writer):
        """Serves one request on the connection; returns whether to keep it open."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except asyncio.TimeoutError:
            return False
        except asyncio.LimitOverrunError:
            writer.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        headers = []
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers.append((k.strip(), v.strip()))
        h = Headers(headers)
        conn = (h.get("connection") or "").lower()
        keep = (version == "HTTP/1.1" and "close" not in conn) or (version == "HTTP/1.0" and "keep-alive" in conn)
        if "chunked" in (h.get("transfer-encoding") or "").lower():
            body = ChunkedBody(reader)
        else:
            try:
                n = int(h.get("content-length") or 0)
            except ValueError:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return False
            body = SizedBody(reader, n)
        if (h.get("expect") or "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        out = Response(writer, method, version, keep and not self.stopping)
        start = time.monotonic()
        self.active += 1
        self.idle.clear()
        try:
            path = urlsplit(target).path
            if path in (READINESS, LIVENESS):
                ok, msg = await self.check("ready" if path == READINESS else "alive")
                state = "READY" if path == READINESS else "ALIVE"
                text = state if ok else "NOT " + state + (": " + msg if msg else "")
                await out.simple(200 if ok else 503, text + "\n")
            elif self.fn.asgi:
                await self.asgi(method, target, version, headers, body, out, writer)
            else:
                await self.sync(method, target, h, body, out)
        finally:
            self.active -= 1
            if self.active == 0:
                self.idle.set()
            log("%s %s %d %dB %s%s" % (method, target, out.status or 500, out.sent, duration(time.monotonic() - start), out.note))
        if not out.complete:
            return False
        # What the handler did not read of the body is skipped, when small.
        if not await body.drain(1 << 20):
            return False
        return out.keep

    async def sync(self, method, target, h, body, out):
        try:
            data = await body.read_all(MAX_BODY_BYTES)
        except BodyTooLarge:
            await out.simple(413, "request body too large\n")
            return
        req = Request(method, target, h, data)
        loop = asyncio.get_running_loop()
        try:
            status, headers, payload = await loop.run_in_executor(self.pool, lambda: response(self.fn.handle(req)))
        except BaseException:
            log("%s %s: the handler failed:\n%s" % (method, target, traceback.format_exc().rstrip()))
            status, headers, payload = 500, [("Content-Type", "text/plain; charset=utf-8")], b"internal server error\n"
        await out.whole(status, headers, payload)

    async def asgi(self, method, target, version, headers, body, out, writer):
        parts = urlsplit(target)
        peer = writer.get_extra_info("peername") or ("", 0)
        sock = writer.get_extra_info("sockname") or ("", 0)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version.split("/")[-1],
            "method": method,
            "scheme": "http",
            "path": unquote(parts.path),
            "raw_path": parts.path.encode("latin-1"),
            "query_string": parts.query.encode("latin-1"),
            "root_path": "",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            "client": (peer[0], peer[1]),
            "server": (sock[0], sock[1]),
            "state": dict(self.lifespan_state),
        }
        done = asyncio.Event()
        last_sent = []

        async def receive():
            if body.remaining():
                chunk = await body.read_chunk()
                more = body.remaining()
                if not more:
                    last_sent.append(True)
                return {"type": "http.request", "body": chunk, "more_body": more}
            if not last_sent:
                last_sent.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            await out.asgi(message)

        sender = send
        if self.fn.cloudevents:
            try:
                scope["event"] = read_event(headers, await body.read_all(MAX_BODY_BYTES))
            except (BadEvent, BodyTooLarge) as e:
                await out.simple(400, "Bad Request: %s" % e)
                return
            sender = EventSender(send)
        try:
            await self.fn.handle(scope, receive, sender)
        except Exception as e:
            log("%s %s: the handler failed:\n%s" % (method, target, traceback.format_exc().rstrip()))
            if out.head_sent:
                out.abort(" (response cut off by an exception)")
            elif self.fn.cloudevents:
                await sender.structured(CloudEvent({"type": "dev.functions.error", "source": "/cloudevent/error"}, {"message": "Error: %s" % e}), 500)
            else:
                await out.simple(500, "internal server error\n")
        else:
            if not out.started:
                log("%s %s: handle returned without sending a response" % (method, target))
                await out.simple(500, "internal server error\n")
            elif not out.complete:
                await out.asgi({"type": "http.response.body", "body": b""})
        finally:
            done.set()

    lifespan_state = {}

    async def lifespan(self, phase):
        """Runs the app's lifespan protocol for "startup" or "shutdown";
        an app that does not speak it is left alone."""
        if phase == "startup":
            self.lifespan_queue = asyncio.Queue()
            self.lifespan_reply = asyncio.Queue()
            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.lifespan_state}

            async def receive():
                return await self.lifespan_queue.get()

            async def send(message):
                if not isinstance(message, dict) or not str(message.get("type", "")).startswith("lifespan."):
                    raise RuntimeError("not a lifespan message")
                await self.lifespan_reply.put(message)

            async def run():
                try:
                    await self.fn.handle(scope, receive, send)
                    error = "handle returned"
                except BaseException as e:
                    error = e
                # An app that returns (or fails) without answering does
                # not speak the lifespan protocol.
                await self.lifespan_reply.put({"type": "unsupported", "error": error})

            self.lifespan_task = asyncio.ensure_future(run())
        await self.lifespan_queue.put({"type": "lifespan." + phase})
        try:
            reply = await asyncio.wait_for(self.lifespan_reply.get(), self.timeout if phase == "shutdown" else 60)
        except asyncio.TimeoutError:
            log("lifespan %s: no answer" % phase)
            return phase == "shutdown"
        if reply["type"] == "unsupported":
            if phase == "startup":
                self.fn.lifespan = False
                return True
            log("lifespan shutdown failed: %s" % reply["error"])
            return False
        if reply["type"].endswith(".failed"):
            log("lifespan %s failed: %s" % (phase, reply.get("message", "")))
            return False
        return True


class BodyTooLarge(Exception):
    pass


class SizedBody:
    def __init__(self, reader, n):
        self.reader, self.left = reader, n

    def remaining(self):
        return self.left > 0

    async def read_chunk(self):
        data = await self.reader.read(min(self.left, CHUNK))
        if not data:
            raise ConnectionError("the client closed the connection mid-body")
        self.left -= len(data)
        return data

    async def read_all(self, limit):
        if self.left > limit:
            raise BodyTooLarge()
        parts = []
        while self.remaining():
            parts.append(await self.read_chunk())
        return b"".join(parts)

    async def drain(self, limit):
        if self.left > limit:
            return False
        while self.remaining():
            await self.read_chunk()
        return True


class ChunkedBody:
    def __init__(self, reader):
        self.reader, self.chunk_left, self.done = reader, 0, False

    def remaining(self):
        return not self.done

    async def read_chunk(self):
        if self.chunk_left == 0:
            line = await self.reader.readline()
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                self.done = True
                return b""
            self.chunk_left = size
        data = await self.reader.read(min(self.chunk_left, CHUNK))
        if not data:
            raise ConnectionError("the client closed the connection mid-body")
        self.chunk_left -= len(data)
        if self.chunk_left == 0:
            await self.reader.readline()
        return data

    async def read_all(self, limit):
        parts, n = [], 0
        while self.remaining():
            c = await self.read_chunk()
            n += len(c)
            if n > limit:
                raise BodyTooLarge()
            parts.append(c)
        return b"".join(parts)

    async def drain(self, limit):
        try:
            await self.read_all(limit)
        except BodyTooLarge:
            return False
        return True


class Response:
    """Writes one response, whole or streamed (chunked when its length is
    not known in advance)."""

    def __init__(self, writer, method, version, keep):
        self.writer, self.method, self.version, self.keep = writer, method, version, keep
        self.status = 0
        self.sent = 0
        self.started = False  # http.response.start received
        self.head_sent = False
        self.complete = False
        self.chunked = False
        self.headers = []
        self.note = ""

    def _head(self, length):
        lines = ["%s %d %s" % ("HTTP/1.1", self.status, REASONS.get(self.status, "Status"))]
        has_len = any(k.lower() == b"content-length" for k, _ in self.headers)
        for k, v in self.headers:
            if k.lower() in (b"connection", b"transfer-encoding"):
                continue
            lines.append("%s: %s" % (k.decode("latin-1"), v.decode("latin-1")))
        if not has_len:
            if length is not None:
                lines.append("Content-Length: %d" % length)
            elif self.version == "HTTP/1.1":
                self.chunked = True
                lines.append("Transfer-Encoding: chunked")
            else:
                self.keep = False
        if not self.keep:
            lines.append("Connection: close")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.head_sent = True

    async def asgi(self, message):
        t = message.get("type")
        if t == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            return
        if t != "http.response.body":
            raise RuntimeError("unexpected ASGI message %r" % (t,))
        if not self.started:
            raise RuntimeError("http.response.body sent before http.response.start")
        if self.complete:
            return
        data = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        if not self.head_sent:
            self._head(None if more else len(data))
        if self.method != "HEAD" and data:
            self.writer.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
            self.sent += len(data)
        if not more:
            if self.chunked and self.method != "HEAD":
                self.writer.write(b"0\r\n\r\n")
            self.complete = True
        await self.writer.drain()

    async def whole(self, status, headers, data):
        self.started, self.status = True, status
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k.lower() != "content-length"]
        self._head(len(data))
        if self.method != "HEAD":
            self.writer.write(data)
            self.sent = len(data)
        self.complete = True
        await self.writer.drain()

    async def simple(self, status, text):
        await self.whole(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode("utf-8"))

    def abort(self, note):
        self.note = note
        self.keep = False
        self.complete = False


async def serve(fn, timeout, module_name):
    loop = asyncio.get_running_loop()
    host, port = listen_address()
    srv = Server(fn, timeout)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: on_signal(s, stop, timeout))

    start = fn.hook("start")
    if start is not None:
        log("calling start")
        try:
            await run_hook(start, *fn.start_args(start))
        except Exception:
            log("start failed:\n%s" % traceback.format_exc().rstrip())
            return 1
    if fn.lifespan:
        if not await srv.lifespan("startup"):
            return 1
    if stop.is_set():
        return 0

    if host in ("", "::", "0.0.0.0") or host == "*":
        sockets = listen_any(port)
        server = await asyncio.start_server(srv.connection, sock=sockets[0], limit=MAX_HEADER_BYTES)
        extra = [await asyncio.start_server(srv.connection, sock=s, limit=MAX_HEADER_BYTES) for s in sockets[1:]]
    else:
        server = await asyncio.start_server(srv.connection, host, port, limit=MAX_HEADER_BYTES)
        extra = []
    where = ", ".join(("[%s]:%d" if ":" in s.getsockname()[0] else "%s:%d") % s.getsockname()[:2] for srvr in [server] + extra for s in srvr.sockets)
    log("serving function %s on %s" % (module_name, where))
    await stop.wait()

    # Graceful stop: refuse new connections, let requests in flight finish
    # within three quarters of the timeout, then call stop().
    deadline = time.monotonic() + timeout
    srv.stopping = True
    for s in [server] + extra:
        s.close()
    log("no longer accepting connections; waiting for %d requests in flight" % srv.active)
    code = 0
    try:
        await asyncio.wait_for(srv.idle.wait(), timeout * 3 / 4)
    except asyncio.TimeoutError:
        log("%d requests still running after %s: closing their connections" % (srv.active, duration(timeout * 3 / 4)))
    for t in list(srv.conns):
        t.cancel()
    stop_hook = fn.hook("stop")
    left = max(deadline - time.monotonic(), 0)
    if stop_hook is not None:
        log("calling stop")
        try:
            await asyncio.wait_for(loop.run_in_executor(srv.pool, stop_hook) if not inspect.iscoroutinefunction(stop_hook) else stop_hook(), left)
            log("stop returned")
        except asyncio.TimeoutError:
            log("stop() did not return within %s: exiting without it" % duration(timeout))
            code = 1
        except Exception:
            log("stop failed:\n%s" % traceback.format_exc().rstrip())
            code = 1
    elif fn.lifespan:
        if not await srv.lifespan("shutdown"):
            code = 1
    log("stopped")
    return code


def on_signal(sig, stop, timeout):
    name = signal.Signals(sig).name
    if stop.is_set():
        log("received %s again: exiting now" % name)
        os._exit(1)
    log("received %s: stopping, within %s" % (name, duration(timeout)))
    stop.set()


def listen_any(port):
    """Sockets on every address: one dual-stack IPv6 socket where the
    kernel allows it, else IPv4 only."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        except (AttributeError, OSError):
            pass
        s.bind(("::", port))
        s.listen(1024)
        s.setblocking(False)
        return [s]
    except OSError:
        pass
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(1024)
    s.setblocking(False)
    return [s]


def main():
    args = sys.argv[1:]
    cloudevents = "--cloudevents" in args
    args = [a for a in args if a != "--cloudevents"]
    if len(args) != 1:
        sys.exit("usage: kiln_function.py [--cloudevents] MODULE")
    try:
        timeout = parse_timeout(os.environ.get("KILN_SHUTDOWN_TIMEOUT"))
        listen_address()
    except ValueError as e:
        sys.exit("kiln-function: %s" % (e if "LISTEN" in str(e) else "KILN_SHUTDOWN_TIMEOUT=%r is not a duration: write e.g. 30s or 30" % os.environ["KILN_SHUTDOWN_TIMEOUT"]))
    # The function's module comes from PYTHONPATH, not from beside this file.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    module = importlib.import_module(args[0])
    fn = Function(module, cloudevents)
    code = asyncio.run(serve(fn, timeout, args[0]))
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
