"""A thin wrapper over Label Studio's SDK (``label_studio_sdk`` 2.x): the calls `vpbench annotate` makes.

Projects, storages, tasks, imports, exports and users go through the SDK's
``LabelStudio`` client; this module adds what vpbench promises on top of it:

- the SDK is imported only when a client is made (``import vpbench`` and the
  CLI never need it); without it, one line names the extra to install;
- one-line :class:`LabelStudioError` messages (what vpbench was doing, the
  server's own reason) instead of the SDK's exceptions and httpx's;
- the token is never put in a message, a log record or a ``repr``, and
  requests are never redirected (a redirect would carry the Authorization
  header to whatever host the server names); no retries (an import retried
  after a lost answer could add its tasks twice).

Both kinds of token Label Studio hands out work, as the SDK handles them: a
legacy token (sent as ``Authorization: Token <t>``) and a personal access
token (a JWT refresh token, Label Studio >= 1.15's default), which the SDK
exchanges at ``/api/token/refresh/`` for a short-lived access token and
exchanges again when that one expires.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit  # URL text only: every request goes through the SDK

from ..core.errors import VPBenchError

__all__ = ["LabelStudio", "LabelStudioError", "local_file_url", "normalize_url", "token_from"]

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
INSTALL_HINT = "pip install 'vpbench[annotate]'"
SDK_MAJOR = 2  # the SDK generation this wrapper is written for (pyproject's annotate extra pins the tested range)
DEFAULT_TIMEOUT = 30.0
IMPORT_TIMEOUT = 120.0
EXPORT_TIMEOUT = 600.0  # a full export of a large project is built while the request waits
PAGE_SIZE = 100

T = TypeVar("T")


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


def token_from(environ: Mapping[str, str]) -> str:
    """The API token, from ``$LABEL_STUDIO_API_KEY`` only (a command line would show it in ps and shell history)."""
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise VPBenchError(
            f"no Label Studio API token: set {TOKEN_ENV} "
            "(Label Studio: Account & Settings > Personal Access Token, or the legacy token)"
        )
    if any(c.isspace() or not c.isprintable() for c in token):
        raise VPBenchError(f"{TOKEN_ENV} contains spaces or control characters; copy the token again")
    return token


def _jwt_type(token: str) -> str | None:
    """``token_type`` of a JWT ("refresh", "access"), or None when the token is not a JWT (a legacy token)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return str(payload.get("token_type", "")) if isinstance(payload, dict) else None


class LabelStudioError(VPBenchError):
    """An error answer of the server, with its HTTP status (for callers that handle e.g. 400 or 404)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _one_line(text: object, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _server_detail(body: Any) -> str:
    """Label Studio's own reason from an error body (``detail`` and ``validation_errors``); "" for HTML or text."""
    if not isinstance(body, dict):
        return ""
    parts = []
    errors = body.get("validation_errors")
    if isinstance(errors, dict):
        for field, problems in errors.items():
            items = problems if isinstance(problems, list) else [problems]
            text = "; ".join(str(p) for p in items)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    if not parts and body.get("detail"):
        parts.append(str(body["detail"]))
    return _one_line(" ".join(parts))


def _import_sdk():
    """``label_studio_sdk`` with what the wrapper uses from it, or a one-line error naming the extra."""
    try:
        import label_studio_sdk
    except ImportError as exc:
        raise VPBenchError(
            f"vpbench annotate needs Label Studio's SDK, which is not installed ({_one_line(exc)}): {INSTALL_HINT}"
        ) from None
    version = str(getattr(label_studio_sdk, "__version__", "") or "of unknown version")
    if not version.startswith(f"{SDK_MAJOR}."):
        raise VPBenchError(f"vpbench annotate needs label-studio-sdk {SDK_MAJOR}.x, found {version}: {INSTALL_HINT}")
    try:
        import httpx
        from label_studio_sdk.client import LabelStudio as Client
        from label_studio_sdk.core.api_error import ApiError
        from label_studio_sdk.core.parse_error import ParsingError
    except ImportError as exc:  # a broken install: one of the SDK's own dependencies is missing
        raise VPBenchError(
            f"Label Studio's SDK {version} cannot be imported ({_one_line(exc)}); reinstall it: {INSTALL_HINT}"
        ) from None
    return httpx, Client, ApiError, ParsingError


class _Unexpected(Exception):
    """An answer without what vpbench reads from it."""


def _record(obj: Any, *names: str) -> dict:
    """The fields vpbench reads of one object the SDK made from an answer; its ``id`` must be an integer."""
    ident = getattr(obj, "id", None)
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise _Unexpected
    return {"id": ident, **{name: getattr(obj, name, None) for name in names}}


