"""Compliance streams and webhooks against the real server.

- A stream answers in chunks of newline-delimited JSON and, given an
  `end_time` already past, ends once it has sent what came before.
- A stream killed mid-flight and resumed with `after_seq` (the `tollgate.seq`
  of the last line received) misses nothing and repeats nothing.
- A webhook receiver written here, as an app would write one, passes the
  challenge-response check with the secret the check discloses, and checks
  the signature of every delivery with it.

The tests that need notices rely on the server opening them: `tollgate
serve`'s notices thread follows the change log and tells every app that
received the posts (docs/compliance.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import support
from support import bearer

APP = "demo-display"
PARTITIONS = 4


def partition_of(account_id: int) -> int:
    return account_id % PARTITIONS + 1


def stream_lines(response: requests.Response):
    """The JSON lines of a stream, keep-alives left out."""
    for raw in response.iter_lines(delimiter=b"\r\n"):
        if raw.strip():
            yield json.loads(raw)


def test_a_stream_answers_in_chunks_and_ends_at_its_end_time(platform):
    token = platform.token(APP)
    with requests.get(
        platform.base_url + "/2/tweets/compliance/stream",
        params={"partition": 1, "after_seq": 0, "end_time": "2020-01-01T00:00:00Z"},
        headers=bearer(token),
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200, response.text
        assert response.headers.get("transfer-encoding") == "chunked"
        assert response.headers["content-type"].startswith("application/json")
        # Every event of this demo platform came after 2020: nothing to send.
        assert list(stream_lines(response)) == []


def test_bad_stream_parameters_are_refused(platform):
    token = platform.token(APP)
    for params in ({}, {"partition": 5}, {"partition": 1, "backfill_minutes": 6}, {"partition": 1, "after_seq": -1}):
        response = requests.get(
            platform.base_url + "/2/users/compliance/stream", params=params, headers=bearer(token), timeout=30
        )
        assert response.status_code == 400, (params, response.text)
        assert response.json()["errors"][0]["parameters"]


def _held_posts(platform, token: str, count: int) -> tuple[int, list[int]]:
    """An author no other test uses, and `count` of its posts this app received."""
    author = platform.claim_author(support.public_author(count, 40, support.none_deleted))
    response = platform.get(f"/2/users/{author}/tweets", token, params={"max_results": 100})
    assert response.status_code == 200, response.text
    ids = support.ids_of(response.json())[:count]
    assert len(ids) == count
    return author, ids


def _delete(platform, post_id: int) -> None:
    response = platform.internal("DELETE", f"/internal/posts/{post_id}")
    assert response.status_code == 200, response.text


def _read_until(response: requests.Response, wanted: set[int], got: list[tuple[int, int]], stop_after: int | None):
    """Reads delete events of `wanted` posts into `got` as (seq, post id)
    until all came or `stop_after` of them did."""
    deadline = time.monotonic() + 60
    for line in stream_lines(response):
        assert "errors" not in line, line
        post = int(line["data"]["delete"]["tweet"]["id"]) if "delete" in line["data"] else None
        if post in wanted:
            got.append((line["tollgate"]["seq"], post))
            if stop_after is not None and len(got) >= stop_after:
                return
            if {p for _, p in got} >= wanted:
                return
        assert time.monotonic() < deadline, f"notices of {wanted - {p for _, p in got}} did not come"


def test_a_stream_killed_mid_flight_resumes_from_its_last_seq_with_no_gap_and_no_duplicate(platform):
    token = platform.token(APP)
    author, posts = _held_posts(platform, token, 6)
    url = platform.base_url + "/2/tweets/compliance/stream"
    params = {"partition": partition_of(author)}
    got: list[tuple[int, int]] = []
    with requests.get(url, params=params, headers=bearer(token), stream=True, timeout=60) as first:
        assert first.status_code == 200
        for post in posts[:3]:
            _delete(platform, post)
        _read_until(first, set(posts), got, stop_after=2)
    # Killed mid-flight: the third notice may have been sent and never read.
    last = got[-1][0]
    for post in posts[3:]:
        _delete(platform, post)
    with requests.get(
        url, params={**params, "after_seq": last}, headers=bearer(token), stream=True, timeout=60
    ) as second:
        assert second.status_code == 200
        _read_until(second, set(posts), got, stop_after=None)
    seqs = [s for s, _ in got]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), f"a notice repeated or out of order: {got}"
    assert sorted(p for _, p in got) == sorted(posts), f"a notice missing: {got}"


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver: answers the check, checks every delivery's signature."""

    secret: str | None = None
    deliveries: list[tuple[bool, dict]] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        disclosed = self.headers.get("tollgate-webhook-secret")
        if disclosed:
            type(self).secret = disclosed
        token = parse_qs(urlsplit(self.path).query).get("crc_token", [""])[0]
        digest = hmac.new((type(self).secret or "").encode(), token.encode(), hashlib.sha256).digest()
        body = json.dumps({"response_token": "sha256=" + base64.b64encode(digest).decode()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        digest = hmac.new((type(self).secret or "").encode(), body, hashlib.sha256).digest()
        signed = self.headers.get("x-twitter-webhooks-signature") == "sha256=" + base64.b64encode(digest).decode()
        type(self).deliveries.append((signed, json.loads(body)))
        self.send_response(200 if signed else 401)
        self.send_header("content-length", "0")
        self.end_headers()


@pytest.fixture()
def receiver():
    handler = type("Receiver", (_Receiver,), {"secret": None, "deliveries": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def _register(platform, token: str, url: str) -> requests.Response:
    return requests.post(platform.base_url + "/2/webhooks", json={"url": url}, headers=bearer(token), timeout=30)


def test_a_webhook_is_registered_once_its_receiver_answers_the_check(platform, receiver):
    handler, url = receiver
    token = platform.token(APP)
    response = _register(platform, token, url)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["secret"] == handler.secret
    try:
        listed = requests.get(platform.base_url + "/2/webhooks", headers=bearer(token), timeout=30).json()
        assert [w["id"] for w in listed["data"]] == [data["id"]]
        assert "secret" not in listed["data"][0]
        # Checked again on request, with the secret it now knows.
        again = requests.put(f"{platform.base_url}/2/webhooks/{data['id']}", headers=bearer(token), timeout=30)
        assert again.json()["data"]["valid"] is True, again.text
    finally:
        requests.delete(f"{platform.base_url}/2/webhooks/{data['id']}", headers=bearer(token), timeout=30)


def test_a_receiver_that_cannot_answer_the_check_is_not_registered(platform):
    token = platform.token(APP)
    # A port nothing listens on, and a scheme the server does not deliver to.
    for url in (f"http://127.0.0.1:{support.free_port()}/hook", "ftp://127.0.0.1/hook"):
        response = _register(platform, token, url)
        assert response.status_code == 400, response.text
    listed = requests.get(platform.base_url + "/2/webhooks", headers=bearer(token), timeout=30).json()
    assert listed["data"] == []


def test_webhook_deliveries_are_signed_with_the_webhooks_secret(platform, receiver):
    handler, url = receiver
    token = platform.token(APP)
    author, posts = _held_posts(platform, token, 2)
    registered = _register(platform, token, url)
    assert registered.status_code == 200, registered.text
    webhook = registered.json()["data"]["id"]
    try:
        for post in posts:
            _delete(platform, post)
        deadline = time.monotonic() + 60
        delivered: set[int] = set()
        while delivered < set(posts):
            assert time.monotonic() < deadline, f"not delivered: {set(posts) - delivered}"
            time.sleep(0.1)
            for signed, body in list(handler.deliveries):
                assert signed, body
                for event in body["events"]:
                    if "delete" in event["data"]:
                        delivered.add(int(event["data"]["delete"]["tweet"]["id"]))
    finally:
        requests.delete(f"{platform.base_url}/2/webhooks/{webhook}", headers=bearer(token), timeout=30)


def test_open_streams_end_with_where_to_resume_when_the_server_stops(tmp_path):
    port = support.free_port()
    credentials = support.create_demo(tmp_path, port, accounts=30, posts=100)
    token = next(a["token"] for a in credentials["apps"] if a["name"] == APP)
    server = support.Server(tmp_path, port=port, name="streams-stop").start()
    try:
        with requests.get(
            server.base_url + "/2/users/compliance/stream",
            params={"partition": 1},
            headers=bearer(token),
            stream=True,
            timeout=30,
        ) as response:
            assert response.status_code == 200
            lines = stream_lines(response)
            started = time.monotonic()
            # SIGTERM: the open stream must not hold the server up.
            stopper = threading.Thread(target=lambda: server.proc.send_signal(15))
            stopper.start()
            last = next(lines)
            assert last["errors"][0]["title"] == "operational-disconnect"
            assert last["tollgate"]["resume_after_seq"] >= 0
            assert list(lines) == []
        assert server.proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 15
    finally:
        server.stop()
