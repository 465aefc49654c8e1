"""The served OpenAPI document against the running server, with schemathesis:
every operation of the developer API, the operational endpoints and the
internal API is called with generated requests, valid and invalid, and every
check schemathesis has is on. The run fails on any 5xx, any response the
document does not describe (status, headers, content type, body), any valid
request refused (`positive_data_acceptance`) and any invalid request
accepted (`negative_data_rejection`).

The server is one of its own, on a small demo platform: the internal API's
writes that schemathesis sends change accounts and posts, which the session's
shared platform must not see. The run is deterministic (a fixed seed and
schemathesis's deterministic generation) and bounded in examples per
operation, so it takes the same cases, and about the same time, everywhere.

Every response schemathesis received (written by contract_hooks.py) is then
held against X's own SDK, as every response of the suite is (conftest.py):
a 2xx answer to an operation X defines must parse into the SDK's model.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from conftest import check_x_contract
from support import REPO_ROOT, Exchange, Server, create_demo, free_port, run_cli

HERE = Path(__file__).resolve().parent
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PURPOSES = ["display", "analytics", "moderation", "research", "search", "ai-input", "train-ai", "train-genai", "archive"]

# Examples per operation in the fuzzing phase (the coverage phase takes each
# parameter's edges besides): the whole run takes under a minute on two
# cores, about 4,500 requests.
MAX_EXAMPLES = 100
SEED = 20261206

# Search queries of the language, one of each construct (docs/api.md, "The
# query language"), for schemathesis to combine with the other parameters.
SEARCH_QUERIES = [
    "the",
    '"the world"',
    "from:user_1",
    "from:1",
    "lang:en the",
    "the is:reply",
    "the -is:reply",
    "coffee -is:retweet",
    "#the OR @user_1 OR $the",
    "to:user_1 the has:links",
    'url:"example.com" OR conversation_id:1 OR in_reply_to_tweet_id:1',
    'the -has:media -is:nullcast -place_country:DE',
    "the OR a",
    "(the OR a) -lang:de",
    "caf\u00e9 \u2728",
]


@pytest.fixture(scope="module")
def contract_server(workdir):
    data_dir = workdir / "contract"
    port = free_port()
    credentials = create_demo(data_dir, port, 40, 400)
    # A first-party app (no rate limit) that declared every purpose, so that
    # no valid request is refused for its app.
    created = run_cli(
        data_dir, "app", "create", "--name", "contract", "--tier", "first-party",
        "--purposes", ",".join(PURPOSES), "--json",
    )
    token = json.loads(created.stdout)["token"]
    server = Server(data_dir, port=port, name="contract")
    server.start()
    try:
        yield server, token, credentials
    finally:
        server.stop()


def config(server, token: str, credentials: dict) -> str:
    """schemathesis.toml for the run."""
    # A token this server issued (the first page's `next_token`), so that the
    # pagination parameters are given values the server can check.
    page = requests.get(
        server.base_url + "/2/tweets/search/recent",
        params={"query": "the", "max_results": 10},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    next_token = page["meta"].get("next_token")
    assert next_token, page
    return f"""
# The same cases on every run: deterministic generation, one worker (the
# internal API's writes then reach the server in the same order), and a
# fixed seed for whatever deterministic generation leaves to chance.
seed = {SEED}
workers = 1
# The rules the schema cannot state (contract_hooks.py).
hooks = "contract_hooks"

[generation]
deterministic = true
max-examples = {MAX_EXAMPLES}
database = "none"

[checks]
enabled = true

[auth.openapi.bearer]
bearer = "{token}"

[auth.openapi.internal]
bearer = "{credentials['internal_token']}"

# Values of a form the schema states but with a meaning it cannot: a search
# query is a small language (drawn from SEARCH_QUERIES), and tokens and
# cursors carry check values or positions only this server issues. Each is
# refused on its own in test_errors.py and crates/api/tests.
[dictionaries.search-queries]
values = {json.dumps(SEARCH_QUERIES)}

[[operations]]
include-path = "/2/tweets/search/recent"
parameters = {{ "query.query" = {{ dictionary = "search-queries" }}, "query.next_token" = "{next_token}", "query.pagination_token" = "{next_token}" }}

[[operations]]
include-path = "/2/users/{{id}}/tweets"
parameters = {{ "query.pagination_token" = "{next_token}" }}

[[operations]]
include-path = "/internal/ledger/posts/{{id}}/recipients"
parameters = {{ "query.cursor" = "0" }}

[[operations]]
include-path = "/internal/ledger/policies/{{version}}/deliveries"
parameters = {{ "query.cursor" = "0" }}

[[operations]]
include-path = "/internal/ledger/attempts"
parameters = {{ "query.cursor" = "0.0" }}

[[operations]]
include-path = "/internal/ledger/apps/{{id}}/deliveries"
parameters = {{ "query.cursor" = "0.0.0" }}

# Left out (NOT_GENERATED): a compliance stream answers for as long as its
# client stays, and registering a webhook makes the server call the URL it
# is given; both are tested in test_compliance_streams.py and crates/api/tests.
[[operations]]
include-path = "/2/tweets/compliance/stream"
enabled = false

[[operations]]
include-path = "/2/users/compliance/stream"
enabled = false

[[operations]]
include-operation-id = "createWebhook"
enabled = false

# With no webhook registered (above), every webhook id is unknown, and the
# operations on one answer 404 in X's shape, as the document states: that is
# the data these cases have, not data missing.
[[operations]]
include-operation-id-regex = "^(deleteWebhook|validateWebhook|listWebhookDeadLetters|replayWebhook)$"
warnings = false
"""

# The operations the configuration above leaves out.
NOT_GENERATED = 3


def test_the_server_keeps_the_openapi_contract(contract_server, tmp_path):
    server, token, credentials = contract_server
    (tmp_path / "schemathesis.toml").write_text(config(server, token, credentials))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
    env["NO_COLOR"] = "1"
    env["CONTRACT_AUTHOR_ID"] = str(credentials["examples"]["author_id"])
    responses = tmp_path / "responses.jsonl"
    env["CONTRACT_RESPONSES"] = str(responses)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        server.base_url + "/2/openapi.json",
        "--checks", "all",
        "--mode", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--no-color",
    ]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"schemathesis found contract violations:\n{output[-30000:]}"
    # Every operation of the document was tested, except the one serving the
    # document itself, which schemathesis leaves out unless asked for it
    # (crates/api/tests/openapi.rs checks that one), and those left out above.
    document = requests.get(server.base_url + "/2/openapi.json", timeout=30).json()
    operations = sum(1 for item in document["paths"].values() for method in item if method in HTTP_METHODS)
    tested = re.search(r"Tested: (\d+)", output)
    assert tested and int(tested.group(1)) == operations - 1 - NOT_GENERATED, output[-5000:]
    assert re.search(r"No issues found", output), output[-5000:]

    received = [json.loads(line) for line in responses.read_text().splitlines()]
    exchanges = [Exchange(r["method"], r["url"], r["status"], base64.b64decode(r["body"])) for r in received]
    assert sum(200 <= e.status < 300 and e.path.startswith("/2/tweets") for e in exchanges) > 100, len(exchanges)
    violations = check_x_contract(exchanges)
    assert not violations, (
        f"{len(violations)} of the responses schemathesis received do not parse into X's SDK (xdk) response model "
        "of their operation:\n" + "\n".join(violations[:30])
    )
