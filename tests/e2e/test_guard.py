"""The guard end to end, against a real `tollgate serve` (docs/guard.md).

A server of this module's own serves a small demo platform with the guard
configured as an operator would: `X-Forwarded-For` trusted from loopback
only, a prefix table naming a residential, a mobile and a hosting block, and
a crawlers file with a search crawler verified by its address range and an
AI crawler verified by Web Bot Auth (its Ed25519 key made here; requests are
signed in Python, RFC 9421, independently of the server's code). Each
simulated client is placed by its `X-Forwarded-For` address, each test on
blocks of its own so that the guard's counters of one test never reach
another's. What each answer was is checked on the wire, in the ledger
(`tollgate ledger tail`, `ledger query attempts`) and in `tollgate guard
report`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from protego import Protego

from support import Server, create_demo, free_port, run_cli

PRICE = "USD 0.01"

# Current browsers (docs/guard.md: Chrome 142 is current; 12 majors behind is stale).
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)
STALE_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0.0.0 Safari/537.36"
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
CLAUDEBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
BYTESPIDER = "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)"
SEARCHBOT = "Mozilla/5.0 (compatible; Searchbot/2.1; +https://searchbot.example/bot.html)"
SIGNATURE_AGENT = '"https://claudebot.example"'

# The operator's prefix table: one block of each class the tests place clients in.
PREFIX_TABLE = """prefix,asn,class
24.16.0.0/13,64601,residential
172.56.0.0/16,64611,mobile
34.64.0.0/12,64621,hosting
"""
SEARCHBOT_RANGE = "66.249.64.0/20"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class WebBotAuth:
    """A crawler's Ed25519 key and its Web Bot Auth signatures (RFC 9421),
    written from the standard, not from the server's code."""

    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.x = b64url(raw)
        # RFC 7638: SHA-256 of the JWK's required members, sorted, no spaces.
        jwk = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": self.x}, separators=(",", ":"), sort_keys=True)
        self.keyid = b64url(hashlib.sha256(jwk.encode()).digest())

    def headers(self, authority: str, now: int | None = None) -> dict[str, str]:
        created = int(time.time()) if now is None else now
        params = (
            f'("@authority" "signature-agent");created={created};expires={created + 300};'
            f'keyid="{self.keyid}";alg="ed25519";tag="web-bot-auth"'
        )
        base = f'"@authority": {authority}\n"signature-agent": {SIGNATURE_AGENT}\n"@signature-params": {params}'
        signature = base64.b64encode(self.key.sign(base.encode())).decode()
        return {
            "Signature-Agent": SIGNATURE_AGENT,
            "Signature-Input": f"sig1={params}",
            "Signature": f"sig1=:{signature}:",
        }


@dataclass
class Guarded:
    """The module's server and what it was configured with."""

    server: Server
    data_dir: Path
    credentials: dict
    signer: WebBotAuth
    handle: str
    posts: list[dict]

    @property
    def base(self) -> str:
        return self.server.base_url

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def cli(self, *args: str, check: bool = True):
        return run_cli(self.data_dir, *args, check=check)

    def post_path(self, i: int = 0) -> str:
        return f"/{self.handle}/status/{self.posts[i]['id']}"

    def entries(self, request_ids: list[str]) -> list[dict]:
        """The ledger entries of these requests (by `x-request-id`), in order."""
        out = self.cli("ledger", "tail", "--from", "0", "--limit", "100000").stdout
        by_id = {}
        for line in out.splitlines():
            if line.strip():
                e = json.loads(line)
                by_id.setdefault(e["request_id"], []).append(e)
        found = []
        for rid in request_ids:
            assert rid in by_id, f"no ledger entry for request {rid}"
            found.extend(by_id[rid])
        return found

    def entry(self, response: requests.Response) -> dict:
        entries = self.entries([response.headers["x-request-id"]])
        assert len(entries) == 1, entries
        return entries[0]

    def signed_up_to_date(self) -> None:
        """Waits (bounded) until the signed head covers every entry: the
        report reads only what the head signs."""
        for _ in range(200):
            health = self.server.health()
            if "covers all" in health["checks"]["ledger_signer"]["detail"]:
                return
            time.sleep(0.05)
        pytest.fail(f"the ledger's signed head never caught up: {self.server.health()}")

    def report(self, *args: str) -> dict:
        self.signed_up_to_date()
        return json.loads(self.cli("guard", "report", "--format", "json", *args).stdout)


