"""The developer API driven through tweepy's `Client`, as an X developer would.

tweepy addresses https://api.twitter.com; the only change made to its client is
a transport adapter on its `requests` session that sends those requests to the
local server. The purpose of a request goes in the `Tollgate-Purpose` header,
set on the session like any default header.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import pytest
import tweepy

from support import LocalTransport, has_word, none_deleted, public_author

TWEET_FIELDS = ["created_at", "lang", "author_id", "conversation_id"]


def make_client(platform, app: str, purpose: str | None = None) -> tweepy.Client:
    client = tweepy.Client(bearer_token=platform.token(app))
    client.session.mount("https://", LocalTransport(platform.base_url))
    if purpose is not None:
        client.session.headers["Tollgate-Purpose"] = purpose
    return client


@pytest.fixture(scope="module")
def display(platform):
    return make_client(platform, "demo-display")


@pytest.fixture(scope="module")
def partner_training(platform):
    return make_client(platform, "demo-partner", "train-genai")


@pytest.fixture(scope="module")
def partner_display(platform):
    return make_client(platform, "demo-partner", "display")


def parse_time(raw: str) -> dt.datetime:
    return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))


def visible_posts(platform, author_id: int) -> list[dict]:
    return [p for p in platform.truth.posts_by_author[author_id] if p.get("deleted_at") is None]


def training_delivered_post(platform, partner_training) -> tuple[int, int]:
    """A post the partner currently receives for `train-genai`, by an author no
    other test uses: (post id, author id)."""
    candidates = []
    for author_id, posts in sorted(platform.truth.posts_by_author.items(), key=lambda kv: len(kv[1])):
        if author_id in platform.claimed_authors or not 3 <= len(posts) <= 40:
            continue
        if not platform.truth.account_is_public_and_active(author_id):
            continue
        post = next((p for p in posts if p.get("deleted_at") is None and not p.get("no_ai")), None)
        if post is not None:
            candidates.append(post["id"])
        if len(candidates) == 100:
            break
    response = partner_training.get_tweets(ids=candidates, tweet_fields=["author_id"])
    for tweet in response.data or []:
        if tweet.author_id not in platform.claimed_authors:
            platform.claimed_authors.add(tweet.author_id)
            return tweet.id, tweet.author_id
    raise AssertionError(f"the partner received none of {len(candidates)} posts for train-genai: {response.errors[:3]}")


def error_by_id(errors: list[dict]) -> dict[str, dict]:
    return {e["resource_id"]: e for e in errors}


# -- lookups --------------------------------------------------------------------------


def test_get_tweet_returns_the_post_with_the_requested_fields(platform, display):
    truth = platform.truth
    author_id = platform.claim_author(
        public_author(3, 60, lambda a, posts: any(p.get("in_reply_to") and not p.get("deleted_at") for p in posts))
    )
    post = next(p for p in visible_posts(platform, author_id) if p.get("in_reply_to"))

    response = display.get_tweet(
        post["id"], tweet_fields=TWEET_FIELDS, expansions="author_id", user_fields=["created_at"]
    )

    tweet = response.data
    assert isinstance(tweet, tweepy.Tweet)
    assert tweet.id == post["id"]
    assert tweet.text == post["text"]
    assert tweet.lang == post["lang"]
    assert tweet.author_id == author_id
    assert tweet.conversation_id == post["conversation_id"]
    assert tweet.conversation_id != tweet.id, "a reply belongs to its thread's conversation"
    assert tweet.created_at == parse_time(post["created_at"])
    assert tweet.edit_history_tweet_ids == [post["id"]]
    assert response.errors == []
    [user] = response.includes["users"]
    account = truth.accounts[author_id]
    assert (user.id, user.username, user.name) == (author_id, account["handle"], account["display_name"])
    assert user.created_at == parse_time(account["created_at"])


def test_get_tweet_without_fields_has_only_the_default_fields(platform, display):
    author_id = platform.claim_author(public_author(1, 10))
    post = visible_posts(platform, author_id)[0]

    response = display.get_tweet(post["id"])

    assert set(response.data.data) == {"id", "text", "edit_history_tweet_ids"}
    assert response.data.created_at is None and response.data.author_id is None
    assert response.includes == {}


def test_get_tweets_answers_in_order_and_names_missing_and_withheld_ids(platform, display):
    truth = platform.truth
    visible = []
    for author_id in [platform.claim_author(public_author(2, 20)) for _ in range(3)]:
        visible.append(visible_posts(platform, author_id)[0]["id"])
    protected_post = next(
        p for p in truth.posts.values() if truth.accounts[p["author_id"]].get("protected") and not p.get("deleted_at")
    )
    deleted_post = next(
        p for p in truth.posts.values() if p.get("deleted_at") and truth.account_is_public_and_active(p["author_id"])
    )
    suspended_post = next(
        p
        for p in truth.posts.values()
        if truth.accounts[p["author_id"]].get("status") == "suspended" and not p.get("deleted_at")
    )
    missing = 1_999_999_999_999_999_999
    assert missing not in truth.posts
    withheld = [protected_post["id"], deleted_post["id"], suspended_post["id"]]
    asked = [visible[0], missing, withheld[0], visible[1], withheld[1], withheld[2], visible[2]]

    response = display.get_tweets(ids=asked, tweet_fields=["author_id"])

    assert [t.id for t in response.data] == visible
    assert [e["resource_id"] for e in response.errors] == [
        str(i) for i in asked if i not in visible
    ], "errors come in the order the ids were asked"
    errors = error_by_id(response.errors)
    not_found = errors[str(missing)]
    assert not_found["title"] == "Not Found Error"
    assert not_found["type"] == "https://api.x.com/2/problems/resource-not-found"
    assert "section" not in not_found
    assert not_found["parameter"] == "ids" and not_found["resource_type"] == "tweet"
    assert "reason" not in not_found
    assert errors[str(protected_post["id"])]["reason"] == "protected_account"
    assert errors[str(deleted_post["id"])]["reason"] == "deleted"
    assert errors[str(suspended_post["id"])]["reason"] == "author_suspended"
    for post_id in (protected_post["id"], deleted_post["id"], suspended_post["id"]):
        withheld = errors[str(post_id)]
        assert withheld["type"] == "https://api.x.com/2/problems/not-authorized-for-resource"
        assert withheld["section"] == "data"
        assert withheld["title"] == "Authorization Error"


def test_protected_posts_reach_first_party_display_but_no_third_party(platform, display):
    truth = platform.truth
    protected_post = next(
        p
        for p in truth.posts.values()
        if truth.accounts[p["author_id"]].get("protected")
        and truth.accounts[p["author_id"]].get("status", "active") == "active"
        and not p.get("deleted_at")
    )
    first_party = make_client(platform, "demo-first-party", "display")

    assert first_party.get_tweet(protected_post["id"]).data.id == protected_post["id"]
    third_party = display.get_tweet(protected_post["id"])
    assert third_party.data is None
    assert third_party.errors[0]["reason"] == "protected_account"


# -- timelines ----------------------------------------------------------------------------


def test_get_users_tweets_paginates_newest_first_without_overlap(platform, display):
    truth = platform.truth
    author_id = platform.claim_author(
        public_author(35, 90, lambda a, posts: any(p.get("deleted_at") for p in posts) or len(posts) % 10 != 0)
    )
    all_posts = truth.posts_by_author[author_id]
    expected = [p["id"] for p in all_posts if p.get("deleted_at") is None]

    pages = list(
        tweepy.Paginator(display.get_users_tweets, author_id, max_results=10, tweet_fields=["author_id", "created_at"])
    )

    assert len(pages) == math.ceil(len(all_posts) / 10)
    ids = []
    for i, page in enumerate(pages):
        data = page.data or []
        assert len(data) <= 10
        assert page.meta["result_count"] == len(data)
        assert len(data) + page.meta.get("withheld_count", 0) <= 10
        assert all(t.author_id == author_id for t in data)
        if data:
            assert page.meta["newest_id"] == str(data[0].id) and page.meta["oldest_id"] == str(data[-1].id)
        if i < len(pages) - 1:
            assert re.fullmatch(r"[0-9a-f]{20}", page.meta["next_token"]), page.meta
        else:
            assert "next_token" not in page.meta
        ids.extend(t.id for t in data)
    assert len(ids) == len(set(ids)), "no post appears on two pages"
    assert ids == sorted(ids, reverse=True) and all(a > b for a, b in zip(ids, ids[1:])), "strictly newest first"
    assert ids == expected
    deleted = len(all_posts) - len(expected)
    assert sum(p.meta.get("withheld_by_reason", {}).get("deleted", 0) for p in pages) == deleted


def test_paginator_limits_and_resumes_from_a_next_token(platform, display):
    author_id = platform.claim_author(public_author(30, 90, none_deleted))
    expected = [p["id"] for p in platform.truth.posts_by_author[author_id]]

    two_pages = list(tweepy.Paginator(display.get_users_tweets, author_id, max_results=5, limit=2))
    assert [t.id for page in two_pages for t in page.data] == expected[:10]

    flat = list(tweepy.Paginator(display.get_users_tweets, author_id, max_results=7).flatten(limit=15))
    assert [t.id for t in flat] == expected[:15]

    token = two_pages[-1].meta["next_token"]
    resumed = display.get_users_tweets(author_id, max_results=5, pagination_token=token)
    assert [t.id for t in resumed.data] == expected[10:15]


def test_get_users_tweets_honours_id_and_time_bounds(platform, display):
    author_id = platform.claim_author(public_author(20, 90, none_deleted))
    posts = platform.truth.posts_by_author[author_id]
    ids = [p["id"] for p in posts]
    middle = posts[len(posts) // 2]

    newer = display.get_users_tweets(author_id, since_id=middle["id"], max_results=100)
    assert [t.id for t in newer.data] == [i for i in ids if i > middle["id"]]
    older = display.get_users_tweets(author_id, until_id=middle["id"], max_results=100)
    assert [t.id for t in older.data] == [i for i in ids if i < middle["id"]]

    start = parse_time(posts[-1]["created_at"]).replace(microsecond=0) + dt.timedelta(seconds=1)
    end = parse_time(middle["created_at"]).replace(microsecond=0) + dt.timedelta(seconds=1)
    windowed = display.get_users_tweets(
        author_id, start_time=start, end_time=end, max_results=100, tweet_fields=["created_at"]
    )
    expected = [p["id"] for p in posts if start <= parse_time(p["created_at"]) < end]
    assert [t.id for t in windowed.data] == expected
    assert all(start <= t.created_at < end for t in windowed.data)


def test_expansion_of_author_id_includes_the_author_once(platform, display):
    author_id = platform.claim_author(public_author(12, 90))
    response = display.get_users_tweets(author_id, max_results=10, expansions="author_id", tweet_fields=["author_id"])
    assert len(response.data) >= 2
    assert [u.id for u in response.includes["users"]] == [author_id]
    assert response.includes["users"][0].username == platform.truth.handle(author_id)


# -- search -------------------------------------------------------------------------------


STOPWORDS = {"https", "about", "thread", "still", "today", "thoughts", "finally", "honestly", "anyone", "waiting"}


def pick_word(texts: list[str], min_len: int = 5) -> str:
    counts: dict[str, int] = {}
    for text in texts:
        for w in re.findall(r"(?<![@#\w])[a-z]+(?![\w'])", text.lower()):
            if len(w) >= min_len and w not in STOPWORDS:
                counts[w] = counts.get(w, 0) + 1
    assert counts, f"no usable word in {texts[:5]}"
    return max(sorted(counts), key=counts.get)


def test_search_recent_finds_a_word_taken_from_the_posts(platform, display):
    prolific = max(platform.truth.posts_by_author, key=lambda a: len(platform.truth.posts_by_author[a]))
    sample = display.get_users_tweets(prolific, max_results=100)
    word = pick_word([t.text for t in sample.data])

    pages = list(tweepy.Paginator(display.search_recent_tweets, word, max_results=100, limit=3))

    assert len(pages) == 3, f"`{word}` is common enough to fill three pages"
    for page in pages:
        assert page.meta["result_count"] + page.meta.get("withheld_count", 0) == 100
    ids = [t.id for page in pages for t in page.data]
    assert len(set(ids)) == len(ids) and all(a > b for a, b in zip(ids, ids[1:]))
    for page in pages:
        for tweet in page.data:
            assert has_word(tweet.text, word), f"`{tweet.text}` does not contain `{word}`"
    first = display.search_recent_tweets(word, max_results=10)
    assert [t.id for t in first.data] == ids[: len(first.data)]


def test_search_operators_select_exactly_the_matching_posts(platform, display):
    truth = platform.truth

    def mixed(account, posts):
        replies = [p for p in posts if p.get("in_reply_to")]
        return len(replies) >= 3 and len(posts) - len(replies) >= 3 and len({p["lang"] for p in posts}) >= 2

    author_id = platform.claim_author(public_author(25, 300, mixed))
    handle = truth.handle(author_id)
    posts = [p for p in truth.posts_by_author[author_id] if p.get("deleted_at") is None]

    def search(query: str) -> list[tweepy.Tweet]:
        found = []
        fields = ["author_id", "lang", "in_reply_to_user_id"]
        for page in tweepy.Paginator(display.search_recent_tweets, query, max_results=10, tweet_fields=fields):
            found.extend(page.data or [])
        return found

    def expect(query: str, keep) -> None:
        got = [t.id for t in search(query)]
        want = [p["id"] for p in posts if keep(p)]
        assert want, f"the test's own query `{query}` should match something"
        assert got == want, f"query `{query}`"

    expect(f"from:{handle}", lambda p: True)
    expect(f"from:{handle.upper()}", lambda p: True)
    expect(f"from:{handle} -is:reply", lambda p: not p.get("in_reply_to"))
    expect(f"from:{handle} is:reply", lambda p: bool(p.get("in_reply_to")))
    lang = max(sorted({p["lang"] for p in posts}), key=lambda lg: sum(p["lang"] == lg for p in posts))
    expect(f"from:{handle} lang:{lang}", lambda p: p["lang"] == lang)
    expect(f"from:{handle} -lang:{lang}", lambda p: p["lang"] != lang)

    words_ = pick_word([p["text"] for p in posts], min_len=4)
    other = pick_word([p["text"] for p in posts if not has_word(p["text"], words_)], min_len=4)
    expect(f"from:{handle} ({words_} OR {other})", lambda p: has_word(p["text"], words_) or has_word(p["text"], other))
    expect(f"from:{handle} {words_} -{other}", lambda p: has_word(p["text"], words_) and not has_word(p["text"], other))
    expect(
        f"(from:{handle} {words_}) OR (from:{handle} -is:reply {other})",
        lambda p: has_word(p["text"], words_) or (not p.get("in_reply_to") and has_word(p["text"], other)),
    )

    # Operators about data Tollgate does not keep match nothing, so their
    # negation keeps every post; those about replies and threads are exact.
    expect(f"from:{handle} -is:retweet", lambda p: True)
    expect(f"from:{handle} -is:nullcast -has:media -is:quote -place_country:DE", lambda p: True)
    assert search(f"from:{handle} has:media") == []
    assert search(f"from:{handle} (is:retweet OR is:verified)") == []
    reply = next(p for p in posts if p.get("in_reply_to"))
    expect(f"from:{handle} in_reply_to_tweet_id:{reply['in_reply_to']}", lambda p: p.get("in_reply_to") == reply["in_reply_to"])
    thread = reply.get("conversation_id") or reply["id"]
    expect(f"from:{handle} conversation_id:{thread}", lambda p: (p.get("conversation_id") or p["id"]) == thread)


def test_search_recent_takes_tweepys_example_query(platform, display):
    """`coffee -is:retweet`, tweepy's own example: Tollgate keeps no reposts,
    so the answer is the keyword's, page for page."""
    prolific = max(platform.truth.posts_by_author, key=lambda a: len(platform.truth.posts_by_author[a]))
    word = pick_word([t.text for t in display.get_users_tweets(prolific, max_results=100).data])

    plain = display.search_recent_tweets(word, max_results=100)
    no_retweets = display.search_recent_tweets(f"{word} -is:retweet", max_results=100)

    assert plain.data, f"`{word}` matches posts"
    assert [t.id for t in no_retweets.data] == [t.id for t in plain.data]
    assert no_retweets.meta["result_count"] == plain.meta["result_count"]
    with pytest.raises(tweepy.BadRequest, match="conjunction-required"):
        display.search_recent_tweets("is:retweet", max_results=10)


