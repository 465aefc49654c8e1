"""Running the `tollgate` binary and its server for the ledger tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def tollgate_bin() -> Path:
    path = Path(os.environ.get("TOLLGATE_BIN", "target/debug/tollgate"))
    path = path if path.is_absolute() else REPO_ROOT / path
    if not path.exists():
        pytest.fail(f"{path} does not exist: build it with `cargo build -p tollgate-cli`")
    return path


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    clean["NO_PROXY"] = clean["no_proxy"] = "127.0.0.1,localhost"
    return clean


def cli(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(tollgate_bin()), "--data-dir", str(data_dir), *args],
        cwd=data_dir,
        env=env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"tollgate {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def serve(data_dir: Path, requests: int, post_ids: list[int], token: str) -> dict:
    """Serves the data directory, makes `requests` post lookups, fetches the
    published key, and stops the server with SIGTERM (a clean shutdown)."""
    port = free_port()
    log = open(data_dir.parent / f"serve-{port}.stderr", "wb")
    proc = subprocess.Popen(
        [str(tollgate_bin()), "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", "serve"],
        cwd=data_dir,
        env=env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (data_dir.parent / f"serve-{port}.stderr").read_text()
            try:
                if get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        for i in range(requests):
            status, body = get(f"{base}/2/tweets/{post_ids[i % len(post_ids)]}", token)
            assert status in (200, 403, 404), body[:300]
        status, key = get(base + "/.well-known/tollgate-ledger-key")
        assert status == 200, key
        return json.loads(key)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
