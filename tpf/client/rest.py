"""A small synchronous client of the REST API (stdlib only), for the ``tpf`` operator commands,
the demos and scripts.

One method per route; each returns the decoded JSON answer or raises :class:`ApiError` carrying
the HTTP status and the error body's ``code`` and ``message``.
"""

from __future__ import annotations

import json
import mimetypes
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

CONTROL = "/tpf/control-plane/tenants/{tenant}"
ADMIN = "/tpf/admin/tenants/{tenant}"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _quote(segment: str) -> str:
    # Release versions contain ':' which is legal in a path segment; '/' is not.
    return urllib.parse.quote(segment, safe=":@")


class RestClient:
    def __init__(
        self,
        base_url: str,
        tenant: str,
        *,
        control_plane_token: str | None = None,
        admin_token: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tenant = tenant
        self._tokens = {"control": control_plane_token, "admin": admin_token}
        self._timeout_s = timeout_s

    # ------------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        *,
        surface: str = "control",
        body: Any = None,
        query: dict[str, Any] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        url = self.base_url + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        token = self._tokens.get(surface)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            try:
                error = json.loads(text)["error"]
                raise ApiError(exc.code, error.get("code", ""), error.get("message", "")) from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(exc.code, "HTTP_ERROR", text or exc.reason) from None
        except urllib.error.URLError as exc:
            raise ApiError(0, "UNREACHABLE", f"{self.base_url}: {exc.reason}") from None
        return json.loads(payload) if payload else None

    def _control(self, suffix: str) -> str:
        return CONTROL.format(tenant=_quote(self.tenant)) + suffix

    def _admin(self, suffix: str) -> str:
        return ADMIN.format(tenant=_quote(self.tenant)) + suffix

    # ------------------------------------------------------------------ control plane

    def submit(
        self,
        pipeline_id: str,
        input_payload: Any,
        *,
        idempotency_key: str | None = None,
        input_shape: str = "UNI",
    ) -> Any:
        body = {"pipelineId": pipeline_id, "inputShape": input_shape, "inputPayload": input_payload}
        if idempotency_key:
            body["idempotencyKey"] = idempotency_key
        return self.request("POST", self._control("/executions"), body=body)

    def status(self, execution_id: str, *, wait_ms: int | None = None) -> Any:
        path = self._control(f"/executions/{_quote(execution_id)}")
        return self.request("GET", path, query={"waitMs": wait_ms})

    def result(self, execution_id: str, *, wait_ms: int | None = None) -> Any:
        path = self._control(f"/executions/{_quote(execution_id)}/result")
        return self.request("GET", path, query={"waitMs": wait_ms})

    def pending(
        self,
        *,
        assignee: str | None = None,
        group: str | None = None,
        step_id: str | None = None,
        limit: int | None = None,
    ) -> Any:
        query = {"assignee": assignee, "group": group, "stepId": step_id, "limit": limit}
        return self.request("GET", self._control("/interactions/pending"), query=query)

    def complete(
        self,
        response_payload: Any,
        *,
        interaction_id: str | None = None,
        correlation_id: str | None = None,
        resume_token: str | None = None,
        actor: str | None = None,
    ) -> Any:
        body = {
            "interactionId": interaction_id,
            "correlationId": correlation_id,
            "resumeToken": resume_token,
            "responsePayload": response_payload,
            "actor": actor,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return self.request("POST", self._control("/interactions/complete"), body=body)

    # ------------------------------------------------------------------ operator's view

    def search(self, **filters: Any) -> Any:
        """One page of ``GET /executions``: ``filters`` are its query parameters (camelCase:
        pipelineId, status, releaseVersion, stepId, errorCode, updatedAfter, updatedBefore,
        limit, cursor)."""
        return self.request("GET", self._control("/executions"), query=filters)

    def history(self, execution_id: str) -> Any:
        path = self._control(f"/executions/{_quote(execution_id)}/history")
        return self.request("GET", path)

    def interaction(self, interaction_id: str) -> Any:
        return self.request("GET", self._control(f"/interactions/{_quote(interaction_id)}"))

    def cancel(self, execution_id: str, *, reason: str, expected_version: int | None = None) -> Any:
        body: dict[str, Any] = {"reason": reason}
        if expected_version is not None:
            body["expectedVersion"] = expected_version
        path = self._admin(f"/executions/{_quote(execution_id)}/cancel")
        return self.request("POST", path, surface="admin", body=body)

    def redrive_matching(self, **body: Any) -> Any:
        """``POST /executions/redrive`` by filter: status, pipelineId, errorCode, updatedBefore,
        limit, dryRun, reason (``None`` values are left out)."""
        sent = {k: v for k, v in body.items() if v is not None}
        return self.request("POST", self._admin("/executions/redrive"), surface="admin", body=sent)

    def pipelines(self) -> Any:
        return self.request("GET", self._admin("/pipelines"), surface="admin")

    # ------------------------------------------------------------------ admin

    def redrive(
        self,
        execution_id: str,
        *,
        expected_version: int | None = None,
        reason: str | None = None,
        allow_failed: bool = False,
        reopen_await: bool = False,
    ) -> Any:
        body: dict[str, Any] = {
            "expectedVersion": expected_version,
            "reason": reason,
            "allowFailed": allow_failed,
        }
        if reopen_await:  # sent only when asked, so a plain re-drive is the original's body
            body["reopenAwait"] = True
        path = self._admin(f"/executions/{_quote(execution_id)}/redrive")
        return self.request("POST", path, surface="admin", body=body)

    def _releases(self, pipeline_id: str, suffix: str = "") -> str:
        return self._admin(f"/pipelines/{_quote(pipeline_id)}/releases{suffix}")

    def register_release(self, pipeline_id: str, descriptor_path: str) -> Any:
        body = {"releaseDescriptorPath": descriptor_path}
        path = self._releases(pipeline_id, "/register")
        return self.request("POST", path, surface="admin", body=body)

    def upload_release(self, pipeline_id: str, descriptor_path: str) -> Any:
        """Register by sending the descriptor and its local artifacts in the request."""
        descriptor_file = Path(descriptor_path)
        descriptor = json.loads(descriptor_file.read_text())
        boundary = f"tpf-{uuid.uuid4().hex}"
        parts = [("descriptor", "pipeline-release.json", descriptor_file.read_bytes())]
        for artifact in descriptor.get("artifacts", []):
            uri = str(artifact.get("uri", "")).removeprefix("file://")
            local = Path(uri) if Path(uri).is_absolute() else descriptor_file.parent / uri
            if local.is_file():
                parts.append((artifact["artifactId"], local.name, local.read_bytes()))
        body = b""
        for name, filename, content in parts:
            kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            body += (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                    f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
                ).encode()
                + content
                + b"\r\n"
            )
        body += f"--{boundary}--\r\n".encode()
        return self.request(
            "POST",
            self._releases(pipeline_id, "/register"),
            surface="admin",
            raw=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    def activate_release(self, pipeline_id: str, release_version: str) -> Any:
        path = self._releases(pipeline_id, f"/{_quote(release_version)}/activate")
        return self.request("POST", path, surface="admin")

    def active_release(self, pipeline_id: str) -> Any:
        return self.request("GET", self._releases(pipeline_id, "/active"), surface="admin")

    def list_releases(self, pipeline_id: str) -> Any:
        return self.request("GET", self._releases(pipeline_id), surface="admin")

    def _workers(self, pipeline_id: str, suffix: str = "") -> str:
        return self._admin(f"/pipelines/{_quote(pipeline_id)}/workers{suffix}")

    def register_worker(self, pipeline_id: str, **fields: str) -> Any:
        path = self._workers(pipeline_id, "/register")
        return self.request("POST", path, surface="admin", body=fields)

    def heartbeat_worker(self, pipeline_id: str, worker_id: str) -> Any:
        path = self._workers(pipeline_id, f"/{_quote(worker_id)}/heartbeat")
        return self.request("POST", path, surface="admin")

    def drain_worker(self, pipeline_id: str, worker_id: str) -> Any:
        path = self._workers(pipeline_id, f"/{_quote(worker_id)}/drain")
        return self.request("POST", path, surface="admin")

    def list_workers(
        self,
        pipeline_id: str,
        *,
        contract_version: str | None = None,
        release_version: str | None = None,
    ) -> Any:
        query = {"contractVersion": contract_version, "releaseVersion": release_version}
        return self.request("GET", self._workers(pipeline_id), surface="admin", query=query)

    def ready(self) -> bool:
        try:
            self.request("GET", "/q/health/ready")
        except ApiError:
            return False
        return True