def test_search_combines_terms_language_and_replies_across_authors(platform, display):
    truth = platform.truth
    spanish = next(
        p
        for p in truth.posts.values()
        if p["lang"] == "es" and len(p["text"]) > 30 and not p.get("in_reply_to") and truth.shown_for_display(p)
    )
    word = pick_word([spanish["text"]], min_len=4)
    query = f'({word} OR "{word}") lang:es -is:reply'

    response = display.search_recent_tweets(
        query, max_results=100, tweet_fields=["lang", "author_id"], expansions="author_id"
    )

    assert response.data, query
    if response.meta.get("next_token") is None:
        assert spanish["id"] in {t.id for t in response.data}
    for tweet in response.data:
        assert tweet.lang == "es"
        assert has_word(tweet.text, word)
        assert not platform.truth.posts[tweet.id].get("in_reply_to")
    assert {u.id for u in response.includes["users"]} == {t.author_id for t in response.data}


# -- users ------------------------------------------------------------------------------------


def test_user_lookups_by_id_ids_and_username(platform, display):
    truth = platform.truth
    a, b = platform.claim_author(public_author(1, 30)), platform.claim_author(public_author(1, 30))
    account = truth.accounts[a]

    one = display.get_user(id=a, user_fields=["created_at", "description", "protected"])
    assert (one.data.id, one.data.username, one.data.name) == (a, account["handle"], account["display_name"])
    assert one.data.created_at == parse_time(account["created_at"])
    assert one.data.protected is False
    assert one.data.description == account.get("description", "")

    missing = 1_234_567
    assert missing not in truth.accounts
    many = display.get_users(ids=[b, missing, a])
    assert [u.id for u in many.data] == [b, a]
    [error] = many.errors
    assert error["title"] == "Not Found Error" and error["resource_type"] == "user" and error["value"] == str(missing)

    by_name = display.get_user(username=account["handle"])
    assert by_name.data.id == a
    unknown = display.get_user(username="nobody_here_x")
    assert unknown.data is None and unknown.errors[0]["title"] == "Not Found Error"


