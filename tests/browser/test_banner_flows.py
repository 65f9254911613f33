"""The banner's flows, each with the mouse and by keyboard alone, checked on the network log,
the cookies, the gated scripts and the server of record."""

from __future__ import annotations

import json

import pytest

from tests.browser import test_banner_support as support
from tests.browser.test_banner_support import (
    COOKIE,
    after_event,
    assert_nothing_collected,
    banner,
    collector_requests,
    consent_calls,
    consent_cookie,
    consent_response,
    cookie_names,
    open_demo,
    panel,
    press,
    runs,
    server_record,
    toggle,
    tracker_requests,
)

pytestmark = pytest.mark.browser

# Shared fixtures, re-exported so pytest finds them in this module.
banner_page = support.banner_page

demo_url = support.demo_url

MODES = ("mouse", "keyboard")


def test_before_any_choice_nothing_runs_and_nothing_is_ticked(
    banner_page, demo_url, network, browser_context
):
    page = banner_page
    open_demo(page, demo_url)
    dialog = banner(page)
    assert dialog.is_visible()
    assert dialog.get_attribute("aria-labelledby") == "hf-t"
    assert page.locator("#hf-t").inner_text() == "Your privacy choices"
    buttons = dialog.locator(".hf-a button")
    assert buttons.all_inner_texts() == ["Accept all", "Reject all", "Customise"]
    # Equal prominence: the three buttons share one style and one size.
    styles = buttons.evaluate_all(
        """bs => bs.map(b => { const s = getComputedStyle(b);
             return [s.backgroundColor, s.color, s.fontSize, s.fontWeight, s.borderWidth,
                     b.getBoundingClientRect().height]; })"""
    )
    assert all(s == styles[0] for s in styles)
    page.get_by_role("button", name="Customise").click()
    switches = panel(page).get_by_role("switch")
    checked = {s.get_attribute("name"): s.is_checked() for s in switches.all()}
    assert checked == {
        "necessary": True,
        "analytics": False,
        "marketing": False,
        "preferences": False,
    }
    assert panel(page).get_by_role("switch", name="Necessary").is_disabled()
    assert_nothing_collected(page, network, browser_context)
    assert page.evaluate("() => window.Heedful.consent()") is None


@pytest.mark.parametrize("mode", MODES)
def test_accept_all_runs_each_gated_script_once_and_loads_the_tracker(
    mode, banner_page, demo_url, network, browser_context, app
):
    page = banner_page
    open_demo(page, demo_url)
    assert_nothing_collected(page, network, browser_context)
    body = consent_response(page, lambda: press(page, mode, "Accept all"))
    page.wait_for_function("() => Object.keys(window.demoRuns).length === 3")
    assert runs(page) == {"analytics": 1, "marketing": 1, "preferences": 1}
    assert not banner(page).is_visible()
    assert server_record(app, body["consent_id"])["choices"] == {
        "necessary": True,
        "analytics": True,
        "marketing": True,
        "preferences": True,
    }
    stored = consent_cookie(browser_context)
    assert set(stored) == {"consent_id", "policy_version", "choices", "expires"}
    assert stored["consent_id"] == body["consent_id"]
    page.wait_for_function(
        "() => document.querySelector('script[src$=\"/static/consent-banner/tracker.js\"]')"
    )
    tracker = page.locator('script[src$="/static/consent-banner/tracker.js"]')
    assert tracker.count() == 1
    assert tracker.get_attribute("data-site") == "demo"
    # Saving the same choice again re-applies consent: nothing runs a second time.
    page.evaluate("() => window.Heedful.showPreferences()")
    consent_response(page, lambda: page.get_by_role("button", name="Save choices").click())
    assert runs(page) == {"analytics": 1, "marketing": 1, "preferences": 1}
    assert tracker.count() == 1

    # The next page view applies the stored consent at once, and asks nothing.
    network.requests.clear()
    open_demo(page, demo_url)
    page.wait_for_function("() => Object.keys(window.demoRuns).length === 3")
    assert runs(page) == {"analytics": 1, "marketing": 1, "preferences": 1}
    assert banner(page).count() == 0
    assert network.to("/api/v1/consent") == []


@pytest.mark.parametrize("mode", MODES)
def test_reject_all_runs_nothing_and_records_the_refusal(
    mode, banner_page, demo_url, network, browser_context, app
):
    page = banner_page
    open_demo(page, demo_url)
    body = consent_response(page, lambda: press(page, mode, "Reject all"))
    page.wait_for_function("() => window.Heedful.consent() !== null")
    assert server_record(app, body["consent_id"])["choices"] == {
        "necessary": True,
        "analytics": False,
        "marketing": False,
        "preferences": False,
    }
    assert not banner(page).is_visible()
    assert_nothing_collected(page, network, browser_context)
    assert cookie_names(browser_context) == {COOKIE}
    open_demo(page, demo_url)
    assert banner(page).count() == 0
    assert_nothing_collected(page, network, browser_context)


