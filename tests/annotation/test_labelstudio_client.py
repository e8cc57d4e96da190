"""The wrapper over Label Studio's SDK without Label Studio: token kinds, errors, redirects, access-token refresh.

A stub HTTP server on loopback plays the server's part, for the cases a real
server does not produce on demand (an access token expiring mid-run, a
redirect, a hang, a non-JSON answer). The SDK itself is real.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from vpbench.annotation.labelstudio import LabelStudio, normalize_url, token_from
from vpbench.cli import main
from vpbench.core.errors import VPBenchError

LEGACY = "0123456789abcdef0123456789abcdef01234567"
LATER = int(time.time()) + 30 * 24 * 3600
EARLIER = int(time.time()) - 3600


def _jwt(kind: str, exp: int | None = LATER) -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {"token_type": kind, "user_id": "1", **({} if exp is None else {"exp": exp})}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


PAT = _jwt("refresh")


class Stub:
    """A loopback HTTP server answering from ``routes[(method, path)] -> (status, body, headers)``."""

    def __init__(self):
        self.routes: dict = {}
        self.seen: list[tuple[str, str, str | None, bytes]] = []  # method, path with query, Authorization, body
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


def _query(handler) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()}


def paged(key: str, items: list, accept=lambda handler: True):
    """A paginated list endpoint as Label Studio's: page 1 holds everything, a later page is a 404."""

    def answer(handler):
        if not accept(handler):
            return 401, {"detail": "Given token not valid for any token type"}, {}
        if _query(handler).get("page", "1") != "1":
            return 404, {"detail": "Invalid page."}, {}
        return 200, {key: items, "count" if key == "results" else "total": len(items)}, {}

    return answer


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
    # The token comes from the environment only.
    assert token_from({"LABEL_STUDIO_API_KEY": f" {LEGACY}\n"}) == LEGACY
    with pytest.raises(VPBenchError, match="set LABEL_STUDIO_API_KEY") as err:
        token_from({})
    assert "--token" not in str(err.value)
    with pytest.raises(VPBenchError, match="spaces or control characters") as err:
        token_from({"LABEL_STUDIO_API_KEY": "abc def"})
    assert "abc" not in str(err.value)
    assert LabelStudio("http://h", LEGACY).token_kind == "legacy token"
    assert LabelStudio("http://h", PAT).token_kind == "personal access token"
    assert LEGACY not in repr(LabelStudio("http://h", LEGACY)) and PAT not in repr(LabelStudio("http://h", PAT))


@pytest.mark.parametrize(
    "token, message",
    [
        (_jwt("access"), "holds a short-lived access token"),
        (_jwt("refresh", exp=EARLIER), r"personal access token in LABEL_STUDIO_API_KEY cannot be used \(API key has"),
        (_jwt("refresh", exp=None), "personal access token in LABEL_STUDIO_API_KEY cannot be used"),
    ],
)
def test_unusable_jwts_are_one_line_before_any_request(stub, token, message):
    with pytest.raises(VPBenchError, match=message) as err:
        LabelStudio(stub.url, token)
    assert token not in str(err.value) and "\n" not in str(err.value) and stub.seen == []


def test_legacy_token_is_sent_as_token(stub):
    stub.routes[("GET", "/api/projects/")] = paged("results", [{"id": 4, "title": "P", "maximum_annotations": 3}])
    projects = LabelStudio(stub.url, LEGACY).projects()
    assert projects == [{"id": 4, "title": "P", "maximum_annotations": 3, "label_config": None}]
    assert stub.seen and all(auth == f"Token {LEGACY}" for _, _, auth, _ in stub.seen)


def test_a_path_prefix_is_kept_for_every_call_and_the_token_refresh(stub):
    stub.routes[("POST", "/ls/api/token/refresh/")] = (200, {"access": _jwt("access")}, {})
    stub.routes[("GET", "/ls/api/projects/")] = paged("results", [])
    assert LabelStudio(stub.url + "/ls/", PAT).projects() == []
    assert [path.split("?")[0] for _, path, _, _ in stub.seen][:2] == ["/ls/api/token/refresh/", "/ls/api/projects/"]


def test_personal_access_token_is_exchanged_and_refreshed_when_it_expires(stub):
    issued: list[str] = []

    def refresh(handler):
        assert json.loads(stub.seen[-1][3]) == {"refresh": PAT}
        # The first access token has already expired (Label Studio's live five minutes): the SDK must notice.
        issued.append(_jwt("access", exp=EARLIER if not issued else LATER))
        return 200, {"access": issued[-1]}, {}

    stub.routes[("POST", "/api/token/refresh/")] = refresh
    stub.routes[("GET", "/api/projects/")] = paged(
        "results", [], accept=lambda h: h.headers.get("Authorization") == f"Bearer {issued[-1]}"
    )
    client = LabelStudio(stub.url, PAT)
    assert client.projects() == [] and len(issued) == 1
    assert client.projects() == [] and len(issued) == 2
    assert client.projects() == [] and len(issued) == 2  # the second one is still valid
    assert all(PAT not in (auth or "") for _, _, auth, _ in stub.seen)


