"""Schemathesis hooks of the contract test (test_contract.py): the few rules
of the API that OpenAPI 3.0 cannot state, applied to the generated cases so
that a case the server must refuse for such a rule is not taken for a valid
one. Each rule is documented in /2/openapi.json's descriptions and in
docs/api.md, and tested on its own elsewhere."""

from __future__ import annotations

import os

import schemathesis

# Operations whose `start_time` must precede `end_time` (checked by the server
# with a 400; a relation between two parameters, which OpenAPI cannot state).
ORDERED_TIMES = {"/2/users/{id}/tweets", "/2/tweets/search/recent"}


@schemathesis.hook
def filter_case(context, case) -> bool:
    path = case.operation.path
    query = case.query or {}
    if len(_generations(case.operation, query)) > 1:
        # X's names of two generations in one request (docs/api.md, "Two
        # generations of names"): the document marks each list parameter's
        # renamed names (`x-tollgate-renamed`) and the parameter names of one
        # generation (`x-tollgate-generation`).
        return False
    if path in ORDERED_TIMES:
        start, end = query.get("start_time"), query.get("end_time")
        if isinstance(start, str) and isinstance(end, str) and _utc(start) >= _utc(end):
            return False
    if path == "/internal/ledger/attempts":
        # Exactly one of `app_id` and `client`.
        if ("app_id" in query) == ("client" in query):
            return False
    if path == "/internal/posts" and case.method.upper() == "PUT":
        # A post cannot reply to itself.
        items = case.body if isinstance(case.body, list) else [case.body]
        for item in items:
            if isinstance(item, dict) and "in_reply_to" in item and item.get("in_reply_to") == item.get("id"):
                return False
    return True


@schemathesis.hook
def map_case(context, case):
    """`PUT /internal/posts` takes posts of existing authors only: every
    well-typed `author_id` becomes that of an account the platform has
    (`CONTRACT_AUTHOR_ID`). schemathesis revalidates the case after the
    change, so a case stays valid or invalid as it was generated."""
    author = os.environ.get("CONTRACT_AUTHOR_ID")
    if author and case.operation.path == "/internal/posts" and case.method.upper() == "PUT":
        items = case.body if isinstance(case.body, list) else [case.body]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("author_id"), int) and not isinstance(item["author_id"], bool):
                item["author_id"] = int(author)
    return case


def _generations(operation, query: dict) -> set:
    """The generations of X's names a query uses, as the operation's
    parameters in the document mark them."""
    document = operation.schema.raw_schema
    used = set()
    for parameter in operation.definition.raw.get("parameters", []):
        pointer = parameter.get("$ref", "")
        if pointer.startswith("#/components/parameters/"):
            parameter = document["components"]["parameters"][pointer.rsplit("/", 1)[1]]
        name = parameter.get("name")
        if parameter.get("in") != "query" or name not in query:
            continue
        if "x-tollgate-generation" in parameter:
            used.add(parameter["x-tollgate-generation"])
        value = query[name]
        items = value.split(",") if isinstance(value, str) else []
        for generation, names in parameter.get("x-tollgate-renamed", {}).items():
            if any(item in names for item in items):
                used.add(generation)
    return used


def _utc(text: str) -> tuple:
    """A sortable form of a time the schema's pattern admits: the digits in
    order, the fraction padded (an unparsable value sorts first, and the
    server refuses it before comparing)."""
    if len(text) < 19:
        return (text,)
    # The server reads a leap second (`:60`) as `:59`.
    second = "59" if text[17:19] == "60" else text[17:19]
    digits = text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + second
    fraction = ""
    if len(text) > 19 and text[19] == ".":
        fraction = "".join(c for c in text[20:] if c.isdigit())[:3]
    return (digits, fraction.ljust(3, "0"))
