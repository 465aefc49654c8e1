"""The change log and compliance obligations end to end, on a platform of
their own: changes made through the internal API become events, recipients
that received the changed posts get obligations (overdue at once here: the
deadline is set to zero hours), acknowledge them through
`POST /2/compliance/acks`, and `tollgate compliance report` shows it; the log
applied with `tollgate events apply` to a second copy of the same base gives
the same platform."""

from __future__ import annotations

import json
import time

import pytest
import requests

from support import Server, bearer, create_demo, free_port, run_cli

ACCOUNTS = 200
POSTS = 2000


@pytest.fixture(scope="module")
def copies(workdir):
    """Two copies of the same base; the first served with zero-hour deadlines."""
    first, second = workdir / "events-a", workdir / "events-b"
    credentials = create_demo(first, free_port(), ACCOUNTS, POSTS)
    create_demo(second, free_port(), ACCOUNTS, POSTS)
    server = Server(first, extra_args=("--compliance-deadline-hours-standard", "0"), name="events").start()
    try:
        yield first, second, server, credentials
    finally:
        server.stop()


def app_token(credentials: dict, name: str) -> str:
    return next(a["token"] for a in credentials["apps"] if a["name"] == name)


def report(data_dir, *args: str) -> dict:
    return json.loads(run_cli(data_dir, "compliance", "report", "--json", *args).stdout)


def wait_for(what, check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_changes_become_obligations_that_recipients_acknowledge_and_the_log_replays(copies):
    first, second, server, credentials = copies
    base_seq = max(
        [0] + [json.loads(line)["seq"] for line in run_cli(first, "events", "list").stdout.splitlines()]
    )
    token = app_token(credentials, "demo-display")
    internal = {"Authorization": f"Bearer {credentials['internal_token']}"}
    author = credentials["examples"]["author_id"]
    page = requests.get(f"{server.base_url}/2/users/{author}/tweets", headers=bearer(token), timeout=30).json()
    delivered = [p["id"] for p in page["data"]]
    assert len(delivered) >= 2, page

    gone, marked = delivered[0], delivered[1]
    assert requests.delete(f"{server.base_url}/internal/posts/{gone}", headers=internal, timeout=30).ok
    r = requests.put(
        f"{server.base_url}/internal/posts/{marked}/no-ai", headers=internal, json={"no_ai": True}, timeout=30
    )
    assert r.ok, r.text
    stored = requests.get(f"{server.base_url}/internal/accounts/{author}", headers=internal, timeout=30).json()
    now = stored["account"]["ai_preferences"].get("train-ai", {}).get("third-parties", {}).get("value", "unset")
    r = requests.patch(
        f"{server.base_url}/internal/accounts/{author}/ai-preferences",
        headers=internal,
        json={"train-ai": {"third-parties": "allow" if now == "deny" else "deny"}},
        timeout=30,
    )
    assert r.ok, r.text

    listed = run_cli(first, "events", "list", "--after", str(base_seq)).stdout.splitlines()
    types = [json.loads(line)["type"] for line in listed]
    assert types == ["post_deleted", "post_no_ai_set", "ai_preference_changed"], types

    # The display app received the deleted post: one obligation, overdue at
    # once with a zero-hour deadline; no_ai and an AI preference concern AI
    # recipients only.
    display_id = next(a["id"] for a in credentials["apps"] if a["name"] == "demo-display")
    rows = wait_for(
        "the obligation",
        lambda: [r for r in report(first, "--app", str(display_id), "--overdue")["recipients"] if r["overdue"]],
    )
    assert rows[0]["overdue"] == 1 and rows[0]["pending"] == 0, rows
    overdue = report(first, "--app", str(display_id), "--overdue")["overdue"]
    assert [(o["post_id"], o["reason"]) for o in overdue] == [(int(gone), "deleted")], overdue
    text = run_cli(first, "compliance", "report", "--overdue").stdout
    assert "demo-display" in text and f"post {gone}" in text and "deleted" in text, text

    r = requests.post(
        f"{server.base_url}/2/compliance/acks", headers=bearer(token), json={"tweet_ids": [gone]}, timeout=30
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["acknowledged"] == [str(overdue[0]["event_seq"])]
    after = report(first, "--app", str(display_id))["recipients"][0]
    assert (after["overdue"], after["done"]) == (0, 1), after

    # The log, applied to the second copy of the base, makes the same changes.
    log = first / "changes.jsonl"
    log.write_text(run_cli(first, "events", "list", "--after", str(base_seq)).stdout)
    applied = run_cli(second, "events", "apply", str(log))
    assert "applied 3 change(s)" in applied.stdout, applied.stdout
    replayed = [
        {k: v for k, v in json.loads(line).items() if k != "seq"}
        for line in run_cli(second, "events", "list", "--after", str(base_seq)).stdout.splitlines()
    ]
    original = [{k: v for k, v in json.loads(line).items() if k != "seq"} for line in log.read_text().splitlines()]
    assert replayed == original


def test_a_bad_line_applies_nothing_and_names_its_line(copies):
    _, second, _, credentials = copies
    author = credentials["examples"]["author_id"]
    before = run_cli(second, "events", "list").stdout
    bad = second / "bad.jsonl"
    bad.write_text(
        f'{{"type": "account_protected", "account_id": {author}}}\n'
        "\n"
        '{"type": "post_deleted", "post_id": "not a number"}\n'
    )
    proc = run_cli(second, "events", "apply", str(bad), check=False)
    assert proc.returncode != 0
    assert "bad.jsonl:3:" in proc.stderr and "nothing was applied" in proc.stderr, proc.stderr
    unknown = second / "unknown.jsonl"
    unknown.write_text(f'{{"type": "account_protected", "account_id": {author}}}\n{{"type": "post_deleted", "post_id": 5}}\n')
    proc = run_cli(second, "events", "apply", str(unknown), check=False)
    assert proc.returncode != 0
    assert "unknown.jsonl:2:" in proc.stderr and "post 5" in proc.stderr, proc.stderr
    assert run_cli(second, "events", "list").stdout == before, "nothing was applied"
