"""Consent Mode, Global Privacy Control, re-prompting, languages, bots and an unreachable API."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.browser import test_banner_support as support
from tests.browser.test_banner_support import (
    ALLOW_AUTOMATION,
    COOKIE,
    assert_nothing_collected,
    banner,
    consent_calls,
    consent_cookie,
    consent_response,
    cookie_names,
    open_demo,
    panel,
    runs,
    server_record,
)

pytestmark = pytest.mark.browser

# Shared fixtures, re-exported so pytest finds them in this module.
banner_page = support.banner_page

demo_url = support.demo_url

gpc_page = support.gpc_page

DENIED = {
    "analytics_storage": "denied",
    "ad_storage": "denied",
    "ad_user_data": "denied",
    "ad_personalization": "denied",
}


def test_consent_mode_defaults_to_denied_and_updates_on_each_choice(banner_page, demo_url):
    page = banner_page
    open_demo(page, demo_url)
    calls = consent_calls(page)
    assert calls == [["consent", "default", {**DENIED, "wait_for_update": 500}]]

    # analytics only: analytics_storage follows analytics, the ad_* signals follow marketing
    page.get_by_role("button", name="Customise").click()
    page.get_by_role("switch", name="Analytics").check()
    consent_response(page, lambda: page.get_by_role("button", name="Save choices").click())
    page.wait_for_function("() => window.dataLayer.length === 2")
    assert consent_calls(page)[-1] == [
        "consent",
        "update",
        {**DENIED, "analytics_storage": "granted"},
    ]

    page.evaluate("() => window.Heedful.showPreferences()")
    consent_response(page, lambda: panel(page).get_by_role("button", name="Accept all").click())
    page.wait_for_function("() => window.dataLayer.length === 3")
    assert consent_calls(page)[-1] == ["consent", "update", {k: "granted" for k in DENIED}]

    page.evaluate("() => window.Heedful.showPreferences()")
    consent_response(page, lambda: panel(page).get_by_role("button", name="Reject all").click())
    page.wait_for_function("() => window.dataLayer.length === 4")
    assert consent_calls(page)[-1] == ["consent", "update", DENIED]


def test_gpc_in_the_page_keeps_marketing_off(gpc_page, demo_url, network, browser_context, app):
    page = gpc_page
    open_demo(page, demo_url)
    notice = banner(page).locator(".hf-g")
    assert "Global Privacy Control" in notice.inner_text()
    page.get_by_role("button", name="Customise").click()
    marketing = panel(page).get_by_role("switch", name="Marketing")
    assert marketing.is_disabled() and not marketing.is_checked()
    page.keyboard.press("Escape")

    with page.expect_request(lambda r: r.url.endswith("/api/v1/consent")) as sent:
        body = consent_response(
            page, lambda: banner(page).get_by_role("button", name="Accept all").click()
        )
    assert json.loads(sent.value.post_data)["gpc"] is True
    assert body["choices"]["marketing"] is False and body["gpc"] is True
    page.wait_for_function("() => window.demoRuns.analytics === 1")
    assert runs(page) == {"analytics": 1, "preferences": 1}
    assert server_record(app, body["consent_id"])["choices"]["marketing"] is False
    assert consent_calls(page)[-1][2]["ad_storage"] == "denied"
    assert consent_calls(page)[-1][2]["analytics_storage"] == "granted"

    # Reopened, marketing still cannot be switched on while the signal stands.
    page.evaluate("() => window.Heedful.showPreferences()")
    marketing = panel(page).get_by_role("switch", name="Marketing")
    assert marketing.is_disabled() and not marketing.is_checked()


def test_gpc_header_is_honoured_by_the_server(browser, demo_url, app):
    context = browser.new_context(extra_http_headers={"Sec-GPC": "1"})
    try:
        page = context.new_page()
        page.add_init_script(ALLOW_AUTOMATION)
        open_demo(page, demo_url)
        assert page.evaluate("() => navigator.globalPrivacyControl") is not True
        body = consent_response(page, lambda: page.get_by_role("button", name="Accept all").click())
        assert body["choices"]["marketing"] is False and body["gpc"] is True
        page.wait_for_function("() => window.demoRuns.analytics === 1")
        assert "marketing" not in runs(page)
        record = server_record(app, body["consent_id"])
        assert record["gpc"] is True and record["choices"]["marketing"] is False
    finally:
        context.close()


def bump_policy(app, *, title: str = "Our privacy choices, revised") -> None:
    from app.consent.policy import update_policy
    from app.extensions import db
    from app.sites.registry import get_site

    with app.app_context():
        site = get_site("demo")
        texts = copy.deepcopy(site.current_policy.texts)
        texts["en"]["title"] = title
        update_policy(site, texts=texts)
        db.session.remove()


def test_a_policy_version_bump_brings_the_banner_back(
    banner_page, demo_url, network, browser_context, app
):
    page = banner_page
    open_demo(page, demo_url)
    consent_response(page, lambda: page.get_by_role("button", name="Accept all").click())
    page.wait_for_function("() => window.demoRuns.analytics === 1")
    open_demo(page, demo_url)
    assert banner(page).count() == 0

    bump_policy(app)
    network.requests.clear()
    # The policy is HTTP-cached for a minute; a real visitor sees the bump after that.
    browser_context.new_cdp_session(page).send("Network.clearBrowserCache")
    page.goto(demo_url)
    banner(page).wait_for()
    page.wait_for_function("() => window.Heedful.tracker !== null")
    assert page.locator("#hf-t").inner_text() == "Our privacy choices, revised"
    # Consent given to version 1 does not carry over to version 2.
    assert runs(page) == {}
    assert network.to("tracker.js") == []
    body = consent_response(page, lambda: page.get_by_role("button", name="Reject all").click())
    assert body["policy_version"] == 2
    assert consent_cookie(browser_context)["policy_version"] == 2


def test_a_stale_choice_is_asked_again(banner_page, demo_url, app):
    """The policy changed between showing the banner and the click: 409, then ask anew."""
    page = banner_page
    open_demo(page, demo_url)
    bump_policy(app, title="Changed while you looked")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/consent")) as info:
        page.get_by_role("button", name="Accept all").click()
    assert info.value.status == 409
    page.locator("#hf-t", has_text="Changed while you looked").wait_for()
    assert runs(page) == {}


@pytest.mark.parametrize("granted", [True, False], ids=["consent", "refusal"])
def test_an_expired_consent_or_refusal_brings_the_banner_back(
    granted, banner_page, demo_url, browser_context, network
):
    page = banner_page
    open_demo(page, demo_url)
    button = "Accept all" if granted else "Reject all"
    consent_response(page, lambda: page.get_by_role("button", name=button).click())
    state = consent_cookie(browser_context)
    # The server sets expires from consent_days (a grant) or refusal_days (a refusal).
    state["expires"] = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    browser_context.add_cookies(
        [{"name": COOKIE, "value": quote(json.dumps(state)), "url": demo_url}]
    )
    network.requests.clear()
    open_demo(page, demo_url)
    assert banner(page).is_visible()
    assert runs(page) == {}
    assert network.to("tracker.js") == []


@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("de", "Ihre Datenschutz-Einstellungen"),
        ("fr", "Vos choix de confidentialité"),
        ("es", "Tus opciones de privacidad"),
        ("pt", "Your privacy choices"),  # not offered: English
    ],
)
def test_texts_follow_the_page_language(lang, title, banner_page, demo_url):
    page = banner_page
    open_demo(page, f"{demo_url}?lang={lang}")
    page.locator("#hf-t", has_text=title).wait_for()
    assert page.locator(".hf").get_attribute("dir") == "ltr"


def test_right_to_left_language(banner_page, demo_url, app):
    from app.consent.policy import update_policy
    from app.extensions import db
    from app.sites.registry import get_site

    with app.app_context():
        site = get_site("demo")
        texts = copy.deepcopy(site.current_policy.texts)
        texts["ar"] = {
            "dir": "rtl",
            "title": "خيارات الخصوصية",
            "accept_all": "قبول الكل",
            "reject_all": "رفض الكل",
            "customise": "تخصيص",
        }
        update_policy(site, texts=texts)
        db.session.remove()
    page = banner_page
    open_demo(page, f"{demo_url}?lang=ar")
    page.locator("#hf-t", has_text="خيارات الخصوصية").wait_for()
    root = page.locator(".hf")
    assert root.get_attribute("dir") == "rtl" and root.get_attribute("lang") == "ar"
    # The close button mirrors to the left edge of the banner.
    box, close = banner(page).bounding_box(), page.locator(".hf-x").bounding_box()
    assert close["x"] - box["x"] < box["x"] + box["width"] - (close["x"] + close["width"])
    # Missing texts fall back to English.
    assert page.get_by_role("button", name="Save choices").count() == 0
    page.get_by_role("button", name="تخصيص").click()
    assert panel(page).get_by_role("button", name="Save choices").is_visible()


def test_automation_sees_no_banner_without_the_test_switch(page, demo_url, network):
    open_demo(page, demo_url)
    assert page.evaluate("() => navigator.webdriver") is True
    assert banner(page).count() == 0
    assert page.evaluate("() => window.Heedful.consent()") is None
    assert runs(page) == {}


def test_with_the_api_down_the_banner_shows_and_nothing_fires(
    banner_page, demo_url, network, browser_context
):
    page = banner_page
    page.route("**/api/v1/**", lambda route: route.abort())
    open_demo(page, demo_url, expect_policy=False)
    banner(page).wait_for()
    page.get_by_role("button", name="Accept all").click()
    assert not banner(page).is_visible()
    page.wait_for_timeout(300)
    assert_nothing_collected(page, network, browser_context)
    # The choice is kept locally, marked as not yet recorded; it grants nothing.
    stored = consent_cookie(browser_context)
    assert stored["pending"] == "accept_all" and not stored["consent_id"]
    assert page.evaluate("() => window.Heedful.consent()") is None
    assert consent_calls(page) == [["consent", "default", {**DENIED, "wait_for_update": 500}]]


def test_a_choice_made_offline_is_sent_when_the_api_answers(
    banner_page, demo_url, network, browser_context, app
):
    page = banner_page
    open_demo(page, demo_url)  # the policy is now cached for the next page view
    page.route("**/api/v1/**", lambda route: route.abort())
    open_demo(page, demo_url + "?offline", expect_policy=False)
    banner(page).wait_for()
    assert page.locator("#hf-t").inner_text() == "Your privacy choices"
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_timeout(300)
    assert runs(page) == {}
    assert cookie_names(browser_context) == {COOKIE}
    assert network.to("tracker.js") == [] and network.to("/collect") == []

    page.unroute("**/api/v1/**")
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/consent") and r.status == 201, timeout=15_000
    ) as info:
        pass
    body = info.value.json()
    page.wait_for_function("() => window.demoRuns.analytics === 1")
    assert server_record(app, body["consent_id"])["method"] == "accept_all"
    assert consent_cookie(browser_context)["consent_id"] == body["consent_id"]
    assert "pending" not in consent_cookie(browser_context)
