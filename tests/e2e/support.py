"""Shared machinery of the end-to-end tests: running the `tollgate` binary,
serving a data directory, pointing X client libraries at the local server, and
the demo platform's generated data as ground truth."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import requests
import requests.adapters

REPO_ROOT = Path(__file__).resolve().parents[2]

# Hosts the X client libraries have hard-coded.
X_HOSTS = ("https://api.twitter.com/", "https://api.x.com/")

# The browser the page tests drive (scripts/setup-browser) and the
# accessibility check they run in it (scripts/setup-node).
CHROMIUM = Path(os.environ.get("TOLLGATE_CHROMIUM", "/usr/bin/chromium"))
AXE = REPO_ROOT / "tests/e2e/node/node_modules/axe-core/axe.min.js"


def axe_violations(page) -> list[str]:
    """The serious and critical violations axe-core finds on `page` (whose
    Content-Security-Policy the test's browser context bypasses)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# Every server started by the tests, so that a failing test can show their stderr.
RUNNING_SERVERS: list["Server"] = []


def tollgate_bin() -> Path:
    raw = os.environ.get("TOLLGATE_BIN", "target/debug/tollgate")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def child_env() -> dict[str, str]:
    """The environment for `tollgate`: without TOLLGATE_* settings of the caller,
    which would otherwise override the flags the tests pass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(data_dir: Path, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs `tollgate --data-dir DATA ARGS...` from inside the data directory, so
    that no `tollgate.toml` of the working tree is picked up."""
    cmd = [str(tollgate_bin()), "--data-dir", str(data_dir), *args]
    proc = subprocess.run(
        cmd,
        cwd=data_dir,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(cmd)}` exited with {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def recorded_entries(server: "Server", data_dir: Path, start: int = 0) -> list[dict]:
    """The ledger entries from entry `start` on, every one the server has
    recorded so far. Read with `ledger tail`, from the store's copy, which a
    running server makes a few milliseconds after the responses: read again
    (bounded) until it holds them all."""
    want = server.health()["ledger_entries"] - start
    for _ in range(100):
        out = run_cli(data_dir, "ledger", "tail", "--from", str(start), "--limit", "1000000").stdout
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(entries) >= want:
            break
        time.sleep(0.05)
    assert len(entries) >= want, f"{len(entries)} entries from {start} on, the server counts {want}"
    return entries


def refused_attempts(server: "Server", data_dir: Path, before: int) -> list[str]:
    """The reasons of the ledger entries recorded from entry `before` on, each
    checked to be a refused attempt that released nothing: what a request
    refused before anything was decided leaves (docs/guard.md, "Evidence")."""
    want = server.health()["ledger_entries"] - before
    entries = recorded_entries(server, data_dir, before)
    assert len(entries) == want, f"{len(entries)} entries from {before} on, the server counts {want}"
    for e in entries:
        assert e["outcome"]["status"] == "refused", e
        assert not (e.get("posts") or e.get("accounts")), f"a refused attempt released something: {e}"
    return [e["outcome"]["reason"] for e in entries]


def create_demo(data_dir: Path, port: int, accounts: int, posts: int) -> dict:
    data_dir.mkdir(parents=True, exist_ok=True)
    run_cli(
        data_dir,
        "--listen",
        f"127.0.0.1:{port}",
        "demo",
        "--accounts",
        str(accounts),
        "--posts",
        str(posts),
        "--no-serve",
        timeout=600,
    )
    return json.loads((data_dir / "demo-credentials.json").read_text())


class ServerExited(RuntimeError):
    pass


class Server:
    """One `tollgate serve` process on a data directory."""

    def __init__(self, data_dir: Path, extra_args: tuple[str, ...] = (), port: int | None = None, name: str = "server"):
        self.data_dir = Path(data_dir)
        self.extra_args = tuple(extra_args)
        self.port = port or free_port()
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.log_dir = self.data_dir.parent / f"{self.data_dir.name}-logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.starts}.stderr"

    def stderr(self) -> str:
        out = []
        for i in range(1, self.starts + 1):
            p = self.log_dir / f"{self.name}-{i}.stderr"
            if p.exists():
                out.append(f"[{self.name} run {i}]\n" + p.read_text(errors="replace"))
        return "\n".join(out)

    def start(self, timeout: float = 60) -> "Server":
        for attempt in range(3):
            try:
                self._start_once(timeout)
                return self
            except ServerExited as e:
                # Another process may have taken the port between choosing and binding it.
                if "cannot listen" in str(e) and attempt < 2:
                    self.port = free_port()
                    continue
                raise
        return self

    def _start_once(self, timeout: float) -> None:
        self.starts += 1
        cmd = [
            str(tollgate_bin()),
            "--data-dir",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{self.port}",
            *self.extra_args,
            "serve",
        ]
        stdout = open(self.log_dir / f"{self.name}-{self.starts}.stdout", "wb")
        stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=self.data_dir, env=child_env(), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
        stdout.close()
        stderr.close()
        if self not in RUNNING_SERVERS:
            RUNNING_SERVERS.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerExited(
                    f"`{' '.join(cmd)}` exited with {self.proc.returncode} before serving:\n"
                    + self.stderr_path.read_text(errors="replace")
                )
            try:
                r = requests.get(self.base_url + "/healthz", timeout=2)
                if r.status_code == 200 and r.json().get("status") == "ok":
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer /healthz within {timeout}s:\n{self.stderr()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def health(self) -> dict:
        r = requests.get(self.base_url + "/healthz", timeout=10)
        r.raise_for_status()
        return r.json()


class LocalTransport(requests.adapters.HTTPAdapter):
    """Sends what a client library addresses to X's API host to the local
    server instead. Only the scheme and host change; path, query, headers and
    body go out as the library built them."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/") + "/"

    def send(self, request, **kwargs):
        for host in X_HOSTS:
            if request.url.startswith(host):
                request.url = self.base_url + request.url[len(host) :]
                # The loopback server is never reached through a proxy.
                kwargs["proxies"] = {}
                break
        return super().send(request, **kwargs)


# -- every response the suite receives ----------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One response a test received from a local server."""

    method: str
    url: str
    status: int
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


class ResponseLog:
    """Every response that a `requests` session of the suite (tweepy, twarc,
    xdk, schemathesis, the tests' own calls) received from a loopback server,
    in order; `take()` hands out those not yet taken."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: list[Exchange] = []

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._entries.append(exchange)

    def pending(self) -> list[Exchange]:
        """Those not yet taken, left in place."""
        with self._lock:
            return list(self._entries)

    def take(self) -> list[Exchange]:
        with self._lock:
            new, self._entries = self._entries, []
            return new


RESPONSES = ResponseLog()
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def record_responses() -> None:
    """Makes every `requests` transport add what it receives from a loopback
    server to `RESPONSES`. The body is read at once (and kept by the response,
    so the library reads it as usual), except a streamed one, read by its
    caller as it comes; nothing is changed."""
    adapter = requests.adapters.HTTPAdapter
    if getattr(adapter.send, "records_responses", False):
        return
    send = adapter.send

    def recording_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        # A streamed response (a compliance stream) is read by its caller as
        # it comes; reading it here would wait for its end.
        if urlsplit(request.url).hostname in _LOOPBACK and not kwargs.get("stream"):
            RESPONSES.add(Exchange(request.method, request.url, response.status_code, response.content))
        return response

    recording_send.records_responses = True
    adapter.send = recording_send


class RecordingProxy:
    """A loopback HTTP proxy in front of a server, for clients that are not
    Python (twitter-api-v2 in Node.js): it forwards each request as it came
    (method, path, query, headers, body) through a `requests` session, so that
    the answer lands in `RESPONSES` like any other, and returns the answer
    unchanged (status, headers, body)."""

    # Headers that belong to one connection, not to the request or answer.
    HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}

    def __init__(self, upstream: str):
        session = requests.Session()
        session.trust_env = False
        hop = self.HOP_BY_HOP

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
                # The answer is passed on as its bytes: no compression to undo.
                headers["Accept-Encoding"] = "identity"
                answer = session.request(self.command, upstream + self.path, headers=headers, data=body, timeout=60)
                self.send_response(answer.status_code)
                for k, v in answer.headers.items():
                    if k.lower() not in hop:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="recording-proxy", daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- ground truth -------------------------------------------------------------------


@dataclass
class GroundTruth:
    """The platform `demo` generated, read from DATA/generated/*.jsonl."""

    accounts: dict[int, dict]
    posts: dict[int, dict]
    posts_by_author: dict[int, list[dict]] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: Path) -> "GroundTruth":
        generated = data_dir / "generated"
        accounts = {}
        with open(generated / "accounts.jsonl", encoding="utf-8") as f:
            for line in f:
                a = json.loads(line)
                accounts[a["id"]] = a
        posts = {}
        by_author: dict[int, list[dict]] = {}
        with open(generated / "posts.jsonl", encoding="utf-8") as f:
            for line in f:
                p = json.loads(line)
                posts[p["id"]] = p
                by_author.setdefault(p["author_id"], []).append(p)
        for plist in by_author.values():
            plist.sort(key=lambda p: p["id"], reverse=True)
        return cls(accounts, posts, by_author)

    def account_is_public_and_active(self, account_id: int) -> bool:
        a = self.accounts[account_id]
        return a.get("status", "active") == "active" and not a.get("protected", False)

    def shown_for_display(self, post: dict) -> bool:
        """Whether a third-party app receives the post for `display`: not
        deleted, by an active author whose account is not protected."""
        return post.get("deleted_at") is None and self.account_is_public_and_active(post["author_id"])

    def handle(self, account_id: int) -> str:
        return self.accounts[account_id]["handle"]


def public_author(min_posts: int, max_posts: int, extra=lambda account, posts: True):
    """A predicate for `Platform.claim_author`: an active, unprotected author
    with `min_posts` to `max_posts` posts for whom `extra` holds."""

    def accept(account, posts):
        return (
            account.get("status", "active") == "active"
            and not account.get("protected", False)
            and min_posts <= len(posts) <= max_posts
            and extra(account, posts)
        )

    return accept


def none_deleted(account, posts) -> bool:
    return not any(p.get("deleted_at") for p in posts)


_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without diacritics, as a full-text index compares words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> set[str]:
    return set(_TOKEN.findall(fold(text)))


def has_word(text: str, word: str) -> bool:
    return fold(word) in words(text)


# -- plain HTTP helpers -------------------------------------------------------------


def bearer(token: str, purpose: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {token}"}
    if purpose is not None:
        h["Tollgate-Purpose"] = purpose
    return h


def ids_of(body: dict) -> list[int]:
    data = body.get("data")
    if data is None:
        return []
    if isinstance(data, dict):
        data = [data]
    return [int(t["id"]) for t in data]
