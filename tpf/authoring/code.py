"""The code a release pins: a pipeline's own source files, found by a static import scan.

A release is only worth pinning if it names the code that runs, so the release artifact carries
the source of the module that defines the pipeline (where ``Pipeline(...)`` was called), of the
modules that define its step functions, and of every module of the same top-level package those
import, transitively, together with the ``__init__.py`` of each enclosing package (Python runs
them on import). :func:`pipeline_code` collects those files and hashes them, with the pipeline's
contract version, into a code digest; it is the default ``releaseVersion`` of
``tpf release build`` and of a pipeline hosted in-process, so a freshly built release and the
code a coordinator hosts carry the same version, and changing a step's body changes it.

The imports are found by parsing the source with :mod:`ast` (every ``import``/``from`` statement,
including ones inside functions and ``if TYPE_CHECKING`` blocks), not by looking at
``sys.modules``: what a process has imported depends on what else it ran (the build command
and a serving coordinator import different things), while the source says the same in both.
Module files are located without importing anything (``sys.modules`` specs for modules already
loaded, else the path finder over the parent package's ``__path__``). Code reached only through
``importlib.import_module`` with a computed name, or in another top-level package (libraries,
``tpf`` itself), is not covered; nor is a file edited after the process loaded it (the digest
is taken from the files when a pipeline is built or hosted). Files are named in the archive by
their module path (``pkg/sub/mod.py``, at the archive root, so the artifact can be put on
``sys.path`` as it is), never by where they lie on disk, so the same code built in two
directories gives the same bytes. ``META-INF/tpf/code-manifest.json`` lists each file's digest;
registration re-checks it (:func:`artifact_code_digest`) and admission refuses code hosted under
a release whose recorded code digest is another's (:func:`hosted_code_mismatch`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import sys
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tpf.core.codec import canonical_digest
from tpf.core.errors import ValidationError

if TYPE_CHECKING:
    from tpf.authoring.pipeline import Pipeline
    from tpf.core.records import ReleaseRecord

CODE_MANIFEST_ENTRY = "META-INF/tpf/code-manifest.json"
CODE_MANIFEST_SCHEMA = 1
# What reading a damaged or hostile archive's entries raises besides BadZipFile: a bad deflate
# stream, an unsupported method or an encrypted entry, a truncated file.
ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    ValueError,
)
_CHUNK = 1 << 20
# Defaults of the caps below (tpf.http.max-body-bytes and tpf.http.max-upload-bytes).
_MAX_ENTRY_BYTES = 1_048_576
_MAX_TOTAL_BYTES = 268_435_456


@dataclass(frozen=True)
class _Module:
    """One module file: its import name, file, and whether it is a package's ``__init__``."""

    name: str
    origin: Path
    is_package: bool

    @property
    def archive_path(self) -> str:
        parts = self.name.split(".") if self.is_package else self.name.split(".")[:-1]
        return "/".join([*parts, self.origin.name])


@dataclass(frozen=True)
class PipelineCode:
    """The source files a pipeline's release carries, and their digest."""

    pipeline_id: str
    contract_version: str
    files: Mapping[str, bytes]  # archive path (``pkg/mod.py``) -> file content

    @functools.cached_property
    def file_digests(self) -> dict[str, str]:
        return {path: _sha256(data) for path, data in sorted(self.files.items())}

    @functools.cached_property
    def digest(self) -> str:
        """``sha256:<hex>`` of the pipeline id, contract version and every file's digest."""
        return canonical_digest(self._document())

    def manifest(self) -> dict[str, Any]:
        """The ``code-manifest.json`` written into the artifact: what the digest covers."""
        return {**self._document(), "codeDigest": self.digest}

    def _document(self) -> dict[str, Any]:
        return {
            "schemaVersion": CODE_MANIFEST_SCHEMA,
            "pipelineId": self.pipeline_id,
            "contractVersion": self.contract_version,
            "files": self.file_digests,
        }


def pipeline_code(pipeline: Pipeline) -> PipelineCode:
    """Collect ``pipeline``'s source files (see the module docstring for which ones)."""
    roots = [name for name in _root_module_names(pipeline) if name]
    found: dict[str, _Module] = {}
    pending = [module for name in roots if (module := _locate(name)) is not None]
    tops = {_top(m.name) for m in pending}
    while pending:
        module = pending.pop()
        if module.name in found:
            continue
        found[module.name] = module
        for name in (*_ancestors(module.name), *_imports_of(module)):
            if _top(name) in tops and name not in found:
                located = _locate(name)
                if located is not None:
                    pending.append(located)
    files: dict[str, bytes] = {}
    for module in found.values():
        files.setdefault(module.archive_path, _read(module.origin)[0])
    return PipelineCode(pipeline.pipeline_id, pipeline.contract().contract_version, files)


