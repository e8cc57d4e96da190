"""The Label Studio client without Label Studio: token kinds, errors, redirects, access-token refresh.

A stub HTTP server on loopback plays the server's part, for the cases a real
server does not produce on demand (an access token expiring mid-run, a
redirect, a hang, a non-JSON answer).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vpbench.annotation.labelstudio import LabelStudio, normalize_url, token_from
from vpbench.core.errors import VPBenchError

LEGACY = "0123456789abcdef0123456789abcdef01234567"


def _jwt(kind: str) -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'token_type': kind, 'user_id': '1'})}.c2ln"


PAT = _jwt("refresh")


class Stub:
    """A loopback HTTP server answering from ``routes[(method, path)] -> (status, body, headers)``."""

    def __init__(self):
        self.routes: dict = {}
        self.seen: list[tuple[str, str, str | None]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
                route = stub.routes.get((self.command, self.path.split("?")[0]))
                status, payload, headers = (
                    route(self) if callable(route) else route or (404, {"detail": "Not found."}, {})
                )
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting (the timeout test)
                    pass

            do_GET = do_POST = do_PATCH = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


def test_urls_and_tokens():
    assert normalize_url(" http://127.0.0.1:8080/ ") == "http://127.0.0.1:8080"
    assert normalize_url("https://ls.example.org/label-studio/") == "https://ls.example.org/label-studio"
    for bad in ("127.0.0.1:8080", "ftp://host", "http://", "http://h/?x=1"):
        with pytest.raises(VPBenchError, match="--url must"):
            normalize_url(bad)
    with pytest.raises(VPBenchError, match="user name or password") as err:
        normalize_url("http://me:secret@host")
    assert "secret" not in str(err.value)
    assert token_from(None, {"LABEL_STUDIO_API_KEY": f" {LEGACY}\n"}) == LEGACY
    assert token_from("other", {"LABEL_STUDIO_API_KEY": LEGACY}) == "other"
    with pytest.raises(VPBenchError, match="set LABEL_STUDIO_API_KEY or pass --token"):
        token_from(None, {})
    with pytest.raises(VPBenchError, match="spaces or control characters") as err:
        token_from("abc def", {})
    assert "abc" not in str(err.value)
    assert LabelStudio("http://h", LEGACY).token_kind == "legacy token"
    assert LabelStudio("http://h", PAT).token_kind == "personal access token"
    assert LabelStudio("http://h", _jwt("access")).token_kind == "access token"
    assert LEGACY not in repr(LabelStudio("http://h", LEGACY))


def test_legacy_token_is_sent_as_token(stub):
    stub.routes[("GET", "/api/projects/")] = (200, {"count": 1, "results": [{"id": 4, "title": "P"}]}, {})
    assert LabelStudio(stub.url, LEGACY).projects() == [{"id": 4, "title": "P"}]
    assert stub.seen[-1][2] == f"Token {LEGACY}"


def test_personal_access_token_is_exchanged_and_refreshed_when_it_expires(stub):
    issued = []

    def refresh(handler):
        body = json.loads(stub.seen[-1][3])
        assert body == {"refresh": PAT}
        issued.append(f"access{len(issued) + 1}")
        return 200, {"access": issued[-1]}, {}

    def projects(handler):
        # The first access token "expires" after one use, as Label Studio's do after five minutes.
        if handler.headers.get("Authorization") == f"Bearer {issued[-1]}" and not (len(issued) == 1 and calls):
            calls.append(1)
            return 200, {"count": 0, "results": []}, {}
        return 401, {"detail": "Given token not valid for any token type"}, {}

    calls: list[int] = []
    stub.routes[("POST", "/api/token/refresh/")] = refresh
    stub.routes[("GET", "/api/projects/")] = projects
    client = LabelStudio(stub.url, PAT)
    assert client.projects() == [] and issued == ["access1"]
    assert client.projects() == [] and issued == ["access1", "access2"]
    assert all(PAT not in (auth or "") for _, _, auth, _ in stub.seen)


def test_revoked_personal_access_token_is_one_line(stub):
    stub.routes[("POST", "/api/token/refresh/")] = (401, {"detail": "Token is blacklisted"}, {})
    with pytest.raises(VPBenchError, match="refused the personal access token \\(Token is blacklisted\\)") as err:
        LabelStudio(stub.url, PAT).projects()
    assert PAT not in str(err.value) and "\n" not in str(err.value)


def test_redirects_are_not_followed_so_the_token_stays_home(stub):
    other = Stub()
    try:
        stub.routes[("GET", "/api/projects/")] = (302, b"", {"Location": f"{other.url}/api/projects/"})
        with pytest.raises(VPBenchError, match="redirected /api/projects/.* pass the server's own address"):
            LabelStudio(stub.url, LEGACY).projects()
        assert other.seen == []
    finally:
        other.close()


def test_server_errors_and_foreign_servers_are_one_line(stub):
    stub.routes[("GET", "/api/projects/")] = (500, {"detail": "database\nlocked"}, {})
    with pytest.raises(VPBenchError, match=r"could not list projects \(HTTP 500: database locked\)"):
        LabelStudio(stub.url, LEGACY).projects()
    stub.routes[("GET", "/api/projects/")] = (200, b"<html>not an API</html>", {})
    with pytest.raises(VPBenchError, match="did not answer like a Label Studio server"):
        LabelStudio(stub.url, LEGACY).projects()
    stub.routes[("POST", "/api/projects/")] = (
        400,
        {"validation_errors": {"title": ["Ensure this field has at least 3 characters."]}},
        {},
    )
    with pytest.raises(VPBenchError, match="could not create the project \\(HTTP 400: title: Ensure this field"):
        LabelStudio(stub.url, LEGACY).create_project({"title": "x"})


def test_a_hanging_server_times_out(stub):
    def slow(handler):
        time.sleep(1.0)
        return 200, {"count": 0, "results": []}, {}

    stub.routes[("GET", "/api/projects/")] = slow
    with pytest.raises(VPBenchError, match="did not answer within 0.2 s"):
        LabelStudio(stub.url, LEGACY, timeout=0.2).projects()


def test_background_import_is_waited_for(stub):
    polls = []

    def state(handler):
        polls.append(1)
        return 200, {"status": "completed" if len(polls) > 1 else "in_progress", "task_count": 2}, {}

    stub.routes[("POST", "/api/projects/1/import")] = (201, {"import": 7}, {})
    stub.routes[("GET", "/api/projects/1/imports/7/")] = state
    assert LabelStudio(stub.url, LEGACY).import_tasks(1, [{"data": {}}, {"data": {}}]) == 2
    assert len(polls) == 2


# --------------------------------------------------------------------------- what push would send (no server)


def test_videos_of_a_raw_folder(tmp_path):
    import os

    from vpbench.annotation.campaign import dataset_videos

    (tmp_path / "a").mkdir()
    for name in ("a/x.avi", "a/y.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"\0")
    os.close(os.open(os.fsencode(tmp_path / "a") + b"/caf\xe9.avi", os.O_CREAT | os.O_WRONLY))
    videos = dataset_videos(tmp_path)
    assert videos.files == {"a/x": "a/x.avi", "a/y": "a/y.mp4"}
    assert videos.folder == tmp_path and videos.skipped == ("a/caf\\xe9.avi",)
    (tmp_path / "a" / "x.mp4").write_bytes(b"\0")
    with pytest.raises(VPBenchError, match="would both be video 'a/x'"):
        dataset_videos(tmp_path)
    with pytest.raises(VPBenchError, match="no such folder"):
        dataset_videos(tmp_path / "absent")


@pytest.mark.parametrize("export", [[{"id": 1, "annotations": 3}], ["not a task"], {"tasks": []}])
def test_a_broken_export_is_one_line_and_pull_keeps_the_previous_file(stub, tmp_path, export):
    from vpbench.annotation.campaign import pull, status

    stub.routes[("GET", "/api/projects/")] = (
        200,
        {"count": 1, "results": [{"id": 4, "title": "Proj", "maximum_annotations": 3}]},
        {},
    )
    stub.routes[("GET", "/api/projects/4/export")] = (200, export, {})
    stub.routes[("GET", "/api/users/")] = (200, [], {})
    client = LabelStudio(stub.url, LEGACY)
    with pytest.raises(VPBenchError, match="sent an export") as err:
        status(client, "Proj")
    assert "\n" not in str(err.value)
    out = tmp_path / "export.json"
    out.write_text("[previous export]")
    with pytest.raises(VPBenchError, match="sent an export"):
        pull(client, "Proj", out)
    assert out.read_text() == "[previous export]" and sorted(p.name for p in tmp_path.iterdir()) == ["export.json"]


def test_importing_vpbench_and_its_cli_needs_no_label_studio_sdk():
    import subprocess
    import sys

    # A finder that refuses label_studio_sdk: the import must not even try it.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('label_studio_sdk', 'label_studio'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import vpbench, vpbench.cli, vpbench.annotation.campaign, vpbench.cli.annotate\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
