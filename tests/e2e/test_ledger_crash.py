"""A crash under load loses no ledger entry of a released response.

A server on its own demo platform takes requests from several threads; it is
killed with SIGKILL while they run. The signed head it left must cover the
entry of every response a client received; restarted, the ledger must verify
and hold, for every 200 response a client received, an entry with the
response's request id whose posts include every post the response carried.
"""

from __future__ import annotations

import json
import random
import threading
import time

import requests

from support import Server, bearer, create_demo, free_port, ids_of, run_cli

THREADS = 4
MIN_RESPONSES_BEFORE_KILL = 300


def test_every_delivered_post_is_in_the_ledger_after_a_sigkill(tmp_path):
    data_dir = tmp_path / "crash"
    port = free_port()
    credentials = create_demo(data_dir, port, accounts=600, posts=6000)
    tokens = {a["name"]: a["token"] for a in credentials["apps"]}
    authors = []
    with open(data_dir / "generated" / "posts.jsonl", encoding="utf-8") as f:
        posts = [json.loads(line) for line in f]
    for p in posts:
        if p["author_id"] not in authors:
            authors.append(p["author_id"])
    post_ids = [p["id"] for p in posts]

    server = Server(data_dir, port=port, name="crash")
    server.start()

    delivered: list[tuple[str, str, set[int]]] = []  # (request id, endpoint, post ids)
    lock = threading.Lock()
    stop = threading.Event()  # set just before the kill: from then on, failed requests are expected
    failures: list[str] = []

    def requests_of(rng: random.Random):
        while True:
            kind = rng.randrange(4)
            if kind == 0:
                yield "/2/tweets", {"ids": ",".join(str(i) for i in rng.sample(post_ids, 50))}, "demo-display", None
            elif kind == 1:
                yield f"/2/users/{rng.choice(authors)}/tweets", {"max_results": "100"}, "demo-partner", "train-genai"
            elif kind == 2:
                query = rng.choice(["pizza", "coffee OR marathon", "thread lang:en -is:reply", "thread"])
                yield "/2/tweets/search/recent", {"query": query, "max_results": "100"}, "demo-display", None
            else:
                yield f"/2/tweets/{rng.choice(post_ids)}", {"expansions": "author_id"}, "demo-first-party", "display"

    def client(seed: int):
        rng = random.Random(seed)
        session = requests.Session()
        # Each thread keeps firing until the killed server stops answering it.
        for path, params, app, purpose in requests_of(rng):
            try:
                r = session.get(server.base_url + path, params=params, headers=bearer(tokens[app], purpose), timeout=30)
                body = r.json()
            except (requests.RequestException, ValueError) as e:
                if not stop.is_set():
                    with lock:
                        failures.append(f"{path}: the request failed before the kill: {e!r}")
                return
            if r.status_code == 200:
                with lock:
                    delivered.append((r.headers["x-request-id"], path, set(ids_of(body))))
            else:
                with lock:
                    failures.append(f"{path} {params}: {r.status_code} {r.text[:300]}")

    threads = [threading.Thread(target=client, args=(seed,), daemon=True) for seed in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with lock:
            if len(delivered) >= MIN_RESPONSES_BEFORE_KILL or failures:
                break
        time.sleep(0.01)
    stop.set()
    server.kill()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures[:5]
    with lock:
        received = list(delivered)
    assert len(received) >= MIN_RESPONSES_BEFORE_KILL
    assert sum(len(ids) for _, _, ids in received) > 1000, "the load delivered posts"

    # Before any restart: the signed head left by the killed process covers
    # the entry of every response a client received, so none of them could
    # be cut from the end of ledger.db unseen. (The head of every commit is in
    # ledger/head.slots; head.json follows it up to a second later, so the
    # newest signed checkpoint is asked of the CLI.)
    head = json.loads(run_cli(data_dir, "ledger", "checkpoint", "--json").stdout)
    killed = run_cli(data_dir, "ledger", "tail", "--from", "0", "--limit", "1000000")
    seq_of = {e["request_id"]: e["seq"] for e in map(json.loads, killed.stdout.splitlines())}
    unsigned = [r for r, _, _ in received if seq_of.get(r, head["size"]) >= head["size"]]
    assert not unsigned, f"{len(unsigned)} released responses are not under the signed head of size {head['size']}"
    assert run_cli(data_dir, "ledger", "verify", check=False).returncode == 0

    # Restarted, the server serves again and continues the chain.
    server.start()
    after = requests.get(
        f"{server.base_url}/2/users/{authors[0]}/tweets",
        headers=bearer(tokens["demo-display"]),
        params={"max_results": "20"},
        timeout=30,
    )
    assert after.status_code == 200, after.text
    received.append((after.headers["x-request-id"], "after restart", set(ids_of(after.json()))))
    assert server.stop() == 0

    verify = run_cli(data_dir, "ledger", "verify", "--json", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["ok"] is True and report["first_break"] is None

    tail = run_cli(data_dir, "ledger", "tail", "--from", "0", "--limit", "100000")
    entries = [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]
    assert len(entries) == report["entries"]
    assert [e["seq"] for e in entries] == list(range(len(entries))), "no gap in the sequence"
    by_request: dict[str, dict] = {}
    for e in entries:
        assert e["request_id"] not in by_request, f"request id {e['request_id']} recorded twice"
        by_request[e["request_id"]] = e

    missing = []
    for request_id, path, ids in received:
        entry = by_request.get(request_id)
        if entry is None:
            missing.append(f"{path}: no ledger entry for request {request_id}")
            continue
        assert entry["outcome"] == {"status": "served"}, entry
        recorded = set(entry.get("posts", []))
        if not ids <= recorded:
            missing.append(f"{path}: request {request_id} delivered {sorted(ids - recorded)} the ledger lacks")
    assert not missing, f"{len(missing)} of {len(received)} responses are not in the ledger: {missing[:5]}"
