"""The ledger's audit answers, checked against what the clients received.

A server on a demo platform of its own takes concurrent requests from several
threads: three apps, several purposes, the four post endpoints (lookups by
ids and by id, timelines, search), and a few requests the policy refuses
whole (a purpose the app did not declare, a purpose the agreement forbids its
tier, a suspended app). Every response is logged as the client received it:
app, purpose, status, request id, the posts in `data` and their authors, and
when it was sent and received. The test makes no other request the ledger
records, so the ledger holds exactly the logged requests and every audit
question has one right answer, derived from the log:

- while the load runs, an answer counts at least the deliveries whose
  responses arrived before the question was sent, and at most those whose
  requests were sent before the answer arrived;
- right after the last response, through `GET /internal/ledger/...` and
  `GET /internal/accounts/:id/deliveries`, every answer equals the log's,
  every page followed to the end;
- after the server stopped, `tollgate ledger query ... --json` gives the same.

No question waits for the background indexer: a question indexes what the
indexer has not reached yet, so its answer covers every entry recorded
before it was asked.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import pytest
import requests

from support import GroundTruth, Server, bearer, create_demo, free_port, ids_of, run_cli

THREADS = 6
# 2,400 entries: two whole blocks of 1,024, whose posts the ledger finds in
# posting lists, and an unfilled one, which it searches entry by entry.
REQUESTS_PER_THREAD = 400
SEED = 20261122

SERVING_APPS = ("demo-display", "demo-partner", "demo-first-party")
SUSPENDED_APP = "audit-suspended"
# The apps whose requests are refused, and why.
REFUSALS = {
    "demo-display": "purpose_not_declared",
    "demo-standard-trainer": "agreement_prohibits",
    SUSPENDED_APP: "app_suspended",
}
SEARCH_QUERIES = ("pizza", "coffee OR marathon", "thread", "thread lang:en -is:reply", "music", "music lang:es -is:retweet")

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EPOCH_TEXT = "1970-01-01T00:00:00.000Z"

# Tickets order the clients' events without a clock: a ticket taken after a
# response arrived is smaller than one taken later, before a question is sent.
TICKETS = itertools.count()


def millis(text: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 UTC time."""
    return (datetime.fromisoformat(text.replace("Z", "+00:00")) - EPOCH) // timedelta(milliseconds=1)


