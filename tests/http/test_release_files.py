"""Path registration reads server files: regular files only, bounded, confined, and quiet.

``releaseDescriptorPath`` (the original's way to register) names a file on the coordinator's
filesystem, and the descriptor names more. These tests point it at what an attacker holding
the admin token (or a confused operator) would: devices, FIFOs, secrets, paths with NUL bytes,
paths outside the configured import roots, over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData

from demos.restaurant_approval import pipeline as restaurant_pipeline
from demos.restaurant_approval.server import DemoServer, free_port
from tests.http.conftest import ADMIN, RELEASES, Api, ApiFactory, error, ok
from tpf.client.rest import ApiError
from tpf.engine.releases import build_release

REGISTER = f"{RELEASES}/register"
SECRET = "TOP-SECRET-5f1d3c"  # what must never come back in an answer
PROMPTLY_S = 10.0  # generous: a blocked read would never answer at all


def register_path(api: Api, path: str, url: str = REGISTER) -> Any:
    return api.admin("POST", url, json={"releaseDescriptorPath": path})


def rewrite(descriptor: Path, mutate: Callable[[dict[str, Any]], object]) -> str:
    data = json.loads(descriptor.read_text())
    mutate(data)
    descriptor.write_text(json.dumps(data))
    return str(descriptor)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def fifos(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Make FIFOs; afterwards open each for writing once, so that a reader blocked on it (the
    old behaviour) is released and the test process can still exit."""
    made: list[Path] = []

    def make(name: str) -> Path:
        path = tmp_path / name
        os.mkfifo(path)
        made.append(path)
        return path

    yield make
    for path in made:
        with contextlib.suppress(OSError):  # ENXIO: nobody is reading it, as it should be
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def test_dev_zero_is_refused_at_once(api: Api) -> None:
    # It used to be read until memory ran out.
    async with asyncio.timeout(PROMPTLY_S):
        err = await error(register_path(api, "/dev/zero"), 400)
    assert err["message"] == (
        "releaseDescriptorPath: /dev/zero is not a regular file (a character device)"
    )


async def test_only_regular_files_are_read(api: Api, tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.sock"))
        for path, kind in (
            (str(tmp_path), "a directory"),
            (str(tmp_path / "s.sock"), "a socket"),
            ("/dev/null", "a character device"),
        ):
            err = await error(register_path(api, path), 400)
            assert err["message"] == f"releaseDescriptorPath: {path} is not a regular file ({kind})"
    descriptor = build_release(restaurant_pipeline, tmp_path / "build")
    path = rewrite(descriptor, lambda d: d["artifacts"][0].update(uri="/dev/zero"))
    err = await error(register_path(api, path), 400)
    assert err["message"] == (
        "artifacts[0].uri: /dev/zero is not a regular file (a character device)"
    )


async def test_a_fifo_is_refused_without_blocking(
    api: Api, tmp_path: Path, fifos: Callable[[str], Path]
) -> None:
    fifo = fifos("pipeline-release.json")
    async with asyncio.timeout(PROMPTLY_S):  # it used to block until a writer came, forever
        err = await error(register_path(api, str(fifo)), 400)
    assert err["message"] == f"releaseDescriptorPath: {fifo} is not a regular file (a FIFO)"
    # The pipeline's registry is not wedged: the next registration goes through.
    descriptor = build_release(restaurant_pipeline, tmp_path / "build")
    async with asyncio.timeout(PROMPTLY_S):
        await ok(register_path(api, str(descriptor)))


async def test_fifo_registrations_do_not_hold_up_other_requests(
    released: Api, fifos: Callable[[str], Path]
) -> None:
    """Eight FIFO registrations on eight pipelines once took the loop's whole default thread
    pool (each blocked in open), so an ordinary submit, which verifies the artifact on that
    pool, hung."""
    registrations = [
        register_path(
            released,
            str(fifos(f"p{i}.json")),
            f"{ADMIN}/pipelines/org.example.p{i}/releases/register",
        )
        for i in range(8)
    ]
    async with asyncio.timeout(PROMPTLY_S):
        execution_id, *answers = await asyncio.gather(
            released.submit(), *(error(call, 400) for call in registrations)
        )
    assert all("is not a regular file (a FIFO)" in a["message"] for a in answers), answers
    status = await released.wait_status(execution_id)
    assert status["status"] == "WAITING_EXTERNAL", status


def test_tpf_serve_stops_on_sigterm_after_fifo_registrations(
    tmp_path: Path, fifos: Callable[[str], Path]
) -> None:
    """Blocked FIFO reads once kept ``tpf serve`` from exiting on SIGTERM (its shutdown waits
    for the default executor's threads)."""
    server = DemoServer(tmp_path / "serve", free_port())
    server.start()
    try:
        client = server.client()

        def register(i: int) -> int:
            try:
                client.register_release(f"org.example.p{i}", str(fifos(f"p{i}.json")))
            except ApiError as exc:
                return exc.status
            return 200

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(register, range(8), timeout=PROMPTLY_S))
        assert statuses == [400] * 8
        assert server.process is not None
        server.stop()  # SIGTERM, then waits for the exit
        assert server.process.returncode == 0, server.log()
    except subprocess.TimeoutExpired:
        pytest.fail(f"tpf serve did not exit on SIGTERM:\n{server.log()}")
    finally:
        server.kill()


