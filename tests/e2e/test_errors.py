"""Bad input, authentication, rate limits and an invalid policy, over plain HTTP.

Every bad request gets a 400 that names the parameter and the offending value
in X's problem shape, and changes nothing: no stored state, no release; the
guard records the attempt in the ledger, refused (docs/guard.md, "Evidence").
"""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
import requests
import tweepy

from support import (
    LocalTransport,
    Server,
    bearer,
    child_env,
    free_port,
    none_deleted,
    public_author,
    refused_attempts,
    run_cli,
    tollgate_bin,
)

X_INVALID_REQUEST = "https://api.x.com/2/problems/invalid-request"


_SAMPLE: dict[int, tuple[int, int]] = {}


def some_visible_post(platform) -> tuple[int, int]:
    """(post id, author id) of a post the display app receives, by an author
    that only this module uses."""
    if id(platform) not in _SAMPLE:
        author_id = platform.claim_author(public_author(3, 50, none_deleted))
        _SAMPLE[id(platform)] = (platform.truth.posts_by_author[author_id][0]["id"], author_id)
    return _SAMPLE[id(platform)]


def real_token(platform, path: str, param: str, query: dict) -> str:
    r = platform.get(path, platform.token("demo-display"), params=query)
    assert r.status_code == 200, r.text
    return r.json()["meta"]["next_token"]


