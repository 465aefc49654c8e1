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
    if len(_generations(case.operation, query)) > 1:
        # X's names of two generations in one request (docs/api.md, "Two
        # generations of names"): the document marks each list parameter's
        # renamed names (`x-tollgate-renamed`) and the parameter names of one
        # generation (`x-tollgate-generation`).
        return False
    if any(_out_of_range(query.get(key)) for key in ("start_time", "end_time", "since")):
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


# 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in milliseconds since the
# epoch: the server refuses a time whose UTC instant is outside them (one an
# offset carries across the first or last year's end), a rule the schema's
# pattern does not state.
FIRST_MILLIS = -62_167_219_200_000
LAST_MILLIS = 253_402_300_799_999


def _utc(text: str) -> tuple:
    """A sortable form of a time the schema's pattern admits: its UTC instant
    in milliseconds, with any offset applied (an unparsable value sorts
    first, and the server refuses it before comparing)."""
    millis = _millis(text)
    return (0,) if millis is None else (1, millis)


def _out_of_range(text) -> bool:
    millis = _millis(text) if isinstance(text, str) else None
    return millis is not None and not FIRST_MILLIS <= millis <= LAST_MILLIS


def _millis(text: str):
    """Milliseconds since the epoch of an RFC 3339 time as the server reads it
    (fraction truncated to milliseconds, a leap second `:60` read as `:59`),
    or None if it is not one."""
    if len(text) < 20 or not text[:4].isdigit():
        return None
    try:
        year, month, day = int(text[:4]), int(text[5:7]), int(text[8:10])
        hour, minute, second = int(text[11:13]), int(text[14:16]), min(int(text[17:19]), 59)
    except ValueError:
        return None
    rest = text[19:]
    fraction = 0
    if rest.startswith("."):
        digits = len(rest) - len(rest[1:].lstrip("0123456789")) - 1
        fraction = int(rest[1 : 1 + digits][:3].ljust(3, "0") or "0")
        rest = rest[1 + digits :]
    if rest in ("Z", "z"):
        offset = 0
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        offset = (int(rest[1:3]) * 60 + int(rest[4:6])) * (-1 if rest[0] == "-" else 1)
    else:
        return None
    # Howard Hinnant's days_from_civil, as the server computes it.
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
    local = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + fraction
    return local - offset * 60_000
