"""X's contract, as X's own SDK (xdk) states it, held against Tollgate.

Two halves, both reading the facts from the installed SDK at run time
(`x_sdk.py`), never from a copy of X's document:

- every 2xx response the end-to-end suite receives for an operation X
  defines parses into the SDK's response model of that operation: conftest.py
  checks each test's responses when its call ends (the tests below check that
  this check sees the responses and can fail);
- for every operation Tollgate serves, one request naming every field and
  expansion name the SDK's method offers (its `List[Literal[...]]` parameters)
  is answered `200`, and so is each value of its single-choice parameters
  (`sort_order`).
"""

from __future__ import annotations

import inspect
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import support
import x_sdk
from conftest import check_x_contract
from test_xdk import make_client

# The operations Tollgate serves (its route table, `tollgate_api::routes()`);
# `test_the_sdk_has_every_operation_tollgate_serves` keeps this list equal to
# the developer operations of /2/openapi.json.
SERVED = [
    "GET /2/tweets",
    "GET /2/tweets/{id}",
    "GET /2/tweets/search/recent",
    "GET /2/users",
    "GET /2/users/{id}",
    "GET /2/users/{id}/tweets",
    "GET /2/users/by",
    "GET /2/users/by/username/{username}",
]


def served(operation: str) -> x_sdk.Operation:
    method, path = operation.split(" ", 1)
    return x_sdk.served_operation(method, path)


def required_arguments(platform, op: x_sdk.Operation) -> dict[str, object]:
    """Values for the parameters the SDK's method requires: the demo's example
    post and its author, whom the display app receives."""
    post, author = str(platform.opted_out_post_id), str(platform.example_author_id)
    handle = platform.truth.handle(platform.example_author_id)
    values = {"id": post if op.path.startswith("/2/tweets/") else author, "ids": [post] if op.client == "posts" else [author]}
    values |= {"username": handle, "usernames": [handle], "query": f"from:{handle}"}
    out = {}
    for name, parameter in inspect.signature(op.function()).parameters.items():
        if name != "self" and parameter.default is inspect.Parameter.empty:
            assert name in values, f"{op} requires `{name}`, which this test has no value for"
            out[name] = values[name]
    return out


def call(platform, op: x_sdk.Operation, **arguments):
    """Calls the SDK's method as a user would (the first page of an iterator);
    returns the parsed response and the URL the SDK sent."""
    client = make_client(platform, "demo-display", "display")
    sent = []
    client.session.hooks["response"].append(lambda response, *a, **k: sent.append(response.request.url))
    method = op.bound(client)
    result = method(**required_arguments(platform, op), **arguments)
    response = next(iter(result)) if op.paginated else result
    assert isinstance(response, op.model)
    [url] = sent
    return response, url


def test_the_sdk_has_every_operation_tollgate_serves(platform):
    document = requests.get(platform.base_url + "/2/openapi.json", timeout=30).json()
    developer = sorted(
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "developer" in operation.get("tags", [])
    )
    assert developer == sorted(SERVED)
    for operation in SERVED:
        op = served(operation)
        assert x_sdk.name_lists(op), f"{op} offers no field or expansion names"


@pytest.mark.parametrize("operation", SERVED)
def test_every_field_and_expansion_name_the_sdk_offers_is_accepted(platform, operation):
    op = served(operation)
    names = x_sdk.name_lists(op)
    arguments = {x_sdk.python_parameter(op, query): values for query, values in names.items()}

    try:
        response, url = call(platform, op, **arguments)
    except requests.HTTPError as e:
        pytest.fail(f"{op} with every name the SDK offers: {e}")

    assert response.data, "the request is answered with the example post or its author"

    sent = parse_qs(urlsplit(url).query)
    for query, values in names.items():
        assert sent[query] == [",".join(values)], f"the SDK sent every name of {query}"


@pytest.mark.parametrize(
    ("operation", "parameter", "value"),
    [(operation, name, value) for operation in SERVED for name, values in x_sdk.single_choices(served(operation)).items() for value in values],
)
def test_every_value_of_a_single_choice_parameter_is_accepted(platform, operation, parameter, value):
    op = served(operation)
    try:
        _, url = call(platform, op, **{parameter: value})
    except requests.HTTPError as e:
        pytest.fail(f"{op} with {parameter}={value}: {e}")
    assert parse_qs(urlsplit(url).query)[parameter] == [value]


# -- the check on every response ------------------------------------------------------------


def test_every_response_of_the_suite_is_seen_by_the_check(platform):
    post = platform.opted_out_post_id
    before = support.RESPONSES.pending()
    requests.get(
        platform.base_url + "/2/tweets", params={"ids": str(post)}, headers=support.bearer(platform.token("demo-display")), timeout=30
    )
    [seen] = support.RESPONSES.pending()[len(before) :]
    assert (seen.method, seen.path, seen.status) == ("GET", "/2/tweets", 200)
    assert json.loads(seen.body)["data"][0]["id"] == str(post)
    assert check_x_contract([seen]) == []


def test_a_response_the_sdk_rejects_is_named_by_operation_and_field(platform):
    response = requests.get(
        f"{platform.base_url}/2/tweets",
        params={"ids": f"{platform.opted_out_post_id},1999999999999999997"},
        headers=support.bearer(platform.token("demo-display")),
        timeout=30,
    )
    body = response.json()
    body["data"][0]["id"] = int(body["data"][0]["id"])
    body["errors"][0]["type"] = "about:blank"
    altered = support.Exchange("GET", response.url, 200, json.dumps(body).encode())

    violations = check_x_contract([altered])

    assert violations, "an id as a number and an unknown problem type break X's model"
    assert all(v.startswith("GET /2/tweets (xdk posts.get_by_ids -> GetPostsByIdsResponse): ") for v in violations)
    assert any(": data.0.id: " in v for v in violations), violations
    assert any(": errors.0." in v and "about:blank" in v for v in violations), violations
    assert check_x_contract([support.Exchange("GET", response.url, 200, b"not json")])
    # An error status is not held against the operation's model (xdk raises on it).
    assert check_x_contract([support.Exchange("GET", response.url, 400, b"{}")]) == []
