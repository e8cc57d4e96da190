"""A real Label Studio server on loopback for the tests (and for recording the example export).

Label Studio lives in its own virtualenv, made by ``tools/labelstudio-server.sh
install`` under ``${VPBENCH_CACHE:-~/.cache/vpbench}/labelstudio-venv``. A
fresh data directory needs about a minute of database migrations, so the first
server also leaves a snapshot of its migrated database (with its admin user and
token) in the cache; later servers start from a copy of it in seconds.

The server runs in its own process group and :meth:`Server.stop` ends the whole
group. Nothing is written outside the given work folder and the cache: HOME
and LABEL_STUDIO_BASE_DATA_DIR point into the work folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

LS_VERSION = "1.23.2"
ADMIN = "admin@localhost"
INSTALL_HINT = (
    "run tools/labelstudio-server.sh install (installs Label Studio into its own cached virtualenv, about 3 minutes)"
)


def cache_dir() -> Path:
    return Path(os.environ.get("VPBENCH_CACHE") or Path.home() / ".cache" / "vpbench")


def label_studio_executable() -> Path | None:
    """The cached venv's ``label-studio``, if tools/labelstudio-server.sh finished installing it."""
    venv = cache_dir() / "labelstudio-venv"
    exe = venv / "bin" / "label-studio"
    return exe if exe.is_file() and (venv / f".vpbench-label-studio-{LS_VERSION}").is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    token: str  # the admin's legacy token
    root: Path  # LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT
    data: Path
    log: Path
    process: subprocess.Popen = field(repr=False)
    start_seconds: float = 0.0
    from_snapshot: bool = False

    def api(self, method: str, path: str, body=None, token: str | None = None, bearer: bool = False):
        """One JSON API call as the admin (or with ``token``); returns (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        scheme = "Bearer" if bearer else "Token"
        request.add_header("Authorization", f"{scheme} {token or self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def stop(self) -> None:
        """End the server's whole process group (it forks workers), politely then firmly."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=15)


def _environment(root: Path, data: Path, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "HEARTEX_"))}
    # Label Studio also reads these bare names as its own settings.
    for name in ("HOST", "PORT", "USERNAME", "PASSWORD", "DEBUG", "USER_TOKEN", "COLLECT_ANALYTICS"):
        env.pop(name, None)
    home = data / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "LABEL_STUDIO_BASE_DATA_DIR": str(data),
            "LABEL_STUDIO_USERNAME": ADMIN,
            "LABEL_STUDIO_PASSWORD": secrets.token_hex(12),
            "LABEL_STUDIO_USER_TOKEN": token,
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(root),
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            # No calls home from a test server: no PyPI version check, no analytics.
            "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
            "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        }
    )
    return env


def _snapshot_dir() -> Path:
    return cache_dir() / f"labelstudio-data-{LS_VERSION}"


def _take_snapshot(data: Path, token: str) -> None:
    """Keep the migrated database (consistent copy through sqlite's backup API), .env and token."""
    final = _snapshot_dir()
    if final.exists():
        return
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with sqlite3.connect(data / "label_studio.sqlite3") as src, sqlite3.connect(tmp / "label_studio.sqlite3") as dst:
        src.backup(dst)
    shutil.copy2(data / ".env", tmp / ".env")
    (tmp / "admin-token").write_text(token)
    os.chmod(tmp / "admin-token", 0o600)
    try:
        tmp.rename(final)
    except OSError:  # another session made it first
        shutil.rmtree(tmp, ignore_errors=True)


def _from_snapshot(data: Path) -> str | None:
    snap = _snapshot_dir()
    files = [snap / "label_studio.sqlite3", snap / ".env", snap / "admin-token"]
    if not all(f.is_file() for f in files):
        return None
    data.mkdir(parents=True, exist_ok=True)
    for f in files[:2]:
        shutil.copy2(f, data / f.name)
    return files[2].read_text().strip()


