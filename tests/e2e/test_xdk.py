"""The developer API driven through X's own Python SDK, `xdk`, as a new user would.

`xdk.Client` takes the API's base URL as an argument (`base_url`, default
https://api.x.com); that is the only thing changed: the client is given the
session's server instead. Authentication is the app's bearer token; the
purpose of a request goes in the `Tollgate-Purpose` header, set on the
client's `requests` session like any default header. Every answer is the
SDK's own pydantic model, parsed by the SDK: a response that did not parse
would raise before any assertion here.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
import xdk

import x_sdk

from support import has_word, none_deleted, public_author
from test_tweepy import pick_word

# Names from the lists the SDK's methods offer (`Literal[...]`), as a type
# checker holds a user to (test_names_used_here_are_those_the_sdk_offers).
POST_FIELDS = ["created_at", "lang", "conversation_id"]
USER_FIELDS = ["created_at", "description", "protected"]
POST_EXPANSIONS = ["author_id"]
REPLY_EXPANSIONS = ["author_id", "in_reply_to_user_id", "referenced_posts"]
USER_EXPANSIONS = ["pinned_post_id", "most_recent_post_id"]


def make_client(platform, app: str, purpose: str | None = None) -> xdk.Client:
    client = xdk.Client(base_url=platform.base_url, bearer_token=platform.token(app))
    if purpose is not None:
        client.session.headers["Tollgate-Purpose"] = purpose
    client.session.hooks["response"].append(show_error_body)
    return client


def show_error_body(response, *args, **kwargs):
    """xdk raises `requests.HTTPError` on an error status, whose message names
    only the status and URL; the body (X's error, saying what was refused) is
    added to it, so that a failing test shows why."""
    if response.status_code >= 400:
        response.reason = f"{response.reason} ({response.text[:500]})"
    return response


@pytest.fixture(scope="module")
def display(platform):
    return make_client(platform, "demo-display", "display")


@pytest.fixture(scope="module")
def partner_training(platform):
    return make_client(platform, "demo-partner", "train-genai")


def problems(response) -> dict[str, object]:
    """The partial errors of a response by resource id."""
    return {e.resource_id: e for e in response.errors or []}


# -- posts by id --------------------------------------------------------------------------


def test_posts_by_id_found_withheld_and_missing_in_one_request(platform, display):
    truth = platform.truth
    found_author = platform.claim_author(public_author(2, 30, none_deleted))
    found = truth.posts_by_author[found_author][0]
    deleted = next(p for p in truth.posts.values() if p.get("deleted_at") and truth.account_is_public_and_active(p["author_id"]))
    missing = 1_999_999_999_999_999_998
    assert missing not in truth.posts

    response = display.posts.get_by_ids(
        ids=[str(found["id"]), str(deleted["id"]), str(missing)],
        post_fields=POST_FIELDS,
        expansions=POST_EXPANSIONS,
        user_fields=USER_FIELDS,
    )

    assert isinstance(response, xdk.posts.models.GetByIdsResponse)
    [post] = response.data
    assert (post.id, post.author_id, post.text) == (str(found["id"]), str(found_author), found["text"])
    assert post.lang == found["lang"] and post.created_at
    by_id = problems(response)
    assert set(by_id) == {str(deleted["id"]), str(missing)}
    withheld, not_found = by_id[str(deleted["id"])], by_id[str(missing)]
    assert withheld.type == "https://api.x.com/2/problems/not-authorized-for-resource"
    assert withheld.resource_type == "tweet" and withheld.reason == "deleted"
    assert not_found.type == "https://api.x.com/2/problems/resource-not-found"
    assert not_found.resource_type == "tweet" and not_found.value == str(missing)
    [author] = response.includes.users
    account = truth.accounts[found_author]
    assert (author.id, author.username, author.name) == (str(found_author), account["handle"], account["display_name"])
    assert author.protected is False


def test_post_by_id_with_its_author_and_a_post_withheld_from_training(platform, display, partner_training):
    post_id = platform.opted_out_post_id

    shown = display.posts.get_by_id(str(post_id), post_fields=POST_FIELDS, expansions=POST_EXPANSIONS)
    assert shown.data.id == str(post_id)
    assert shown.data.author_id == str(platform.example_author_id)
    assert [u.id for u in shown.includes.users] == [str(platform.example_author_id)]

    withheld = partner_training.posts.get_by_id(str(post_id), post_fields=POST_FIELDS)
    assert withheld.data is None
    [problem] = withheld.errors
    assert problem.type == "https://api.x.com/2/problems/not-authorized-for-resource"
    assert problem.resource_id == str(post_id) and problem.reason == "author_opted_out"


def test_reply_joins_the_post_it_replies_to_and_both_authors(platform, display):
    truth = platform.truth

    def has_shown_reply(account, posts):
        return any(
            p.get("in_reply_to") in truth.posts and not p.get("deleted_at") and truth.shown_for_display(truth.posts[p["in_reply_to"]])
            for p in posts
        )

    author_id = platform.claim_author(public_author(2, 60, has_shown_reply))
    reply = next(
        p
        for p in truth.posts_by_author[author_id]
        if p.get("in_reply_to") in truth.posts and not p.get("deleted_at") and truth.shown_for_display(truth.posts[p["in_reply_to"]])
    )
    parent = truth.posts[reply["in_reply_to"]]

    response = display.posts.get_by_id(
        str(reply["id"]), post_fields=POST_FIELDS, expansions=REPLY_EXPANSIONS, user_fields=USER_FIELDS
    )

    post = response.data
    assert [(r.type, r.id) for r in post.referenced_posts] == [("replied_to", str(parent["id"]))]
    assert post.in_reply_to_user_id == str(parent["author_id"])
    assert [p.id for p in response.includes.posts] == [str(parent["id"])]
    assert response.includes.posts[0].text == parent["text"]
    assert {u.id for u in response.includes.users} == {str(author_id), str(parent["author_id"])}


# -- timelines ----------------------------------------------------------------------------


def test_timeline_iterator_walks_every_page_newest_first(platform, display):
    author_id = platform.claim_author(public_author(23, 60, none_deleted))
    posts = platform.truth.posts_by_author[author_id]

    pages = list(
        display.users.get_posts(
            str(author_id), max_results=5, post_fields=POST_FIELDS, expansions=POST_EXPANSIONS, user_fields=USER_FIELDS
        )
    )

    assert len(pages) == -(-len(posts) // 5)
    assert all(isinstance(page, xdk.users.models.GetPostsResponse) for page in pages)
    ids = [int(post.id) for page in pages for post in page.data]
    assert ids == [p["id"] for p in posts]
    assert all(post.author_id == str(author_id) for page in pages for post in page.data)
    for page in pages:
        assert [u.id for u in page.includes.users] == [str(author_id)]
        assert page.meta.result_count == len(page.data)
    assert pages[-1].meta.next_token is None


def test_timeline_takes_since_until_and_rfc3339_times(platform, display):
    author_id = platform.claim_author(public_author(20, 90, none_deleted))
    posts = platform.truth.posts_by_author[author_id]
    middle = posts[len(posts) // 2]

    newer = [p for page in display.users.get_posts(str(author_id), since_id=str(middle["id"]), max_results=100) for p in page.data]
    assert [int(p.id) for p in newer] == [p["id"] for p in posts if p["id"] > middle["id"]]

    # The SDK passes times as the user writes them: RFC 3339, here with an
    # offset other than UTC's, the oldest post's time two hours ahead.
    oldest = dt.datetime.fromisoformat(posts[-1]["created_at"].replace("Z", "+00:00"))
    start = oldest.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert start.endswith("+02:00")
    page = next(iter(display.users.get_posts(str(author_id), start_time=start, max_results=100)))
    assert [int(p.id) for p in page.data] == [p["id"] for p in posts]
    later = (oldest + dt.timedelta(seconds=1)).astimezone(dt.timezone(dt.timedelta(hours=-5, minutes=-30))).isoformat()
    page = next(iter(display.users.get_posts(str(author_id), start_time=later, max_results=100)))
    assert [int(p.id) for p in page.data] == [p["id"] for p in posts if dt.datetime.fromisoformat(p["created_at"].replace("Z", "+00:00")) >= oldest + dt.timedelta(seconds=1)]


# -- search -------------------------------------------------------------------------------


def search_ids(client, query: str, **kwargs) -> list[int]:
    return [
        int(post.id)
        for page in client.posts.search_recent(query=query, max_results=10, post_fields=POST_FIELDS, **kwargs)
        for post in page.data or []
    ]


def test_search_with_operators_through_the_iterator(platform, display):
    truth = platform.truth

    def mixed(account, posts):
        return len({p["lang"] for p in posts}) >= 2 and sum(bool(p.get("in_reply_to")) for p in posts) >= 2

    author_id = platform.claim_author(public_author(25, 300, mixed))
    handle = truth.handle(author_id)
    posts = [p for p in truth.posts_by_author[author_id] if p.get("deleted_at") is None]

    def expect(query: str, keep) -> None:
        want = [p["id"] for p in posts if keep(p)]
        assert want, f"the test's own query `{query}` should match something"
        assert search_ids(display, query) == want, f"query `{query}`"

    word = pick_word([p["text"] for p in posts], min_len=4)
    other = pick_word([p["text"] for p in posts if not has_word(p["text"], word)], min_len=4)
    lang = max(sorted({p["lang"] for p in posts}), key=lambda lg: sum(p["lang"] == lg for p in posts))

    expect(f"from:{handle} {word} -is:retweet", lambda p: has_word(p["text"], word))
    expect(f"from:{handle} lang:{lang}", lambda p: p["lang"] == lang)
    expect(f"from:{handle} ({word} OR {other})", lambda p: has_word(p["text"], word) or has_word(p["text"], other))
    expect(f"from:{handle} -is:reply", lambda p: not p.get("in_reply_to"))

    # A quoted phrase: two words that follow each other in one of the posts.
    first, second = next(
        pair
        for p in posts
        for pair in zip(p["text"].split(), p["text"].split()[1:])
        if all(re.fullmatch(r"[A-Za-z]{3,}", w) for w in pair)
    )
    adjacent = re.compile(rf"(?<![\w@#]){first}\s+{second}(?!\w)", re.IGNORECASE)
    got = search_ids(display, f'from:{handle} "{first} {second}"')
    assert {p["id"] for p in posts if adjacent.search(p["text"])} <= set(got) and got
    assert all(has_word(truth.posts[i]["text"], first) and has_word(truth.posts[i]["text"], second) for i in got)


def test_search_pages_join_their_authors(platform, display):
    prolific = max(platform.truth.posts_by_author, key=lambda a: len(platform.truth.posts_by_author[a]))
    word = pick_word([p["text"] for p in platform.truth.posts_by_author[prolific][:100]])

    pages = []
    for page in display.posts.search_recent(
        query=f"{word} -is:retweet", max_results=100, expansions=POST_EXPANSIONS, user_fields=USER_FIELDS, post_fields=POST_FIELDS
    ):
        pages.append(page)
        if len(pages) == 3:
            break

    assert len(pages) == 3, f"`{word}` is common enough to fill three pages"
    ids = [int(post.id) for page in pages for post in page.data]
    assert len(set(ids)) == len(ids) and ids == sorted(ids, reverse=True)
    for page in pages:
        assert isinstance(page, xdk.posts.models.SearchRecentResponse)
        assert page.meta.next_token
        assert all(has_word(post.text, word) for post in page.data)
        assert {u.id for u in page.includes.users} == {post.author_id for post in page.data}


# -- users --------------------------------------------------------------------------------


def test_users_by_id_ids_username_and_usernames(platform, display):
    truth = platform.truth
    a, b = platform.claim_author(public_author(1, 30)), platform.claim_author(public_author(1, 30))
    account = truth.accounts[a]
    missing = 1_234_568
    assert missing not in truth.accounts

    one = display.users.get_by_id(str(a), user_fields=USER_FIELDS, expansions=USER_EXPANSIONS, post_fields=POST_FIELDS)
    assert (one.data.id, one.data.username, one.data.name) == (str(a), account["handle"], account["display_name"])
    assert one.data.protected is False and one.data.created_at
    assert one.data.description == account.get("description", "")

    many = display.users.get_by_ids(ids=[str(b), str(missing), str(a)], user_fields=USER_FIELDS, expansions=USER_EXPANSIONS)
    assert [u.id for u in many.data] == [str(b), str(a)]
    [problem] = many.errors
    assert problem.type == "https://api.x.com/2/problems/resource-not-found"
    assert problem.resource_type == "user" and problem.value == str(missing)

    by_name = display.users.get_by_username(account["handle"], user_fields=USER_FIELDS, expansions=USER_EXPANSIONS)
    assert by_name.data.id == str(a)
    by_names = display.users.get_by_usernames(
        usernames=[truth.handle(b), "nobody_here_x", account["handle"]], user_fields=USER_FIELDS, expansions=USER_EXPANSIONS
    )
    assert [u.id for u in by_names.data] == [str(b), str(a)]
    [unknown] = by_names.errors
    assert unknown.type == "https://api.x.com/2/problems/resource-not-found" and unknown.value == "nobody_here_x"


def test_refused_request_raises_the_http_error(platform):
    trainer = make_client(platform, "demo-standard-trainer", "train-genai")
    with pytest.raises(requests.HTTPError) as refused:
        trainer.posts.get_by_id(str(platform.opted_out_post_id))
    response = refused.value.response
    assert response.status_code == 403 and response.json()["reason"] == "agreement_prohibits"


def test_names_used_here_are_those_the_sdk_offers():
    for operation in ("GET /2/tweets", "GET /2/users/{id}/tweets", "GET /2/tweets/search/recent"):
        offered = x_sdk.name_lists(x_sdk.served_operation(*operation.split(" ")))
        assert set(POST_FIELDS) <= set(offered["post.fields"]), operation
        assert set(USER_FIELDS) <= set(offered["user.fields"]), operation
        assert set(POST_EXPANSIONS + REPLY_EXPANSIONS) <= set(offered["expansions"]), operation
    for operation in ("GET /2/users", "GET /2/users/{id}", "GET /2/users/by", "GET /2/users/by/username/{username}"):
        offered = x_sdk.name_lists(x_sdk.served_operation(*operation.split(" ")))
        assert set(USER_FIELDS) <= set(offered["user.fields"]), operation
        assert set(USER_EXPANSIONS) <= set(offered["expansions"]), operation
        assert set(POST_FIELDS) <= set(offered["post.fields"]), operation
