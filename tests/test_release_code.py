"""Releases version code: the artifact carries the pipeline's source, and its digest and the
default release version change when a step's body does, and only then.

The modules are real files in temporary directories. Where two builds are compared they load
the same module name from two directories: the module path is part of the code (a file's name
in the artifact), so only a same-named module isolates what its body does to the digest.
"""

from __future__ import annotations

import hashlib
import os
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.code_modules import ModuleLoader, module_loader, write_orders
from tests.test_cli import run
from tpf.authoring.build import CONTRACT_ENTRY, PIPELINE_REF_ENTRY
from tpf.authoring.code import CODE_MANIFEST_ENTRY, pipeline_code
from tpf.cli.release import hosted_pipelines
from tpf.core.clock import FakeClock
from tpf.core.errors import Conflict, ValidationError
from tpf.engine.releases import ReleaseRegistrar, build_release
from tpf.stores.artifacts import LocalArtifactStore
from tpf.stores.releases.file import FileReleaseStore
from tpf.transports.workers.local import LocalTransitionWorker


@pytest.fixture
def modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleLoader]:
    yield from module_loader(monkeypatch)


def built(descriptor: Path) -> tuple[dict[str, Any], bytes]:
    """The descriptor and the artifact bytes of a build."""
    data: dict[str, Any] = orjson.loads(descriptor.read_bytes())
    return data, (descriptor.parent / data["artifacts"][0]["uri"]).read_bytes()


def test_a_changed_step_body_changes_the_digest_and_the_release_version(
    tmp_path: Path, modules: ModuleLoader
) -> None:
    write_orders(tmp_path / "one", "shop_orders", marker="v1")
    write_orders(tmp_path / "two", "shop_orders", marker="v2")  # only the step body differs
    write_orders(tmp_path / "three", "shop_orders", marker="v1")  # v1 again, elsewhere
    os.utime(tmp_path / "three" / "shop_orders.py", (1, 1))  # and with another mtime

    results = []
    for name in ("one", "two", "three"):
        pipeline = modules.pipeline(tmp_path / name, "shop_orders")
        descriptor, artifact = built(build_release(pipeline, tmp_path / "out" / name))
        hosted = LocalTransitionWorker(pipeline, FakeClock())
        results.append((pipeline.contract().contract_version, descriptor, artifact, hosted))
    (c1, d1, a1, w1), (c2, d2, _, w2), (c3, d3, a3, w3) = results

    assert c1 == c2 == c3  # the same interface: the contract alone cannot tell them apart
    assert d1["releaseVersion"] != d2["releaseVersion"]
    assert d1["artifacts"][0]["digest"] != d2["artifacts"][0]["digest"]
    # The same code built in another directory, with another mtime: the same bytes.
    assert a1 == a3 and d1 == d3
    # A coordinator hosting the code serves the version a fresh build of it gets.
    for descriptor, worker in ((d1, w1), (d2, w2), (d3, w3)):
        assert worker.identity == (
            descriptor["pipelineId"],
            descriptor["contractVersion"],
            descriptor["releaseVersion"],
        )
        assert worker.code_digest == descriptor["artifacts"][0]["codeDigest"]


