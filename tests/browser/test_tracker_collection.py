"""tracker.js in real Chromium, loaded by the real banner on /demo.

The demo is opened on ``localhost`` (the live server listens on 127.0.0.1): the demo site
registers both, and page URLs then carry a name rather than an address.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, Route
from sqlalchemy import select

from app.extensions import db
from app.models.analytics import Event, SearchTerm
from tests.browser.conftest import NetworkLog

ALLOW_AUTOMATION = "window.HEEDFUL_ALLOW_AUTOMATION = true;"
OUTBOUND = "https://example.org/"
HIDE_TAB = """() => {
  Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
  Object.defineProperty(document, 'hidden', {value: true, configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


@pytest.fixture
def demo(live_server: Any, demo_site: str, page: Page) -> str:
    page.add_init_script(ALLOW_AUTOMATION)
    # The outbound link leaves for the internet; answer it locally instead.
    page.route(OUTBOUND + "**", _partner_page)
    return live_server.url.replace("127.0.0.1", "localhost") + "/demo"


def _partner_page(route: Route) -> None:
    route.fulfill(status=200, content_type="text/html", body="<title>Partner</title>partner")


def rows(app: Any) -> list[Event]:
    with app.app_context():
        found = list(db.session.scalars(select(Event).order_by(Event.received_at)))
        db.session.expunge_all()
        db.session.remove()
    return found


def terms(app: Any) -> list[tuple[str, str]]:
    with app.app_context():
        found = [(t.term, t.source) for t in db.session.scalars(select(SearchTerm))]
        db.session.remove()
    return found


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def recorded(app: Any, kind: str, path: str | None = None) -> Callable[[], list[Event]]:
    return lambda: [e for e in rows(app) if e.type == kind and (path is None or e.path == path)]


def choose(page: Page, demo_url: str, button: str) -> None:
    with page.expect_response(lambda r: "/policy" in r.url):
        page.goto(demo_url)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/consent")):
        page.get_by_role("button", name=button, exact=True).click()


def exercise_every_feature(page: Page, demo_url: str, after_each: Callable[[str], None]) -> None:
    """Site search, in-page navigation, a download and an outbound link, in that order."""
    page.fill("#demo-search-q", "Blue  Boots")
    page.click("#demo-search button[type=submit]")
    page.wait_for_url("**/demo/search?q=*")
    after_each("search")
    page.click("#demo-spa")
    page.wait_for_url("**/demo/spa/details")
    after_each("spa")
    with page.expect_download():
        page.click("#demo-download")
    after_each("download")
    page.click("#demo-outbound")
    page.wait_for_url(OUTBOUND)
    after_each("outbound")


def test_after_accepting_every_feature_is_recorded(app, page, network: NetworkLog, demo):
    choose(page, demo, "Accept all")
    wait_for(recorded(app, "pageview", "/demo"), "the landing page view")

    def check(step: str) -> None:
        if step == "search":
            wait_for(recorded(app, "pageview", "/demo/search"), "the search results view")
            wait_for(lambda: ("blue boots", "site") in terms(app), "the site-search term")
        elif step == "spa":
            wait_for(recorded(app, "pageview", "/demo/spa/details"), "the in-page navigation")
        elif step == "download":
            wait_for(recorded(app, "download"), "the download")
        else:
            wait_for(recorded(app, "outbound"), "the outbound click")

    exercise_every_feature(page, demo, check)
    events = rows(app)
    (download,) = [e for e in events if e.type == "download"]
    assert download.target.endswith("/demo/files/price-list.pdf")
    (outbound,) = [e for e in events if e.type == "outbound"]
    assert outbound.target == OUTBOUND
    search_view = next(e for e in events if e.path == "/demo/search")
    assert search_view.query == "q=Blue++Boots"
    assert {e.host for e in events} == {"localhost"}
    assert len({e.session_id for e in events}) == 1
    assert all(e.browser == "Chrome" and e.device == "desktop" for e in events)
    # Every send was a simple text/plain POST: no CORS preflight was ever needed.
    collects = network.to("/api/v1/collect")
    assert collects and {r.method for r in collects} == {"POST"}
    assert all(r.headers.get("content-type", "").startswith("text/plain") for r in collects)


def test_after_rejecting_nothing_is_even_requested(app, page, network: NetworkLog, demo):
    choose(page, demo, "Reject all")
    exercise_every_feature(page, demo, lambda step: page.wait_for_timeout(300))
    assert network.to("/api/v1/collect") == []
    assert network.to("consent-banner/tracker.js") == []
    assert rows(app) == [] and terms(app) == []


def test_engagement_counts_visible_time_only(app, page, demo):
    choose(page, demo, "Accept all")
    wait_for(recorded(app, "pageview", "/demo"), "the page view")
    page.wait_for_timeout(2000)
    page.evaluate(HIDE_TAB)
    (ping,) = wait_for(recorded(app, "engagement"), "the engagement ping")
    assert 1500 <= ping.engaged_ms <= 3000
    # Hidden time is never counted: leaving the page now adds no further engagement.
    page.wait_for_timeout(500)
    page.evaluate("() => dispatchEvent(new PageTransitionEvent('pagehide'))")
    page.wait_for_timeout(500)
    assert len(recorded(app, "engagement")()) == 1


def test_withdrawing_consent_stops_the_tracker_at_once(app, page, network: NetworkLog, demo):
    choose(page, demo, "Accept all")
    wait_for(recorded(app, "pageview", "/demo"), "the page view")
    page.evaluate("() => window.Heedful.showPreferences()")
    with page.expect_response(lambda r: r.url.endswith("/withdraw")):
        page.get_by_role("button", name="Withdraw consent").click()
    sent_before = len(network.to("/api/v1/collect"))
    page.keyboard.press("Escape")
    page.click("#demo-spa")
    with page.expect_download():
        page.click("#demo-download")
    page.evaluate(HIDE_TAB)
    page.wait_for_timeout(500)
    assert len(network.to("/api/v1/collect")) == sent_before
    assert [e.type for e in rows(app)] == ["pageview"]
