"""Consent under load: preferences, statuses and `no_ai` flags change through
the internal API while several clients read the same authors' posts for
`train-genai`. Every change acknowledged before a request started must be in
force for that request, whatever the server keeps in memory: no post is
delivered against the consent in force, and none is withheld while every
state it could be judged by allows it.

A request [start, end] may be judged by the state acknowledged last before it
started, or by any change in flight during it (sent before it ended and
acknowledged after it started); anything else is a violation.

`bench/consent_churn.sh` runs the same check longer and harder, with the
counts below taken from the environment, and reports the rates."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import dataclass, field

import requests

from support import bearer, public_author

PURPOSE = "train-genai"
READERS = int(os.environ.get("TOLLGATE_CHURN_READERS", "4"))
READS_EACH = int(os.environ.get("TOLLGATE_CHURN_READS_EACH", "300"))
CHANGES_EACH = int(os.environ.get("TOLLGATE_CHURN_CHANGES_EACH", "120"))
# Where the benchmark wants the figures (JSON); unset in the test suite.
REPORT = os.environ.get("TOLLGATE_CHURN_REPORT")


@dataclass
class History:
    """The changes of one value, each with when it was sent and acknowledged."""

    initial: bool
    changes: list[tuple[float, float, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sent: float, acked: float, value: bool) -> None:
        with self.lock:
            self.changes.append((sent, acked, value))

    def possible(self, start: float, end: float) -> set[bool]:
        with self.lock:
            changes = list(self.changes)
        before = self.initial
        for sent, acked, value in changes:
            if acked < start:
                before = value
        out = {before}
        out.update(value for sent, acked, value in changes if sent < end and acked > start)
        return out


def adult_without_flags(account, posts) -> bool:
    """An adult (minors are always denied) none of whose posts is deleted or
    flagged `no_ai`; the explicit `allow` set below overrides any regional
    default."""
    return (
        not account.get("is_minor")
        and (account.get("birth_year") or 1900) < 2000
        and not any(p.get("deleted_at") or p.get("no_ai") for p in posts)
    )


def test_no_delivery_against_the_consent_in_force_under_churn(platform):
    authors = [platform.claim_author(public_author(5, 120, adult_without_flags)) for _ in range(4)]
    posts = {a: [p["id"] for p in platform.truth.posts_by_author[a]] for a in authors}
    author_of = {pid: a for a, ids in posts.items() for pid in ids}
    flagged = {a: posts[a][0] for a in authors}  # the post whose `no_ai` flips
    doomed = {a: posts[a][1] for a in authors}  # the post deleted half-way

    def internal(method: str, path: str, body: dict) -> None:
        r = platform.internal(method, path, json=body)
        assert r.status_code == 200, (path, r.status_code, r.text)

    # A known starting point: every author consents and is active.
    for a in authors:
        internal("PATCH", f"/internal/accounts/{a}/ai-preferences", {PURPOSE: {"third-parties": "allow"}})
        internal("PUT", f"/internal/accounts/{a}/status", {"status": "active"})
        internal("PUT", f"/internal/posts/{flagged[a]}/no-ai", {"no_ai": False})
    consent = {a: History(True) for a in authors}
    active = {a: History(True) for a in authors}
    no_ai = {a: History(False) for a in authors}
    deleted = {a: History(False) for a in authors}

    def change(author: int, seed: int) -> None:
        rng = random.Random(seed)
        state = {"consent": True, "active": True, "no_ai": False}
        for i in range(CHANGES_EACH):
            if i == CHANGES_EACH // 2:
                sent = time.monotonic()
                r = platform.internal("DELETE", f"/internal/posts/{doomed[author]}")
                assert r.status_code == 200, r.text
                deleted[author].record(sent, time.monotonic(), True)
            what = rng.choice(["consent", "consent", "active", "no_ai"])
            value = not state[what]
            sent = time.monotonic()
            if what == "consent":
                body = {PURPOSE: {"third-parties": "allow" if value else "deny"}}
                internal("PATCH", f"/internal/accounts/{author}/ai-preferences", body)
            elif what == "active":
                internal("PUT", f"/internal/accounts/{author}/status", {"status": "active" if value else "suspended"})
            else:
                internal("PUT", f"/internal/posts/{flagged[author]}/no-ai", {"no_ai": value})
            acked = time.monotonic()
            {"consent": consent, "active": active, "no_ai": no_ai}[what][author].record(sent, acked, value)
            state[what] = value

    def allowed_states(pid: int, start: float, end: float) -> set[bool]:
        a = author_of[pid]
        flag = no_ai[a].possible(start, end) if pid == flagged[a] else {False}
        gone = deleted[a].possible(start, end) if pid == doomed[a] else {False}
        return {
            c and s and not n and not d
            for c in consent[a].possible(start, end)
            for s in active[a].possible(start, end)
            for n in flag
            for d in gone
        }

    token = platform.token("demo-partner")
    results: list[tuple[float, float, set[int], set[int]]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def read(seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        for _ in range(READS_EACH):
            start = time.monotonic()
            if rng.random() < 0.5:
                a = rng.choice(authors)
                asked = set(posts[a][:100])
                r = session.get(
                    f"{platform.base_url}/2/users/{a}/tweets",
                    headers=bearer(token, PURPOSE),
                    params={"max_results": 100},
                    timeout=30,
                )
            else:
                asked = set(rng.sample(list(author_of), min(100, len(author_of))))
                r = session.get(
                    f"{platform.base_url}/2/tweets",
                    headers=bearer(token, PURPOSE),
                    params={"ids": ",".join(map(str, asked))},
                    timeout=30,
                )
            end = time.monotonic()
            if r.status_code != 200:
                with lock:
                    failures.append(f"{r.url}: {r.status_code} {r.text[:200]}")
                continue
            body = r.json()
            delivered = {int(t["id"]) for t in body.get("data", [])}
            with lock:
                results.append((start, end, asked, delivered))

    began = time.monotonic()
    threads = [threading.Thread(target=change, args=(a, i)) for i, a in enumerate(authors)]
    threads += [threading.Thread(target=read, args=(100 + i,)) for i in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    assert not failures, failures[:5]

    against, wrongly_withheld, judged = [], [], 0
    for start, end, asked, delivered in results:
        for pid in asked:
            states = allowed_states(pid, start, end)
            judged += 1
            if pid in delivered and True not in states:
                against.append((pid, start, end))
            if pid not in delivered and False not in states:
                wrongly_withheld.append((pid, start, end))
    changes = sum(len(h.changes) for hs in (consent, active, no_ai, deleted) for h in hs.values())
    assert changes == (CHANGES_EACH + 1) * len(authors)
    if REPORT:
        figures = {
            "seconds": round(elapsed, 2),
            "reads": len(results),
            "reads_per_second": round(len(results) / elapsed, 1),
            "changes": changes,
            "changes_per_second": round(changes / elapsed, 1),
            "posts_judged": judged,
            "delivered_against_consent": len(against),
            "withheld_although_allowed": len(wrongly_withheld),
        }
        with open(REPORT, "w") as f:
            json.dump(figures, f)
    assert len(results) == READERS * READS_EACH
    assert judged > 10_000, judged
    assert not against, f"{len(against)} deliveries against the consent in force, e.g. {against[:5]}"
    assert not wrongly_withheld, f"{len(wrongly_withheld)} posts withheld although allowed, e.g. {wrongly_withheld[:5]}"