def bad_requests(platform):
    post_id, author_id = some_visible_post(platform)
    prolific = max(platform.truth.posts_by_author, key=lambda a: len(platform.truth.posts_by_author[a]))
    timeline = f"/2/users/{prolific}/tweets"
    token = real_token(platform, timeline, "pagination_token", {"max_results": 5})
    tampered = token[:-1] + ("0" if token[-1] != "0" else "1")
    ids_101 = ",".join(str(1_000_000 + i) for i in range(101))
    return [
        # (case, path, params, purpose header, parameter, offending value, words of the message)
        ("non-numeric post id", "/2/tweets/abc", {}, None, "id", "abc", "^[0-9]{1,19}$"),
        ("post id too long", "/2/tweets/12345678901234567890", {}, None, "id", "12345678901234567890", "^[0-9]"),
        ("non-numeric user id", "/2/users/12x/tweets", {}, None, "id", "12x", "^[0-9]"),
        ("non-numeric id in ids", "/2/tweets", {"ids": f"{post_id},x1"}, None, "ids", "x1", "^[0-9]"),
        ("101 post ids", "/2/tweets", {"ids": ids_101}, None, "ids", ids_101, "at most 100"),
        ("101 user ids", "/2/users", {"ids": ids_101}, None, "ids", ids_101, "at most 100"),
        ("unknown query parameter", f"/2/tweets/{post_id}", {"colour": "red"}, None, "colour", "red", "[colour]"),
        ("repeated query parameter", timeline, [("max_results", "5"), ("max_results", "6")], None,
         "max_results", "6", "only once"),
        ("unknown tweet field", f"/2/tweets/{post_id}", {"tweet.fields": "created_at,colour"}, None,
         "tweet.fields", "colour", "[colour]"),
        ("unknown user field", f"/2/users/{author_id}", {"user.fields": "shoe_size"}, None,
         "user.fields", "shoe_size", "[shoe_size]"),
        ("unknown expansion", f"/2/tweets/{post_id}", {"expansions": "author"}, None,
         "expansions", "author", "[author]"),
        ("max_results below the timeline's 5", timeline, {"max_results": "4"}, None,
         "max_results", "4", "between 5 and 100"),
        ("max_results above 100", timeline, {"max_results": "101"}, None,
         "max_results", "101", "between 5 and 100"),
        ("max_results not a number", timeline, {"max_results": "ten"}, None, "max_results", "ten", "between 5 and 100"),
        ("max_results below search's 10", "/2/tweets/search/recent", {"query": "pizza", "max_results": "9"}, None,
         "max_results", "9", "between 10 and 100"),
        ("garbage pagination_token", timeline, {"pagination_token": "abc"}, None, "pagination_token", "abc",
         "not a token"),
        ("tampered pagination_token", timeline, {"pagination_token": tampered}, None, "pagination_token", tampered,
         "not a token"),
        ("garbage next_token", "/2/tweets/search/recent", {"query": "pizza", "next_token": "zzz"}, None,
         "next_token", "zzz", "not a token"),
        ("unknown purpose", f"/2/tweets/{post_id}", {}, "training", "Tollgate-Purpose", "training", "train-genai"),
        ("unclosed group in a query", "/2/tweets/search/recent", {"query": "(pizza"}, None, "query", "(pizza",
         "not closed"),
        ("conjunction-required search operator alone", "/2/tweets/search/recent", {"query": "has:media"}, None,
         "query", "has:media", "conjunction-required operator"),
        ("unknown search operator", "/2/tweets/search/recent", {"query": "pizza sample:10"}, None, "query",
         "pizza sample:10", "invalid operator `sample:`"),
        ("malformed start_time", timeline, {"start_time": "yesterday"}, None, "start_time", "yesterday",
         "RFC 3339"),
        ("start_time with an offset RFC 3339 does not allow", timeline, {"start_time": "2026-01-01T01:00:00+0100"},
         None, "start_time", "2026-01-01T01:00:00+0100", "2026-01-01T01:00:00+01:00"),
        ("start_time after end_time", timeline,
         {"start_time": "2026-02-01T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}, None,
         "start_time", "2026-02-01T00:00:00Z", "before 'end_time'"),
        ("invalid username", "/2/users/by/username/not-a-name", {}, None, "username", "not-a-name", "A-Za-z0-9_"),
    ]


CASES = [
    "non-numeric post id",
    "post id too long",
    "non-numeric user id",
    "non-numeric id in ids",
    "101 post ids",
    "101 user ids",
    "unknown query parameter",
    "repeated query parameter",
    "unknown tweet field",
    "unknown user field",
    "unknown expansion",
    "max_results below the timeline's 5",
    "max_results above 100",
    "max_results not a number",
    "max_results below search's 10",
    "garbage pagination_token",
    "tampered pagination_token",
    "garbage next_token",
    "unknown purpose",
    "unclosed group in a query",
    "conjunction-required search operator alone",
    "unknown search operator",
    "malformed start_time",
    "start_time with an offset RFC 3339 does not allow",
    "start_time after end_time",
    "invalid username",
]


@pytest.fixture(scope="module")
def bad_request_table(platform):
    table = {case[0]: case[1:] for case in bad_requests(platform)}
    assert set(table) == set(CASES)
    return table


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gets_a_precise_400_and_changes_nothing(platform, bad_request_table, case):
    path, params, purpose, parameter, value, words = bad_request_table[case]
    before = platform.ledger_entries()

    r = platform.get(path, platform.token("demo-display"), purpose=purpose, params=params)

    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == X_INVALID_REQUEST and body["title"] == "Invalid Request", body
    [error] = body["errors"]
    assert error["parameters"] == {parameter: [value]}, body
    assert words in error["message"], error["message"]
    assert "data" not in body
    assert platform.refused_since(before) == ["invalid_request"], "a refused bad request is an attempt, no release"


def test_names_of_both_generations_of_x_naming_are_a_400_naming_both(platform):
    """`tweet.fields` is a name from before X's document 2.167, `referenced_posts`
    one of 2.167: the answer could honour only one of them (docs/api.md, "Two
    generations of names")."""
    post_id, _ = some_visible_post(platform)
    before = platform.ledger_entries()
    params = {"tweet.fields": "created_at", "expansions": "author_id,referenced_posts"}
    r = platform.get(f"/2/tweets/{post_id}", platform.token("demo-display"), params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == X_INVALID_REQUEST, body
    [error] = body["errors"]
    assert error["parameters"] == {"tweet.fields": ["created_at"], "expansions": ["referenced_posts"]}, body
    assert "before 2.167" in error["message"] and "`referenced_posts` in `expansions`" in error["message"], error
    assert platform.refused_since(before) == ["invalid_request"], "a refused bad request is an attempt, no release"
    # Each generation alone is answered, under its own property names.
    for params, edit_history in [
        ({"tweet.fields": "created_at", "expansions": "author_id,referenced_tweets.id"}, "edit_history_tweet_ids"),
        ({"post.fields": "created_at", "expansions": "author_id,referenced_posts"}, "edit_history_post_ids"),
    ]:
        r = platform.get(f"/2/tweets/{post_id}", platform.token("demo-display"), params=params)
        assert r.status_code == 200, r.text
        assert r.json()["data"][edit_history] == [str(post_id)], r.text


def test_search_without_a_query_names_the_missing_parameter(platform):
    r = platform.get("/2/tweets/search/recent", platform.token("demo-display"), params={"max_results": "10"})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["parameters"] == {"query": []} and "query" in error["message"]


def test_tweepy_raises_bad_request_for_an_invalid_max_results(platform):
    client = tweepy.Client(bearer_token=platform.token("demo-display"))
    client.session.mount("https://", LocalTransport(platform.base_url))
    _, author_id = some_visible_post(platform)
    with pytest.raises(tweepy.BadRequest) as bad:
        client.get_users_tweets(author_id, max_results=101)
    assert bad.value.response.status_code == 400
    assert "between 5 and 100" in bad.value.api_messages[0]


# -- the internal API -------------------------------------------------------------------------


def account_view(platform, account_id: int) -> dict:
    r = platform.internal("GET", f"/internal/accounts/{account_id}")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    "body, words",
    [
        ('{"train-genai": {"third-parties": "deny"}', "malformed JSON body at line 1"),
        ('{"train-genai": {"third-parties": "maybe"}}', "maybe"),
        ('{"train-everything": {"third-parties": "deny"}}', "train-everything"),
        ('{"train-genai": {"everyone": "deny"}}', "everyone"),
        ("{}", "no preference given"),
        ('["deny"]', "malformed JSON"),
    ],
)
def test_bad_preference_update_is_refused_and_changes_nothing(platform, body, words):
    _, author_id = some_visible_post(platform)
    before = account_view(platform, author_id)

    r = platform.internal("PATCH", f"/internal/accounts/{author_id}/ai-preferences", data=body)

    assert r.status_code == 400, r.text
    assert r.json()["type"] == X_INVALID_REQUEST
    assert words in r.json()["errors"][0]["message"], r.text
    assert account_view(platform, author_id) == before


def test_malformed_internal_bodies_change_nothing(platform):
    post_id, author_id = some_visible_post(platform)
    before = account_view(platform, author_id)
    partner = platform.token("demo-partner")

    cases = [
        ("PUT", f"/internal/accounts/{author_id}/status", '{"status": "frozen"}', "frozen"),
        ("PUT", f"/internal/accounts/{author_id}/status", '{"status": "suspended", "why": 1}', "why"),
        ("PUT", f"/internal/accounts/{author_id}/status", "status=suspended", "malformed JSON"),
        ("PUT", f"/internal/posts/{post_id}/no-ai", '{"no_ai": "yes"}', "malformed JSON"),
        ("PUT", f"/internal/posts/{post_id}/no-ai", "", "malformed JSON"),
        ("PUT", "/internal/posts/12ab/no-ai", '{"no_ai": true}', "not a valid post id"),
        ("PATCH", "/internal/accounts/-5/ai-preferences", '{"train-genai": {"third-parties": "deny"}}',
         "not a valid account id"),
    ]
    for method, path, body, words in cases:
        r = platform.internal(method, path, data=body)
        assert r.status_code == 400, f"{method} {path} {body!r}: {r.status_code} {r.text}"
        assert words in r.json()["errors"][0]["message"], f"{method} {path} {body!r}: {r.text}"

    assert account_view(platform, author_id) == before
    served = platform.get(f"/2/tweets/{post_id}", partner, purpose="display")
    assert served.json()["data"]["id"] == str(post_id)


def test_internal_api_refuses_a_wrong_token(platform):
    _, author_id = some_visible_post(platform)
    for token in ("", "tgi_wrong", platform.token("demo-first-party")):
        path = f"/internal/accounts/{author_id}/status"
        r = platform.internal("PUT", path, json={"status": "suspended"}, token=token)
        assert r.status_code == 401, r.text
    assert account_view(platform, author_id)["account"]["status"] == "active"


# -- hostile requests over a real socket -------------------------------------------------------


def raw_http(base_url: str, request: bytes) -> tuple[int, dict, bytes]:
    """Sends `request` as is (no client library re-encodes it) and reads the answer."""
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


# The address these tests' requests come from (through loopback, the demo
# platform's trusted proxy): an address of their own, so that the guard's
# rate per address, which counts the rest of the suite's requests from
# loopback, does not throttle them before their errors are reached.
OWN_ADDRESS = ("X-Forwarded-For", "192.0.2.77")


def get_request(target: bytes, headers: list[tuple[str, str]] = (), method: bytes = b"GET") -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in [*headers, OWN_ADDRESS]).encode()
    return method + b" " + target + b" HTTP/1.1\r\nHost: tollgate\r\n" + extra + b"Connection: close\r\n\r\n"