async def test_a_wrong_digest_reveals_neither_the_digest_nor_the_content(
    api: Api, tmp_path: Path
) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(f"root:{SECRET}:19000:0:99999:7:::\n")
    real_digest = sha256(secret.read_bytes())
    descriptor = build_release(restaurant_pipeline, tmp_path / "build")

    def point_at_secret(d: dict[str, Any]) -> None:
        d["artifacts"][0].update(uri=str(secret), kind="local-file", digest="sha256:" + "0" * 64)

    response = await register_path(api, rewrite(descriptor, point_at_secret))
    body = await response.text()
    assert response.status == 400, body
    assert "digest mismatch" in body
    assert real_digest.removeprefix("sha256:") not in body and SECRET not in body
    stored = Path(api.coordinator.settings.state.dir)
    assert not any(SECRET in p.read_text(errors="replace") for p in _files(stored))


@pytest.mark.parametrize(
    "content",
    [
        f"password={SECRET}\n",  # not JSON
        json.dumps({"schemaVersion": SECRET, "pipelineId": SECRET}),  # JSON, not a descriptor
        json.dumps({"schemaVersion": 1, "pipelineId": SECRET, "artifacts": [{"kind": SECRET}]}),
        json.dumps(
            {
                "schemaVersion": 1,
                "pipelineId": "x",
                "contractVersion": "c",
                "releaseVersion": "r",
                "artifacts": [{"artifactId": "a", "kind": "jar", "uri": "a.jar", "digest": SECRET}],
            }
        ),
    ],
)
async def test_descriptor_errors_do_not_quote_the_file(
    api: Api, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    response = await register_path(api, str(path))
    body = await response.text()
    assert response.status == 400, body
    assert SECRET not in body, body


async def test_nul_bytes_and_invalid_paths_are_a_400_naming_the_field(
    api: Api, tmp_path: Path
) -> None:
    for path, message in (
        ("/tmp/pipeline-release.json\x00.txt", "releaseDescriptorPath: must not contain a NUL"),
        ("relative/pipeline-release.json", "releaseDescriptorPath must be an absolute path"),
        ("   ", "releaseDescriptorPath is required"),
    ):
        err = await error(register_path(api, path), 400)
        assert err["message"].startswith(message), err
    descriptor = build_release(restaurant_pipeline, tmp_path / "build")
    for uri in ("x\x00.tpfa", "file:///tmp/x%00.tpfa", "file://"):
        path = rewrite(descriptor, lambda d, u=uri: d["artifacts"][0].update(uri=u))
        err = await error(register_path(api, path), 400)
        assert err["message"].startswith("artifacts[0].uri"), err


async def test_files_are_size_capped(make_api: ApiFactory) -> None:
    api = await make_api(http__max_body_bytes=4096, http__max_upload_bytes=256 * 1024)
    descriptor = build_release(restaurant_pipeline, api.tmp / "build")
    padded = rewrite(descriptor, lambda d: d.update(notes="x" * 8192))
    err = await error(register_path(api, padded), 400)
    assert err["message"] == (
        "releaseDescriptorPath: the release descriptor is larger than 4096 bytes "
        "(tpf.http.max-body-bytes)"
    )
    big = api.tmp / "data.bin"
    big.write_bytes(b"\x00" * (300 * 1024))
    extra = {
        "artifactId": "data",
        "kind": "local-file",
        "uri": str(big),
        "digest": sha256(big.read_bytes()),
    }
    path = rewrite(descriptor, lambda d: (d.pop("notes"), d["artifacts"].append(extra)))
    err = await error(register_path(api, path), 400)
    assert err["message"] == (
        "artifacts[1].uri: the descriptor's artifacts are larger than 262144 bytes in all "
        "(tpf.http.max-upload-bytes)"
    )


async def test_import_roots_confine_path_registration(make_api: ApiFactory, tmp_path: Path) -> None:
    root, outside = tmp_path / "releases", tmp_path / "elsewhere"
    confined = await make_api(releases__import_roots=(str(root),))
    inside = build_release(restaurant_pipeline, root / "v1")
    await ok(register_path(confined, str(inside)))
    stray = build_release(restaurant_pipeline, outside / "v1", release_version="v2")
    (root / "link").symlink_to(outside / "v1", target_is_directory=True)
    for path in (
        str(stray),
        str(root / "link" / "pipeline-release.json"),  # a symlink out of the root
        f"{root}/../elsewhere/v1/pipeline-release.json",  # .. out of the root
    ):
        err = await error(register_path(confined, path), 400)
        assert err["message"] == (
            f"releaseDescriptorPath: {path} is not under an import root "
            f"(tpf.releases.import-roots={root})"
        )
    # A descriptor inside the root may not name an artifact outside it either.
    artifact = outside / "v1" / json.loads(stray.read_text())["artifacts"][0]["uri"]
    smuggler = rewrite(inside, lambda d: d["artifacts"][0].update(uri=str(artifact)))
    err = await error(register_path(confined, smuggler), 400)
    assert err["message"].startswith(f"artifacts[0].uri: {artifact} is not under an import root")


async def test_uploads_work_whatever_the_import_roots(make_api: ApiFactory) -> None:
    api = await make_api(releases__import_roots=("/nonexistent-root",))
    descriptor = build_release(restaurant_pipeline, api.tmp / "src")
    raw = json.loads(descriptor.read_text())
    [entry] = raw["artifacts"]
    form = FormData()
    form.add_field("descriptor", json.dumps(raw), filename="pipeline-release.json")
    form.add_field(
        entry["artifactId"], (descriptor.parent / entry["uri"]).read_bytes(), filename=entry["uri"]
    )
    record = await ok(api.admin("POST", REGISTER, data=form))
    assert record["status"] == "REGISTERED" and record["descriptor"] == raw
    await ok(api.admin("POST", f"{RELEASES}/{record['releaseVersion']}/activate"))
    # The same build by path is still confined.
    err = await error(register_path(api, str(descriptor)), 400)
    assert "is not under an import root" in err["message"]
    # No staging copies are left behind.
    uploads = Path(api.coordinator.settings.state.dir) / "uploads"
    assert not [p for p in uploads.iterdir() if p.name.startswith(".import-")]


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())