def public_author(truth_accounts: dict, by_author: dict) -> tuple[str, list[dict]]:
    """An adult, public, active author with a few posts, none deleted."""
    for account in truth_accounts.values():
        posts = by_author.get(account["id"], [])
        if (
            account.get("status", "active") == "active"
            and not account.get("protected")
            and not account.get("is_minor")
            and (account.get("birth_year") or 1900) < 2000
            and not account.get("ai_preferences")
            and 5 <= len(posts)
            and not any(p.get("deleted_at") for p in posts)
        ):
            return account["handle"], sorted(posts, key=lambda p: p["id"], reverse=True)
    pytest.fail("the demo platform has no fitting author")


def load_truth(data_dir: Path) -> tuple[dict, dict]:
    accounts, by_author = {}, {}
    for line in (data_dir / "generated/accounts.jsonl").read_text().splitlines():
        a = json.loads(line)
        accounts[a["id"]] = a
    for line in (data_dir / "generated/posts.jsonl").read_text().splitlines():
        p = json.loads(line)
        by_author.setdefault(p["author_id"], []).append(p)
    return accounts, by_author


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    data_dir = root / "demo"
    credentials = create_demo(data_dir, free_port(), accounts=80, posts=800)
    signer = WebBotAuth()
    (root / "prefixes.csv").write_text(PREFIX_TABLE)
    (root / "crawlers.toml").write_text(
        f"""[[crawler]]
name = "Searchbot"
agent = "Searchbot"
kind = "search"
ranges = ["{SEARCHBOT_RANGE}"]

[[crawler]]
name = "ClaudeBot"
agent = "ClaudeBot"
kind = "ai"
keys = ["{signer.x}"]
"""
    )
    server = Server(
        data_dir,
        extra_args=(
            "--guard-trusted-proxies",
            "127.0.0.1/32",
            "--guard-prefix-table",
            str(root / "prefixes.csv"),
            "--guard-crawlers",
            str(root / "crawlers.toml"),
        ),
        name="guard",
    ).start()
    accounts, by_author = load_truth(data_dir)
    handle, posts = public_author(accounts, by_author)
    try:
        yield Guarded(server, data_dir, credentials, signer, handle, posts)
    finally:
        server.stop()


def get(g: Guarded, path: str, ip: str, ua: str, session: requests.Session | None = None, **headers) -> requests.Response:
    h = {"User-Agent": ua, "X-Forwarded-For": ip, "Accept": "text/html", **headers}
    return (session or requests).get(g.base + path, headers=h, timeout=30, allow_redirects=False)


def hidden_links(page: str) -> list[str]:
    return re.findall(r'href="(/_tg/l/[^"]+)"', page)


def assert_guard_facts(entry: dict, *, ip: str, prefix: str, network: str, ua: str, action: str) -> dict:
    facts = entry["guard"]
    assert facts["actor"] and facts["actor"] == entry["client"]
    assert facts["basis"], facts
    assert facts["ip"] == ip
    assert facts["prefix"] == prefix
    assert facts["network"] == network
    assert facts["user_agent"] == ua
    assert facts["action"] == action
    return facts


# -- people -------------------------------------------------------------------------------


