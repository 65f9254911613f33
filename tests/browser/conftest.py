"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, sync_playwright

CHROMIUM = os.environ.get("HEEDFUL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@dataclass
class NetworkLog:
    requests: list[Request] = field(default_factory=list)

    def urls(self) -> list[str]:
        return [r.url for r in self.requests]

    def to(self, path_fragment: str) -> list[Request]:
        return [r for r in self.requests if path_fragment in r.url]


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture
def network(browser_context: BrowserContext) -> NetworkLog:
    log = NetworkLog()
    browser_context.on("request", lambda request: log.requests.append(request))
    return log


@pytest.fixture
def page(browser_context: BrowserContext, network: NetworkLog) -> Iterator[Page]:
    tab = browser_context.new_page()
    yield tab
    tab.close()


@pytest.fixture
def demo_site(app) -> str:
    """The demo site (key ``demo``) that /demo embeds, on 127.0.0.1 and localhost."""
    from app.cli import ensure_demo_site
    from app.extensions import db

    with app.app_context():
        site = ensure_demo_site()
        key = site.key
        db.session.remove()
    return key