def test_hostile_requests_get_precise_json_errors_and_change_nothing(platform):
    post_id, _ = some_visible_post(platform)
    auth = ("Authorization", f"Bearer {platform.token('demo-display')}")
    before = platform.ledger_entries()
    cases = [
        # (case, request, status, words in the detail or message)
        ("NUL in a query", get_request(b"/2/tweets/search/recent?query=a%00b", [auth]), 400, "U+0000"),
        ("broken escape", get_request(b"/2/tweets/search/recent?query=%ZZ", [auth]), 400, "hexadecimal"),
        ("not UTF-8", get_request(b"/2/tweets/search/recent?query=%FF%FE", [auth]), 400, "not UTF-8"),
        ("overlong UTF-8", get_request(b"/2/tweets/search/recent?query=%C0%AF", [auth]), 400, "not UTF-8"),
        ("repeated purpose", get_request(f"/2/tweets/{post_id}".encode(),
                                         [auth, ("Tollgate-Purpose", "display"), ("Tollgate-Purpose", "search")]),
         400, "only once"),
        ("repeated token", get_request(f"/2/tweets/{post_id}".encode(), [auth, auth]), 400, "only once"),
        ("wrong method", get_request(b"/2/tweets/1", method=b"DELETE"), 405, "DELETE"),
        ("path not UTF-8", get_request(b"/2/tweets/%FF", [auth]), 400, "UTF-8"),
        ("long query", get_request(b"/2/tweets/search/recent?query=" + b"a" * 20000, [auth]), 414,
         "max_query_bytes"),
        ("big headers", get_request(b"/healthz", [("X-Padding", "p" * 40000)]), 431, "max_header_bytes"),
        ("many headers", get_request(b"/healthz", [(f"X-H{i}", "1") for i in range(60)]), 431, "max_headers"),
    ]
    for case, request, status, words in cases:
        got, headers, body = raw_http(platform.base_url, request)
        assert got == status, f"{case}: {got} {body[:300]!r}"
        assert headers.get("content-type", "").startswith("application/json"), f"{case}: {headers}"
        error = json.loads(body)
        assert error["title"] and error["type"], f"{case}: {error}"
        text = error["detail"] + " " + " ".join(e.get("message", "") for e in error.get("errors", []))
        assert words in text, f"{case}: {error}"
    # The requests the guard saw (the API's paths) are attempts, refused;
    # the others were cut off before it (the limits), or are not content.
    assert platform.refused_since(before) == ["invalid_request"] * 6 + ["method_not_allowed", "invalid_request"]

    big = "[" + ",".join(['{"id": 1}'] * 300_000) + "]"
    r = platform.internal("PUT", "/internal/posts", data=big)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"], r.text