def rfc3339(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# -- the load -------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    app: str
    purpose: str | None  # None: no header, so the app's first declared purpose
    path: str
    params: dict[str, str]
    endpoint: str  # as the ledger names it
    asked: tuple[int, ...] = ()  # the post ids of a lookup


@dataclass(frozen=True)
class Received:
    """One response as its client received it."""

    app: str
    app_id: int
    purpose: str
    endpoint: str
    asked: tuple[int, ...]
    sent: int  # ticket taken before sending
    received: int  # ticket taken after receiving
    sent_ms: int  # wall clock before sending, rounded down
    received_ms: int  # wall clock after receiving, rounded up
    status: int
    request_id: str
    posts: tuple[int, ...]
    authors: frozenset[int]
    reason: str | None

    @property
    def served(self) -> bool:
        return self.status == 200

    @property
    def outcome(self) -> str:
        return "served" if self.served else "refused"


@dataclass(frozen=True)
class Probe:
    """A question asked while the load ran, and its answer."""

    kind: str  # "post": deliveries of a post; "attempts": of an app
    subject: int
    sent: int
    received: int
    served: int
    refused: int


@dataclass
class Load:
    """The platform, what the load sent and received, and the questions asked meanwhile."""

    server: Server
    data_dir: Path
    internal_token: str
    apps: dict[str, dict]  # by name: id, tier, purposes, token
    truth: GroundTruth
    policy_version: str
    log: list[Received]
    probes: list[Probe]
    hot_posts: list[int]

    def app_name(self, app_id: int) -> str:
        return next(name for name, a in self.apps.items() if a["id"] == app_id)


class Planner:
    """The requests of one thread: a fixed sequence for its seed, whatever the answers."""

    def __init__(self, seed: int, truth: GroundTruth, hot_posts: list[int], hot_authors: list[int]):
        self.rng = random.Random(seed)
        self.post_ids = sorted(truth.posts)
        self.authors = sorted(truth.posts_by_author)
        self.hot_posts = hot_posts
        self.hot_authors = hot_authors

    def lookup_ids(self) -> tuple[int, ...]:
        ids = self.rng.sample(self.post_ids, self.rng.randint(4, 16))
        ids += [p for p in self.hot_posts if self.rng.random() < 0.25]
        return tuple(dict.fromkeys(ids))

    def one_post(self) -> int:
        return self.rng.choice(self.hot_posts if self.rng.random() < 0.5 else self.post_ids)

    def author(self) -> int:
        return self.rng.choice(self.hot_authors if self.rng.random() < 0.5 else self.authors)

    def lookup(self, app: str, purpose: str | None, fields: dict[str, str]) -> Request:
        ids = self.lookup_ids()
        params = {"ids": ",".join(map(str, ids)), **fields}
        return Request(app, purpose, "/2/tweets", params, "GET /2/tweets", ids)

    def single(self, app: str, purpose: str | None, fields: dict[str, str]) -> Request:
        post = self.one_post()
        return Request(app, purpose, f"/2/tweets/{post}", fields, "GET /2/tweets/:id", (post,))

    def timeline(self, app: str, purpose: str | None, fields: dict[str, str]) -> Request:
        params = {"max_results": str(self.rng.randint(5, 25)), **fields}
        return Request(app, purpose, f"/2/users/{self.author()}/tweets", params, "GET /2/users/:id/tweets")

    def request(self) -> Request:
        rng = self.rng
        fields = {"tweet.fields": "author_id"}
        kind = rng.random()
        if kind < 0.03:
            app = rng.choice(sorted(REFUSALS))
            if app == "demo-display":
                return self.lookup(app, "train-genai", {})
            if app == "demo-standard-trainer":
                return self.single(app, "train-genai", {})
            return self.timeline(app, "display", {})
        if kind < 0.33:
            app, purpose = rng.choice(
                [("demo-display", None), ("demo-display", "display"), ("demo-first-party", "ai-input")]
            )
            return self.lookup(app, purpose, fields)
        if kind < 0.55:
            app, purpose = rng.choice([("demo-partner", "train-genai"), ("demo-first-party", "display")])
            return self.single(app, purpose, fields)
        if kind < 0.80:
            app, purpose = rng.choice(
                [("demo-partner", "train-ai"), ("demo-partner", "display"), ("demo-first-party", "display")]
            )
            return self.timeline(app, purpose, fields)
        params = {"query": rng.choice(SEARCH_QUERIES), "max_results": str(rng.randint(10, 25)), **fields}
        return Request("demo-display", "search", "/2/tweets/search/recent", params, "GET /2/tweets/search/recent")


def send(session: requests.Session, base_url: str, apps: dict[str, dict], req: Request) -> Received:
    app = apps[req.app]
    sent = next(TICKETS)
    sent_ms = time.time_ns() // 1_000_000
    r = session.get(base_url + req.path, params=req.params, headers=bearer(app["token"], req.purpose), timeout=30)
    received_ms = -(-time.time_ns() // 1_000_000)
    received = next(TICKETS)
    body = r.json()
    posts: tuple[int, ...] = ()
    authors: frozenset[int] = frozenset()
    reason = None
    if r.status_code == 200:
        data = body.get("data", [])
        posts = tuple(ids_of(body))
        authors = frozenset(int(t["author_id"]) for t in (data if isinstance(data, list) else [data]))
    elif r.status_code == 403:
        reason = body["reason"]
    else:
        raise AssertionError(f"{req.app} {req.path} {req.params}: {r.status_code} {r.text[:300]}")
    return Received(
        app=req.app,
        app_id=app["id"],
        purpose=req.purpose or app["purposes"][0],
        endpoint=req.endpoint,
        asked=req.asked,
        sent=sent,
        received=received,
        sent_ms=sent_ms,
        received_ms=received_ms,
        status=r.status_code,
        request_id=r.headers["x-request-id"],
        posts=posts,
        authors=authors,
        reason=reason,
    )


def ask_during_load(base_url: str, token: str, post: int, app_id: int, done: threading.Event) -> list[Probe]:
    """Asks who received `post` and what `app_id` attempted, in turn, until
    `done` is set, and once more after that."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    probes = []
    questions = [
        ("post", post, f"/internal/ledger/posts/{post}/recipients", {"limit": "1"}),
        ("attempts", app_id, "/internal/ledger/attempts", {"app_id": str(app_id), "limit": "1"}),
    ]
    while True:
        finished = done.is_set()
        for kind, subject, path, params in questions:
            sent = next(TICKETS)
            r = session.get(base_url + path, params=params, timeout=60)
            received = next(TICKETS)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
            body = r.json()
            if kind == "post":
                served, refused = sum(x["deliveries"] for x in body["recipients"]), 0
            else:
                served, refused = body["counts"]["served"], body["counts"]["refused"]
            probes.append(Probe(kind, subject, sent, received, served, refused))
        if finished:
            return probes


@pytest.fixture(scope="module")
def load(tmp_path_factory) -> Iterator[Load]:
    data_dir = tmp_path_factory.mktemp("audit") / "platform"
    port = free_port()
    credentials = create_demo(data_dir, port, accounts=400, posts=4000)
    apps = {
        a["name"]: {"id": int(a["id"]), "tier": a["tier"], "purposes": a["purposes"], "token": a["token"]}
        for a in credentials["apps"]
    }
    create = ("app", "create", "--name", SUSPENDED_APP, "--tier", "standard", "--purposes", "display", "--json")
    created = json.loads(run_cli(data_dir, *create).stdout)
    run_cli(data_dir, "app", "suspend", created["app"]["id"])
    apps[SUSPENDED_APP] = {
        "id": int(created["app"]["id"]),
        "tier": created["app"]["tier"],
        "purposes": created["app"]["purposes"],
        "token": created["token"],
    }
    truth = GroundTruth.load(data_dir)
    # Popular posts (the last one withheld from training by its author) and authors.
    shown = [p for p in sorted(truth.posts) if truth.shown_for_display(truth.posts[p])]
    hot_posts = random.Random(SEED).sample(shown, 7) + [int(credentials["examples"]["opted_out_post_id"])]
    hot_authors = random.Random(SEED + 1).sample(sorted(truth.posts_by_author), 6)

    # No rate limits: a 429 is a response the ledger does not record.
    server = Server(data_dir, ("--rate-limit-standard", "0", "--rate-limit-partner", "0"), port=port, name="audit")
    server.start()
    try:
        health = server.health()
        assert health["ledger_entries"] == 0, "the ledger holds only what the load sends"
        log: list[Received] = []
        probes: list[Probe] = []
        failures: list[str] = []
        lock = threading.Lock()
        done = threading.Event()

        def client(n: int) -> None:
            planner = Planner(SEED * 100 + n, truth, hot_posts, hot_authors)
            session = requests.Session()
            for _ in range(REQUESTS_PER_THREAD):
                req = planner.request()
                try:
                    got = send(session, server.base_url, apps, req)
                except Exception as e:  # reported by the fixture, with the request
                    with lock:
                        failures.append(f"{req}: {e!r}")
                    return
                with lock:
                    log.append(got)

        def auditor() -> None:
            try:
                token, first_party = credentials["internal_token"], apps["demo-first-party"]["id"]
                probes.extend(ask_during_load(server.base_url, token, hot_posts[0], first_party, done))
            except Exception as e:  # reported by the fixture
                with lock:
                    failures.append(f"a question during the load: {e!r}")

        asking = threading.Thread(target=auditor, daemon=True)
        asking.start()
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        done.set()
        asking.join(timeout=300)
        assert not failures, failures[:5]
        assert len(log) == THREADS * REQUESTS_PER_THREAD

        yield Load(
            server=server,
            data_dir=data_dir,
            internal_token=credentials["internal_token"],
            apps=apps,
            truth=truth,
            policy_version=health["policy_version"],
            log=log,
            probes=probes,
            hot_posts=hot_posts,
        )
    finally:
        server.stop()


# -- asking the questions through the API or the CLI ------------------------------------


class Audit(Protocol):
    """The audit questions, each answering one page as JSON."""

    def post(self, post_id: int, limit: int, cursor: str | None) -> dict: ...

    def account(self, account_id: int) -> dict: ...

    def app(self, app_id: int, start: str | None, end: str | None, limit: int, cursor: str | None) -> dict: ...

    def attempts(self, app_id: int, since: str, limit: int, cursor: str | None) -> dict: ...

    def policy(self, version: str, limit: int, cursor: str | None) -> dict: ...


class ApiAudit:
    """`GET /internal/ledger/...` on the running server."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def ask(self, path: str, **params: str | int | None) -> dict:
        query = {k: str(v) for k, v in params.items() if v is not None}
        r = self.session.get(self.base_url + path, params=query, timeout=60)
        assert r.status_code == 200, f"{path} {query}: {r.status_code} {r.text[:500]}"
        return r.json()

    def post(self, post_id: int, limit: int, cursor: str | None) -> dict:
        return self.ask(f"/internal/ledger/posts/{post_id}/recipients", limit=limit, cursor=cursor)

    def account(self, account_id: int) -> dict:
        return self.ask(f"/internal/ledger/accounts/{account_id}/recipients")

    def app(self, app_id: int, start: str | None, end: str | None, limit: int, cursor: str | None) -> dict:
        path = f"/internal/ledger/apps/{app_id}/deliveries"
        return self.ask(path, start_time=start, end_time=end, limit=limit, cursor=cursor)

    def attempts(self, app_id: int, since: str, limit: int, cursor: str | None) -> dict:
        return self.ask("/internal/ledger/attempts", app_id=app_id, since=since, limit=limit, cursor=cursor)

    def policy(self, version: str, limit: int, cursor: str | None) -> dict:
        return self.ask(f"/internal/ledger/policies/{version}/deliveries", limit=limit, cursor=cursor)

    def account_deliveries(self, account_id: int) -> dict:
        return self.ask(f"/internal/accounts/{account_id}/deliveries")


class CliAudit:
    """`tollgate ledger query ... --json` on the data directory."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir

    def ask(self, *args: str, **options: str | int | None) -> dict:
        flags = [x for k, v in options.items() if v is not None for x in (f"--{k.replace('_', '-')}", str(v))]
        return json.loads(run_cli(self.data_dir, "ledger", "query", *args, *flags, "--json").stdout)

    def post(self, post_id: int, limit: int, cursor: str | None) -> dict:
        return self.ask("post", str(post_id), limit=limit, cursor=cursor)

    def account(self, account_id: int) -> dict:
        return self.ask("account", str(account_id))

    def app(self, app_id: int, start: str | None, end: str | None, limit: int, cursor: str | None) -> dict:
        return self.ask("app", str(app_id), start_time=start, end_time=end, limit=limit, cursor=cursor)

    def attempts(self, app_id: int, since: str, limit: int, cursor: str | None) -> dict:
        return self.ask("attempts", app_id=app_id, since=since, limit=limit, cursor=cursor)

    def policy(self, version: str, limit: int, cursor: str | None) -> dict:
        return self.ask("policy", version, limit=limit, cursor=cursor)


def all_pages(ask: Callable[[str | None], dict], items: str, limit: int) -> tuple[dict, list]:
    """Follows `next_cursor` to the last page. Returns the answer without its
    items and cursor (the same on every page: nothing is recorded meanwhile)
    and the items of every page, in order."""
    head = None
    out: list = []
    cursor = None
    for _ in range(10_000):
        page = ask(cursor)
        rest = {k: v for k, v in page.items() if k not in (items, "next_cursor")}
        if head is None:
            head = rest
        assert rest == head, "what is not paginated is the same on every page"
        out.extend(page[items])
        cursor = page["next_cursor"]
        if cursor is None:
            assert len(page[items]) <= limit
            return head, out
        assert len(page[items]) == limit, "a page with a successor is full"
    raise AssertionError("the cursors never end")


# -- the answers the log gives -----------------------------------------------------------


def entry_of(r: Received, policy_version: str) -> dict:
    """The ledger's summary of the entry of a logged response, but its seq and time."""
    e = {
        "request_id": r.request_id,
        "app_id": r.app_id,
        "endpoint": r.endpoint,
        "purpose": r.purpose,
        "outcome": r.outcome,
        "posts": len(r.posts),
        "policy_version": policy_version,
    }
    if not r.served:
        e["reason"] = r.reason
    return e


Span = tuple[int, int, int]  # first time, last time, deliveries


def spans(pairs: Iterable[tuple[tuple[int, str], dict]]) -> dict[tuple[int, str], Span]:
    """Per (app id, purpose), the span of the entries given with it."""
    out: dict[tuple[int, str], Span] = {}
    for key, e in pairs:
        t = millis(e["time"])
        first, last, n = out.get(key, (t, t, 0))
        out[key] = (min(first, t), max(last, t), n + 1)
    return out


def recipients_of(answer: list[dict]) -> dict[tuple[int, str], Span]:
    """The recipients of an answer as `spans` gives them."""
    out = {}
    for x in answer:
        assert "client" not in x, "no anonymous client made a request"
        key = (x["app_id"], x["purpose"])
        assert key not in out, f"recipient {key} listed twice"
        out[key] = (millis(x["first_time"]), millis(x["last_time"]), x["deliveries"])
    return out


class Checker:
    """Asks every audit question of one `Audit` and compares each answer
    with what the log says, exactly. `entries_limit` and `posts_limit` size
    the pages, so that answers take several."""

    def __init__(self, audit: Audit, load: Load, entries_limit: int, posts_limit: int):
        self.audit = audit
        self.load = load
        self.log = load.log
        self.served = [r for r in load.log if r.served]
        self.entries_limit = entries_limit
        self.posts_limit = posts_limit
        # The ledger's entry of each logged response, by request id: from the attempts.
        self.entries: dict[str, dict] = {}

    def time_of(self, r: Received) -> int:
        return millis(self.entries[r.request_id]["time"])

    def check_all(self) -> None:
        self.check_attempts()
        self.check_policy()
        self.check_posts()
        self.check_accounts()
        self.check_apps()

    def check_attempts(self) -> None:
        """Every attempt of every app, served or refused, since the epoch and
        since a time inside the load."""
        by_request = {r.request_id: r for r in self.log}
        limit = self.entries_limit
        for app_id in sorted({r.app_id for r in self.log}):
            name = self.load.app_name(app_id)
            mine = [r for r in self.log if r.app_id == app_id]
            head, items = all_pages(lambda c: self.audit.attempts(app_id, EPOCH_TEXT, limit, c), "entries", limit)
            counts = {
                "served": sum(1 for r in mine if r.served),
                "refused": sum(1 for r in mine if not r.served),
                "posts": sum(len(r.posts) for r in mine),
            }
            assert head == {"app_id": app_id, "since": EPOCH_TEXT, "counts": counts}, name
            assert sorted(e["request_id"] for e in items) == sorted(r.request_id for r in mine), name
            keys = [(millis(e["time"]), e["seq"]) for e in items]
            assert keys == sorted(keys), f"{name}: attempts are listed by time"
            for e in items:
                r = by_request[e["request_id"]]
                assert {k: v for k, v in e.items() if k not in ("seq", "time")} == entry_of(r, self.load.policy_version)
                assert r.sent_ms <= millis(e["time"]) <= r.received_ms, f"{e} is timed outside its request"
                self.entries[e["request_id"]] = e

            since = keys[len(keys) // 2][0]
            later = [e for e in items if millis(e["time"]) >= since]
            head, items = all_pages(lambda c: self.audit.attempts(app_id, rfc3339(since), limit, c), "entries", limit)
            assert head["counts"] == {
                "served": sum(1 for e in later if e["outcome"] == "served"),
                "refused": sum(1 for e in later if e["outcome"] == "refused"),
                "posts": sum(e["posts"] for e in later),
            }, f"{name} since {rfc3339(since)}"
            assert items == later, f"{name} since {rfc3339(since)}"
        seqs = sorted(e["seq"] for e in self.entries.values())
        assert seqs == list(range(len(self.log))), "the ledger holds the logged requests and nothing else"

    def check_policy(self) -> None:
        """The policy version: counts of every entry, and the served entries."""
        version = self.load.policy_version
        limit = self.entries_limit
        head, items = all_pages(lambda c: self.audit.policy(version, limit, c), "entries", limit)
        counts = {
            "served": len(self.served),
            "refused": len(self.log) - len(self.served),
            "posts": sum(len(r.posts) for r in self.served),
        }
        assert head == {"policy_version": version, "counts": counts}
        assert items == sorted((self.entries[r.request_id] for r in self.served), key=lambda e: e["seq"])

    def check_posts(self) -> None:
        """Who received posts popular and rare, a post some requests had
        withheld, one asked for and never delivered, one never asked for."""
        delivered = Counter(p for r in self.served for p in r.posts)
        popular = sorted(delivered, key=lambda p: (-delivered[p], p))
        asked = {p for r in self.log for p in r.asked}
        kinds = [
            popular[:3],
            [p for p in popular if delivered[p] == 1][:3],
            [p for p in popular if delivered[p] in (2, 3)][:2],
            self.load.hot_posts[-1:],
            sorted(asked - set(delivered))[:1],
            [p for p in sorted(self.load.truth.posts) if p not in asked][:1],
        ]
        assert all(kinds), kinds
        chosen = dict.fromkeys(p for kind in kinds for p in kind)
        limit = self.entries_limit
        for post in chosen:
            mine = [r for r in self.served if post in r.posts]
            head, items = all_pages(lambda c: self.audit.post(post, limit, c), "entries", limit)
            assert set(head) == {"post_id", "recipients"} and head["post_id"] == post
            expected = spans(((r.app_id, r.purpose), self.entries[r.request_id]) for r in mine)
            assert recipients_of(head["recipients"]) == expected, f"the recipients of post {post}"
            entries = sorted((self.entries[r.request_id] for r in mine), key=lambda e: e["seq"])
            assert items == entries, f"the entries that delivered post {post}"

    def chosen_authors(self) -> list[int]:
        """Authors popular and rare, and one never delivered."""
        delivered = Counter(a for r in self.served for a in r.authors)
        popular = sorted(delivered, key=lambda a: (-delivered[a], a))
        kinds = [
            popular[:3],
            [a for a in popular if delivered[a] == 1][:2],
            [a for a in sorted(self.load.truth.accounts) if a not in delivered][:1],
        ]
        assert all(kinds), kinds
        return [a for kind in kinds for a in kind]

    def author_spans(self, author: int) -> dict[tuple[int, str], Span]:
        """Per (app, purpose): the entries that delivered at least one post of `author`."""
        return spans(((r.app_id, r.purpose), self.entries[r.request_id]) for r in self.served if author in r.authors)

    def check_accounts(self) -> None:
        for author in self.chosen_authors():
            answer = self.audit.account(author)
            assert set(answer) == {"account_id", "recipients"} and answer["account_id"] == author
            assert recipients_of(answer["recipients"]) == self.author_spans(author), f"the recipients of {author}"

    def check_account_views(self, audit: ApiAudit) -> None:
        """What an account holder sees: the apps, their names and tiers, and per purpose the same spans."""
        for author in self.chosen_authors():
            view = audit.account_deliveries(author)
            assert view["account_id"] == author
            got = {}
            for a in view["apps"]:
                name = self.load.app_name(a["app_id"])
                assert (a["name"], a["tier"]) == (name, self.load.apps[name]["tier"]), a
                for p in a["purposes"]:
                    key = (a["app_id"], p["purpose"])
                    assert key not in got, f"{key} listed twice"
                    got[key] = (millis(p["first_time"]), millis(p["last_time"]), p["deliveries"])
            assert got == self.author_spans(author), f"the deliveries of account {author}"

    def check_apps(self) -> None:
        """What each app received: over the whole ledger, over the load's time
        range, and (one app, small pages) over its two halves."""
        start = min(r.sent_ms for r in self.log)
        end = max(r.received_ms for r in self.log) + 1
        for app_id in sorted({r.app_id for r in self.log}):
            mine = [r for r in self.log if r.app_id == app_id]
            ranges: list[tuple[int | None, int | None, int]] = [
                (None, None, self.posts_limit),
                (start, end, self.posts_limit),
            ]
            if app_id == self.load.apps["demo-display"]["id"]:
                middle = sorted(self.time_of(r) for r in mine)[len(mine) // 2]
                ranges += [(start, middle, 97), (middle, None, 97)]
            for lo, hi, limit in ranges:
                inside = [r for r in mine if (lo or 0) <= self.time_of(r) and (hi is None or self.time_of(r) < hi)]
                self.check_app(app_id, lo, hi, limit, inside)

    def check_app(self, app_id: int, lo: int | None, hi: int | None, limit: int, inside: list[Received]) -> None:
        what = f"app {self.load.app_name(app_id)} from {lo} to {hi}"
        start = None if lo is None else rfc3339(lo)
        end = None if hi is None else rfc3339(hi)
        head, items = all_pages(lambda c: self.audit.app(app_id, start, end, limit, c), "posts", limit)
        assert head["app_id"] == app_id and head["start_time"] == (start or EPOCH_TEXT), what
        assert head.get("end_time") == end, what
        served = [r for r in inside if r.served]
        total = sum(len(r.posts) for r in served)
        assert head["totals"] == {"served": len(served), "refused": len(inside) - len(served), "posts": total}, what
        days: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        for r in inside:
            d = days[(rfc3339(self.time_of(r))[:10], r.purpose, r.outcome)]
            d[0] += 1
            d[1] += len(r.posts)
        got = {(d["day"], d["purpose"], d["outcome"]): [d["entries"], d["posts"]] for d in head["days"]}
        assert len(got) == len(head["days"]) and got == dict(days), what
        posts = [(millis(x["time"]), x["seq"], x["post_id"], x["purpose"]) for x in items]
        assert [p[:2] for p in posts] == sorted(p[:2] for p in posts), f"{what}: posts are listed by (time, seq)"
        expected = sorted(
            (self.time_of(r), self.entries[r.request_id]["seq"], p, r.purpose) for r in served for p in r.posts
        )
        assert sorted(posts) == expected, f"{what}: the delivered posts"


# -- the tests ---------------------------------------------------------------------------


def test_the_log_is_sound_ground_truth(load):
    """The responses carry what was asked for, by the authors the platform
    has; the mix covers what the audit questions tell apart; and the ledger
    holds as many entries as the log has responses."""
    truth = load.truth
    for r in load.log:
        assert r.authors == {truth.posts[p]["author_id"] for p in r.posts}, r
        if r.asked:
            assert set(r.posts) <= set(r.asked), r
        if not r.served:
            assert r.reason == REFUSALS[r.app], r
    assert len({r.request_id for r in load.log}) == len(load.log), "request ids are unique"
    outcomes = Counter((r.app, r.outcome) for r in load.log)
    for app in SERVING_APPS:
        assert outcomes[(app, "served")] > 100, outcomes
    for app in REFUSALS:
        assert outcomes[(app, "refused")] > 0, outcomes
    assert len({r.endpoint for r in load.log if r.posts}) == 4
    assert load.server.health()["ledger_entries"] == len(load.log)


def test_answers_during_the_load_count_what_was_received_and_no_more_than_was_sent(load):
    """A question asked while the load runs counts every delivery whose
    response arrived before it was asked, and none whose request was sent
    after its answer arrived."""
    assert {p.kind for p in load.probes} == {"post", "attempts"}
    for p in load.probes:
        if p.kind == "post":
            counted = [("served", p.served, [r for r in load.log if p.subject in r.posts])]
        else:
            mine = [r for r in load.log if r.app_id == p.subject]
            counted = [
                ("served", p.served, [r for r in mine if r.served]),
                ("refused", p.refused, [r for r in mine if not r.served]),
            ]
        for what, answer, responses in counted:
            low = sum(1 for r in responses if r.received < p.sent)
            high = sum(1 for r in responses if r.sent < p.received)
            assert low <= answer <= high, (what, p, low, high)
    # The last questions were asked after the last response: their answers are exact.
    last = [p for p in load.probes if p.kind == "post"][-1]
    assert last.served == sum(1 for r in load.log if last.subject in r.posts)


def test_internal_api_answers_equal_what_the_clients_received(load):
    """Right after the last response, with the server running."""
    assert load.server.running()
    audit = ApiAudit(load.server.base_url, load.internal_token)
    checker = Checker(audit, load, entries_limit=37, posts_limit=1000)
    checker.check_all()
    checker.check_account_views(audit)
    assert audit.post(1, 10, None) == {"post_id": 1, "recipients": [], "entries": [], "next_cursor": None}
    r = requests.get(
        f"{load.server.base_url}/internal/accounts/1/deliveries",
        headers={"Authorization": f"Bearer {load.internal_token}"},
        timeout=30,
    )
    assert r.status_code == 404, r.text
    assert load.server.health()["ledger_entries"] == len(load.log), "questions record nothing"


def test_cli_answers_equal_what_the_clients_received_after_the_server_stopped(load):
    assert load.server.stop() == 0
    Checker(CliAudit(load.data_dir), load, entries_limit=500, posts_limit=1000).check_all()
