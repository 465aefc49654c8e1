"""Batch compliance jobs driven by X's clients, as an X developer would: twarc2's
command line (`twarc2 compliance-job create/list/get/download`) and tweepy's
`create_compliance_job`, `get_compliance_job` and `get_compliance_jobs`.

Both address https://api.twitter.com; the only change made to them is the
transport adapter the other client tests mount, which sends those requests to
the local server. The command line runs in-process (click's test runner) with
twarc's client class replaced by the subclass of test_twarc.py that mounts
it. The signed upload and download URLs are absolute URLs on the server, which
both clients reach with plain `requests`, as they reach X's storage.

The results are checked against the delivery path itself: an id gets a line
exactly when the API withholds it, today, for one of the app's purposes, and
the line's reason is the API's reason code in X's words.
"""

from __future__ import annotations

import json
import random
import re
import time

import pytest
import requests
import tweepy
import twarc
from click.testing import CliRunner
from twarc.command2 import twarc2 as twarc2_cli

from support import LocalTransport
from test_twarc import LocalTwarc2

# Tollgate's reason codes as a result line's `reason`, in precedence order
# (crates/api/src/compliance_jobs.rs, `X_REASONS`).
X_REASONS = {
    "deleted": "deleted",
    "author_suspended": "suspended",
    "author_deactivated": "deactivated",
    "protected_account": "protected",
    "minor": "minor",
    "author_opted_out": "ai_consent_withdrawn",
    "post_no_ai": "no_ai",
}
PRECEDENCE = list(X_REASONS)

# The purposes each demo app declared (crates/cli/src/cmd/demo.rs, `APPS`).
DECLARED = {
    "demo-display": ["display", "search"],
    "demo-partner": ["display", "train-genai", "train-ai", "ai-input"],
}


def tweepy_client(platform, app: str) -> tweepy.Client:
    client = tweepy.Client(bearer_token=platform.token(app))
    client.session.mount("https://", LocalTransport(platform.base_url))
    return client


def run_twarc2(platform, app: str, tmp_path, *args: str) -> str:
    """Runs `twarc2 --bearer-token TOKEN ARGS...`; its output (stdout and stderr)."""
    base_url = platform.base_url

    class Local(LocalTwarc2):
        def __init__(self, **kwargs):
            super().__init__(base_url, kwargs["bearer_token"])

    original = twarc.Twarc2
    twarc.Twarc2 = Local
    try:
        result = CliRunner().invoke(
            twarc2_cli,
            ["--bearer-token", platform.token(app), "--log", str(tmp_path / "twarc.log"), *args],
            catch_exceptions=False,
        )
    finally:
        twarc.Twarc2 = original
    output = result.output
    assert result.exit_code == 0, f"twarc2 {' '.join(args)} exited {result.exit_code}:\n{output}"
    return output


def wait_complete(client: tweepy.Client, job_id: str) -> dict:
    """Polls the job until it is no longer created or in progress (bounded)."""
    deadline = time.monotonic() + 60
    while True:
        job = client.get_compliance_job(job_id).data
        if job["status"] not in ("created", "in_progress") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def withheld_by_purpose(platform, app: str, ids: list[int]) -> dict[int, dict[str, str]]:
    """For each id, the purposes of `app` the API withholds it for today and
    the reason code of each; purposes the app is refused whole are left out,
    as a job leaves them out."""
    purposes = DECLARED[app]
    out: dict[int, dict[str, str]] = {i: {} for i in ids}
    for purpose in purposes:
        for start in range(0, len(ids), 100):
            r = platform.get("/2/tweets", platform.token(app), purpose, params={"ids": ",".join(map(str, ids[start : start + 100]))})
            if r.status_code == 403:
                break
            assert r.status_code == 200, r.text
            for error in r.json().get("errors", []):
                if "reason" in error:
                    out[int(error["resource_id"])][purpose] = error["reason"]
    return out


def expected_lines(platform, app: str, withheld: dict[int, dict[str, str]]) -> dict[str, tuple[str, str]]:
    """The (action, reason) of each id's line, from what the API withholds."""
    declared = DECLARED[app]
    expected = {}
    for post_id, reasons in withheld.items():
        if not reasons:
            continue
        code = min(reasons.values(), key=lambda c: PRECEDENCE.index(c) if c in PRECEDENCE else len(PRECEDENCE))
        action = "delete" if len(reasons) == len(declared) else "restrict"
        expected[str(post_id)] = (action, X_REASONS.get(code, code))
    return expected


def change_state(platform) -> dict[str, int]:
    """Deletes one post, withdraws an author's consent to generative AI
    training and suspends another author, each of an author no other test
    uses; the posts concerned, by what happened to them."""

    def public(account, posts):
        adult = not account.get("is_minor") and (account.get("birth_year") or 0) < 2000
        usable = [p for p in posts if p.get("deleted_at") is None and not p.get("no_ai")]
        return platform.truth.account_is_public_and_active(account["id"]) and adult and account.get("region") == "US" and usable

    deleted_author = platform.claim_author(public)
    withdrawn_author = platform.claim_author(public)
    suspended_author = platform.claim_author(public)
    posts = {a: [p for p in platform.truth.posts_by_author[a] if p.get("deleted_at") is None and not p.get("no_ai")] for a in (deleted_author, withdrawn_author, suspended_author)}
    changed = {
        "deleted": posts[deleted_author][0]["id"],
        "withdrawn": posts[withdrawn_author][0]["id"],
        "suspended": posts[suspended_author][0]["id"],
    }
    assert platform.internal("DELETE", f"/internal/posts/{changed['deleted']}").status_code == 200
    r = platform.internal("PATCH", f"/internal/accounts/{withdrawn_author}/ai-preferences", json={"train-genai": {"third-parties": "deny"}})
    assert r.status_code == 200, r.text
    r = platform.internal("PUT", f"/internal/accounts/{suspended_author}/status", json={"status": "suspended"})
    assert r.status_code == 200, r.text
    return changed


