"""``/console``: the console's files, served without a token, with a strict CSP."""

from __future__ import annotations

import re
from importlib import resources

from tests.http.conftest import ApiFactory, error
from tpf.http import console

STATIC = resources.files("tpf.http.console").joinpath("static")


async def test_the_page_and_its_modules_are_served_with_a_strict_policy(
    make_api: ApiFactory,
) -> None:
    api = await make_api()
    redirect = await api.raw("GET", "/console", allow_redirects=False)
    assert (redirect.status, redirect.headers["Location"]) == (302, "/console/")
    page = await api.raw("GET", "/console/")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    # Nothing inline for the policy to refuse: no script body, no style element or attribute.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html
    for src in re.findall(r'(?:src|href)="([^"#:]+)"', html):
        asset = await api.raw("GET", f"/console/{src}")
        assert asset.status == 200, src
        assert asset.headers["Content-Security-Policy"] == csp
    js = await api.raw("GET", "/console/app.js")
    assert js.content_type == "text/javascript" and js.charset == "utf-8"


async def test_every_module_the_console_imports_is_served(make_api: ApiFactory) -> None:
    api = await make_api()
    names = {entry.name for entry in STATIC.iterdir()}
    for name in sorted(n for n in names if n.endswith(".js")):
        text = await (await api.raw("GET", f"/console/{name}")).text()
        for imported in re.findall(r'from "\./([^"]+)"', text):
            assert imported in names, f"{name} imports {imported}, which is not shipped"
        # The token never goes into a URL: no query string or path is built from it.
        assert not re.search(r"[?&](token|access_token)=", text), name


async def test_unknown_files_are_a_json_404_and_no_path_escapes_the_folder(
    make_api: ApiFactory,
) -> None:
    api = await make_api()
    for path in ("/console/nope.js", "/console/..%2F__init__.py", "/console/__init__.py"):
        found = await error(api.raw("GET", path), 404)
        assert found["code"] == "NOT_FOUND", path


def test_the_files_ship_as_package_data() -> None:
    """pyproject's package-data is what puts these in a wheel; the app reads them from there."""
    files = console.load_static()
    assert {"index.html", "app.js", "app.css", "api.js", "schema_form.js"} <= set(files)
    assert all(name.rpartition(".")[2] in ("html", "js", "css", "svg") for name in files)
