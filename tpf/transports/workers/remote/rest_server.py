"""The worker side of the REST protocol (spec §7.3): two signed routes in front of a handler.

``POST /pipeline/worker/transitions/execute`` takes a command envelope and answers its result
envelope; ``GET /pipeline/worker/capabilities`` answers the worker's capability JSON. Each is
signed with its METHOD and fixed PATH (the original serves only these paths; signing the
constants also keeps a request valid behind a prefix-stripping proxy or a mounted sub-app).

Status codes are the original's: 200 result / capability, 401 any signature refusal, 400 a
malformed envelope, 404 the server is disabled, 503 no shared secret or the worker cannot serve
(also when the signature check itself cannot finish: a shared nonce store that fails is not a
forged request); 413 past the body cap; 500 a handler bug (logged). Errors are JSON
``{"error": {"code", "message"}}`` like the coordinator's edge; a 401 names only the reason
code, never what was expected.

:class:`WorkerRestServer` adds the routes to an existing application (the worker process also
serves ``/q/health`` and ``/q/metrics``); :func:`make_worker_app` builds a standalone one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import orjson
from aiohttp import web

from tpf.transports.workers.remote.contracts import (
    REST_CAPABILITIES_PATH,
    REST_EXECUTE_PATH,
    MalformedRequest,
    WorkerHandler,
    WorkerNotReady,
)
from tpf.transports.workers.remote.signing import SignatureRejected, Verifier

LOG = logging.getLogger("tpf.worker.rest")

TIMESTAMP_HEADER = "X-TPF-Worker-Timestamp"
NONCE_HEADER = "X-TPF-Worker-Nonce"
SIGNATURE_HEADER = "X-TPF-Worker-Signature"
PROVIDER_NAME = "rest"
# The original's Quarkus body limit (10 MiB): a command carries one transition's input payload.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
JSON_TYPE = "application/json"


def _error(status: int, code: str, message: str) -> web.Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, body=body, content_type=JSON_TYPE)


class _TooLarge(Exception):
    pass


class WorkerRestServer:
    """The two routes over one handler. ``verifier`` is ``None`` when the worker has no shared
    secret: every request is then answered 503, as the original does."""

    def __init__(
        self,
        handler: WorkerHandler,
        verifier: Verifier | None,
        enabled: bool,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._handler = handler
        self._verifier = verifier
        self._enabled = enabled
        self._max_body_bytes = max_body_bytes

    @property
    def rejections(self) -> Counter[str]:
        """Refusals by reason (the verifier counts them), never echoed in detail."""
        return self._verifier.refusals if self._verifier is not None else Counter()

    def add_routes(self, app: web.Application) -> None:
        """Register both routes on ``app`` (before it starts)."""
        app.router.add_post(REST_EXECUTE_PATH, self.execute)
        app.router.add_get(REST_CAPABILITIES_PATH, self.capabilities, allow_head=False)

    async def execute(self, request: web.Request) -> web.StreamResponse:
        refused = await self._admit(request, "POST", REST_EXECUTE_PATH)
        if isinstance(refused, web.Response):
            return refused
        try:
            result = await self._handler.execute(refused)
        except MalformedRequest as exc:
            return _error(400, "MALFORMED_REQUEST", str(exc) or "malformed command envelope")
        except WorkerNotReady as exc:
            return _error(503, "WORKER_NOT_READY", str(exc) or "worker not ready")
        except asyncio.CancelledError:
            raise
        except Exception:
            # The handler turns a failing step into a FAILED result; reaching here is a bug.
            LOG.exception("worker handler failed on a REST execute")
            return _error(500, "INTERNAL", "worker handler failed")
        return web.Response(status=200, body=result, content_type=JSON_TYPE)

    async def capabilities(self, request: web.Request) -> web.StreamResponse:
        refused = await self._admit(request, "GET", REST_CAPABILITIES_PATH)
        if isinstance(refused, web.Response):
            return refused
        try:
            capability = await self._handler.capabilities(PROVIDER_NAME)
        except WorkerNotReady as exc:
            return _error(503, "WORKER_NOT_READY", str(exc) or "worker not ready")
        except asyncio.CancelledError:
            raise
        except Exception:
            LOG.exception("worker handler failed on a REST capabilities call")
            return _error(500, "INTERNAL", "worker handler failed")
        return web.Response(status=200, body=capability, content_type=JSON_TYPE)

    async def _admit(self, request: web.Request, method: str, path: str) -> bytes | web.Response:
        """The request's body if it may reach the handler, else the response refusing it."""
        if not self._enabled:
            return _error(404, "NOT_FOUND", "REST worker server is disabled")
        if self._verifier is None:
            return _error(503, "SECRET_UNAVAILABLE", "worker shared secret is not configured")
        try:
            body = await self._read_body(request)
        except _TooLarge:
            return _error(413, "PAYLOAD_TOO_LARGE", f"body over {self._max_body_bytes} bytes")
        headers = request.headers
        try:
            await self._verifier.verify(
                method,
                path,
                body,
                headers.get(TIMESTAMP_HEADER),
                headers.get(NONCE_HEADER),
                headers.get(SIGNATURE_HEADER),
            )
        except SignatureRejected as exc:
            LOG.warning("refused a signed REST worker request: %s", exc.reason)
            return _error(401, "UNAUTHORIZED", f"signature refused: {exc.reason}")
        except asyncio.CancelledError:
            raise
        except Exception:
            # The check itself could not finish (the shared nonce store failed): the request
            # is neither authenticated nor forged, so not a 401; it fails closed, retryably.
            LOG.exception("could not check a REST worker request's signature")
            return _error(
                503, "SIGNATURE_CHECK_UNAVAILABLE", "the worker cannot check signatures right now"
            )
        return body

    async def _read_body(self, request: web.Request) -> bytes:
        # Our own cap, not the app's client_max_size (request.read() is not used): the routes
        # may sit in an app whose limit suits its other routes. A declared length past the cap
        # is refused before reading anything.
        cap = self._max_body_bytes
        if request.content_length is not None and request.content_length > cap:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > cap:  # chunked bodies declare no length
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)


WORKER_REST_SERVER = web.AppKey("worker_rest_server", WorkerRestServer)


def make_worker_app(
    handler: WorkerHandler,
    verifier: Verifier | None,
    enabled: bool,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> web.Application:
    """A standalone application serving the two worker routes; its server (for the refusal
    counts) is ``app[WORKER_REST_SERVER]``."""
    app = web.Application()
    server = WorkerRestServer(handler, verifier, enabled, max_body_bytes=max_body_bytes)
    server.add_routes(app)
    app[WORKER_REST_SERVER] = server
    return app