def test_the_artifact_holds_the_package_modules_the_pipeline_imports(
    tmp_path: Path, modules: ModuleLoader
) -> None:
    package = tmp_path / "src" / "shop"
    (package / "rules").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "rules" / "__init__.py").write_text("")
    (package / "rules" / "pricing.py").write_text(
        "def total(value: str) -> str:\n    return value\n"
    )
    (package / "helpers.py").write_text("from .rules import pricing\n")
    (package / "unused.py").write_text("X = 1\n")  # never imported: not part of the release
    (package / "flow.py").write_text(
        textwrap.dedent(
            """
            import json

            from tpf.authoring.pipeline import Pipeline

            from . import helpers

            pipeline = Pipeline("test.shop")


            @pipeline.step("Total")
            def total(value: str) -> str:
                from shop.rules.pricing import total as price  # a lazy import counts too

                return price(helpers.pricing.total(json.dumps(value)))
            """
        )
    )
    pipeline = modules.pipeline(tmp_path / "src", "shop.flow")
    assert pipeline.module_name == "shop.flow"
    first = pipeline_code(pipeline)
    # Its own package only: not json (stdlib) nor tpf.pipeline (another top-level package).
    assert sorted(first.files) == [
        "shop/__init__.py",
        "shop/flow.py",
        "shop/helpers.py",
        "shop/rules/__init__.py",
        "shop/rules/pricing.py",
    ]
    descriptor, _ = built(build_release(pipeline, tmp_path / "out"))
    with zipfile.ZipFile(tmp_path / "out" / descriptor["artifacts"][0]["uri"]) as archive:
        names = set(archive.namelist())
        assert names == {*first.files, CONTRACT_ENTRY, CODE_MANIFEST_ENTRY, PIPELINE_REF_ENTRY}
        assert archive.read(PIPELINE_REF_ENTRY) == b"shop.flow:pipeline\n"
        assert archive.read("shop/rules/pricing.py") == first.files["shop/rules/pricing.py"]
    assert descriptor["releaseVersion"] == first.digest

    # A change two imports away, in a module the step only imports lazily, is a new version.
    (package / "rules" / "pricing.py").write_text(
        "def total(value: str) -> str:\n    return value + '!'\n"
    )
    changed = pipeline_code(modules.pipeline(tmp_path / "src", "shop.flow"))
    assert changed.digest != first.digest
    # A module the pipeline never imports is not its code.
    (package / "unused.py").write_text("X = 2\n")
    assert pipeline_code(modules.pipeline(tmp_path / "src", "shop.flow")).digest == changed.digest


async def test_the_same_code_built_in_two_directories_registers_once(
    tmp_path: Path, modules: ModuleLoader
) -> None:
    write_orders(tmp_path / "code", "shop_orders", marker="v1")
    pipeline = modules.pipeline(tmp_path / "code", "shop_orders")
    store = await FileReleaseStore.open(str(tmp_path / "state"))
    registrar = ReleaseRegistrar(store, LocalArtifactStore(str(tmp_path / "state")), FakeClock())
    first = await registrar.register(
        "t1",
        pipeline.pipeline_id,
        str(build_release(pipeline, tmp_path / "build-a", module_ref="shop_orders:pipeline")),
    )
    # `make demo` then `make demo-inprocess`: another build directory and another way to build
    # (tpf release build --pipeline REF, build_release(pipeline, DIR)), the same content.
    second = await registrar.register(
        "t1", pipeline.pipeline_id, str(build_release(pipeline, tmp_path / "elsewhere" / "b"))
    )
    assert second == first
    assert str(tmp_path) not in orjson.dumps(first.descriptor).decode()  # no build path recorded


