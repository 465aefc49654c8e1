"""The settings page in a real browser: Debian's chromium (scripts/setup-browser)
driven by Playwright, never a browser Playwright downloads.

An account holder signs in with a link `tollgate settings sign-in-link` prints
(as the platform would issue it), changes a preference, and the very next API
request of a partner app withholds their posts; the transparency report names
the app that received them; the whole flow works with JavaScript disabled;
the keyboard alone reaches every control; and axe-core finds no serious or
critical accessibility violation.

The browser (the `browser` fixture) and the axe-core check are shared with
the public pages' test (conftest.py, support.py).
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from support import AXE, axe_violations, bearer, public_author

# Every radio group of the preferences form: category.scope.
PREFERENCE_GROUPS = [
    f"{c}.{s}" for c in ("train-genai", "train-ai", "ai-input") for s in ("first-party", "third-parties")
]


def sign_in_link(platform, account_id: int) -> str:
    return platform.cli("--public-url", platform.base_url, "settings", "sign-in-link", str(account_id)).stdout.strip()


def adult_with_clean_posts(account, posts) -> bool:
    return (
        not account.get("is_minor")
        and (account.get("birth_year") or 1900) < 2000
        and not any(p.get("deleted_at") or p.get("no_ai") for p in posts)
    )


def allowing_author(platform) -> int:
    """An adult author, claimed for this test, who explicitly allows third
    parties to train generative AI on their posts (set through the internal
    API, so that the regional default does not matter)."""
    author = platform.claim_author(public_author(3, 40, adult_with_clean_posts))
    r = platform.internal(
        "PATCH", f"/internal/accounts/{author}/ai-preferences", json={"train-genai": {"third-parties": "allow"}}
    )
    assert r.status_code == 200, r.text
    return author


def partner_training_ids(platform, author: int) -> list[str]:
    r = requests.get(
        f"{platform.base_url}/2/users/{author}/tweets",
        headers=bearer(platform.token("demo-partner"), "train-genai"),
        params={"max_results": 10},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json().get("data", [])]


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_a_preference_changed_in_the_browser_is_in_force_for_the_next_api_request(platform, browser, javascript):
    author = allowing_author(platform)
    assert partner_training_ids(platform, author), "the partner receives the posts while the author allows it"

    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    try:
        response = page.goto(sign_in_link(platform, author))
        assert response.status == 200
        assert page.url.endswith("/settings?status=signed-in")
        assert page.get_by_role("heading", level=1).inner_text() == "Your AI settings"
        assert "You are signed in." in page.get_by_role("status").inner_text()
        cookie = next(c for c in context.cookies() if c["name"] == "tollgate_settings")
        assert cookie["httpOnly"] and cookie["path"] == "/settings" and cookie["sameSite"] == "Lax"

        # The transparency report names the app that received the posts.
        report = page.get_by_role("table", name="Apps that received your posts")
        assert "demo-partner" in report.inner_text()
        assert "training generative AI" in report.inner_text()

        # Withdraw consent: the radio by its label, inside its labelled group.
        group = page.get_by_role("group", name="Training generative AI, by other companies' apps")
        assert group.get_by_label("Allow", exact=True).is_checked()
        group.get_by_label("Deny", exact=True).check()
        page.get_by_role("button", name="Save AI preferences").click()
        page.wait_for_url("**/settings?status=saved")
        assert "Your AI preferences are saved" in page.get_by_role("status").inner_text()
        assert page.get_by_role("group", name="Training generative AI, by other companies' apps").get_by_label(
            "Deny", exact=True
        ).is_checked()

        # The very next API request is decided with the new choice.
        assert partner_training_ids(platform, author) == []

        # The partner, which trained on the posts, is asked to stop: the
        # notices worker of `serve` opens the obligation from the change log.
        deadline = time.monotonic() + 20
        while "Requests to apps" not in page.content() and time.monotonic() < deadline:
            time.sleep(0.2)
            page.goto(platform.base_url + "/settings")
        requests_table = page.get_by_role("table", name="Requests to apps").inner_text()
        assert "demo-partner" in requests_table and "stop using them for AI" in requests_table, requests_table

        # Keep every post out of AI, then remove the mark again.
        page.get_by_label("All my posts").check()
        page.get_by_label("Keep these posts out of every AI use").check()
        page.get_by_role("button", name="Apply to my posts").click()
        page.wait_for_url("**/settings?status=posts*")
        posts = len(platform.truth.posts_by_author[author])
        assert f"{posts} post" in page.get_by_role("status").inner_text()

        # A bad date: an error tied to its field, nothing changed.
        page.get_by_label("My posts from a range of dates").check()
        page.get_by_label("From (the first day, included)").fill("2025-03-01")
        page.get_by_label("Until (the last day, included)").fill("2025-02-01")
        page.get_by_label("Remove the mark from these posts").check()
        page.get_by_role("button", name="Apply to my posts").click()
        assert page.get_by_role("alert").is_visible()
        until = page.get_by_label("Until (the last day, included)")
        assert until.get_attribute("aria-invalid") == "true"
        described = until.get_attribute("aria-describedby").split()
        assert "until-error" in described
        assert "must not be before" in page.locator("#until-error").inner_text()

        # Sign out: the page is gone with the session.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/settings/signed-out")
        assert page.goto(platform.base_url + "/settings").status == 401
    finally:
        context.close()


def test_the_keyboard_alone_reaches_every_control_in_order(platform, browser):
    author = platform.claim_author(public_author(1, 40, adult_with_clean_posts))
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(sign_in_link(platform, author))
        page.wait_for_url("**/settings?status=signed-in")
        reached = []
        for _ in range(60):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                """() => {
                    const e = document.activeElement;
                    const visible = e && e !== document.body && getComputedStyle(e).outlineStyle !== 'none';
                    return e ? [e.tagName.toLowerCase(), e.getAttribute('name') || '', e.id || '',
                                e.textContent.trim(), visible] : null;
                }"""
            )
            if focused is None or focused[0] == "body":
                break
            reached.append(focused)
            if focused[3] == "Apply to my posts":
                break
        names = [r[1] for r in reached]
        texts = [r[3] for r in reached]
        assert texts[0] == "Skip to main content", reached[:3]
        assert texts[1] == "Sign out"
        # One stop per radio group (arrow keys move inside it), in the page's order.
        groups = [n for n in names if "." in n]
        assert groups == PREFERENCE_GROUPS, reached
        order = [n or t for n, t in zip(names, texts)]
        for later, earlier in [
            ("Save AI preferences", "ai-input.third-parties"),
            ("which", "Save AI preferences"),
            ("from", "which"),
            ("until", "from"),
            ("no_ai", "until"),
            ("Apply to my posts", "no_ai"),
        ]:
            assert order.index(later) > order.index(earlier), order
        # A date field is several stops (day, month, year, its calendar
        # button inside the browser's own control); each control shows the
        # focus ring on its stops of its own.
        ringed: dict[tuple, bool] = {}
        for r in reached:
            key = (r[0], r[1], r[2], r[3])
            ringed[key] = ringed.get(key, False) or r[4]
        assert all(ringed.values()), f"a control without a visible focus ring: {ringed}"

        # Operable by keyboard: choose with the arrow keys, submit with Enter.
        page.goto(platform.base_url + "/settings")
        page.locator("#train-ai-first-party-unset").focus()
        page.keyboard.press("ArrowUp")  # to "Deny"
        assert page.locator("#train-ai-first-party-deny").is_checked()
        page.keyboard.press("Enter")
        page.wait_for_url("**/settings?status=saved")
        account = platform.internal("GET", f"/internal/accounts/{author}").json()
        assert account["account"]["ai_preferences"]["train-ai"]["first-party"]["value"] == "deny"
    finally:
        context.close()


def test_axe_finds_no_serious_or_critical_violation(platform, browser):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/setup-node")
    minor = int(platform.credentials["examples"]["minor_account_id"])
    # The page sets a Content-Security-Policy that forbids every script: the
    # check's own script is let in for the test only.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        # The check itself finds what it should: a page without a language
        # and an image without a text alternative.
        page.set_content("<html><body><main><img src='x.png'></main></body></html>")
        found = " ".join(axe_violations(page))
        assert "html-has-lang" in found and "image-alt" in found, found
        page.goto(sign_in_link(platform, minor))
        page.wait_for_url("**/settings?status=signed-in")
        assert "Your account belongs to a minor." in page.content()
        assert axe_violations(page) == []
        # The form shown again with its errors.
        page.get_by_label("My posts from a range of dates").check()
        page.get_by_role("button", name="Apply to my posts").click()
        assert page.get_by_role("alert").is_visible()
        assert axe_violations(page) == []
        # An error page.
        page.goto(platform.base_url + "/settings/sign-in?token=forged")
        assert axe_violations(page) == []
    finally:
        context.close()


def test_the_demo_accounts_see_why_their_defaults_apply(platform):
    examples = platform.credentials["examples"]
    eu, minor = int(examples["eu_account_id"]), int(examples["minor_account_id"])
    for account, says in [
        (eu, r"Your region, [A-Z]{2}, is one where the default is deny"),
        (minor, r"Your account belongs to a minor\."),
    ]:
        session = requests.Session()
        r = session.get(sign_in_link(platform, account), timeout=30)
        assert r.status_code == 200 and r.url.endswith("/settings?status=signed-in"), r.text
        assert re.search(says, r.text), r.text


def test_forged_and_expired_links_are_refused(platform):
    link = sign_in_link(platform, platform.example_author_id)
    head, claims, signature = link.split("token=")[1].split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    for token in [f"{head}.{claims}.{flipped}", f"eyJhbGciOiJub25lIn0.{claims}.", "garbage"]:
        r = requests.get(
            f"{platform.base_url}/settings/sign-in", params={"token": token}, allow_redirects=False, timeout=30
        )
        assert r.status_code == 401, token
        assert "set-cookie" not in r.headers
        assert r.headers["content-type"].startswith("text/html")
    r = platform.cli("settings", "sign-in-link", str(platform.example_author_id), "--minutes", "60", check=False)
    assert r.returncode == 3 and "1 to 15 minutes" in r.stderr
