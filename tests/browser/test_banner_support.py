"""Shared fixtures and helpers for the banner's browser tests (this module holds no tests).

The test modules import from here, so pytest sees the fixtures in each of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import NetworkLog

COOKIE = "heedful_consent"
# Tests drive headless Chromium, which the banner's bot heuristic would otherwise skip.
# The counter lets a test wait until the page has acted on an answer from the API.
ALLOW_AUTOMATION = """window.HEEDFUL_ALLOW_AUTOMATION = true; window.__events = 0;
document.addEventListener('heedful:consent', () => { window.__events += 1; });"""
STUB_DATALAYER = "window.dataLayer = [];"
GPC_ON = (
    "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl',"
    " {get: () => true, configurable: true});"
)
CATEGORIES = ("analytics", "marketing", "preferences")


@pytest.fixture
def banner_page(page: Page) -> Page:
    page.add_init_script(ALLOW_AUTOMATION)
    page.add_init_script(STUB_DATALAYER)
    return page


@pytest.fixture
def demo_url(live_server: Any, demo_site: str) -> str:
    return live_server.url + "/demo"


def open_demo(page: Page, url: str, *, expect_policy: bool = True) -> None:
    """Load the demo and wait until the banner has the policy in force."""
    if expect_policy:
        with page.expect_response(lambda r: "/policy" in r.url):
            page.goto(url)
        page.wait_for_function("() => window.Heedful && window.Heedful.tracker !== null")
    else:
        page.goto(url)


def banner(page: Page):
    return page.locator(".hf-b[role=dialog]")


def panel(page: Page):
    return page.locator(".hf-p[role=dialog]")


def press(page: Page, mode: str, name: str, *, exact: bool = True) -> None:
    """Activate the button called ``name`` with the mouse, or by keyboard alone."""
    if mode == "mouse":
        page.get_by_role("button", name=name, exact=exact).click()
        return
    tab_to(page, name)
    page.keyboard.press("Enter")


def toggle(page: Page, mode: str, label: str) -> None:
    if mode == "mouse":
        page.get_by_role("switch", name=label).click()
        return
    tab_to(page, label)
    page.keyboard.press("Space")


def tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element's accessible text starts with ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                 return (e.getAttribute('aria-label') || (e.labels && e.labels[0]
                   ? e.labels[0].textContent : e.textContent) || '').trim(); }"""
        )
        if focused.startswith(name):
            return
    raise AssertionError(f"no focusable element named {name!r} reached by Tab")


def after_event(page: Page, action: Any) -> None:
    """Run ``action``, then wait until the banner has dispatched ``heedful:consent``."""
    before = page.evaluate("() => window.__events")
    action()
    page.wait_for_function("n => window.__events > n", arg=before)


def consent_response(page: Page, action: Any) -> dict[str, Any]:
    """Run ``action``; return the JSON of the POST /api/v1/consent it causes once the
    page has acted on it."""
    before = page.evaluate("() => window.__events")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/consent") and r.request.method == "POST"
    ) as info:
        action()
    response = info.value
    assert response.status == 201, response.text()
    page.wait_for_function("n => window.__events > n", arg=before)
    return response.json()


def cookie_names(context: BrowserContext) -> set[str]:
    return {c["name"] for c in context.cookies()}


def consent_cookie(context: BrowserContext) -> dict[str, Any] | None:
    for cookie in context.cookies():
        if cookie["name"] == COOKIE:
            return json.loads(unquote(cookie["value"]))
    return None


def runs(page: Page) -> dict[str, int]:
    return page.evaluate("() => ({...window.demoRuns})")


def collector_requests(network: NetworkLog) -> list[str]:
    return [url for url in network.urls() if "/api/v1/collect" in url]


def tracker_requests(network: NetworkLog) -> list[str]:
    return [url for url in network.urls() if "consent-banner/tracker.js" in url]


def assert_nothing_collected(page: Page, network: NetworkLog, context: BrowserContext) -> None:
    """Nothing beyond the banner's own cookie, no collector, no tracker, no gated script."""
    assert collector_requests(network) == []
    assert tracker_requests(network) == []
    assert cookie_names(context) <= {COOKIE}
    assert runs(page) == {}


def consent_calls(page: Page) -> list[list[Any]]:
    """The ``gtag('consent', …)`` calls pushed to the stub dataLayer."""
    return page.evaluate(
        "() => window.dataLayer.map(a => Array.from(a)).filter(a => a[0] === 'consent')"
    )


def server_record(app: Any, consent_id: str) -> Any:
    from app.consent.cache import latest_consent_record as latest_record
    from app.consent.service import record_status
    from app.extensions import db
    from app.models import Site

    with app.app_context():
        record = latest_record(consent_id)
        if record is None:
            db.session.remove()
            return None
        site = db.session.get(Site, record.site_id)
        snapshot = {
            "choices": dict(record.choices),
            "method": record.method,
            "gpc": record.gpc,
            "status": record_status(record, site),
        }
        db.session.remove()
        return snapshot


@pytest.fixture
def gpc_page(browser_context: BrowserContext, network: NetworkLog) -> Iterator[Page]:
    tab = browser_context.new_page()
    tab.add_init_script(ALLOW_AUTOMATION)
    tab.add_init_script(STUB_DATALAYER)
    tab.add_init_script(GPC_ON)
    yield tab
    tab.close()
