"""Operability of `serve`: connection limits and timeouts, /healthz, the log.

Each test starts a server of its own on a small demo platform
(created once for the module), on loopback, with small limits, and holds at
most a few hundred sockets for a few seconds.

Several client addresses on one machine: Linux routes all of 127.0.0.0/8 to
the loopback interface, so a socket bound to 127.0.0.2 before connecting is a
second client address as far as the server can tell.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from support import Server, bearer, create_demo, free_port, tollgate_bin, child_env

FLOOD = 300


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("ops") / "demo"
    credentials = create_demo(data_dir, free_port(), accounts=200, posts=2000)
    return data_dir, credentials


def display_token(credentials: dict) -> str:
    return next(a["token"] for a in credentials["apps"] if a["name"] == "demo-display")


def example_post(credentials: dict) -> str:
    return str(credentials["examples"]["opted_out_post_id"])


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def served(port: int, token: str, post: str, source: str = "127.0.0.1") -> int:
    """The status of one lookup over a new connection from `source` (`503`:
    the connection was refused), or 0 if it was closed without an answer."""
    s = connect(port, source)
    try:
        s.sendall(
            f"GET /2/tweets/{post} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return 0
    finally:
        s.close()
    if not data.startswith(b"HTTP/1.1 "):
        return 0
    return int(data.split(b" ", 2)[1])


def flood(port: int, n: int, source: str) -> list[socket.socket]:
    """`n` connections from `source` that send nothing."""
    held = []
    for _ in range(n):
        try:
            held.append(connect(port, source))
        except OSError:
            break
    return held


def wait_closed(s: socket.socket, within: float) -> bool:
    """Whether the server closes `s` (EOF or reset) within `within` seconds."""
    s.settimeout(within)
    try:
        while s.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_a_flood_of_idle_connections_from_one_address_does_not_shut_out_others(small_demo):
    data_dir, credentials = small_demo
    server = Server(
        data_dir,
        ("--max-connections", "1000", "--max-connections-per-ip", "50", "--idle-timeout-secs", "60"),
        name="per-ip",
    ).start()
    try:
        held = flood(server.port, FLOOD, "127.0.0.2")
        try:
            # The flooding address got its share and no more: the others were closed at once.
            open_ones = [s for s in held if not wait_closed(s, 0.05)]
            assert len(open_ones) <= 50, f"{len(open_ones)} of {len(held)} connections from one address stayed open"
            assert served(server.port, display_token(credentials), example_post(credentials)) in (200, 403), (
                "a client from another address is served"
            )
            assert served(server.port, display_token(credentials), example_post(credentials), "127.0.0.2") in (0, 503), (
                "the flooding address gets no more"
            )
        finally:
            for s in held:
                s.close()
        log = server.stderr()
        assert "max_connections_per_ip" in log, "the refusal is logged, naming the key"
        assert log.count("max_connections_per_ip") <= 2, "the warning is rate-limited"
    finally:
        server.stop()


def test_at_the_global_cap_new_connections_are_refused_and_the_server_recovers(small_demo):
    data_dir, credentials = small_demo
    server = Server(data_dir, ("--max-connections", "20", "--max-connections-per-ip", "20"), name="cap").start()
    try:
        held = flood(server.port, 40, "127.0.0.3")
        try:
            open_ones = [s for s in held if not wait_closed(s, 0.05)]
            assert len(open_ones) <= 20
            assert served(server.port, display_token(credentials), example_post(credentials)) in (0, 503), (
                "at the cap, a new connection is refused"
            )
        finally:
            for s in held:
                s.close()
        # Closed connections free their places.
        deadline = time.monotonic() + 10
        status = 0
        while time.monotonic() < deadline and status in (0, 503):
            status = served(server.port, display_token(credentials), example_post(credentials))
            time.sleep(0.1)
        assert status in (200, 403)
        assert "max_connections" in server.stderr()
    finally:
        server.stop()


def test_a_head_that_stalls_is_cut_off_but_an_idle_kept_alive_connection_is_not(small_demo):
    data_dir, credentials = small_demo
    server = Server(
        data_dir, ("--header-read-timeout-secs", "1", "--idle-timeout-secs", "30"), name="timeouts"
    ).start()
    try:
        stalled = connect(server.port)
        idle = connect(server.port)
        try:
            stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")
            # Well under the idle timeout, well over the header timeout.
            assert wait_closed(stalled, 8), "a half-sent head is cut off after header_read_timeout_secs"
            time.sleep(1.5)
            # The idle connection waited longer, sending nothing: it is still served.
            idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            idle.settimeout(10)
            assert idle.recv(65536).startswith(b"HTTP/1.1 200 "), "an idle connection is kept past the header timeout"
        finally:
            stalled.close()
            idle.close()
    finally:
        server.stop()


def test_a_request_body_that_stalls_is_cut_off(small_demo):
    data_dir, credentials = small_demo
    server = Server(data_dir, ("--body-read-timeout-secs", "1"), name="body").start()
    try:
        s = connect(server.port)
        try:
            s.sendall(
                f"PUT /internal/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {credentials['internal_token']}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{".encode()
            )
            s.settimeout(8)
            answer = s.recv(65536)
            assert answer.startswith(b"HTTP/1.1 400 "), answer
            assert b"body_read_timeout_secs" in answer, answer
        finally:
            s.close()
    finally:
        server.stop()


def test_healthz_lists_its_checks_and_the_access_log_is_json_lines(small_demo):
    data_dir, credentials = small_demo
    server = Server(data_dir, ("--log-format", "json"), name="json").start()
    try:
        r = requests.get(server.base_url + "/healthz", timeout=10)
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "ok"
        assert set(body["checks"]) == {"store", "ledger_writer", "ledger_signer", "ledger_indexer"}
        assert all(c["status"] == "ok" and c["detail"] for c in body["checks"].values()), body
        token = display_token(credentials)
        r = requests.get(f"{server.base_url}/2/tweets/{example_post(credentials)}", headers=bearer(token), timeout=10)
        request_id = r.headers["x-request-id"]
        metrics = requests.get(server.base_url + "/metrics", timeout=10).text
        assert "tollgate_ledger_unsigned_entries 0" in metrics
        assert "tollgate_ledger_index_lag_entries " in metrics
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.stderr_path.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line.get("target") == "tollgate::access"]
    mine = [line for line in access if line.get("id") == request_id]
    assert len(mine) == 1, access
    line = mine[0]
    assert line["endpoint"] == "/2/tweets/{id}", "the route template, not the path"
    assert line["purpose"] == "display" and isinstance(line["app"], int) and isinstance(line["seq"], int)
    assert line["status"] == r.status_code and line["latency_us"] >= 0


def test_the_access_log_can_be_turned_off(small_demo):
    data_dir, _ = small_demo
    server = Server(data_dir, ("--access-log", "false"), name="quiet").start()
    try:
        requests.get(server.base_url + "/healthz", timeout=10)
    finally:
        server.stop()
    assert "tollgate::access" not in server.stderr()


def test_a_closed_stderr_does_not_stop_the_server(small_demo):
    data_dir, credentials = small_demo
    port = free_port()
    proc = subprocess.Popen(
        [str(tollgate_bin()), "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", "serve"],
        cwd=data_dir,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Read the first line (the server is up), then close the pipe: every
        # later log line fails to be written (EPIPE).
        assert b"serving on" in proc.stderr.readline()
        proc.stderr.close()
        token = display_token(credentials)
        for _ in range(20):
            r = requests.get(f"http://127.0.0.1:{port}/2/tweets/{example_post(credentials)}", headers=bearer(token), timeout=10)
            assert r.status_code in (200, 403)
        assert proc.poll() is None, "the server still runs"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0, "and shuts down cleanly"
