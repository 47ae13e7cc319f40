# kiln's host-side helper. It never imports the project's code: it only
# parses it, so a build does not run user code on the host.
#
#   python3 check.py info            -> {"python": "3.11.7", "pip": "23.2.1", "pipConfig": [...]}
#   python3 check.py function FILE [OLDEST]
#                                    -> {"found": ..., "style": ..., "error": ...}
#     OLDEST is the oldest Python version ("3.11") of the images: a host
#     Python at least that new knows all the syntax they accept, so its
#     syntax errors are the file's.
import ast
import json
import re
import sys

ACCEPTED = (
    "def handle(request): ... returning a body or (status, headers, body); "
    "or async def handle(scope, receive, send): ... (an ASGI 3 application); "
    "or def new(): ... returning an object with one of these as its handle method"
)


def info():
    out = {"python": "%d.%d.%d" % sys.version_info[:3], "pip": None}
    try:
        import pip

        out["pip"] = pip.__version__
    except Exception:
        return out
    # pip's effective settings (pip.conf files and PIP_* variables), which
    # decide what gets installed and so are part of kiln's fingerprint.
    try:
        from pip._internal.configuration import Configuration

        c = Configuration(isolated=False)
        c.load()
        out["pipConfig"] = sorted("%s=%s" % (k, v) for k, v in c.items())
    except Exception as e:
        out["pipConfig"] = ["unreadable: %s" % e]
    return out


def required_positional(args):
    pos = list(args.posonlyargs) + list(args.args)
    return len(pos) - len(args.defaults), len(pos), args.vararg is not None


def check_handle(node):
    req, total, star = required_positional(node.args)
    if isinstance(node, ast.AsyncFunctionDef):
        if req <= 3 and (total >= 3 or star):
            return None
        sig = ast.unparse(node.args) if hasattr(ast, "unparse") else "..."
        return "async handle(%s) at line %d must take (scope, receive, send), as an ASGI application: %s" % (sig, node.lineno, ACCEPTED)
    kwonly = [a.arg for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is None]
    if req > 1 or kwonly or (total == 0 and not star):
        sig = ast.unparse(node.args) if hasattr(ast, "unparse") else "..."
        return "handle(%s) at line %d must take exactly one argument, the request: %s" % (sig, node.lineno, ACCEPTED)
    return None


def check_new(node):
    if isinstance(node, ast.AsyncFunctionDef):
        return "new is async; define it with plain def (%s)" % ACCEPTED
    req, _, _ = required_positional(node.args)
    kwonly = [a.arg for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is None]
    if req or kwonly:
        sig = ast.unparse(node.args) if hasattr(ast, "unparse") else "..."
        return "new(%s) at line %d must take no arguments: %s" % (sig, node.lineno, ACCEPTED)
    return None


def knows_syntax_of(oldest):
    try:
        want = tuple(int(x) for x in oldest.split(".")[:2])
    except ValueError:
        return False
    return len(want) == 2 and sys.version_info[:2] >= want


def function(path, oldest=""):
    with open(path, "rb") as f:
        src = f.read()
    try:
        tree = ast.parse(src, filename=path)
    except SyntaxError as e:
        if knows_syntax_of(oldest):
            return {
                "found": True,
                "style": "handle",
                "error": "syntax error at line %s: %s; Python %d.%d (at least as new as the image's %s) cannot parse it, so the function could not start"
                % (e.lineno, e.msg, sys.version_info[0], sys.version_info[1], oldest),
            }
        # Newer syntax than the host's Python knows: fall back to a plain
        # scan for top-level definitions, without checking signatures.
        names = set(re.findall(rb"^(?:async\s+)?(?:def|class)\s+(handle|new)\b", src, re.M))
        names |= set(re.findall(rb"^(handle|new)\s*=", src, re.M))
        names = {n.decode() for n in names}
        if not names:
            return {"found": False, "error": "%s: %s (line %s)" % (path, e.msg, e.lineno)}
        return {"found": True, "style": "new" if "new" in names else "handle", "error": None, "unchecked": True}
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in ("handle", "new"):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id in ("handle", "new"):
                    defs[t.id] = node
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                name = a.asname or a.name
                if name in ("handle", "new"):
                    defs[name] = node
    if "new" in defs:
        node = defs["new"]
        err = check_new(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
        return {"found": True, "style": "new", "error": err}
    if "handle" in defs:
        node = defs["handle"]
        err = None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            err = check_handle(node)
        elif isinstance(node, ast.ClassDef):
            err = "handle is a class at line %d: %s" % (node.lineno, ACCEPTED)
        return {"found": True, "style": "handle", "error": err}
    return {"found": False, "error": "%s defines neither handle nor new at its top level: %s" % (path, ACCEPTED)}


def main():
    if sys.argv[1:2] == ["info"]:
        out = info()
    elif sys.argv[1:2] == ["function"] and len(sys.argv) in (3, 4):
        out = function(*sys.argv[2:])
    else:
        sys.exit("usage: check.py info | function FILE [OLDEST]")
    json.dump(out, sys.stdout)


main()
