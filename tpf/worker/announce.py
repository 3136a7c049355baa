"""A worker process's lifecycle records, written through the coordinator's admin API.

Admission accepts a submission only while a ``HEALTHY`` worker lifecycle record of the active
release exists (spec §6.3), and a record goes ``STALE`` without heartbeats. The original leaves
registering and heartbeating to an operator's script; a ``tpf worker`` does it itself, for every
tenant it is given, with the admin routes of spec §2.4:

- ``POST /tpf/admin/tenants/{t}/pipelines/{p}/workers/register`` with its protocol, endpoint
  (where a coordinator reaches it), identity and artifact id/digest;
- ``POST .../workers/{workerId}/heartbeat`` every quarter of ``worker.lifecycle.stale-after``;
- ``POST .../workers/{workerId}/drain`` when it stops (SIGTERM).

The schedule (register what is new, heartbeat what is due, re-register a record that went
missing, drain them all on stop) is the coordinator's own for the code it hosts:
:class:`~tpf.supervisors.hosted_workers.HostedWorkers`, driven here by :class:`AdminApiCommands`
instead of the registry actor. Calls carry the admin token as a bearer token; a 404 is
:class:`~tpf.core.errors.NotFound` (the record is gone: register again), anything else not 2xx a
:class:`~tpf.core.errors.TpfError` with the coordinator's message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
import orjson

from tpf.core.errors import NotFound, TpfError
from tpf.core.records import WorkerRecord
from tpf.transports.workers.local import LocalTransitionWorker

__all__ = ["AdminApiCommands", "Registration"]

LOG = logging.getLogger("tpf.worker.announce")
DEFAULT_TIMEOUT_S = 10.0
_decode_record = msgspec.json.Decoder(WorkerRecord).decode


@dataclass(frozen=True)
class Registration:
    """What this worker registers besides its identity."""

    protocol: str
    endpoint: str
    artifact_id: str = ""
    artifact_digest: str = ""


def _segment(value: str) -> str:
    return quote(value, safe="")  # worker ids hold ':' and '@' (host:port@release)


class AdminApiCommands:
    """The :class:`~tpf.supervisors.hosted_workers.WorkerCommands` of a worker process, over
    the coordinator's admin API. ``on_registered`` is told of every record registered."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        registration: Registration,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_registered: Callable[[WorkerRecord], None] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._registration = registration
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._on_registered = on_registered
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def register_local_worker(
        self, tenant_id: str, worker: LocalTransitionWorker, worker_id: str
    ) -> WorkerRecord:
        pipeline_id, contract_version, release_version = worker.identity
        r = self._registration
        record = await self._post(
            tenant_id,
            pipeline_id,
            "register",
            {
                "workerId": worker_id,
                "contractVersion": contract_version,
                "releaseVersion": release_version,
                "protocol": r.protocol,
                "endpoint": r.endpoint,
                "artifactId": r.artifact_id,
                "artifactDigest": r.artifact_digest,
            },
        )
        if self._on_registered is not None:
            self._on_registered(record)
        return record

    async def heartbeat_worker(
        self, tenant_id: str, pipeline_id: str, worker_id: str
    ) -> WorkerRecord:
        return await self._post(tenant_id, pipeline_id, f"{_segment(worker_id)}/heartbeat")

    async def drain_worker(self, tenant_id: str, pipeline_id: str, worker_id: str) -> WorkerRecord:
        return await self._post(tenant_id, pipeline_id, f"{_segment(worker_id)}/drain")

    async def _post(
        self, tenant_id: str, pipeline_id: str, action: str, body: dict[str, Any] | None = None
    ) -> WorkerRecord:
        url = (
            f"{self._base}/tpf/admin/tenants/{_segment(tenant_id)}"
            f"/pipelines/{_segment(pipeline_id)}/workers/{action}"
        )
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        data = b"" if body is None else orjson.dumps(body)
        headers = {**self._headers, "Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=data, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TpfError(
                f"coordinator admin API unreachable at {self._base}: {exc or type(exc).__name__}"
            ) from None
        if status == 404:
            raise NotFound(_message(raw, status))
        if not 200 <= status < 300:
            raise TpfError(f"coordinator admin API answered {status}: {_message(raw, status)}")
        try:
            return _decode_record(raw)
        except msgspec.DecodeError as exc:
            raise TpfError(f"coordinator admin API answered no worker record: {exc}") from None


def _message(raw: bytes, status: int) -> str:
    try:
        error = orjson.loads(raw)["error"]
        return f"{error['code']}: {error['message']}"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw[:200].decode(errors="replace") or f"HTTP {status}"