def test_heads_far_over_the_limits_are_cut_off_by_the_http_layer(platform):
    """Documented in docs/api.md, "Limits": hyper answers these before the
    router runs, with a bare status."""
    status, _, body = raw_http(platform.base_url, get_request(b"/2/tweets/search/recent?query=" + b"a" * (10 << 20)))
    assert status == 431 and body == b""
    status, _, body = raw_http(platform.base_url, get_request(b"/2/tweets/\xff"))
    assert status == 400 and body == b""


def test_the_bearer_scheme_is_case_insensitive(platform):
    post_id, _ = some_visible_post(platform)
    for scheme in ("bearer", "BEARER"):
        r = requests.get(f"{platform.base_url}/2/tweets/{post_id}",
                         headers={"Authorization": f"{scheme} {platform.token('demo-display')}"}, timeout=30)
        assert r.status_code == 200, r.text
        r = requests.get(f"{platform.base_url}/internal/accounts/1",
                         headers={"Authorization": f"{scheme} {platform.internal_token}"}, timeout=30)
        assert r.status_code in (200, 404), r.text


# -- authentication ---------------------------------------------------------------------------


def test_requests_without_a_usable_bearer_token_get_401(platform):
    post_id, _ = some_visible_post(platform)
    url = f"{platform.base_url}/2/tweets/{post_id}"
    before = platform.ledger_entries()
    for headers, words in [
        ({}, "Authorization: Bearer"),
        ({"Authorization": "Bearer "}, "Authorization: Bearer"),
        ({"Authorization": f"Basic {platform.token('demo-display')}"}, "Authorization: Bearer"),
        ({"Authorization": "Bearer tg_0000000000000000000000000000000000000000"}, "not known"),
    ]:
        r = requests.get(url, headers={**headers, OWN_ADDRESS[0]: OWN_ADDRESS[1]}, timeout=30)
        assert r.status_code == 401, (headers, r.text)
        body = r.json()
        assert body["title"] == "Unauthorized" and words in body["detail"], body
        assert "data" not in body
    assert platform.refused_since(before) == ["unauthorized"] * 4


