"""The public pages in a real browser (Debian's chromium driven by Playwright,
the `browser` fixture of conftest.py): a post page and a profile page of the
demo platform, with and without JavaScript, their usage terms in `meta`
elements and headers, the next page reached by keyboard alone, a withheld
post's reason, and no serious or critical axe-core violation on any of them.
"""

from __future__ import annotations

import pytest
import requests

from support import AXE, axe_violations, none_deleted, public_author


# Each test is a person of their own, behind the suite's trusted proxy
# (loopback): the guard's rate per address counts every request of the
# minute, and the suite's other tests send many from loopback itself.
def reader(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{n}"}


def adult(account, posts) -> bool:
    return not account.get("is_minor") and (account.get("birth_year") or 1900) < 2000


def profile_author(platform) -> int:
    """An adult author with more than one page of posts, none deleted, so
    that every post is shown to a person reading."""
    return platform.claim_author(public_author(25, 60, lambda a, p: adult(a, p) and none_deleted(a, p)))


def protected_post(platform) -> tuple[str, int]:
    for account in platform.truth.accounts.values():
        posts = platform.truth.posts_by_author.get(account["id"])
        if account.get("protected") and posts:
            return account["handle"], posts[0]["id"]
    pytest.fail("the demo platform has no protected author with posts")


def assert_terms(platform, page, response):
    """The page's `meta` elements and its response's headers state the same terms."""
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noai, noimageai"
    assert page.locator('meta[name="tdm-reservation"]').get_attribute("content") == "1"
    assert page.locator('link[rel="license"]').get_attribute("href") == platform.base_url + "/license.xml"
    headers = response.all_headers()
    assert headers["x-robots-tag"] == "noai, noimageai"
    assert headers["tdm-reservation"] == "1"
    assert headers["content-usage"] == "train-ai=n"
    assert headers["link"] == f'<{platform.base_url}/license.xml>; rel="license"'


def permalink_ids(page) -> list[int]:
    hrefs = page.locator('a[rel="bookmark"]').evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return [int(h.rsplit("/", 1)[1]) for h in hrefs]


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_a_person_reads_a_post_and_pages_through_a_profile_by_keyboard(platform, browser, javascript):
    author = profile_author(platform)
    account = platform.truth.accounts[author]
    handle = account["handle"]
    posts = platform.truth.posts_by_author[author]  # newest first
    newest = posts[0]

    context = browser.new_context(java_script_enabled=javascript, extra_http_headers=reader(20 + int(javascript)))
    page = context.new_page()
    try:
        response = page.goto(f"{platform.base_url}/{handle.upper()}/status/{newest['id']}")
        assert response.status == 200
        assert_terms(platform, page, response)
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").count() == 1
        assert account["display_name"] in page.get_by_role("heading", level=1).inner_text()
        assert page.locator("p.text").inner_text().strip() == newest["text"].strip()
        assert account["display_name"] in page.title()
        assert page.locator("article time").get_attribute("datetime").startswith(newest["created_at"][:19])
        assert page.locator('a[rel="bookmark"]').get_attribute("href") == f"/{handle}/status/{newest['id']}"
        assert page.locator('link[rel="canonical"]').get_attribute("href") == (
            f"{platform.base_url}/{handle}/status/{newest['id']}"
        )

        # To the author's profile by the link in the heading.
        page.get_by_role("link", name=account["display_name"], exact=True).click()
        page.wait_for_url(f"**/{handle}")
        assert page.locator("h1").count() == 1
        assert_terms(platform, page, page.goto(page.url))
        assert permalink_ids(page) == [p["id"] for p in posts[:20]]

        # The next page by keyboard alone: Tab to "Older posts", Enter.
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.textContent.trim()") == "Older posts":
                break
        else:
            pytest.fail("the keyboard never reached the next page's link")
        assert page.evaluate("() => document.activeElement.getAttribute('rel')") == "next"
        page.keyboard.press("Enter")
        page.wait_for_url("**cursor=*")
        assert permalink_ids(page) == [p["id"] for p in posts[20:40]]
        assert page.get_by_role("heading", level=2).inner_text() == "Older posts"
    finally:
        context.close()


def test_a_withheld_post_says_why_and_shows_no_text(platform, browser):
    handle, post_id = protected_post(platform)
    context = browser.new_context(java_script_enabled=False, extra_http_headers=reader(22))
    page = context.new_page()
    try:
        response = page.goto(f"{platform.base_url}/{handle}/status/{post_id}")
        assert response.status == 403
        assert_terms(platform, page, response)
        reason = page.locator("[data-reason]")
        assert reason.get_attribute("data-reason") == "protected_account"
        assert "protected_account" in reason.inner_text()
        assert platform.truth.posts[post_id]["text"] not in page.content()
    finally:
        context.close()


def test_the_pages_are_recorded_on_the_web_channel(platform):
    author = profile_author(platform)
    handle = platform.truth.handle(author)
    before = platform.ledger_entries()
    r = requests.get(f"{platform.base_url}/{handle}", headers=reader(23), timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    # The profile and its posts: two releases, each recorded.
    assert platform.ledger_entries() == before + 2
    r = requests.get(f"{platform.base_url}/{handle}?cursor=not-one", headers=reader(23), timeout=30)
    assert r.status_code == 400
    assert platform.refused_since(before + 2) == ["invalid_request"], "a bad cursor is refused before anything is decided"


def test_axe_finds_no_serious_or_critical_violation_on_the_pages(platform, browser):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/setup-node")
    author = profile_author(platform)
    handle = platform.truth.handle(author)
    post_id = platform.truth.posts_by_author[author][0]["id"]
    protected_handle, protected_id = protected_post(platform)
    # The pages forbid every script: the check's own is let in for the test only.
    context = browser.new_context(bypass_csp=True, extra_http_headers=reader(24))
    page = context.new_page()
    try:
        for path in [
            f"/{handle}/status/{post_id}",
            f"/{handle}",
            f"/{protected_handle}/status/{protected_id}",
            "/nobody_at_all",
            f"/{handle}?cursor=bad",
        ]:
            page.goto(platform.base_url + path)
            assert axe_violations(page) == [], path
        # The next page.
        page.goto(f"{platform.base_url}/{handle}")
        page.locator('a[rel="next"]').click()
        page.wait_for_url("**cursor=*")
        assert axe_violations(page) == []
    finally:
        context.close()
