"""A small client for Label Studio's REST API (the calls `vpbench annotate` needs).

Plain HTTP through the standard library rather than ``label-studio-sdk``: the
SDK is generated code whose surface changes between releases, and vpbench needs
seven endpoints, one-line errors and full control over where the token goes.

Authentication takes either kind of token Label Studio hands out:

- a legacy token (40 hex characters), sent as ``Authorization: Token <t>``;
- a personal access token (a JWT refresh token, Label Studio >= 1.15's
  default), exchanged at ``/api/token/refresh/`` for a short-lived access token
  that is sent as ``Authorization: Bearer <access>`` and refreshed when the
  server answers 401.

The token is never put in a message, a log record or a ``repr``, and requests
are never redirected (a redirect would carry the Authorization header to
whatever host the server names).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ..core.errors import VPBenchError

__all__ = ["LabelStudio", "normalize_url", "token_from"]

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
DEFAULT_TIMEOUT = 30.0
EXPORT_TIMEOUT = 600.0  # a full export of a large project is built while the request waits
PAGE_SIZE = 100


def normalize_url(url: str) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash; anything else is a user error."""
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VPBenchError(f"--url must be an http:// or https:// address of a Label Studio server, got {text!r}")
    if parts.username is not None or parts.password is not None:
        raise VPBenchError("--url must not hold a user name or password; the API token authenticates")
    if parts.query or parts.fragment:
        raise VPBenchError(f"--url must be the server's base address without '?' or '#', got {text!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _display(url: str) -> str:
    """The URL without user:password@, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def token_from(option: str | None, environ: dict[str, str]) -> str:
    """The API token: ``--token`` if given, else ``$LABEL_STUDIO_API_KEY``."""
    token = (option if option is not None else environ.get(TOKEN_ENV, "")).strip()
    if not token:
        raise VPBenchError(
            f"no Label Studio API token: set {TOKEN_ENV} or pass --token "
            "(Label Studio: Account & Settings > Personal Access Token, or the legacy token)"
        )
    if any(c.isspace() or not c.isprintable() for c in token):
        raise VPBenchError("the Label Studio API token contains spaces or control characters; copy it again")
    return token


def _jwt_type(token: str) -> str | None:
    """``token_type`` of a JWT ("refresh", "access"), or None when the token is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return str(payload.get("token_type", "")) if isinstance(payload, dict) else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib's hook
        return None  # urllib then raises HTTPError with the 3xx status


class LabelStudioError(VPBenchError):
    """An HTTP error answer, with its status (for callers that handle e.g. 404)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _server_detail(body: bytes) -> str:
    """Label Studio's own reason from an error body (``detail`` and ``validation_errors``)."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = []
    errors = data.get("validation_errors")
    if isinstance(errors, dict):
        for field, problems in errors.items():
            items = problems if isinstance(problems, list) else [problems]
            text = "; ".join(str(p) for p in items)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    if not parts and data.get("detail"):
        parts.append(str(data["detail"]))
    return _one_line(" ".join(parts))


class LabelStudio:
    """One Label Studio server, reached with one API token."""

    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = normalize_url(url)
        self.where = f"Label Studio at {_display(self.url)}"
        self.timeout = timeout
        self.__token = token
        self.__access: str | None = None
        kind = _jwt_type(token)
        self.token_kind = {"refresh": "personal access token", "access": "access token"}.get(kind or "", "legacy token")
        if kind == "access":  # already exchanged (e.g. copied from a browser session): used as it is
            self.__access = token
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:  # never the token
        return f"LabelStudio({_display(self.url)!r}, {self.token_kind})"

    # ----------------------------------------------------------------- HTTP

    def _authorization(self, refresh: bool = False) -> str:
        if self.token_kind == "legacy token":
            return f"Token {self.__token}"
        if self.token_kind == "access token":
            return f"Bearer {self.__access}"
        if self.__access is None or refresh:
            answer = self._send("POST", "/api/token/refresh/", {"refresh": self.__token}, None, self.timeout, "sign in")
            access = answer.get("access") if isinstance(answer, dict) else None
            if not isinstance(access, str) or not access:
                raise VPBenchError(f"{self.where} did not return an access token for the personal access token")
            self.__access = access
        return f"Bearer {self.__access}"

    def _send(
        self,
        method: str,
        path: str,
        body: Any,
        authorization: str | None,
        timeout: float,
        what: str,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if authorization is not None:
            request.add_header("Authorization", authorization)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, path, what) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise VPBenchError(
                    f"{self.where} did not answer within {timeout:g} s (while trying to {what})"
                ) from None
            if isinstance(reason, ssl.SSLError):
                raise VPBenchError(f"cannot reach {self.where}: TLS error ({_one_line(reason)})") from None
            text = getattr(reason, "strerror", None) or str(reason)
            raise VPBenchError(
                f"cannot reach {self.where}: {_one_line(text)} (is the server running, and is --url right?)"
            ) from None
        except (socket.timeout, TimeoutError):
            raise VPBenchError(f"{self.where} did not answer within {timeout:g} s (while trying to {what})") from None
        except (ConnectionError, OSError) as exc:
            raise VPBenchError(f"cannot reach {self.where}: {_one_line(exc.strerror or exc)}") from None
        if raw:
            return payload, status
        if not payload:
            return None
        try:
            return json.loads(payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise VPBenchError(
                f"{_display(self.url)} did not answer like a Label Studio server (no JSON from {path}); is --url right?"
            ) from None

    def _http_error(self, exc: urllib.error.HTTPError, path: str, what: str) -> VPBenchError:
        code = exc.code
        try:
            body = exc.read()
        except OSError:
            body = b""
        detail = _server_detail(body)
        if 300 <= code < 400:
            target = exc.headers.get("Location", "?") if exc.headers else "?"
            return LabelStudioError(
                f"{self.where} redirected {path} to {_display(target)}: pass the server's own address as --url", code
            )
        if code == 401:
            if path == "/api/token/refresh/":
                return LabelStudioError(
                    f"{self.where} refused the personal access token ({detail or 'invalid'}): it may be expired or "
                    f"revoked; create a new one in Account & Settings and set {TOKEN_ENV} or --token",
                    code,
                )
            return LabelStudioError(
                f"{self.where} refused the API {self.token_kind} ({detail or '401 Unauthorized'}): "
                f"check {TOKEN_ENV} or --token",
                code,
            )
        if code == 403:
            return LabelStudioError(
                f"{self.where}: the token's user may not {what} ({detail or '403 Forbidden'})", code
            )
        if code == 404:
            return LabelStudioError(
                f"{self.where} has no {path} (404{': ' + detail if detail else ''}) while trying to {what}", code
            )
        reason = f": {detail}" if detail else ""
        return LabelStudioError(f"{self.where} could not {what} (HTTP {code}{reason})", code)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        what: str = "answer",
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """Call the API; JSON in and out (``raw``: the body bytes and the status)."""
        if params:
            path = f"{path}?{urlencode(params, doseq=True)}"
        timeout = self.timeout if timeout is None else timeout
        try:
            return self._send(method, path, body, self._authorization(), timeout, what, headers, raw)
        except LabelStudioError as exc:
            # An access token lives five minutes: get a fresh one once, then give up.
            if exc.status != 401 or self.token_kind != "personal access token":
                raise
            return self._send(method, path, body, self._authorization(refresh=True), timeout, what, headers, raw)

    def pages(self, path: str, params: dict[str, Any], key: str, what: str) -> Iterator[dict]:
        """Every item of a paginated list (``{"count"|"total", key: [...]}`` or a plain list)."""
        page = 1
        seen = 0
        while True:
            answer = self.request("GET", path, params={**params, "page": page, "page_size": PAGE_SIZE}, what=what)
            if isinstance(answer, list):  # an unpaginated endpoint
                yield from answer
                return
            if not isinstance(answer, dict) or not isinstance(answer.get(key), list):
                raise VPBenchError(f"{self.where} answered {path} with an unexpected shape (no '{key}' list)")
            items = answer[key]
            yield from items
            seen += len(items)
            total = answer.get("count", answer.get("total"))
            if not items or not isinstance(total, int) or seen >= total:
                return
            page += 1

    # ----------------------------------------------------------------- the calls vpbench makes

    def whoami(self) -> dict:
        return self.request("GET", "/api/current-user/whoami", what="say who the token belongs to")

    def projects(self) -> list[dict]:
        fields = "id,title,maximum_annotations,label_config,task_number"
        return list(self.pages("/api/projects/", {"include": fields}, "results", "list projects"))

    def create_project(self, fields: dict) -> dict:
        return self.request("POST", "/api/projects/", body=fields, what="create the project")

    def update_project(self, project_id: int, fields: dict) -> dict:
        return self.request("PATCH", f"/api/projects/{project_id}/", body=fields, what="update the project")

    def local_storages(self, project_id: int) -> list[dict]:
        answer = self.request(
            "GET",
            "/api/storages/localfiles/",
            params={"project": project_id},
            what="list the project's local-files storages",
        )
        return answer if isinstance(answer, list) else []

    def create_local_storage(self, fields: dict) -> dict:
        return self.request("POST", "/api/storages/localfiles/", body=fields, what="add a local-files storage")

    def tasks(self, project_id: int) -> Iterator[dict]:
        return self.pages(
            "/api/tasks/", {"project": project_id, "fields": "task_only"}, "tasks", "list the project's tasks"
        )

    def import_tasks(self, project_id: int, tasks: list[dict], *, wait: float = 600.0) -> int:
        """Import tasks; the number the server made."""
        answer = self.request(
            "POST",
            f"/api/projects/{project_id}/import",
            body=tasks,
            what="import tasks",
            timeout=max(self.timeout, 120.0),
        )
        if isinstance(answer, dict) and isinstance(answer.get("task_count"), int):
            return answer["task_count"]
        # Servers with background imports answer with the import's id instead: wait for it.
        import_id = answer.get("import") if isinstance(answer, dict) else None
        if not isinstance(import_id, int):
            raise VPBenchError(f"{self.where} answered the import without a task count")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            state = self.request("GET", f"/api/projects/{project_id}/imports/{import_id}/", what="report on the import")
            status = state.get("status") if isinstance(state, dict) else None
            if status == "completed":
                return int(state.get("task_count") or 0)
            if status == "failed":
                raise VPBenchError(f"{self.where} failed to import the tasks: {_one_line(state.get('error') or '?')}")
            time.sleep(1.0)
        raise VPBenchError(f"{self.where} did not finish importing within {wait:g} s; run push again later")

    def export_json(self, project_id: int) -> bytes:
        """The full JSON export: every task, every annotation (cancelled ones too)."""
        params = {"exportType": "JSON", "download_all_tasks": "true", "download_resources": "false"}
        body, _ = self.request(
            "GET",
            f"/api/projects/{project_id}/export",
            params=params,
            what="export the project",
            timeout=EXPORT_TIMEOUT,
            raw=True,
        )
        return body

    def users(self) -> list[dict]:
        answer = self.request("GET", "/api/users/", what="list users")
        return answer if isinstance(answer, list) else []

    def serves_local_file(self, relative: str) -> int:
        """HTTP status of ``/data/local-files/?d=relative`` (one byte asked for): 200/206 means served."""
        try:
            _, status = self.request(
                "GET",
                "/data/local-files/",
                params={"d": relative},
                what="serve a video",
                headers={"Range": "bytes=0-0"},
                raw=True,
            )
        except LabelStudioError as exc:
            if exc.status in (403, 404):
                return exc.status
            raise
        return status


def local_file_url(relative: str) -> str:
    """The URL Label Studio's editor loads a local-files video from (relative to the server)."""
    return "/data/local-files/?d=" + quote(relative, safe="/")