def test_revoked_key_is_refused_from_the_next_request(platform):
    out = platform.cli(
        "app", "create", "--name", "e2e-revoked", "--tier", "standard", "--purposes", "display", "--json"
    )
    created = json.loads(out.stdout)
    app_id, token = created["app"]["id"], created["token"]
    post_id, _ = some_visible_post(platform)
    assert platform.get(f"/2/tweets/{post_id}", token).status_code == 200

    revoked = json.loads(platform.cli("app", "revoke-key", app_id, "--json").stdout)
    assert revoked == {"app": app_id, "revoked": 1}

    # A revoked key names no app to the guard, which then sees an anonymous
    # client: from an address of its own, not loopback's busy one.
    own = {OWN_ADDRESS[0]: OWN_ADDRESS[1]}
    r = requests.get(f"{platform.base_url}/2/tweets/{post_id}", headers={**bearer(token), **own}, timeout=30)
    assert r.status_code == 401, r.text
    assert "revoked" in r.json()["detail"]
    client = tweepy.Client(bearer_token=token)
    client.session.headers.update(own)
    client.session.mount("https://", LocalTransport(platform.base_url))
    with pytest.raises(tweepy.Unauthorized):
        client.get_tweet(post_id)
    shown = json.loads(platform.cli("app", "show", app_id, "--json").stdout)
    assert shown["keys"][0]["revoked_at"]


# -- rate limits ---------------------------------------------------------------------------------


def test_rate_limit_headers_count_down_and_the_next_request_gets_429(tmp_path):
    data_dir = tmp_path / "ratelimited"
    data_dir.mkdir()
    server = Server(data_dir, extra_args=("--rate-limit-standard", "3", "--rate-limit-window-secs", "3600"),
                    name="rate-limited")
    apps = []
    for name in ("e2e-limited-1", "e2e-limited-2"):
        out = run_cli(
            data_dir, "app", "create", "--name", name, "--tier", "standard", "--purposes", "display", "--json"
        )
        apps.append(json.loads(out.stdout)["token"])
    server.start()
    try:
        for token in apps:
            # The window is fixed; should it roll over in the middle, the second app repeats the check.
            responses = [requests.get(f"{server.base_url}/2/tweets/20", headers=bearer(token), timeout=30)
                         for _ in range(4)]
            resets = {r.headers.get("x-rate-limit-reset") for r in responses}
            if len(resets) == 1:
                break
        else:
            pytest.fail("the rate-limit window rolled over twice during the test")

        for i, r in enumerate(responses[:3]):
            assert r.status_code == 200, r.text
            assert r.headers["x-rate-limit-limit"] == "3"
            assert r.headers["x-rate-limit-remaining"] == str(2 - i)
        reset = int(responses[0].headers["x-rate-limit-reset"])
        assert time.time() < reset <= time.time() + 3600
        limited = responses[3]
        assert limited.status_code == 429, limited.text
        assert limited.headers["x-rate-limit-limit"] == "3"
        assert limited.headers["x-rate-limit-remaining"] == "0"
        assert int(limited.headers["x-rate-limit-reset"]) == reset
        body = limited.json()
        assert body["type"] == "https://api.x.com/2/problems/usage-capped" and body["status"] == 429
        entries = server.health()["ledger_entries"]
        assert requests.get(f"{server.base_url}/2/tweets/20", headers=bearer(token), timeout=30).status_code == 429
        assert refused_attempts(server, data_dir, entries) == ["rate_limited"], "a rate-limited request releases nothing"

        # Limits are per endpoint: user lookups still have their own three requests.
        client = tweepy.Client(bearer_token=token)
        client.session.mount("https://", LocalTransport(server.base_url))
        for _ in range(3):
            client.get_user(id=20)
        with pytest.raises(tweepy.TooManyRequests) as capped:
            client.get_user(id=20)
        assert capped.value.response.headers["x-rate-limit-remaining"] == "0"
    finally:
        server.stop()