def test_a_person_reads_a_profile_and_posts_keeping_one_cookie(guarded):
    g = guarded
    ip = "24.16.10.7"
    person = requests.Session()
    answers = [get(g, f"/{g.handle}", ip, CHROME, person)]
    answers += [get(g, g.post_path(i), ip, CHROME, person) for i in range(3)]
    for r in answers:
        assert r.status_code == 200, r.text[:300]
        assert "tollgate-guard" not in r.headers
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert '<meta name="robots" content="noai, noimageai">' in r.text
        assert '<meta name="tdm-reservation" content="1">' in r.text
        assert f'<link rel="license" href="{g.base}/license.xml">' in r.text
        assert r.headers["x-robots-tag"] == "noai, noimageai"
    # The continuity cookie: set once, with the contract's attributes, then sent back.
    first = answers[0].headers["set-cookie"]
    assert re.fullmatch(r"tg_id=[0-9a-f]{16}\.[A-Za-z0-9_-]+; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000", first)
    assert all("set-cookie" not in r.headers for r in answers[1:])
    tg_id = first.split(";")[0]
    assert all(r.request.headers.get("Cookie") == tg_id for r in answers[1:])
    for i, r in enumerate(answers[1:]):
        assert g.posts[i]["text"].split()[0] in html.unescape(r.text)

    entries = g.entries([r.headers["x-request-id"] for r in answers])
    # The profile is two releases (the account, its posts); each post page one.
    for e in entries:
        assert e["outcome"]["status"] == "served"
        assert e["purpose"] == "display"
        assert_guard_facts(e, ip=ip, prefix="24.16.10.0/24", network="residential", ua=CHROME, action="allow")
        assert e["guard"]["asn"] == 64601
    # From its second request on, the person is the actor of its cookie.
    later = g.entries([r.headers["x-request-id"] for r in answers[1:]])
    assert {tuple(e["guard"]["basis"]) for e in later} == {("cookie",)}
    assert len({e["guard"]["actor"] for e in later}) == 1


# -- AI crawlers ----------------------------------------------------------------------------


def test_a_declared_ai_crawler_is_offered_a_license(guarded):
    g = guarded
    ip = "34.64.20.9"
    tries = [get(g, g.post_path(0), ip, GPTBOT), get(g, g.post_path(1), ip, GPTBOT)]
    for r, post in zip(tries, g.posts):
        assert r.status_code == 402
        assert r.headers["tollgate-guard"] == "license"
        assert r.headers["crawler-price"] == PRICE
        assert r.headers["link"] == f'<{g.base}/license.xml>; rel="license"'
        assert "/license.xml" in r.text and "partner program" in r.text
        assert post["text"] not in html.unescape(r.text)
    entries = g.entries([r.headers["x-request-id"] for r in tries])
    assert len(entries) == 2
    for e in entries:
        assert e["outcome"] == {"status": "refused", "reason": "guard_license"}
        assert "posts" not in e
        facts = assert_guard_facts(e, ip=ip, prefix="34.64.20.0/24", network="hosting", ua=GPTBOT, action="license")
        assert facts["asn"] == 64621
        assert facts["rule"] == "ai-crawlers-are-offered-a-license"
        assert "declared-ai-agent" in facts["signals"]
    actor = entries[0]["client"]
    assert entries[1]["client"] == actor
    # The audit question "what did this client attempt" finds both.
    attempts = json.loads(g.cli("ledger", "query", "attempts", "--client", actor, "--json").stdout)
    assert attempts["counts"] == {"served": 0, "refused": 2, "posts": 0}, attempts
    assert [a["reason"] for a in attempts["entries"]] == ["guard_license", "guard_license"]
    # An unverified crawler cannot buy: offering the price changes nothing.
    r = get(g, g.post_path(0), ip, GPTBOT, **{"crawler-exact-price": PRICE})
    assert r.status_code == 402 and "crawler-charged" not in r.headers


