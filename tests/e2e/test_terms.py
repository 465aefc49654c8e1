"""The platform's terms as crawlers and mining tools read them.

`/robots.txt` is parsed with Protego, the parser of Scrapy, and asked what
each AI crawler and each search engine may fetch; `/.well-known/tdmrep.json`
is read as W3C TDMRep's JSON; `/license.xml` is parsed as XML and held to
RSL 1.0's namespace and elements. A server of this module's own serves a
small demo platform; another one names a `robots.json` file of AI agents.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from protego import Protego

from support import Server, ServerExited, bearer, create_demo, free_port

RSL = "{https://rslstandard.org/rsl}"

# A sample of the built-in list (crates/api/src/terms.rs, KNOWN_AI_AGENTS).
AI_AGENTS = [
    "GPTBot",
    "OAI-SearchBot",
    "ClaudeBot",
    "CCBot",
    "Google-Extended",
    "Applebot-Extended",
    "PerplexityBot",
    "Bytespider",
    "meta-externalagent",
    "Amazonbot",
    "cohere-ai",
    "Diffbot",
]
SEARCH_ENGINES = ["Googlebot", "Bingbot"]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("terms") / "demo"
    credentials = create_demo(data_dir, free_port(), accounts=50, posts=200)
    return data_dir, credentials


@pytest.fixture(scope="module")
def server(small_demo):
    data_dir, _ = small_demo
    server = Server(data_dir, name="terms").start()
    yield server
    server.stop()


def robots(server: Server) -> Protego:
    r = requests.get(server.base_url + "/robots.txt", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return Protego.parse(r.text)


def test_ai_crawlers_may_fetch_nothing_but_the_terms(server):
    parsed = robots(server)
    base = server.base_url
    for agent in AI_AGENTS:
        for path in ["/2/tweets/1", "/2/users/by/username/someone", "/someone", "/someone/status/1", "/"]:
            assert not parsed.can_fetch(base + path, agent), f"{agent} may fetch {path}"
        for path in ["/robots.txt", "/.well-known/tdmrep.json", "/license.xml"]:
            assert parsed.can_fetch(base + path, agent), f"{agent} may not fetch {path}"


def test_search_engines_may_fetch_public_pages_but_not_the_apis_or_settings(server):
    parsed = robots(server)
    base = server.base_url
    for agent in SEARCH_ENGINES:
        for path in ["/someone", "/someone/status/1", "/license.xml"]:
            assert parsed.can_fetch(base + path, agent), f"{agent} may not fetch {path}"
        for path in ["/2/tweets/1", "/2/users/1/tweets", "/internal/accounts", "/settings", "/settings/privacy"]:
            assert not parsed.can_fetch(base + path, agent), f"{agent} may fetch {path}"


def test_robots_txt_states_the_usage_preferences_and_the_license(server):
    text = requests.get(server.base_url + "/robots.txt", timeout=10).text
    assert "Content-Usage: train-ai=n, train-genai=n, search=y" in text
    assert "Content-Signal: search=yes, ai-input=no, ai-train=no" in text
    assert f"License: {server.base_url}/license.xml" in text.splitlines()


def test_tdmrep_reserves_text_and_data_mining(server):
    r = requests.get(server.base_url + "/.well-known/tdmrep.json", timeout=10)
    assert r.status_code == 200
    rules = json.loads(r.text)
    # TDMRep's JSON: an array of rules, each a location pattern, the
    # reservation (0 or 1) and, when reserved, where the policy is.
    assert isinstance(rules, list) and len(rules) == 1
    rule = rules[0]
    assert rule["location"] == "/*"
    assert rule["tdm-reservation"] == 1
    assert rule["tdm-policy"] == server.base_url + "/license.xml"
    assert requests.get(rule["tdm-policy"], timeout=10).status_code == 200


def test_license_xml_is_rsl(server):
    r = requests.get(server.base_url + "/license.xml", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/rsl+xml"
    root = ET.fromstring(r.content)
    assert root.tag == RSL + "rsl"
    content = root.find(RSL + "content")
    assert content is not None and content.get("url") == "/"
    licenses = content.findall(RSL + "license")
    # Free, through the partner program, and per crawl (the guard is on).
    assert len(licenses) == 3
    free, licensed, per_crawl = licenses
    assert free.find(RSL + "permits").get("type") == "usage"
    assert free.find(RSL + "permits").text.split(",") == ["search"]
    assert free.find(RSL + "prohibits").text.split(",") == ["ai-input", "ai-train"]
    assert free.find(RSL + "payment").get("type") == "free"
    assert licensed.find(RSL + "permits").text.split(",") == ["ai-input", "ai-train"]
    custom = licensed.find(RSL + "payment").find(RSL + "custom")
    assert custom.text == server.base_url + "/agreement"
    assert per_crawl.find(RSL + "permits").text.split(",") == ["ai-input", "ai-train"]
    payment = per_crawl.find(RSL + "payment")
    assert payment.get("type") == "crawl"
    amount = payment.find(RSL + "amount")
    assert (amount.get("currency"), amount.text) == ("USD", "0.01")


def test_content_answers_state_usage_terms(server, small_demo):
    _, credentials = small_demo
    token = next(a["token"] for a in credentials["apps"] if a["name"] == "demo-display")
    author = credentials["examples"]["author_id"]
    # A delivery states what this app may do with what it got.
    r = requests.get(f"{server.base_url}/2/users/{author}/tweets", headers=bearer(token), timeout=10)
    assert r.status_code == 200
    assert r.headers["content-usage"] == "train-ai=n"
    assert r.headers["tdm-reservation"] == "1"
    # An answer without a delivery states the platform's terms. (This
    # module's client read robots.txt, which disallows /2/: without a key,
    # the guard would block it; another client asks.)
    r = requests.get(
        f"{server.base_url}/2/users/{author}/tweets",
        headers={**bearer("not-a-token"), "User-Agent": "curl/8.11.1"},
        timeout=10,
    )
    assert r.status_code == 401
    assert r.headers["content-usage"] == "train-ai=n, train-genai=n, search=y"
    assert r.headers["tdm-reservation"] == "1"
    assert r.headers["tdm-policy"] == server.base_url + "/license.xml"


def test_a_robots_json_file_replaces_the_ai_agents(tmp_path):
    # A platform of its own: the module's server holds the other one's ledger.
    data_dir = tmp_path / "demo"
    create_demo(data_dir, free_port(), accounts=20, posts=50)
    agents = tmp_path / "robots.json"
    agents.write_text(
        json.dumps(
            {
                "NewBot": {"operator": "[Newco](https://new.example)", "respect": "Yes", "function": "Training"},
                "OtherBot": {"operator": "Otherco"},
            }
        )
    )
    server = Server(
        data_dir,
        ("--robots-agents-file", str(agents), "--partner-program-url", "https://partners.example/apply"),
        name="terms-agents",
    ).start()
    try:
        parsed = robots(server)
        base = server.base_url
        for agent in ["NewBot", "OtherBot"]:
            assert not parsed.can_fetch(base + "/someone/status/1", agent), agent
        # The built-in list is replaced, not extended.
        assert parsed.can_fetch(base + "/someone/status/1", "GPTBot")
        xml = requests.get(base + "/license.xml", timeout=10).content
        custom = ET.fromstring(xml).find(f"{RSL}content/{RSL}license/{RSL}payment/{RSL}custom")
        assert custom is not None and custom.text == "https://partners.example/apply"
    finally:
        server.stop()


def test_a_broken_robots_json_file_refuses_the_start(small_demo, tmp_path):
    data_dir, _ = small_demo
    agents = tmp_path / "robots.json"
    agents.write_text('["GPTBot"]')
    with pytest.raises(ServerExited) as exited:
        Server(data_dir, ("--robots-agents-file", str(agents)), name="terms-broken").start()
    message = str(exited.value)
    assert f"`{agents}`" in message and "robots.json" in message, message