def sample_ids(platform, n: int, seed: int) -> list[int]:
    every = sorted(p["id"] for posts in platform.truth.posts_by_author.values() for p in posts)
    return random.Random(seed).sample(every, n)


def test_twarc2_command_line_runs_a_tweets_job_whose_lines_are_what_the_api_withholds(platform, tmp_path):
    app = "demo-partner"
    changed = change_state(platform)
    unknown = 1
    ids = sample_ids(platform, 300, seed=7) + list(changed.values())
    infile = tmp_path / "ids.txt"
    infile.write_text("\n".join(str(i) for i in [*ids, unknown]) + "\n")

    created = run_twarc2(platform, app, tmp_path, "compliance-job", "create", "tweets", str(infile), "--job-name", "e2e", "--no-wait")
    job_id = re.search(r"Created a new tweets job (\d+)", created).group(1)
    client = tweepy_client(platform, app)
    job = wait_complete(client, job_id)
    assert job["status"] == "complete", job

    listed = json.loads(run_twarc2(platform, app, tmp_path, "compliance-job", "list", "tweets", "--json-output").splitlines()[-1])
    assert job_id in [j["id"] for j in listed]
    got = json.loads(run_twarc2(platform, app, tmp_path, "compliance-job", "get", job_id, "--json-output").splitlines()[-1])
    assert got["data"]["status"] == "complete" and got["data"]["name"] == "e2e"

    outfile = tmp_path / "results.json"
    run_twarc2(platform, app, tmp_path, "compliance-job", "download", job_id, str(outfile), "--hide-progress")
    lines = [json.loads(line) for line in outfile.read_text().splitlines()]
    got_lines = {line["id"]: (line["action"], line["reason"]) for line in lines}

    expected = expected_lines(platform, app, withheld_by_purpose(platform, app, ids))
    assert got_lines == expected
    assert got_lines[str(changed["deleted"])] == ("delete", "deleted")
    assert got_lines[str(changed["suspended"])] == ("delete", "suspended")
    assert got_lines[str(changed["withdrawn"])] == ("restrict", "ai_consent_withdrawn")
    assert str(unknown) not in got_lines, "an unknown id gets no line, as on X"
    for line in lines:
        assert set(line) >= {"id", "action", "created_at", "reason"}, line
        # Known for a deletion; never a made-up time.
        if line["reason"] == "deleted":
            assert "redacted_at" in line, line


def test_tweepy_runs_a_users_job_and_only_its_app_sees_it(platform):
    app = "demo-partner"
    client = tweepy_client(platform, app)
    author = platform.claim_author(lambda account, posts: platform.truth.account_is_public_and_active(account["id"]))
    r = platform.internal("PUT", f"/internal/accounts/{author}/status", json={"status": "deactivated"})
    assert r.status_code == 200, r.text

    job = client.create_compliance_job(type="users", name="users-e2e").data
    assert job["status"] == "created" and job["type"] == "users" and job["name"] == "users-e2e"
    # Uploaded as X's documents show it: a PUT of a text file to the upload URL, no token.
    upload = requests.put(job["upload_url"], data=f"{author}\n{platform.example_author_id}\n", headers={"Content-Type": "text/plain"}, timeout=30)
    assert upload.status_code == 200, upload.text
    done = wait_complete(client, job["id"])
    assert done["status"] == "complete", done
    assert job["id"] in [j["id"] for j in client.get_compliance_jobs(type="users").data]
    assert job["id"] in [j["id"] for j in client.get_compliance_jobs(type="users", status="complete").data]

    results = requests.get(done["download_url"], timeout=30)
    assert results.status_code == 200, results.text
    lines = {line["id"]: line for line in map(json.loads, results.text.splitlines())}
    assert lines[str(author)]["action"] == "delete" and lines[str(author)]["reason"] == "deactivated"

    other = tweepy_client(platform, "demo-display")
    with pytest.raises(tweepy.NotFound):
        other.get_compliance_job(job["id"])
    assert job["id"] not in [j["id"] for j in other.get_compliance_jobs(type="users").data or []]
    # A second upload to the same URL is refused: a job takes one.
    again = requests.put(job["upload_url"], data="1\n", headers={"Content-Type": "text/plain"}, timeout=30)
    assert again.status_code == 409, again.text


def test_a_malformed_upload_is_refused_naming_its_line(platform):
    client = tweepy_client(platform, "demo-display")
    job = client.create_compliance_job(type="tweets").data
    r = requests.put(job["upload_url"], data="1\n2\nthree\n", headers={"Content-Type": "text/plain"}, timeout=30)
    assert r.status_code == 400
    assert r.json()["detail"].startswith("line 3: `three` is not a decimal id")
    assert client.get_compliance_job(job["id"]).data["status"] == "created", "nothing was stored"
