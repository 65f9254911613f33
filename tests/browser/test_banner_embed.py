"""Embedded cross-origin on a customer's own domain, as sites really use it."""

from __future__ import annotations

import pytest

from tests.browser.test_banner_support import (
    ALLOW_AUTOMATION,
    COOKIE,
    after_event,
    banner,
    consent_response,
    panel,
    server_record,
)

pytestmark = pytest.mark.browser

SHOP = "http://www.shop.test"
# The customer pages are served by request interception, which Chromium places in the
# public address space; its Private/Local Network Access checks would then block the
# loopback test server, which a real public Heedful host never meets.
NO_PNA = (
    "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
    "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks"
)


@pytest.fixture(scope="module")
def public_browser(browser):
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    instance = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, NO_PNA])
    yield instance
    instance.close()


@pytest.fixture
def banner_page(public_browser, network):  # noqa: F811  (this module's own browser)
    context = public_browser.new_context()
    context.on("request", lambda request: network.requests.append(request))
    tab = context.new_page()
    tab.add_init_script(ALLOW_AUTOMATION)
    yield tab
    context.close()


@pytest.fixture
def shop_site(app) -> str:
    from app.extensions import db
    from app.sites.registry import create_site

    with app.app_context():
        create_site("Shop", ["shop.test"], key="shop")
        db.session.remove()
    return "shop"


def customer_page(api: str, extra: str = "") -> str:
    return f"""<!doctype html><html lang="fr"><head><title>Shop</title>
<script src="{api}/static/consent-banner/heedful.js" data-site="shop"
        data-cookie-domain="shop.test" {extra} defer></script></head>
<body><h1>Boutique</h1>
<script type="text/plain" data-consent="marketing">window.ran = (window.ran || 0) + 1;</script>
</body></html>"""


def test_a_customer_domain_gets_a_shared_first_party_cookie(
    banner_page, live_server, shop_site, network, app
):
    page = banner_page
    page.route(
        f"{SHOP}/**",
        lambda route: route.fulfill(content_type="text/html", body=customer_page(live_server.url)),
    )
    with page.expect_response(lambda r: "/policy" in r.url) as policy:
        page.goto(SHOP + "/produits")
    assert policy.value.status == 200 and policy.value.json()["lang"] == "fr"
    page.wait_for_function("() => window.Heedful.tracker !== null")
    assert page.evaluate("() => [window.Heedful.api, window.Heedful.site]") == [
        live_server.url,
        "shop",
    ]
    assert "download_extensions" in page.evaluate("() => window.Heedful.tracker")
    page.locator("#hf-t", has_text="Vos choix de confidentialité").wait_for()

    body = consent_response(page, lambda: page.get_by_role("button", name="Tout accepter").click())
    page.wait_for_function("() => window.ran === 1")
    # A text/plain POST: a simple request, so no CORS preflight before recording consent.
    assert not [r for r in network.to("/api/v1/consent") if r.method == "OPTIONS"]
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["domain"] == ".shop.test"  # shared by www.shop.test and shop.test
    assert cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert cookie["secure"] is False  # plain http here; https adds Secure
    tracker = page.locator("script[src$='/static/consent-banner/tracker.js']")
    assert tracker.get_attribute("src") == live_server.url + "/static/consent-banner/tracker.js"

    # Self-service erasure works cross-origin too (DELETE goes through a preflight).
    page.evaluate("() => window.Heedful.showPreferences()")
    delete = panel(page).get_by_role("button", name="Supprimer mes données")
    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        after_event(page, delete.click)
    assert deleted.value.status == 200
    assert server_record(app, body["consent_id"]) is None
    assert COOKIE not in {c["name"] for c in page.context.cookies()}


def test_an_unregistered_domain_gets_a_banner_but_records_nothing(
    banner_page, live_server, shop_site, network, app
):
    """CORS refuses the API to other domains: the banner still shows, nothing runs."""
    page = banner_page
    page.route(
        "http://elsewhere.test/**",
        lambda route: route.fulfill(content_type="text/html", body=customer_page(live_server.url)),
    )
    page.goto("http://elsewhere.test/")
    banner(page).wait_for()
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.ran") is None
    assert page.evaluate("() => window.Heedful.consent()") is None
    assert network.to("tracker.js") == [] and network.to("/collect") == []