def _wait_ready(server: Server, timeout: float) -> str | None:
    """None when the server answers whoami as the admin; else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return f"label-studio exited with code {server.process.returncode}"
        try:
            status, body = server.api("GET", "/api/current-user/whoami")
            if status == 200 and isinstance(body, dict) and body.get("email") == ADMIN:
                return None
            if status == 401:
                return "the server on the chosen port refused the admin token (another server took the port?)"
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.25)
    return f"no answer within {timeout:.0f} s"


def start_server(exe: Path, root: Path, work: Path, *, use_snapshot: bool = True, attempts: int = 3) -> Server:
    """Start Label Studio on a free loopback port, serving local files under ``root``."""
    last = ""
    for attempt in range(attempts):
        data = work / f"data-{attempt}"
        shutil.rmtree(data, ignore_errors=True)
        token = _from_snapshot(data) if use_snapshot else None
        from_snapshot = token is not None
        if token is None:
            token = secrets.token_hex(20)
            data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = work / f"label-studio-{attempt}.log"
        began = time.monotonic()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    str(exe),
                    "start",
                    "--no-browser",
                    "--internal-host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--data-dir",
                    str(data),
                    "--enable-legacy-api-token",
                ],
                cwd=work,
                env=_environment(root, data, token),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = Server(f"http://127.0.0.1:{port}", token, root, data, log, process, from_snapshot=from_snapshot)
        why = _wait_ready(server, 60 if from_snapshot else 240)
        if why is None:
            server.start_seconds = time.monotonic() - began
            if not from_snapshot and use_snapshot:
                _take_snapshot(data, token)
            return server
        server.stop()
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        last = f"{why}; log {log}:\n" + "\n".join(tail)
    raise RuntimeError(f"Label Studio did not start after {attempts} attempts: {last}")


# --------------------------------------------------------------------------- acting as annotators


def create_annotator(server: Server, n: int) -> int:
    """A user made through the API (no password; :func:`annotator_token` gives it an API token)."""
    email = f"annotator{n}@example.org"
    status, body = server.api(
        "POST",
        "/api/users/",
        {"email": email, "username": f"annotator{n}", "first_name": "Annotator", "last_name": str(n)},
    )
    if status == 201:
        return int(body["id"])
    status, users = server.api("GET", "/api/users/")
    for user in users or []:
        if user.get("email") == email:
            return int(user["id"])
    raise RuntimeError(f"cannot create {email}: HTTP {status} {body}")


def annotator_token(server: Server, user_id: int) -> str:
    """A legacy API token of the user's own, so that it submits annotations itself.

    Label Studio's open-source API has no call that hands an admin another user's token (a user
    fetches its own after logging in through the web form); the test server's database is ours,
    so the token row is written there, as Django REST framework's token model stores it."""
    key = secrets.token_hex(20)
    with sqlite3.connect(server.data / "label_studio.sqlite3", timeout=30) as db:
        db.execute("DELETE FROM authtoken_token WHERE user_id = ?", (user_id,))
        db.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES (?, datetime('now'), ?)", (key, user_id))
    status, me = server.api("GET", "/api/current-user/whoami", token=key)
    if status != 200 or int(me.get("id", -1)) != user_id:
        raise RuntimeError(f"the token of user {user_id} does not sign in as that user: HTTP {status} {me}")
    return key


def choice(attribute: str, answer: str, result_id: str) -> dict:
    """One answer as Label Studio's editor submits it."""
    return {
        "id": result_id,
        "type": "choices",
        "value": {"choices": [answer]},
        "origin": "manual",
        "to_name": "video",
        "from_name": attribute,
    }


def annotate(
    server: Server,
    task_id: int,
    user_id: int,
    answers: dict[str, str],
    *,
    lead_time: float = 20.0,
    cancelled: bool = False,
    token: str | None = None,
) -> dict:
    """Submit (or, ``cancelled``, skip) a task: as the annotator itself with its ``token`` (the server
    then records who submitted), or without one on the annotator's behalf by the admin."""
    result = (
        []
        if cancelled
        else [
            choice(attr, answer, f"{attr[:3]}{task_id}u{user_id}{secrets.token_hex(2)}")
            for attr, answer in answers.items()
        ]
    )
    body = {"result": result, "was_cancelled": cancelled, "lead_time": lead_time}
    if token is None:
        body["completed_by"] = user_id
    status, answer = server.api("POST", f"/api/tasks/{task_id}/annotations/", body, token=token)
    if status == 201 and token is not None and answer.get("completed_by") != user_id:
        raise RuntimeError(f"task {task_id}: the server recorded user {answer.get('completed_by')}, not {user_id}")
    if status != 201:
        raise RuntimeError(f"annotation of task {task_id} by user {user_id} refused: HTTP {status} {answer}")
    return answer


def project_tasks(server: Server, project_id: int) -> list[dict]:
    tasks, page = [], 1
    while True:
        status, body = server.api("GET", f"/api/tasks/?project={project_id}&page={page}&page_size=100&fields=task_only")
        if status == 404:
            return tasks
        tasks += body["tasks"]
        if len(tasks) >= body["total"]:
            return tasks
        page += 1