def test_a_verified_ai_crawler_pays_per_crawl(guarded):
    g = guarded
    ip = "34.64.30.5"
    path = g.post_path(2)

    def signed(**extra):
        return get(g, path, ip, CLAUDEBOT, **g.signer.headers(g.authority), **extra)

    # Signed, without an offer: the license offer.
    offer = signed()
    assert offer.status_code == 402 and offer.headers["crawler-price"] == PRICE

    paid = signed(**{"crawler-exact-price": PRICE})
    assert paid.status_code == 200, paid.text[:300]
    assert paid.headers["crawler-charged"] == PRICE
    assert paid.headers["tollgate-guard"] == "charge"
    assert g.posts[2]["text"].split()[0] in html.unescape(paid.text)
    e = g.entry(paid)
    assert e["outcome"]["status"] == "served"
    assert e["posts"] == [g.posts[2]["id"]]
    facts = assert_guard_facts(e, ip=ip, prefix="34.64.30.0/24", network="hosting", ua=CLAUDEBOT, action="charge")
    assert facts["charged"] == PRICE
    assert facts["basis"] == ["web-bot-auth:ClaudeBot"]
    assert facts["rule"] == "verified-ai-crawlers-pay-per-crawl"

    # A maximum at or over the price buys too; under it, the offer again.
    assert signed(**{"crawler-max-price": "USD 0.02"}).headers.get("crawler-charged") == PRICE
    low = signed(**{"crawler-max-price": "USD 0.005"})
    assert low.status_code == 402 and "crawler-charged" not in low.headers
    assert g.entry(low)["outcome"] == {"status": "refused", "reason": "guard_license"}

    # A signature made for another site does not verify here: no sale.
    forged = get(g, path, ip, CLAUDEBOT, **g.signer.headers("other.example"), **{"crawler-exact-price": PRICE})
    assert forged.status_code in (402, 403) and "crawler-charged" not in forged.headers

    # The same request unsigned is not the verified crawler: it names a
    # crawler that verifies itself without verifying, and is blocked as an
    # impersonator (the severest answer the pack permits), never sold to.
    unsigned = get(g, path, ip, CLAUDEBOT, **{"crawler-exact-price": PRICE})
    assert unsigned.status_code == 403 and unsigned.headers["tollgate-guard"] == "block"
    assert "crawler-charged" not in unsigned.headers
    facts = g.entry(unsigned)["guard"]
    assert "impersonation" in facts["signals"] and "charged" not in facts


# -- search crawlers -----------------------------------------------------------------------


def test_a_verified_search_crawler_is_served_and_its_impersonator_blocked(guarded):
    g = guarded
    real = get(g, g.post_path(3), "66.249.66.1", SEARCHBOT)
    assert real.status_code == 200 and "tollgate-guard" not in real.headers
    e = g.entry(real)
    assert e["purpose"] == "search" and e["outcome"]["status"] == "served"
    assert e["guard"]["basis"] == ["ip-range:Searchbot"]
    assert e["guard"]["action"] == "allow"

    fake = get(g, g.post_path(3), "34.64.40.3", SEARCHBOT)
    assert fake.status_code == 403
    assert fake.headers["tollgate-guard"] == "block"
    assert g.posts[3]["text"] not in html.unescape(fake.text)
    e = g.entry(fake)
    assert e["outcome"] == {"status": "refused", "reason": "guard_block"}
    facts = assert_guard_facts(e, ip="34.64.40.3", prefix="34.64.40.0/24", network="hosting", ua=SEARCHBOT, action="block")
    assert "impersonation" in facts["signals"]
    assert facts["rule"] == "impersonators-are-blocked"


# -- hidden links --------------------------------------------------------------------------


@pytest.mark.parametrize("keeps_cookies", [False, True], ids=["without-cookies", "with-cookies"])
def test_a_client_following_a_hidden_link_is_blocked(guarded, keeps_cookies):
    g = guarded
    ip = "34.64.50.7" if keeps_cookies else "34.64.51.7"
    ua = f"Mozilla/5.0 (X11; Linux x86_64) Chrome/142.0.0.0 LinkWalker/{int(keeps_cookies)}"
    session = requests.Session() if keeps_cookies else None
    page = get(g, f"/{g.handle}", ip, ua, session)
    assert page.status_code == 200
    links = hidden_links(page.text)
    assert len(links) == 1
    # People never see or reach it.
    assert re.search(r'<div hidden aria-hidden="true"><a href="/_tg/l/[^"]+" rel="nofollow" tabindex="-1">', page.text)
    trap = get(g, links[0], ip, ua, session)
    assert trap.status_code == 403 and trap.headers["tollgate-guard"] == "block"
    after = get(g, g.post_path(0), ip, ua, session)
    assert after.status_code == 403, after.text[:200]
    assert after.headers["tollgate-guard"] == "block"
    entries = g.entries([trap.headers["x-request-id"], after.headers["x-request-id"]])
    for e in entries:
        assert e["outcome"] == {"status": "refused", "reason": "guard_block"}
        assert "hidden-link" in e["guard"]["signals"]
        assert e["guard"]["rule"] == "hidden-link-followers-are-blocked"
    # Every page's link is its own.
    assert hidden_links(get(g, f"/{g.handle}", "24.16.11.1", CHROME).text) != links