def test_refused_tokens_are_one_line(stub):
    stub.routes[("POST", "/api/token/refresh/")] = (401, {"detail": "Token is blacklisted"}, {})
    with pytest.raises(VPBenchError, match="refused the personal access token \\(Token is blacklisted\\)") as err:
        LabelStudio(stub.url, PAT).projects()
    assert PAT not in str(err.value) and "\n" not in str(err.value)
    stub.routes[("GET", "/api/projects/")] = (401, {"detail": "Invalid token."}, {})
    with pytest.raises(VPBenchError, match="refused the API legacy token \\(Invalid token.\\): check LABEL") as err:
        LabelStudio(stub.url, LEGACY).projects()
    assert LEGACY not in str(err.value)


def test_redirects_are_not_followed_so_the_token_stays_home(stub):
    other = Stub()
    try:
        stub.routes[("GET", "/api/projects/")] = (302, b"", {"Location": f"{other.url}/api/projects/"})
        with pytest.raises(VPBenchError, match=f"redirected the request to {other.url}/api/projects/ .*own address"):
            LabelStudio(stub.url, LEGACY).projects()
        stub.routes[("POST", "/api/token/refresh/")] = (307, b"", {"Location": f"{other.url}/api/token/refresh/"})
        with pytest.raises(VPBenchError):
            LabelStudio(stub.url, PAT).projects()
        assert other.seen == []
    finally:
        other.close()


def test_server_errors_and_foreign_servers_are_one_line(stub):
    stub.routes[("GET", "/api/projects/")] = (500, {"detail": "database\nlocked"}, {})
    with pytest.raises(VPBenchError, match=r"could not list projects \(HTTP 500: database locked\)"):
        LabelStudio(stub.url, LEGACY).projects()
    assert len(stub.seen) == 1  # no retry
    stub.routes[("GET", "/api/projects/")] = (200, b"<html>not an API</html>", {})
    with pytest.raises(VPBenchError, match="did not answer like a Label Studio server"):
        LabelStudio(stub.url, LEGACY).projects()
    stub.routes[("GET", "/api/projects/")] = (200, {"results": [{"name": "not a project"}]}, {})
    with pytest.raises(VPBenchError, match="answered with an unexpected shape while trying to list projects"):
        LabelStudio(stub.url, LEGACY).projects()
    stub.routes[("POST", "/api/token/refresh/")] = (200, b"<html>a login page</html>", {})
    with pytest.raises(VPBenchError, match="did not answer like a Label Studio server"):
        LabelStudio(stub.url, PAT).projects()
    with pytest.raises(VPBenchError, match=r"answered 404 \(Not found.\) while trying to list the project's tasks"):
        LabelStudio(stub.url, LEGACY).tasks(1)
    stub.routes[("POST", "/api/projects/")] = (
        400,
        {"validation_errors": {"title": ["Ensure this field has at least 3 characters."]}},
        {},
    )
    with pytest.raises(VPBenchError, match="could not create the project \\(HTTP 400: title: Ensure this field") as err:
        LabelStudio(stub.url, LEGACY).create_project({"title": "x"})
    assert err.value.status == 400


def test_a_hanging_server_times_out(stub):
    def slow(handler):
        time.sleep(1.0)
        return 200, {"count": 0, "results": []}, {}

    stub.routes[("GET", "/api/projects/")] = slow
    with pytest.raises(VPBenchError, match="did not answer within 0.2 s \\(while trying to list projects\\)"):
        LabelStudio(stub.url, LEGACY, timeout=0.2).projects()


def test_background_import_is_waited_for(stub):
    polls = []

    def state(handler):
        polls.append(1)
        return 200, {"id": 7, "status": "completed" if len(polls) > 1 else "in_progress", "task_count": 2}, {}

    stub.routes[("POST", "/api/projects/1/import")] = (201, {"import": 7}, {})
    stub.routes[("GET", "/api/projects/1/imports/7/")] = state
    tasks = [{"data": {"video": "/data/local-files/?d=a.avi", "video_id": "a"}}, {"data": {"video_id": "b"}}]
    assert LabelStudio(stub.url, LEGACY).import_tasks(1, tasks) == 2
    assert len(polls) == 2
    assert json.loads(stub.seen[0][3]) == tasks  # the tasks go out as they are