# -- policy ------------------------------------------------------------------------------------


def test_standard_app_asking_to_train_genai_is_refused_whole(platform):
    trainer = make_client(platform, "demo-standard-trainer", "train-genai")
    before = platform.ledger_entries()

    with pytest.raises(tweepy.Forbidden) as refused:
        trainer.get_tweet(platform.opted_out_post_id)

    assert refused.value.response.status_code == 403
    body = refused.value.response.json()
    assert body["reason"] == "agreement_prohibits"
    assert body["agreement_url"].endswith("/agreement")
    assert platform.ledger_entries() == before + 1, "the refusal is recorded"
    with pytest.raises(tweepy.Forbidden):
        trainer.search_recent_tweets("pizza")
    as_display = make_client(platform, "demo-standard-trainer", "display")
    assert as_display.get_tweet(platform.opted_out_post_id).data.id == platform.opted_out_post_id


def test_app_asking_for_an_undeclared_or_unlicensed_purpose_is_refused(platform):
    research = make_client(platform, "demo-partner", "research")
    with pytest.raises(tweepy.Forbidden) as undeclared:
        research.get_tweet(platform.opted_out_post_id)
    assert undeclared.value.response.json()["reason"] == "purpose_not_declared"

    created = platform.cli(
        "app", "create", "--name", "e2e-unlicensed-partner", "--tier", "partner",
        "--purposes", "display,train-ai", "--licensed", "train-genai", "--json",
    )
    token = json.loads(created.stdout)["token"]
    client = tweepy.Client(bearer_token=token)
    client.session.mount("https://", LocalTransport(platform.base_url))
    client.session.headers["Tollgate-Purpose"] = "train-ai"
    with pytest.raises(tweepy.Forbidden) as unlicensed:
        client.get_tweet(platform.opted_out_post_id)
    assert unlicensed.value.response.json()["reason"] == "not_licensed"
    client.session.headers["Tollgate-Purpose"] = "display"
    assert client.get_tweet(platform.opted_out_post_id).data.id == platform.opted_out_post_id