def _status(value: Any) -> str:
    """An SDK status field (a plain string or an enum member) as text."""
    return str(getattr(value, "value", value) or "")


class LabelStudio:
    """One Label Studio server, reached with one API token, through the SDK's client."""

    def __init__(self, url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = normalize_url(url)
        self.where = f"Label Studio at {_display(self.url)}"
        self.timeout = timeout
        kind = _jwt_type(token)
        if kind == "access":
            raise VPBenchError(
                f"{TOKEN_ENV} holds a short-lived access token: set it to the personal access token "
                "(Account & Settings) or the legacy token"
            )
        self.token_kind = "personal access token" if kind is not None else "legacy token"
        self._httpx, client_class, self._api_error, self._parsing_error = _import_sdk()
        try:
            # The trailing slash keeps a path prefix (https://host/label-studio/) in the SDK's token-refresh URL.
            self._sdk = client_class(
                base_url=self.url + "/",
                api_key=token,
                timeout=timeout,
                max_retries=0,
                follow_redirects=False,
            )
        except self._api_error as exc:  # the SDK reads a JWT's expiry before any request
            raise LabelStudioError(
                f"the personal access token in {TOKEN_ENV} cannot be used ({_server_detail(exc.body) or 'invalid'}): "
                "create a new one in Account & Settings",
                exc.status_code,
            ) from None

    def __repr__(self) -> str:  # never the token
        return f"LabelStudio({_display(self.url)!r}, {self.token_kind})"

    # ----------------------------------------------------------------- errors

    def _call(self, what: str, fn: Callable[[], T], timeout: float | None = None) -> T:
        """``fn()`` (one SDK call, consumed), its failures turned into one-line errors."""
        httpx = self._httpx
        timeout = self.timeout if timeout is None else timeout
        try:
            with warnings.catch_warnings():  # the SDK calls pydantic's deprecated parse_obj: not the user's concern
                warnings.simplefilter("ignore", DeprecationWarning)
                return fn()
        except (self._api_error, self._parsing_error) as exc:
            raise self._error(exc.status_code, exc.body, exc.headers, what) from None
        except httpx.TimeoutException:
            raise LabelStudioError(
                f"{self.where} did not answer within {timeout:g} s (while trying to {what})"
            ) from None
        except httpx.ConnectError as exc:
            raise LabelStudioError(
                f"cannot reach {self.where}: {_one_line(exc) or 'connection failed'} "
                "(is the server running, and is --url right?)"
            ) from None
        except httpx.HTTPError as exc:  # the connection broke, a malformed answer, too many redirects...
            reason = _one_line(exc) or type(exc).__name__
            raise LabelStudioError(f"{self.where} broke off while trying to {what} ({reason})") from None
        except json.JSONDecodeError:  # the SDK's token refresh reads its answer as JSON unchecked
            raise self._error(200, None, None, what) from None
        except (_Unexpected, AttributeError, TypeError, KeyError, ValueError):
            # JSON, but not the shape the SDK's models describe: another kind of server, or an API that moved.
            raise LabelStudioError(
                f"{_display(self.url)} answered with an unexpected shape while trying to {what}; is --url the "
                "address of a Label Studio server?"
            ) from None

    def _error(self, code: int | None, body: Any, headers: Mapping[str, str] | None, what: str) -> LabelStudioError:
        detail = _server_detail(body)
        if code is None or 200 <= code < 300:
            return LabelStudioError(
                f"{_display(self.url)} did not answer like a Label Studio server (no JSON while trying to {what}); "
                "is --url right?",
                code,
            )
        if 300 <= code < 400:
            target = {k.lower(): v for k, v in (headers or {}).items()}.get("location", "?")
            return LabelStudioError(
                f"{self.where} redirected the request to {_display(target)} (while trying to {what}): "
                "pass the server's own address as --url",
                code,
            )
        if code == 401:
            if self.token_kind == "personal access token":
                return LabelStudioError(
                    f"{self.where} refused the personal access token ({detail or 'invalid'}): it may be expired or "
                    f"revoked; create a new one in Account & Settings and set {TOKEN_ENV}",
                    code,
                )
            return LabelStudioError(
                f"{self.where} refused the API {self.token_kind} ({detail or '401 Unauthorized'}): check {TOKEN_ENV}",
                code,
            )
        if code == 403:
            return LabelStudioError(
                f"{self.where}: the token's user may not {what} ({detail or '403 Forbidden'})", code
            )
        if code == 404:
            return LabelStudioError(
                f"{self.where} answered 404 ({detail or 'Not Found'}) while trying to {what}; "
                "is --url the server's base address?",
                code,
            )
        reason = f": {detail}" if detail else ""
        return LabelStudioError(f"{self.where} could not {what} (HTTP {code}{reason})", code)

    # ----------------------------------------------------------------- the calls vpbench makes

    def projects(self) -> list[dict]:
        """Every project: id, title, maximum_annotations, label_config."""

        def fetch():
            pager = self._sdk.projects.list(
                include="id,title,maximum_annotations,label_config,task_number", page_size=PAGE_SIZE
            )
            return [_record(p, "title", "maximum_annotations", "label_config") for p in pager]

        return self._call("list projects", fetch)

    def create_project(self, fields: dict) -> dict:
        return self._call("create the project", lambda: _record(self._sdk.projects.create(**fields), "title"))

    def update_project(self, project_id: int, fields: dict) -> None:
        self._call("update the project", lambda: self._sdk.projects.update(project_id, **fields))

    def local_storages(self, project_id: int) -> list[dict]:
        return self._call(
            "list the project's local-files storages",
            lambda: [_record(s, "path") for s in self._sdk.import_storage.local.list(project=project_id)],
        )

    def create_local_storage(self, fields: dict) -> dict:
        return self._call(
            "add a local-files storage", lambda: _record(self._sdk.import_storage.local.create(**fields), "path")
        )

    def tasks(self, project_id: int) -> list[dict]:
        """Every task of the project: id and data (no annotations)."""

        def fetch():
            pager = self._sdk.tasks.list(project=project_id, fields="task_only", page_size=PAGE_SIZE)
            return [_record(t, "data") for t in pager]

        return self._call("list the project's tasks", fetch)

    def import_tasks(self, project_id: int, tasks: list[dict], *, wait: float = 600.0) -> int:
        """Import tasks; the number the server made."""
        timeout = max(self.timeout, IMPORT_TIMEOUT)

        def post() -> tuple[int | None, int | None]:
            answer = self._sdk.projects.import_tasks(project_id, request=tasks, request_options={"timeout": timeout})
            return answer.task_count, answer.import_

        count, import_id = self._call("import tasks", post, timeout)
        if isinstance(count, int):
            return count
        # Servers with background imports (Enterprise) answer with the import's id instead: wait for it.
        if not isinstance(import_id, int):
            raise LabelStudioError(f"{self.where} answered the import without a task count")

        def poll() -> tuple[str, int | None, str]:
            state = self._sdk.tasks.create_many_status(project_id, import_id)
            return _status(state.status), state.task_count, _one_line(state.error or "?")

        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            status, count, error = self._call("report on the import", poll)
            if status == "completed":
                return int(count or 0)
            if status == "failed":
                raise LabelStudioError(f"{self.where} failed to import the tasks: {error}")
            time.sleep(1.0)
        raise LabelStudioError(f"{self.where} did not finish importing within {wait:g} s; run push again later")

    def export_json(self, project_id: int) -> bytes:
        """The full JSON export: every task, every annotation (cancelled ones too)."""
        return self._call(
            "export the project",
            lambda: b"".join(
                self._sdk.projects.exports.download_sync(
                    project_id,
                    export_type="JSON",
                    download_all_tasks=True,
                    download_resources=False,
                    request_options={"timeout": EXPORT_TIMEOUT},
                )
            ),
            EXPORT_TIMEOUT,
        )

    def users(self) -> list[dict]:
        return self._call("list users", lambda: [_record(u, "email") for u in self._sdk.users.list()])

    def serves_local_file(self, relative: str) -> int:
        """HTTP status of ``/data/local-files/?d=relative`` (one byte asked for): 200/206 means served.

        Not an API call, so not an SDK method: the request goes through the SDK's own HTTP client (its
        base URL, its Authorization header), and the body is never read.
        """

        def fetch() -> tuple[int, dict]:
            with self._sdk._client_wrapper.httpx_client.stream(
                "data/local-files/", method="GET", params={"d": relative}, headers={"Range": "bytes=0-0"}
            ) as response:
                return response.status_code, dict(response.headers)

        status, headers = self._call("serve a video", fetch)
        if status in (200, 206, 403, 404):
            return status
        raise self._error(status, None, headers, "serve a video")


def local_file_url(relative: str) -> str:
    """The URL Label Studio's editor loads a local-files video from (relative to the server)."""
    return "/data/local-files/?d=" + quote(relative, safe="/")