@pytest.mark.parametrize("mode", MODES)
def test_customise_grants_only_the_chosen_category(
    mode, banner_page, demo_url, network, browser_context, app
):
    page = banner_page
    open_demo(page, demo_url)
    press(page, mode, "Customise")
    assert panel(page).is_visible()
    toggle(page, mode, "Preferences")
    body = consent_response(page, lambda: press(page, mode, "Save choices"))
    assert body["choices"]["preferences"] is True
    assert body["choices"]["analytics"] is False
    page.wait_for_function("() => window.demoRuns.preferences === 1")
    assert server_record(app, body["consent_id"])["method"] == "custom"
    # Analytics is still refused: no tracker, no collector, no extra cookie.
    assert collector_requests(network) == []
    assert tracker_requests(network) == []
    assert cookie_names(browser_context) == {COOKIE}
    assert runs(page) == {"preferences": 1}
    assert not panel(page).is_visible() and not banner(page).is_visible()

    # Then granting analytics as well loads the tracker and runs only the new script.
    press(page, mode, "Privacy settings")
    toggle(page, mode, "Analytics")
    consent_response(page, lambda: press(page, mode, "Save choices"))
    page.wait_for_function("() => window.demoRuns.analytics === 1")
    assert runs(page) == {"preferences": 1, "analytics": 1}
    assert len(tracker_requests(network)) == 1


@pytest.mark.parametrize("mode", MODES)
def test_reopen_and_withdraw(mode, banner_page, demo_url, network, browser_context, app):
    page = banner_page
    open_demo(page, demo_url)
    body = consent_response(page, lambda: press(page, mode, "Accept all"))
    page.wait_for_function("() => window.demoRuns.analytics === 1")
    events = page.evaluate_handle(
        """() => { const seen = [];
             document.addEventListener('heedful:consent', e => seen.push(e.detail));
             return seen; }"""
    )
    # The small floating button reopens the panel, showing the recorded choice.
    fab = page.locator(".hf-f")
    assert fab.is_visible()
    press(page, mode, "Privacy settings")
    assert panel(page).is_visible()
    assert panel(page).get_by_role("switch", name="Analytics").is_checked()
    with page.expect_response(lambda r: r.url.endswith("/withdraw")) as info:
        press(page, mode, "Withdraw consent")
    assert info.value.status == 200
    page.wait_for_function("() => window.Heedful.consent().choices.analytics === false")
    detail = events.json_value()[-1]
    assert detail["consent_id"] == body["consent_id"]
    assert not any(v for k, v in detail["choices"].items() if k != "necessary")
    assert server_record(app, body["consent_id"])["status"] == "withdrawn"
    assert consent_cookie(browser_context)["choices"]["analytics"] is False
    calls = consent_calls(page)
    assert calls[-1][1] == "update" and calls[-1][2]["analytics_storage"] == "denied"
    assert not panel(page).is_visible()

    # From the next page on nothing runs and nothing is collected.
    network.requests.clear()
    open_demo(page, demo_url)
    assert banner(page).count() == 0
    assert_nothing_collected(page, network, browser_context)


@pytest.mark.parametrize("mode", MODES)
def test_download_my_data(mode, banner_page, demo_url, browser_context):
    page = banner_page
    open_demo(page, demo_url)
    body = consent_response(page, lambda: press(page, mode, "Reject all"))
    page.evaluate("() => window.Heedful.showPreferences()")
    with page.expect_download() as info:
        press(page, mode, "Download my data")
    download = info.value
    assert download.suggested_filename == "heedful-my-data.json"
    with open(download.path(), encoding="utf-8") as handle:
        data = json.load(handle)
    assert data["consent_id"] == body["consent_id"]
    assert data["data"]["consent_records"][0]["method"] == "reject_all"


@pytest.mark.parametrize("mode", MODES)
def test_delete_my_data(mode, banner_page, demo_url, network, browser_context, app):
    page = banner_page
    open_demo(page, demo_url)
    body = consent_response(page, lambda: press(page, mode, "Reject all"))
    page.evaluate(
        """() => { window.seen = [];
             document.addEventListener('heedful:consent', e => window.seen.push(e.detail)); }"""
    )
    page.evaluate("() => window.Heedful.showPreferences()")
    with page.expect_response(
        lambda r: r.url.endswith("/data") and r.request.method == "DELETE"
    ) as info:
        after_event(page, lambda: press(page, mode, "Delete my data"))
    assert info.value.json()["deleted"]["consent_records"] >= 1
    status = panel(page).get_by_role("status")
    assert status.inner_text() == "Your data was deleted."
    assert page.evaluate("() => window.seen") == [None]
    assert page.evaluate("() => window.Heedful.consent()") is None
    assert server_record(app, body["consent_id"]) is None
    assert consent_cookie(browser_context) is None
    # Nothing is left to manage, so the panel drops the self-service buttons.
    assert panel(page).get_by_role("button", name="Delete my data").count() == 0
    # No consent is left: closing the panel asks again.
    page.keyboard.press("Escape")
    assert banner(page).is_visible()
    assert_nothing_collected(page, network, browser_context)