async def test_a_conflicting_registration_names_the_fields_that_differ(
    tmp_path: Path, modules: ModuleLoader
) -> None:
    write_orders(tmp_path / "one", "shop_orders", marker="v1")
    write_orders(tmp_path / "two", "shop_orders", marker="v2")
    registrar = ReleaseRegistrar(
        await FileReleaseStore.open(str(tmp_path / "state")),
        LocalArtifactStore(str(tmp_path / "state")),
        FakeClock(),
    )
    v1 = modules.pipeline(tmp_path / "one", "shop_orders")
    await registrar.register(
        "t1", v1.pipeline_id, str(build_release(v1, tmp_path / "a", release_version="r1"))
    )
    v2 = modules.pipeline(tmp_path / "two", "shop_orders")
    with pytest.raises(Conflict) as raised:  # other code under a version already taken
        await registrar.register(
            "t1", v2.pipeline_id, str(build_release(v2, tmp_path / "b", release_version="r1"))
        )
    message = raised.value.message
    assert message.startswith("Release version is already registered with different metadata")
    for field in (
        "releaseVersion r1",
        "primaryArtifactDigest",
        "descriptor.artifacts[0].digest",
        "descriptor.artifacts[0].codeDigest",
    ):
        assert field in message, message
    assert "contractVersion" not in message  # the same contract: not what differs


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("descriptor", r"artifacts\[0\]\.codeDigest sha256:0+ does not match the artifact's code"),
        ("source", r"artifacts\[0\] code manifest is invalid: .*shop_orders\.py does not match"),
        ("manifest", r"artifacts\[0\] code manifest is invalid: .*codeDigest .* is not its digest"),
    ],
)
async def test_registration_checks_the_code_the_artifact_claims(
    tmp_path: Path, modules: ModuleLoader, tamper: str, message: str
) -> None:
    write_orders(tmp_path / "code", "shop_orders", marker="v1")
    pipeline = modules.pipeline(tmp_path / "code", "shop_orders")
    path = build_release(pipeline, tmp_path / "build")
    descriptor, _ = built(path)
    artifact_path = path.parent / descriptor["artifacts"][0]["uri"]
    with zipfile.ZipFile(artifact_path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    if tamper == "descriptor":
        descriptor["artifacts"][0]["codeDigest"] = "sha256:" + "0" * 64
    elif tamper == "source":
        entries["shop_orders.py"] += b"\n# changed after the build\n"
    else:
        manifest = orjson.loads(entries[CODE_MANIFEST_ENTRY])
        manifest["files"] = {}
        entries[CODE_MANIFEST_ENTRY] = orjson.dumps(manifest)
    if tamper != "descriptor":
        artifact_path.unlink()
        with zipfile.ZipFile(artifact_path, "w") as archive:
            for name, data in entries.items():
                archive.writestr(name, data)
        digest = hashlib.sha256(artifact_path.read_bytes()).hexdigest()
        descriptor["artifacts"][0]["digest"] = "sha256:" + digest
    path.write_bytes(orjson.dumps(descriptor))
    registrar = ReleaseRegistrar(
        await FileReleaseStore.open(str(tmp_path / "state")),
        LocalArtifactStore(str(tmp_path / "state")),
        FakeClock(),
    )
    with pytest.raises(ValidationError, match=message):
        await registrar.register("t1", pipeline.pipeline_id, str(path))


# --------------------------------------------------------------------------- tpf serve --pipeline


def test_serve_hosts_each_pipeline_as_its_release(
    tmp_path: Path, modules: ModuleLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_orders(tmp_path, "orders_a", marker="v1")
    write_orders(tmp_path, "orders_b", marker="v2")
    monkeypatch.syspath_prepend(str(tmp_path))
    [(a, a_version), (b, b_version)] = hosted_pipelines(
        ["orders_a:pipeline", "orders_b:pipeline@sha256:my:release"], None
    )
    assert (a.module_name, a_version) == ("orders_a", None)  # None: the code digest
    assert (b.module_name, b_version) == ("orders_b", "sha256:my:release")
    [(_, version)] = hosted_pipelines(["orders_a:pipeline"], "r7")
    assert version == "r7"

    with pytest.raises(SystemExit, match="--release-version applies to exactly one --pipeline"):
        hosted_pipelines(["orders_a:pipeline", "orders_b:pipeline"], "r7")
    with pytest.raises(SystemExit, match="would both host"):
        hosted_pipelines(["orders_a:pipeline", "orders_a:pipeline"], None)
    with pytest.raises(SystemExit, match="would both host"):
        hosted_pipelines(["orders_a:pipeline@r1", "orders_b:pipeline@r1"], None)
    with pytest.raises(SystemExit, match="nothing after '@'"):
        hosted_pipelines(["orders_a:pipeline@"], None)
    with pytest.raises(SystemExit, match="differ"):
        hosted_pipelines(["orders_a:pipeline@r1"], "r2")


def test_release_build_takes_the_version_as_serve_does(tmp_path: Path) -> None:
    ref = "demos.restaurant_approval:pipeline"
    done = run("release", "build", "--pipeline", f"{ref}@v9", "--output", str(tmp_path))
    assert done.returncode == 0, done.stderr
    descriptor, _ = built(Path(done.stdout.strip()))
    assert descriptor["releaseVersion"] == "v9"
    with zipfile.ZipFile(tmp_path / descriptor["artifacts"][0]["uri"]) as archive:
        defined_at = "demos.restaurant_approval.pipeline:pipeline"
        assert archive.read(PIPELINE_REF_ENTRY).decode().strip() == defined_at
    clash = run(
        "release", "build", "--pipeline", f"{ref}@v9", "--release-version", "v8",
        "--output", str(tmp_path),
    )  # fmt: skip
    assert clash.returncode != 0 and "differ" in clash.stderr