# -- an invalid policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy, diagnostic",
    [
        (
            '@id("bad-action")\npermit (principal, action == Tollgate::Action::"sell", resource);\n',
            'unrecognized action `Tollgate::Action::"sell"`',
        ),
        (
            '@id("bad-attribute")\n@reason("x")\n'
            'forbid (principal, action, resource)\nwhen { resource.colour == "red" };\n',
            "colour",
        ),
        ("permit (principal, action, resource) when { ;\n", "unexpected token"),
    ],
    ids=["unknown-action", "unknown-attribute", "syntax-error"],
)
def test_serve_refuses_to_start_on_a_policy_that_does_not_validate(tmp_path, policy, diagnostic):
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "bad.cedar").write_text(policy)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    cmd = [str(tollgate_bin()), "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}",
           "--policy-dir", str(policy_dir), "serve"]
    try:
        proc = subprocess.run(cmd, cwd=data_dir, env=child_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("`tollgate serve` kept running on a policy that does not validate")

    assert proc.returncode != 0
    assert proc.returncode == 3, proc.stderr
    assert "does not validate" in proc.stderr, proc.stderr
    assert diagnostic in proc.stderr, proc.stderr
    assert str(policy_dir / "bad.cedar") in proc.stderr, "the diagnostic names the file"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens on the port"

    check = run_cli(data_dir, "policy", "check", "--dir", str(policy_dir), check=False)
    assert check.returncode == 3 and diagnostic in check.stderr, check.stderr


# -- an invalid guard policy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy, diagnostic",
    [
        (
            '@id("typo")\n@reason("x")\npermit (principal, action == Guard::Action::"block", resource)\n'
            'when { principal.signal.contains("volume") };\n',
            "attribute `signal` on entity type `Guard::Client` not found",
        ),
        (
            '@id("no-reason")\npermit (principal, action == Guard::Action::"block", resource);\n',
            "has no `@reason",
        ),
        ('@id("sell")\n@reason("x")\npermit (principal, action == Guard::Action::"sell", resource);\n', "sell"),
    ],
    ids=["unknown-attribute", "missing-reason", "unknown-action"],
)
def test_policy_check_refuses_a_guard_policy_that_does_not_validate(tmp_path, policy, diagnostic):
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "bad.cedar").write_text(policy)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    check = run_cli(data_dir, "--guard-policy-dir", str(guard_dir), "policy", "check", check=False)
    assert check.returncode == 3, check.stderr
    assert "the guard policy does not validate" in check.stderr, check.stderr
    assert diagnostic in check.stderr, check.stderr
    assert f"{guard_dir / 'bad.cedar'}:" in check.stderr, "the diagnostic names the file and line"
    explain = run_cli(data_dir, "--guard-policy-dir", str(guard_dir), "guard", "explain", check=False)
    assert explain.returncode == 3 and diagnostic in explain.stderr, explain.stderr


def test_guard_explain_names_the_deciding_policy(tmp_path):
    out = run_cli(tmp_path, "guard", "explain", "--kind", "ai-crawler", "--disallowed", "--json").stdout
    decision = json.loads(out)
    assert decision["action"] == "license"
    assert decision["policy_id"] == "ai-crawlers-are-offered-a-license"
    assert decision["deciding"]["source"] == "built-in:guard/crawlers.cedar"
    ok = run_cli(tmp_path, "policy", "check").stdout
    assert "guard policy ok" in ok, ok
    schema = run_cli(tmp_path, "policy", "schema", "--guard").stdout
    assert "namespace Guard" in schema and "entity Client" in schema, schema
    assert "namespace Tollgate" in run_cli(tmp_path, "policy", "schema").stdout