def pipeline_ref(pipeline: Pipeline) -> str | None:
    """``MODULE:ATTR`` of ``pipeline`` as a global of the module that defines it, if it is one.

    Derived from the code rather than taken from the command line, so a build invoked with a
    re-exporting package (``demos.restaurant_approval:pipeline``) and one from the Python API
    write the same reference, and the same artifact bytes.
    """
    module = sys.modules.get(pipeline.module_name or "")
    if module is None:
        return None
    spec = getattr(module, "__spec__", None)
    name = spec.name if spec is not None else module.__name__
    if name == "__main__":
        return None  # a script: nothing another process could import it as
    names = sorted(attr for attr, value in vars(module).items() if value is pipeline)
    return f"{name}:{names[0]}" if names else None


def artifact_code_digest(
    path: Path,
    *,
    max_entry_bytes: int = _MAX_ENTRY_BYTES,
    max_total_bytes: int = _MAX_TOTAL_BYTES,
) -> str | None:
    """The code digest an artifact's code manifest states, once it checks out.

    ``None`` when the artifact is no ZIP or carries no manifest (the original's JARs); a
    manifest whose file digests or code digest do not match the archive raises
    :class:`~tpf.errors.ValidationError`, so a registered code digest is the code's. A small
    archive can unpack to gigabytes, so the manifest may be at most ``max_entry_bytes`` and
    the files it lists ``max_total_bytes`` unpacked (by their sizes in the archive, which
    reading enforces); the files are hashed as they are unpacked, never held whole.
    """
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_ERRORS:
        return None
    with archive:
        if CODE_MANIFEST_ENTRY not in archive.namelist():
            return None
        raw = zip_entry(archive, CODE_MANIFEST_ENTRY, max_entry_bytes, CODE_MANIFEST_ENTRY)
        try:
            manifest = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"{CODE_MANIFEST_ENTRY} is not valid JSON: {exc}") from None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict):
            raise ValidationError(f"{CODE_MANIFEST_ENTRY} has no files object")
        total = 0
        for name, digest in sorted(files.items()):
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise ValidationError(
                    f"{CODE_MANIFEST_ENTRY} lists {name}, which is missing"
                ) from None
            total += info.file_size
            if total > max_total_bytes:
                raise ValidationError(
                    f"{CODE_MANIFEST_ENTRY}: the files it lists unpack to more than "
                    f"{max_total_bytes} bytes (tpf.http.max-upload-bytes)"
                )
            if _sha256_entry(archive, info) != digest:
                raise ValidationError(f"{CODE_MANIFEST_ENTRY}: {name} does not match its digest")
    stated = manifest.get("codeDigest")
    actual = canonical_digest({k: v for k, v in manifest.items() if k != "codeDigest"})
    if stated != actual:
        raise ValidationError(f"{CODE_MANIFEST_ENTRY}: codeDigest {stated!r} is not its digest")
    return actual


