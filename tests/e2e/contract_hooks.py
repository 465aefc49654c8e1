"""Schemathesis hooks of the contract test (test_contract.py): the few rules
of the API that OpenAPI 3.0 cannot state, applied to the generated cases so
that a case the server must refuse for such a rule is not taken for a valid
one. Each rule is documented in /2/openapi.json's descriptions and in
docs/api.md, and tested on its own elsewhere. And one more hook: every
response schemathesis receives is written to $CONTRACT_RESPONSES, for
test_contract.py to check against X's SDK like every response of the suite."""

from __future__ import annotations

import base64
import json
import os

import schemathesis

# Operations whose `start_time` must precede `end_time` (checked by the server
# with a 400; a relation between two parameters, which OpenAPI cannot state).
ORDERED_TIMES = {"/2/users/{id}/tweets", "/2/tweets/search/recent"}


@schemathesis.hook
def filter_case(context, case) -> bool:
    path = case.operation.path
    query = case.query or {}
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


@schemathesis.hook
def after_call(context, case, response):
    """Appends the response (method, URL, status, body) to the file
    $CONTRACT_RESPONSES names, one JSON object a line."""
    path = os.environ.get("CONTRACT_RESPONSES")
    if path and response.content_size == len(response.content or b""):
        record = {
            "method": response.request.method,
            "url": response.request.url,
            "status": response.status_code,
            "body": base64.b64encode(response.content or b"").decode(),
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


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
