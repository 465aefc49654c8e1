"""Fixtures of the end-to-end suite.

The suite builds nothing: it runs the binary at $TOLLGATE_BIN (default
`target/debug/tollgate`, relative to the repository root). One demo platform is
created and served for the whole session; tests that need a server of their
own (other flags, a crash) start one on their own data directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

import support
import x_sdk
from support import GroundTruth, Server, bearer, create_demo, free_port, run_cli, tollgate_bin

# Loopback requests never go through a proxy the environment may name.
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
os.environ["no_proxy"] = os.environ["NO_PROXY"]

# Every response the suite receives is checked against X's contract (below).
support.record_responses()

DEMO_ACCOUNTS = 3000
DEMO_POSTS = 30000


@dataclass
class Platform:
    """The session's demo platform and the server serving it."""

    server: Server
    data_dir: Path
    credentials: dict
    truth: GroundTruth
    claimed_authors: set[int] = field(default_factory=set)
    proxy: support.RecordingProxy | None = None

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def recording_url(self) -> str:
        """The server's URL through `support.RecordingProxy`, for a client that
        is not Python: its answers are checked against X's contract too."""
        if self.proxy is None:
            self.proxy = support.RecordingProxy(self.base_url)
        return self.proxy.base_url

    @property
    def internal_token(self) -> str:
        return self.credentials["internal_token"]

    def app(self, name: str) -> dict:
        for a in self.credentials["apps"]:
            if a["name"] == name:
                return a
        raise KeyError(name)

    def token(self, name: str) -> str:
        return self.app(name)["token"]

    @property
    def opted_out_post_id(self) -> int:
        return int(self.credentials["examples"]["opted_out_post_id"])

    @property
    def example_author_id(self) -> int:
        return int(self.credentials["examples"]["author_id"])

    def cli(self, *args: str, check: bool = True):
        return run_cli(self.data_dir, *args, check=check)

    def get(self, path: str, token: str, purpose: str | None = None, params=None) -> requests.Response:
        return requests.get(self.base_url + path, headers=bearer(token, purpose), params=params, timeout=30)

    def internal(self, method: str, path: str, json=None, data=None, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token if token is not None else self.internal_token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(method, self.base_url + path, headers=headers, json=json, data=data, timeout=30)

    def ledger_entries(self) -> int:
        return self.server.health()["ledger_entries"]

    def refused_since(self, before: int) -> list[str]:
        """The reasons of the refused attempts recorded from entry `before` on,
        each checked to have released nothing (`support.refused_attempts`)."""
        return support.refused_attempts(self.server, self.data_dir, before)

    def claim_author(self, accept) -> int:
        """An author no other test has claimed, for which `accept(account, posts)`
        holds. Tests that change an author's state, or that compare an author's
        posts exactly, claim the author first so they never share one."""
        candidates = sorted(self.truth.posts_by_author.items(), key=lambda kv: (len(kv[1]), kv[0]))
        for author_id, posts in candidates:
            if author_id in self.claimed_authors or author_id == self.example_author_id:
                continue
            if accept(self.truth.accounts[author_id], posts):
                self.claimed_authors.add(author_id)
                return author_id
        raise LookupError("no unclaimed author fits: make the demo platform larger")


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="tollgate-e2e-"))
    yield path
    if os.environ.get("TOLLGATE_E2E_KEEP"):
        print(f"\nkept the e2e data in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def platform(workdir):
    binary = tollgate_bin()
    if not binary.exists():
        pytest.fail(f"{binary} does not exist: build it with `cargo build -p tollgate-cli` or set TOLLGATE_BIN")
    data_dir = workdir / "demo"
    port = free_port()
    credentials = create_demo(data_dir, port, DEMO_ACCOUNTS, DEMO_POSTS)
    # Loopback is a trusted proxy, so that a test whose anonymous requests
    # must not be judged with the whole suite's traffic from loopback (the
    # guard's rate per address counts every request of the minute) can send
    # them from an address of its own in `X-Forwarded-For`.
    server = Server(data_dir, ("--guard-trusted-proxies", "127.0.0.1/32"), port=port, name="demo")
    server.start()
    platform = Platform(server=server, data_dir=data_dir, credentials=credentials, truth=GroundTruth.load(data_dir))
    try:
        yield platform
    finally:
        if platform.proxy is not None:
            platform.proxy.stop()
        server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium (scripts/setup-browser) driven by Playwright, never
    a browser Playwright downloads. It runs with `--no-sandbox` when the
    tests run as root (as in the project's container), where its sandbox
    cannot start; elsewhere with it."""
    if not support.CHROMIUM.exists():
        pytest.fail(f"{support.CHROMIUM} is missing: run scripts/setup-browser (Debian's `chromium` package)")
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(support.CHROMIUM), args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for server in support.RUNNING_SERVERS:
            text = server.stderr().strip()
            routine = ("serving on", "shutting down", "tollgate::access")
            if any(line and not line.startswith("[") and not any(r in line for r in routine) for line in text.splitlines()):
                report.sections.append((f"stderr of tollgate ({server.name}, {server.base_url})", text[-20000:]))
    return report


# -- X's contract, on every response ------------------------------------------------------
#
# Every 2xx response the suite receives for an operation X defines, whichever
# client asked (tweepy, twarc, xdk, twitter-api-v2 through `Platform.recording_url`,
# schemathesis, plain requests), must parse into the response model X's own SDK
# (xdk) has for that operation. The responses a test received, in its setup and
# its call, are checked when its call ends: a violation fails that test, naming
# the operation and the field. docs/testing.md describes the check.

CONTRACT_CHECKED: Counter = Counter()


def check_x_contract(exchanges: list[support.Exchange]) -> list[str]:
    """The violations in `exchanges`, one line each."""
    found = []
    for exchange in exchanges:
        if not 200 <= exchange.status < 300:
            # xdk raises on an error status and models no error body per operation.
            continue
        op = x_sdk.operation_for(exchange.method, exchange.path)
        if op is None:
            continue
        CONTRACT_CHECKED[f"{op.method} {op.path}"] += 1
        for violation in x_sdk.contract_violations(op, exchange.body):
            found.append(f"{op}: {violation}\n    in the response to {exchange.method} {exchange.url}")
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        result = yield
    except BaseException:
        # The test failed on its own; what it received is not judged twice.
        support.RESPONSES.take()
        raise
    violations = check_x_contract(support.RESPONSES.take())
    if violations:
        shown = "\n".join(violations[:20])
        more = f"\n... and {len(violations) - 20} more" if len(violations) > 20 else ""
        raise AssertionError(
            f"{len(violations)} response(s) this test received do not parse into X's SDK (xdk) response model "
            f"of their operation:\n{shown}{more}"
        )
    return result


def pytest_terminal_summary(terminalreporter):
    if CONTRACT_CHECKED:
        counts = ", ".join(f"{op}: {n}" for op, n in sorted(CONTRACT_CHECKED.items()))
        terminalreporter.write_line(
            f"X contract: {sum(CONTRACT_CHECKED.values())} responses parsed into xdk's response models ({counts})"
        )