def test_opted_out_author_is_withheld_from_partner_training(platform, display, partner_training, partner_display):
    post_id = platform.opted_out_post_id

    withheld = partner_training.get_tweet(post_id)
    assert withheld.data is None
    [error] = withheld.errors
    assert error["reason"] == "author_opted_out" and error["resource_id"] == str(post_id)

    assert display.get_tweet(post_id).data.id == post_id
    assert partner_display.get_tweet(post_id).data.id == post_id

    author = platform.example_author_id
    timeline = partner_training.get_users_tweets(author, max_results=100)
    expected = len([p for p in platform.truth.posts_by_author[author][:100] if p.get("deleted_at") is None])
    assert timeline.data is None
    assert timeline.meta["result_count"] == 0
    assert timeline.meta["withheld_by_reason"].get("author_opted_out") == expected
    assert [t.id for t in display.get_users_tweets(author, max_results=100).data] == [
        p["id"] for p in visible_posts(platform, author)
    ]


def test_preference_change_is_in_force_on_the_very_next_request(platform, display, partner_training):
    post_id, author_id = training_delivered_post(platform, partner_training)
    path = f"/internal/accounts/{author_id}/ai-preferences"
    before = platform.internal("GET", f"/internal/accounts/{author_id}").json()
    original = before["account"]["ai_preferences"].get("train-genai", {}).get("third-parties", {}).get("value", "unset")
    assert before["effective_ai_preferences"]["train-genai"]["third-parties"] == "allow"
    try:
        denied = platform.internal("PATCH", path, json={"train-genai": {"third-parties": "deny"}})
        assert denied.status_code == 200, denied.text
        assert denied.json()["effective_ai_preferences"]["train-genai"]["third-parties"] == "deny"

        response = partner_training.get_tweet(post_id)
        assert response.data is None
        assert response.errors[0]["reason"] == "author_opted_out"
        timeline = partner_training.get_users_tweets(author_id, max_results=100)
        assert timeline.data is None and timeline.meta["withheld_by_reason"]["author_opted_out"] >= 1
        assert display.get_tweet(post_id).data.id == post_id, "display is not an AI purpose"

        allowed = platform.internal("PATCH", path, json={"train-genai": {"third-parties": "allow"}})
        assert allowed.status_code == 200, allowed.text
        assert partner_training.get_tweet(post_id).data.id == post_id
    finally:
        platform.internal("PATCH", path, json={"train-genai": {"third-parties": original}})


