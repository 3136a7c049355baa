"""The web console at ``/console``: static files shipped in the package, no build step, no CDN.

The console is plain HTML, CSS and ES modules (``static/``) that talk to the same REST API as
every other client, with the tokens the operator types in (kept in ``sessionStorage``, sent as
``Authorization: Bearer``). Serving the files needs no token: they hold no data. The files are
read once, when the app is built, and served from memory with a strict Content-Security-Policy
(scripts, styles and connections from this origin only, no inline script or style, no
framing), so an injected string in a payload the console shows can never run as code.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from tpf.core.errors import NotFound

CONSOLE = "/console"
INDEX = "index.html"
# Only these kinds are served; anything else in the folder stays private.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The files change with the package: revalidate rather than run a stale console.
    "Cache-Control": "no-cache",
}
STATIC = web.AppKey("tpf.console.static", dict)


def load_static() -> dict[str, tuple[bytes, str]]:
    """Every servable file of ``static/``: name -> (bytes, content type)."""
    folder = resources.files(__package__).joinpath("static")
    files: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            files[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return files


def install(app: web.Application) -> None:
    """Serve the console; its routes stay out of the OpenAPI document (they are not API)."""
    app[STATIC] = load_static()
    app.router.add_get(CONSOLE, index)
    app.router.add_get(CONSOLE + "/", index)
    app.router.add_get(CONSOLE + "/{file}", asset)


def _serve(request: web.Request, name: str) -> web.Response:
    found = request.app[STATIC].get(name)
    if found is None:
        raise NotFound(f"no console file {name!r}")
    body, content_type = found
    response = web.Response(body=body, headers=SECURITY_HEADERS)
    response.content_type, _, _ = content_type.partition(";")
    response.charset = "utf-8" if "charset" in content_type else None
    return response


async def index(request: web.Request) -> web.StreamResponse:
    # Relative module URLs resolve against the directory: /console would load /app.js.
    if request.path == CONSOLE:
        raise web.HTTPFound(CONSOLE + "/")
    return _serve(request, INDEX)


async def asset(request: web.Request) -> web.Response:
    return _serve(request, request.match_info["file"])