def test_local_file_probe(stub):
    answers = {"a.avi": (206, b"x", {}), "b.avi": (404, {"detail": "nope"}, {}), "c.avi": (403, b"", {})}
    stub.routes[("GET", "/data/local-files/")] = lambda h: answers[_query(h)["d"]]
    client = LabelStudio(stub.url, LEGACY)
    assert [client.serves_local_file(name) for name in answers] == [206, 404, 403]
    assert all(auth == f"Token {LEGACY}" for _, _, auth, _ in stub.seen)
    answers["d e.avi"] = (302, b"", {"Location": "http://elsewhere/login"})
    with pytest.raises(VPBenchError, match="redirected the request to http://elsewhere/login"):
        client.serves_local_file("d e.avi")


def test_the_token_is_never_logged(stub, caplog):
    issued = []

    def refresh(handler):
        issued.append(_jwt("access"))
        return 200, {"access": issued[-1]}, {}

    stub.routes[("POST", "/api/token/refresh/")] = refresh
    stub.routes[("GET", "/api/projects/")] = paged("results", [{"id": 4, "title": "Proj"}])
    stub.routes[("GET", "/api/users/")] = (403, {"detail": "no"}, {})
    caplog.set_level(logging.DEBUG)
    for token in (PAT, LEGACY):
        client = LabelStudio(stub.url, token)
        client.projects()
        with pytest.raises(VPBenchError):
            client.users()
    stub.routes[("POST", "/api/token/refresh/")] = (401, {"detail": "Token is blacklisted"}, {})
    with pytest.raises(VPBenchError):
        LabelStudio(stub.url, PAT).projects()
    assert caplog.records, "httpx logs its requests at DEBUG/INFO: the check must see them"
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    for secret in (PAT, LEGACY, *issued):
        assert secret not in text


# --------------------------------------------------------------------------- what push would send (no server)


def test_videos_of_a_raw_folder(tmp_path):
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

    stub.routes[("GET", "/api/projects/")] = paged("results", [{"id": 4, "title": "Proj", "maximum_annotations": 3}])
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
    export = next(path for _, path, _, _ in stub.seen if "/export" in path)
    assert {k: v[0] for k, v in parse_qs(urlsplit(export).query).items()} == {
        "export_type": "JSON",
        "download_all_tasks": "true",
        "download_resources": "false",
    }


# --------------------------------------------------------------------------- the command line


def _one_line_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1, captured.err
    return lines[0]


def test_the_token_comes_from_the_environment_only(stub, capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", LEGACY)
    with pytest.raises(SystemExit) as exit_:
        main(["annotate", "status", "--url", stub.url, "--project", "Proj", "--token", PAT])
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and "No such option: --token" in captured.err
    assert PAT not in captured.out + captured.err
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    line = _one_line_error(capsys, "annotate", "status", "--url", stub.url, "--project", "Proj")
    assert line.startswith("error: no Label Studio API token: set LABEL_STUDIO_API_KEY")
    assert stub.seen == []


def test_missing_sdk_is_one_line_naming_the_extra(stub, capsys, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", LEGACY)
    for name in [m for m in sys.modules if m.split(".")[0] == "label_studio_sdk"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)  # what `import` finds when it is not installed
    line = _one_line_error(capsys, "annotate", "pull", "--url", stub.url, "--project", "Proj", "--out", "x.json")
    assert line.startswith("error: vpbench annotate needs Label Studio's SDK, which is not installed")
    assert line.endswith(": pip install 'vpbench[annotate]'")
    assert stub.seen == []


def test_importing_vpbench_and_its_cli_needs_no_label_studio_sdk():
    # A finder that refuses label_studio_sdk, as in an install without the annotate extra: importing must not
    # even try it, and `vpbench annotate` says in one line which extra to install.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('label_studio_sdk', 'label_studio'):\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\")\n"
        "sys.meta_path.insert(0, Block())\n"
        "import vpbench, vpbench.cli, vpbench.annotation.campaign, vpbench.cli.annotate\n"
        "print('ok', flush=True)\n"
        "from vpbench.cli import main\n"
        "main(['annotate', 'status', '--url', 'http://127.0.0.1:9', '--project', 'Proj'])\n"
    )
    env = {**os.environ, "LABEL_STUDIO_API_KEY": LEGACY}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.stdout.strip() == "ok", proc.stderr
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: vpbench annotate needs Label Studio's SDK, which is not installed "
        "(No module named 'label_studio_sdk'): pip install 'vpbench[annotate]'"
    ], proc.stderr