def test_post_marked_no_ai_is_withheld_from_ai_purposes_only(platform, display, partner_training, partner_display):
    post_id, _ = training_delivered_post(platform, partner_training)
    path = f"/internal/posts/{post_id}/no-ai"
    try:
        marked = platform.internal("PUT", path, json={"no_ai": True})
        assert marked.status_code == 200 and marked.json() == {"id": str(post_id), "no_ai": True}

        response = partner_training.get_tweet(post_id)
        assert response.data is None and response.errors[0]["reason"] == "post_no_ai"
        assert partner_display.get_tweet(post_id).data.id == post_id
        assert display.get_tweet(post_id).data.id == post_id
    finally:
        assert platform.internal("PUT", path, json={"no_ai": False}).status_code == 200
    assert partner_training.get_tweet(post_id).data.id == post_id


def test_suspended_author_is_withheld_until_reinstated(platform, display):
    author_id = platform.claim_author(public_author(3, 30, none_deleted))
    posts = platform.truth.posts_by_author[author_id]
    status = f"/internal/accounts/{author_id}/status"
    try:
        assert platform.internal("PUT", status, json={"status": "suspended"}).status_code == 200

        timeline = display.get_users_tweets(author_id, max_results=100)
        assert timeline.data is None
        assert timeline.meta["withheld_by_reason"] == {"author_suspended": len(posts)}
        single = display.get_tweet(posts[0]["id"])
        assert single.data is None and single.errors[0]["reason"] == "author_suspended"
        user = display.get_user(id=author_id)
        assert user.data is None and user.errors[0]["reason"] == "author_suspended"
        search = display.search_recent_tweets(f"from:{platform.truth.handle(author_id)}")
        assert search.data is None and search.meta["withheld_count"] == min(len(posts), 10)
    finally:
        assert platform.internal("PUT", status, json={"status": "active"}).status_code == 200
    assert [t.id for t in display.get_users_tweets(author_id, max_results=100).data] == [p["id"] for p in posts]
    assert display.get_user(id=author_id).data.id == author_id


def test_deleted_post_is_withheld_from_everyone(platform, display, partner_display):
    author_id = platform.claim_author(public_author(3, 30, none_deleted))
    post = platform.truth.posts_by_author[author_id][0]

    deleted = platform.internal("DELETE", f"/internal/posts/{post['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": str(post["id"]), "deleted": True}

    for client in (display, partner_display):
        response = client.get_tweet(post["id"])
        assert response.data is None and response.errors[0]["reason"] == "deleted"
    timeline = display.get_users_tweets(author_id, max_results=100)
    assert post["id"] not in {t.id for t in timeline.data}
    assert timeline.meta["withheld_by_reason"] == {"deleted": 1}