def zip_entry(archive: zipfile.ZipFile, name: str, limit: int, label: str) -> bytes:
    """Entry ``name`` of ``archive`` if it unpacks to at most ``limit`` bytes; else a 400."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ValidationError(
            f"{label}: {name} unpacks to more than {limit} bytes (tpf.http.max-body-bytes)"
        )
    try:
        return archive.read(info)  # stops at file_size, which was checked
    except ZIP_ERRORS as exc:
        problem = type(exc).__name__
        raise ValidationError(f"{label}: {name} cannot be unpacked ({problem})") from None


def _sha256_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    try:
        with archive.open(info) as entry:
            while chunk := entry.read(_CHUNK):
                digest.update(chunk)
    except ZIP_ERRORS as exc:
        raise ValidationError(
            f"{CODE_MANIFEST_ENTRY}: {info.filename} cannot be unpacked ({type(exc).__name__})"
        ) from None
    return "sha256:" + digest.hexdigest()


def release_code_digest(record: ReleaseRecord) -> str | None:
    """The ``codeDigest`` the release descriptor states for its primary artifact, if any."""
    for artifact in record.descriptor.get("artifacts", ()):
        if isinstance(artifact, dict) and artifact.get("artifactId") == record.primary_artifact_id:
            digest = artifact.get("codeDigest")
            return digest if isinstance(digest, str) else None
    return None


def hosted_code_mismatch(record: ReleaseRecord, code_digest: str | None) -> str | None:
    """Why code with ``code_digest`` must not run release ``record``; ``None`` if it may.

    Only a release that states its code digest can be checked (the original's descriptors do
    not); hosting code under an explicit release version is otherwise the operator's word.
    """
    built_from = release_code_digest(record)
    if built_from is None or code_digest is None or built_from == code_digest:
        return None
    return (
        f"release {record.release_version} of pipeline {record.pipeline_id} was built from code "
        f"{built_from}, but the code this coordinator hosts under that release is {code_digest}; "
        "host the code the release was built from (tpf serve --pipeline MODULE:ATTR@VERSION)"
    )


def _root_module_names(pipeline: Pipeline) -> Iterator[str]:
    if pipeline.module_name:
        yield pipeline.module_name
    for step in pipeline.steps:
        if step.fn is not None:
            yield getattr(step.fn, "__module__", "") or ""


def _top(name: str) -> str:
    return name.partition(".")[0]


def _ancestors(name: str) -> Iterator[str]:
    parts = name.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ finding module files


def _locate(name: str) -> _Module | None:
    """The file of module ``name``, without importing it; ``None`` if it has none."""
    module = sys.modules.get(name)
    if module is not None:
        spec = getattr(module, "__spec__", None)
        if spec is None:  # a script run as ``__main__``: only its file is known
            file = getattr(module, "__file__", None)
            if not file:
                return None
            return _Module(name, Path(file).resolve(), hasattr(module, "__path__"))
        if name == "__main__":  # ``python -m pkg.mod``: name it as the module it is
            name = spec.name
    else:
        spec = _find_spec(name)
    if spec is None or not spec.has_location or not spec.origin:
        return None  # built-in, frozen or a namespace package: no file of its own
    origin = Path(spec.origin)
    if not origin.is_file():
        return None
    return _Module(name, origin.resolve(), spec.submodule_search_locations is not None)


def _find_spec(name: str) -> ModuleSpec | None:
    parent, _, _ = name.rpartition(".")
    search: list[str] | None = None
    if parent:
        parent_module = sys.modules.get(parent)
        parent_spec = (
            getattr(parent_module, "__spec__", None) if parent_module else _find_spec(parent)
        )
        locations = parent_spec.submodule_search_locations if parent_spec else None
        if locations is None:
            return None  # the parent is not a package, so ``name`` is an attribute of it
        search = list(locations)
    try:
        return PathFinder.find_spec(name, search)
    except (ImportError, ValueError):
        return None


# ------------------------------------------------------------------ reading and scanning


# An import statement reduced to what resolving it needs: (level, module, names); a plain
# ``import a.b`` is (0, "a.b", ()).
_Import = tuple[int, str, tuple[str, ...]]


def _imports_of(module: _Module) -> Iterator[str]:
    """Absolute names of what ``module`` imports (candidates: some may be attributes)."""
    if module.origin.suffix != ".py":
        return  # an extension or bytecode-only module: its file is covered, not scanned
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for level, target, names in _read(module.origin)[1]:
        if level:
            # Relative imports resolve against the importing module's name, which the file
            # alone does not know (it may be loaded under any name).
            parts = package.split(".") if package else []
            if level - 1 >= len(parts):
                continue  # beyond the top-level package: not importable
            target = ".".join([*parts[: len(parts) - (level - 1)], *filter(None, [target])])
        if not target:
            continue
        yield target
        # ``from pkg import sub`` may name a submodule; _locate drops names that are not.
        yield from (f"{target}.{name}" for name in names if name != "*")


def _read(path: Path) -> tuple[bytes, tuple[_Import, ...]]:
    """A file's bytes and (for ``.py``) its import statements, cached while it is unchanged."""
    st = os.stat(path)
    return _read_cached(path, st.st_ino, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=1024)
def _read_cached(
    path: Path, ino: int, mtime_ns: int, size: int
) -> tuple[bytes, tuple[_Import, ...]]:
    data = path.read_bytes()
    if path.suffix != ".py":
        return data, ()
    try:
        tree = ast.parse(data, filename=str(path))
    except (SyntaxError, ValueError):
        return data, ()  # loaded code parses; if this does not, the file is still covered
    imports: list[_Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.extend((0, alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            imports.append((node.level, node.module or "", names))
    return data, tuple(imports)
