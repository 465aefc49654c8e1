"""The developer API driven through the Node.js client library twitter-api-v2.

`tests/e2e/node/client.mjs` makes the library's calls (its paginators, its
includes helper) against the session's server and prints what the library
returned; this test chooses the ids from the demo platform's generated data and
checks every value against it. The package is pinned in tests/e2e/node/ and
installed by scripts/setup-node (`npm ci`), which scripts/test runs before this
suite; without node_modules the test fails and says so.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest

from support import REPO_ROOT, has_word, none_deleted, public_author, words

NODE_DIR = REPO_ROOT / "tests" / "e2e" / "node"
TIMELINE_PAGE = 5


def run_client(platform, plan: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on the PATH: install Node.js 18 or later")
    if not (NODE_DIR / "node_modules" / "twitter-api-v2").is_dir():
        pytest.fail(f"{NODE_DIR}/node_modules is missing: run scripts/setup-node")
    proc = subprocess.run(
        [node, str(NODE_DIR / "client.mjs")],
        cwd=NODE_DIR,
        # Through the recording proxy, so that what the library received is
        # checked against X's contract like every other response (conftest.py).
        input=json.dumps({"base_url": platform.recording_url, **plan}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"client.mjs exited with {proc.returncode}\n--- stderr\n{proc.stderr}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def scenario(platform):
    """Ids from the generated platform for each call, and what the library returned."""
    truth = platform.truth
    # A timeline of several pages: more than three pages of the page size.
    author_id = platform.claim_author(public_author(3 * TIMELINE_PAGE + 2, 60, none_deleted))
    # A visible reply whose parent is visible: `referenced_tweets.id` joins the parent.
    reply_author = platform.claim_author(
        public_author(
            2,
            60,
            lambda a, posts: any(
                p.get("in_reply_to") in truth.posts
                and not p.get("deleted_at")
                and truth.shown_for_display(truth.posts[p["in_reply_to"]])
                for p in posts
            ),
        )
    )
    reply = next(
        p
        for p in truth.posts_by_author[reply_author]
        if p.get("in_reply_to") in truth.posts
        and not p.get("deleted_at")
        and truth.shown_for_display(truth.posts[p["in_reply_to"]])
    )
    # Posts by id: visible ones by distinct authors, one of them a reply, and one id that does not exist.
    lookup_authors = [platform.claim_author(public_author(1, 30, none_deleted)) for _ in range(3)]
    lookup_ids = [truth.posts_by_author[a][0]["id"] for a in lookup_authors] + [reply["id"]]
    missing = 1_999_999_999_999_999_999
    assert missing not in truth.posts
    # A word that enough shown posts contain for several search pages.
    word = pick_search_word(truth)
    user_ids = [author_id, reply_author, lookup_authors[0]]
    plan = {
        "token": platform.token("demo-display"),
        "timeline": {"author_id": str(author_id), "page_size": TIMELINE_PAGE, "max_pages": 100},
        "tweet_id": str(reply["id"]),
        "tweet_ids": [str(i) for i in lookup_ids] + [str(missing)],
        "search": {"query": word, "page_size": 10, "max_pages": 3},
        "user_ids": [str(i) for i in user_ids],
        "usernames": [truth.handle(i) for i in user_ids],
    }
    out = run_client(platform, plan)
    return {
        "out": out,
        "author_id": author_id,
        "reply": reply,
        "lookup_ids": lookup_ids,
        "missing": missing,
        "word": word,
        "user_ids": user_ids,
    }


def pick_search_word(truth) -> str:
    counts: dict[str, int] = {}
    for post in truth.posts.values():
        if truth.shown_for_display(post):
            for w in words(post["text"]):
                if w.isascii() and w.isalpha() and len(w) >= 5:
                    counts[w] = counts.get(w, 0) + 1
    # Common enough for three pages of ten, not so common that it says nothing.
    fitting = sorted((c, w) for w, c in counts.items() if 40 <= c <= 400)
    assert fitting, "no word fits: make the demo platform larger"
    return fitting[0][1]


def test_timeline_paginator_walks_every_page_once_newest_first(platform, scenario):
    truth = platform.truth
    out = scenario["out"]
    author_id = scenario["author_id"]
    expected = [p["id"] for p in truth.posts_by_author[author_id]]
    handle = truth.handle(author_id)

    pages = out["timeline_pages"]
    assert len(pages) == math.ceil(len(expected) / TIMELINE_PAGE) >= 4
    seen: list[int] = []
    for i, page in enumerate(pages):
        ids = [int(x) for x in page["ids"]]
        assert not set(ids) & set(seen), f"page {i} repeats posts of earlier pages"
        assert 0 < len(ids) <= TIMELINE_PAGE and page["result_count"] == len(ids)
        assert page["authors"] == [handle] * len(ids), "includes.users joined to each post by the library"
        last = i == len(pages) - 1
        assert page["done"] == last and (page["next_token"] is None) == last
        seen.extend(ids)
    assert seen == expected, "the pages together are the author's posts, newest first"
    assert [int(x) for x in out["timeline_iterated"]] == expected, "`for await` fetched the same posts"
    assert out["timeline_iterated_done"] is True


def test_single_tweet_joins_its_author_and_the_post_it_replies_to(platform, scenario):
    truth = platform.truth
    single = scenario["out"]["single"]
    reply = scenario["reply"]
    parent = truth.posts[reply["in_reply_to"]]

    assert single["errors"] == []
    data = single["data"]
    assert int(data["id"]) == reply["id"] and data["text"] == reply["text"]
    assert int(data["author_id"]) == reply["author_id"]
    assert data["referenced_tweets"] == [{"type": "replied_to", "id": str(parent["id"])}]
    assert int(single["author"]["id"]) == reply["author_id"]
    assert single["author"]["username"] == truth.handle(reply["author_id"])
    assert single["author"]["name"] == truth.accounts[reply["author_id"]]["display_name"]
    replied_to = single["replied_to"]
    assert replied_to is not None, "the library found the parent in includes.tweets"
    assert int(replied_to["id"]) == parent["id"] and replied_to["text"] == parent["text"]
    assert single["quoted"] is None and single["retweeted"] is None
    assert [int(u) for u in single["includes_users"]] == [reply["author_id"]]
    assert [int(t) for t in single["includes_tweets"]] == [parent["id"]]


def test_tweets_by_ids_in_order_with_authors_joined_and_the_missing_id_an_error(platform, scenario):
    truth = platform.truth
    lookup = scenario["out"]["lookup"]
    ids = scenario["lookup_ids"]

    assert [int(x) for x in lookup["ids"]] == ids
    for post_id, (author_id, joined_id, username) in zip(ids, lookup["authors"]):
        post = truth.posts[post_id]
        assert int(author_id) == post["author_id"] == int(joined_id)
        assert username == truth.handle(post["author_id"])
    reply = scenario["reply"]
    assert lookup["referenced"][-1] == [["replied_to", str(reply["in_reply_to"])]]
    assert lookup["joined"][-1] == [str(reply["in_reply_to"]), None, None]
    for post_id, refs, joined in zip(ids[:-1], lookup["referenced"][:-1], lookup["joined"][:-1]):
        parent = truth.posts[post_id].get("in_reply_to")
        if parent is None:
            assert refs == [] and joined == [None, None, None]
        else:
            assert refs == [["replied_to", str(parent)]]
    assert lookup["errors"] == [str(scenario["missing"])]


def test_search_pages_match_the_word_and_do_not_repeat(platform, scenario):
    truth = platform.truth
    pages = scenario["out"]["search_pages"]
    word = scenario["word"]

    assert len(pages) == 3
    seen: set[int] = set()
    previous_last = None
    for i, page in enumerate(pages):
        ids = [int(x) for x in page["ids"]]
        assert len(ids) == 10, f"page {i} is full: the word has more matches than three pages"
        assert not set(ids) & seen, f"page {i} repeats posts of earlier pages"
        assert ids == sorted(ids, reverse=True) and (previous_last is None or ids[0] < previous_last)
        for post_id, text, (author_id, joined) in zip(ids, page["texts"], page["authors"]):
            post = truth.posts[post_id]
            assert truth.shown_for_display(post)
            assert text == post["text"] and has_word(text, word)
            assert int(author_id) == post["author_id"] == int(joined)
        seen.update(ids)
        previous_last = ids[-1]
        assert page["next_token"], "more pages follow"


def test_users_by_id_and_by_username(platform, scenario):
    truth = platform.truth
    users = scenario["out"]["users"]
    user_ids = scenario["user_ids"]

    def check(user, account_id):
        account = truth.accounts[account_id]
        assert int(user["id"]) == account_id
        assert user["username"] == account["handle"] and user["name"] == account["display_name"]
        assert user["created_at"].replace("Z", "+00:00")[:19] == account["created_at"].replace("Z", "+00:00")[:19]

    check(users["one"], user_ids[0])
    assert [int(u["id"]) for u in users["many"]] == user_ids and users["many_errors"] == []
    for user, account_id in zip(users["many"], user_ids):
        check(user, account_id)
    check(users["by_username"], user_ids[0])
    assert [int(u["id"]) for u in users["by_usernames"]] == user_ids
    for user, account_id in zip(users["by_usernames"], user_ids):
        check(user, account_id)


def test_a_refused_request_is_the_librarys_api_error(scenario):
    refused = scenario["out"]["refused"]
    assert refused is not None, "an unknown tweet.fields value is refused"
    assert refused["type"] == "ApiResponseError" and refused["code"] == 400
    [error] = refused["data"]["errors"]
    assert error["parameters"] == {"tweet.fields": ["no_such_field"]}
