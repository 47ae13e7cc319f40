"""A function: kiln serves handle() over HTTP on $PORT (default 8080),
with /health/readiness and /health/liveness.

handle gets the request (method, path, query, headers, body) and returns
a body (str, bytes, dict or list for JSON, None for 204) or a tuple
(status, headers, body).
"""


def handle(request):
    name = request.query.get("name", ["world"])[0]
    return 200, {"Content-Type": "text/plain; charset=utf-8"}, "Hello, %s!\n" % name
