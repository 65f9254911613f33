"""Real Chromium: the console, the preference centre and /demo run under their CSP with no
violation, and another site cannot frame the console or the preference centre."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from tests.browser import test_banner_support as support
from tests.browser.test_banner_support import consent_response, open_demo
from tests.helpers import add_user, fast_argon2  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fast_argon2")]

ADMIN = "csp-admin@example.com"
PASSWORD = "correct horse 1"
# Registered before any page script: every violation the browser reports lands here.
WATCH_VIOLATIONS = """window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  e.effectiveDirective + ' ' + (e.blockedURI || 'inline')));"""

# Shared fixtures, re-exported so pytest finds them in this module.
banner_page = support.banner_page
demo_url = support.demo_url


class Console:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.messages: list[str] = []
        page.on("console", lambda message: self.messages.append(message.text))
        page.add_init_script(WATCH_VIOLATIONS)

    def violations(self) -> list[str]:
        reported = self.page.evaluate("() => window.__csp")
        logged = [m for m in self.messages if "Content Security Policy" in m]
        return reported + logged


@pytest.fixture
def watched(page: Page) -> Console:
    return Console(page)


def _preference_url(app: Any, site: str) -> str:
    from tests.email.conftest import Email, role_headers

    email = Email(app.test_client(), role_headers(app, "marketing"), site)
    campaign = email.campaign("CSP", sent_at=None)
    recipient = email.recipient("csp@example.com", tracking=True)
    return urlsplit(email.links(campaign, recipient)["preference_url"]).path


def test_console_runs_without_csp_violations(app, live_server, page: Page, watched: Console):
    add_user(app, ADMIN, "admin", PASSWORD)
    page.goto(live_server.url + "/admin/login")
    # The stylesheet applied: the page is styled from the file, not from inline CSS.
    assert page.evaluate("() => getComputedStyle(document.body).margin") == "0px"
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")
    for path in ("/admin/", "/admin/email/", "/"):
        page.goto(live_server.url + path)
        header = page.locator("header")
        assert header.evaluate("e => getComputedStyle(e).display") == "flex"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert watched.violations() == []


def test_preference_centre_switch_works_without_csp_violations(
    app, live_server, site, page: Page, watched: Console
):
    url = live_server.url + _preference_url(app, site)
    page.goto(url)
    page.get_by_role("button", name="Switch open tracking off").click()
    page.get_by_text("Saved.").wait_for()
    assert page.locator("#current strong").inner_text() == "off"
    assert watched.violations() == []


def test_demo_banner_gated_scripts_and_tracker_run_without_csp_violations(
    banner_page: Page, demo_url: str, watched: Console
):
    page = banner_page
    open_demo(page, demo_url)
    # The banner's own <style> element applies under the demo's hash-only style-src.
    assert page.locator(".hf-b[role=dialog]").evaluate("e => getComputedStyle(e).position") in (
        "fixed",
        "sticky",
        "absolute",
    )
    consent_response(page, lambda: page.get_by_role("button", name="Accept all").click())
    page.wait_for_function("() => Object.keys(window.demoRuns).length === 3")
    page.wait_for_function("() => window.Heedful.tracker && window.Heedful.tracker !== null")
    page.get_by_role("link", name="Product details (in-page navigation)").click()
    assert page.locator("#demo-spa-view").inner_text() == "Showing details"
    page.get_by_role("button", name="Change my privacy choices").click()
    page.locator(".hf-p[role=dialog]").wait_for()
    assert watched.violations() == []


def _framed_by_another_site(page: Page, url: str) -> str:
    """Load ``url`` in an iframe of a page on another origin; return the frame's URL.

    The framing page is on ``localhost``, the framed one on ``127.0.0.1``: two origins, both
    local (Chromium refuses a public page's frames of a local address whatever the headers).
    """
    port = urlsplit(url).port
    framer = f"http://localhost:{port}/framing-page.html"
    page.route(
        framer,
        lambda route: route.fulfill(
            content_type="text/html", body=f'<!doctype html><iframe src="{url}"></iframe>'
        ),
    )
    with page.expect_event("framenavigated", lambda frame: frame != page.main_frame):
        page.goto(framer)
    (child,) = [frame for frame in page.frames if frame != page.main_frame]
    child.wait_for_load_state()
    return child.url


@pytest.mark.parametrize("target", ["login", "preference centre"])
def test_another_site_cannot_frame_the_console_or_the_preference_centre(
    app, live_server, site, page: Page, target: str
):
    # The control: a page on the same origin without framing rules shows in the same
    # iframe, so the refusal below comes from Heedful's headers, not from the set-up.
    control = live_server.url + "/control-page.html"
    page.route(control, lambda route: route.fulfill(content_type="text/html", body="<p>ok</p>"))
    assert _framed_by_another_site(page, control) == control
    path = "/admin/login" if target == "login" else _preference_url(app, site)
    assert _framed_by_another_site(page, live_server.url + path) == "chrome-error://chromewebdata/"
