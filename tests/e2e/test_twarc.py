"""The developer API driven through twarc2 (`twarc.client2.Twarc2`).

twarc2 keeps its `requests` session in `self.client`, and creates it in
`connect()`: once from `__init__`, and again whenever it recovers from a
connection error. A session set up once from outside would be replaced by the
first reconnect, so the client below overrides `connect()` (a public, documented
method) to mount the same transport adapter the tweepy tests use on every new
session, and to set the purpose header. Nothing else of twarc is changed.

twarc2 yields whole response pages (dicts as the API sent them, plus its own
`__twarc` metadata), so these tests look at `data`, `errors` and `meta` directly.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
import requests
from twarc.client2 import Twarc2

from support import LocalTransport, has_word, none_deleted, public_author


class LocalTwarc2(Twarc2):
    def __init__(self, base_url: str, bearer_token: str, purpose: str | None = None):
        self._local_base_url = base_url
        self._purpose = purpose
        super().__init__(bearer_token=bearer_token)

    def connect(self):
        super().connect()
        self.client.mount("https://", LocalTransport(self._local_base_url))
        if self._purpose is not None:
            self.client.headers["Tollgate-Purpose"] = self._purpose


def make_twarc(platform, app: str, purpose: str | None = None) -> LocalTwarc2:
    return LocalTwarc2(platform.base_url, platform.token(app), purpose)


@pytest.fixture(scope="module")
def display(platform):
    return make_twarc(platform, "demo-display")


@pytest.fixture(scope="module")
def partner_training(platform):
    return make_twarc(platform, "demo-partner", "train-genai")


def page_ids(page: dict) -> list[int]:
    return [int(t["id"]) for t in page.get("data", [])]


def test_tweet_lookup_batches_ids_and_reports_missing_and_withheld(platform, display):
    truth = platform.truth
    visible: list[int] = []
    while len(visible) < 140:
        author_id = platform.claim_author(public_author(5, 60))
        visible.extend(p["id"] for p in truth.posts_by_author[author_id] if p.get("deleted_at") is None)
    visible = visible[:140]
    protected = [p["id"] for p in truth.posts.values() if truth.accounts[p["author_id"]].get("protected")][:3]
    missing = [1_999_999_999_999_999_990 + i for i in range(2)]
    asked = visible[:60] + protected + missing[:1] + visible[60:] + missing[1:]

    pages = list(display.tweet_lookup(asked, expansions="author_id", tweet_fields="author_id,lang,created_at"))

    assert len(pages) == math.ceil(len(asked) / 100), "twarc sends at most 100 ids per request"
    got = [i for page in pages for i in page_ids(page)]
    assert got == [i for i in asked if i in set(visible)]
    errors = {e["resource_id"]: e for page in pages for e in page.get("errors", [])}
    assert set(errors) == {str(i) for i in protected + missing}
    for post_id in protected:
        assert errors[str(post_id)]["reason"] == "protected_account"
    for post_id in missing:
        assert errors[str(post_id)]["title"] == "Not Found Error"
    for page in pages:
        assert {u["id"] for u in page["includes"]["users"]} == {t["author_id"] for t in page["data"]}
        assert page["__twarc"]["url"].startswith(platform.base_url + "/2/tweets?")


def test_user_lookup_returns_profiles_by_id(platform, display):
    truth = platform.truth
    ids = [platform.claim_author(public_author(1, 30)) for _ in range(3)]
    missing = 7_654_321

    [page] = list(display.user_lookup(ids + [missing]))

    assert [int(u["id"]) for u in page["data"]] == ids
    for user in page["data"]:
        account = truth.accounts[int(user["id"])]
        assert user["username"] == account["handle"]
        assert user["created_at"].startswith(account["created_at"][:19])
        assert user["protected"] is False
    [error] = page["errors"]
    assert error["resource_id"] == str(missing) and error["title"] == "Not Found Error"


def test_timeline_pages_cover_the_author_newest_first(platform, display):
    truth = platform.truth
    author_id = platform.claim_author(public_author(40, 120))
    posts = truth.posts_by_author[author_id]
    expected = [p["id"] for p in posts if p.get("deleted_at") is None]

    pages = list(display.timeline(author_id, max_results=15, expansions="author_id"))

    assert len(pages) == math.ceil(len(posts) / 15)
    ids = [i for page in pages for i in page_ids(page)]
    assert ids == expected
    assert len(ids) == len(set(ids)) and all(a > b for a, b in zip(ids, ids[1:]))
    for page in pages[:-1]:
        assert page["meta"]["result_count"] + page["meta"].get("withheld_count", 0) == 15
    assert all("next_token" in page["meta"] for page in pages[:-1]) and "next_token" not in pages[-1]["meta"]
    assert "pagination_token=" not in pages[0]["__twarc"]["url"]
    assert all("pagination_token=" in page["__twarc"]["url"] for page in pages[1:])


def test_timeline_takes_twarcs_datetime_bounds(platform, display):
    """twarc renders datetimes as `2026-01-02T03:04:05+00:00`."""
    author_id = platform.claim_author(public_author(20, 120, none_deleted))
    posts = platform.truth.posts_by_author[author_id]

    def at(p):
        return dt.datetime.fromisoformat(p["created_at"].replace("Z", "+00:00"))

    start = at(posts[-3]).replace(microsecond=0) + dt.timedelta(seconds=1)
    end = at(posts[2]).replace(microsecond=0) + dt.timedelta(seconds=1)

    pages = list(display.timeline(author_id, start_time=start, end_time=end, max_results=5, expansions="author_id"))

    assert "start_time=" + start.isoformat().replace("+", "%2B").replace(":", "%3A") in pages[0]["__twarc"]["url"]
    ids = [i for page in pages for i in page_ids(page)]
    assert ids == [p["id"] for p in posts if start <= at(p) < end]
    assert len(ids) == len(posts) - 5


def test_timeline_meta_counts_posts_withheld_from_partner_training(platform, partner_training):
    """An author who consents, with some posts marked no-AI: the partner's
    training timeline leaves those out and counts them in meta."""
    truth = platform.truth

    def some_no_ai(account, posts):
        return any(p.get("no_ai") and not p.get("deleted_at") for p in posts)

    for _ in range(20):
        author_id = platform.claim_author(public_author(20, 400, some_no_ai))
        view = platform.internal("GET", f"/internal/accounts/{author_id}").json()
        if view["effective_ai_preferences"]["train-genai"]["third-parties"] == "allow" and not view["minor"]:
            break
    else:
        pytest.fail("no consenting author with no-AI posts in the demo platform")
    posts = truth.posts_by_author[author_id]

    pages = list(partner_training.timeline(author_id, max_results=100, expansions="author_id"))

    delivered = [i for page in pages for i in page_ids(page)]
    assert delivered == [p["id"] for p in posts if not p.get("no_ai") and not p.get("deleted_at")]
    withheld: dict[str, int] = {}
    for page in pages:
        for reason, n in page["meta"].get("withheld_by_reason", {}).items():
            withheld[reason] = withheld.get(reason, 0) + n
        assert page["meta"].get("withheld_count", 0) == sum(page["meta"].get("withheld_by_reason", {}).values())
    expected = {"post_no_ai": sum(1 for p in posts if p.get("no_ai") and not p.get("deleted_at"))}
    deleted = sum(1 for p in posts if p.get("deleted_at"))
    if deleted:
        expected["deleted"] = deleted
    assert withheld == expected


def test_search_recent_pages_match_the_query_and_count_withheld_posts(platform, display, partner_training):
    word = "pizza"
    assert sum(has_word(p["text"], word) for p in platform.truth.posts.values()) > 300

    display_pages = []
    for page in display.search_recent(f"{word} -is:reply", max_results=100, expansions="author_id"):
        display_pages.append(page)
        if len(display_pages) == 3:
            break
    partner_pages = []
    for page in partner_training.search_recent(f"{word} -is:reply", max_results=100, expansions="author_id"):
        partner_pages.append(page)
        if len(partner_pages) == 3:
            break

    for pages in (display_pages, partner_pages):
        assert len(pages) == 3
        ids = [i for page in pages for i in page_ids(page)]
        assert len(ids) == len(set(ids)) and all(a > b for a, b in zip(ids, ids[1:]))
        for page in pages:
            meta = page["meta"]
            assert meta["result_count"] + meta.get("withheld_count", 0) == 100
            for tweet in page["data"]:
                assert has_word(tweet["text"], word)
                assert not platform.truth.posts[int(tweet["id"])].get("in_reply_to")
    # The same candidates, decided for two purposes: training withholds more.
    display_withheld = sum(p["meta"].get("withheld_count", 0) for p in display_pages)
    partner_withheld = sum(p["meta"].get("withheld_count", 0) for p in partner_pages)
    assert partner_withheld > display_withheld
    reasons = {r for p in partner_pages for r in p["meta"].get("withheld_by_reason", {})}
    assert "author_opted_out" in reasons
    assert reasons <= {
        "author_opted_out",
        "minor",
        "post_no_ai",
        "protected_account",
        "deleted",
        "author_suspended",
        "author_deactivated",
    }


def test_standard_app_training_request_raises_http_403(platform):
    trainer = make_twarc(platform, "demo-standard-trainer", "train-genai")
    with pytest.raises(requests.HTTPError) as refused:
        next(trainer.tweet_lookup([platform.opted_out_post_id], expansions="author_id"))
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["reason"] == "agreement_prohibits"


@pytest.mark.parametrize("method", ["tweet_lookup", "timeline", "search_recent"])
def test_twarc_default_fields_and_expansions_are_accepted(platform, display, method):
    """twarc2 (and its command line: `twarc2 hydrate`, `timeline`, `search`)
    asks for every X expansion and field unless told otherwise. X answers such
    requests; a compatible server must too, leaving out what it does not keep."""
    post_id = platform.opted_out_post_id
    call = {
        "tweet_lookup": lambda: display.tweet_lookup([post_id]),
        "timeline": lambda: display.timeline(platform.example_author_id, max_results=5),
        "search_recent": lambda: display.search_recent("pizza", max_results=10),
    }[method]
    failure = None
    try:
        page = next(call())
    except requests.HTTPError as e:
        failure = (
            f"GET {e.response.url}\nanswered {e.response.status_code}: {e.response.text}\n"
            "X answers this request (twarc2's default) with 200, leaving out what does not apply"
        )
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    assert page.get("data"), page