def test_robots_txt_disallows_the_guards_paths_for_every_agent(guarded):
    g = guarded
    r = get(g, "/robots.txt", "24.16.12.1", CHROME)
    assert r.status_code == 200
    robots = Protego.parse(r.text)
    for agent in ["*", "Mozilla/5.0", "Searchbot", "GPTBot", "ClaudeBot"]:
        assert not robots.can_fetch(g.base + "/_tg/l/abc", agent), agent
        assert not robots.can_fetch(g.base + "/_tg/challenge", agent), agent


# -- the challenge --------------------------------------------------------------------------


def challenge_form(r: requests.Response) -> dict[str, str]:
    assert r.status_code == 403
    assert r.headers["tollgate-guard"] == "challenge"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert '<form method="post" action="/_tg/challenge">' in r.text
    assert r.text.count("<button") == 1 and "<script" not in r.text
    fields = dict(re.findall(r'<input type="hidden" name="(token|return)" value="([^"]*)">', r.text))
    assert set(fields) == {"token", "return"}
    return {k: html.unescape(v) for k, v in fields.items()}


def test_a_person_without_javascript_passes_the_challenge_by_submitting_the_form(guarded):
    g = guarded
    ip = "24.16.13.5"
    person = requests.Session()
    path = g.post_path(1)
    form = challenge_form(get(g, path, ip, STALE_CHROME, person))
    assert form["return"] == path

    passed = person.post(
        g.base + "/_tg/challenge",
        data=form,
        headers={"User-Agent": STALE_CHROME, "X-Forwarded-For": ip},
        allow_redirects=False,
        timeout=30,
    )
    assert passed.status_code == 303, passed.text[:300]
    assert passed.headers["location"] == path
    assert re.fullmatch(
        r"tg_pass=[^;]+; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600", passed.headers["set-cookie"]
    )
    page = get(g, passed.headers["location"], ip, STALE_CHROME, person)
    assert page.status_code == 200 and "tollgate-guard" not in page.headers
    assert g.posts[1]["text"].split()[0] in html.unescape(page.text)
    facts = g.entry(page)["guard"]
    assert facts["action"] == "allow" and "stale-browser" in facts["signals"]


def test_a_forged_challenge_token_gets_a_fresh_challenge_and_return_stays_on_site(guarded):
    g = guarded
    ip = "24.16.14.5"
    person = requests.Session()
    path = g.post_path(2)
    form = challenge_form(get(g, path, ip, STALE_CHROME, person))

    def submit(data):
        return person.post(
            g.base + "/_tg/challenge",
            data=data,
            headers={"User-Agent": STALE_CHROME, "X-Forwarded-For": ip},
            allow_redirects=False,
            timeout=30,
        )

    expiry, mac = form["token"].split(".", 1)
    forged_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    for token in [f"{expiry}.{forged_mac}", f"{int(expiry) + 3600}.{mac}", ""]:
        again = submit({"token": token, "return": path})
        fresh = challenge_form(again)
        assert "tg_pass" not in again.headers.get("set-cookie", "")
        assert fresh["return"] == path and fresh["token"] != token
    # Another client's token (without its cookie) is worth nothing either.
    stranger = requests.post(
        g.base + "/_tg/challenge",
        data=form,
        headers={"User-Agent": STALE_CHROME, "X-Forwarded-For": ip},
        allow_redirects=False,
        timeout=30,
    )
    challenge_form(stranger)
    # An open redirect: a genuine token, but a `return` off this site.
    for evil in ["https://evil.example/", "//evil.example/x", "/\\evil.example"]:
        r = submit({"token": form["token"], "return": evil})
        assert r.status_code == 403, (evil, r.status_code, r.headers.get("location"))
        assert challenge_form(r)["return"] == "/"
    # A genuine token for `/` with an off-site `return` sends the client home, never away.
    home = challenge_form(person.get(g.base + "/_tg/challenge", headers={"User-Agent": STALE_CHROME, "X-Forwarded-For": ip}, timeout=30))
    assert home["return"] == "/"
    r = submit({"token": home["token"], "return": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    # The page is still challenged without a pass.
    challenge_form(requests.get(g.base + path, headers={"User-Agent": STALE_CHROME, "X-Forwarded-For": ip}, timeout=30))
