"""WCAG 2.2 AA: axe-core, focus handling, reflow, reduced motion, no layout shift."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser import test_banner_support as support
from tests.browser.test_banner_support import (
    ALLOW_AUTOMATION,
    GPC_ON,
    banner,
    consent_response,
    open_demo,
    panel,
)

pytestmark = pytest.mark.browser

# Shared fixtures, re-exported so pytest finds them in this module.
banner_page = support.banner_page

demo_url = support.demo_url

gpc_page = support.gpc_page

AXE = Axe()  # bundles axe-core: runs offline
SERIOUS = {"serious", "critical"}
IN_DIALOG = "() => !!document.activeElement.closest('.hf-p')"


def serious_violations(page, selector: str) -> list[str]:
    results = AXE.run(page, context={"include": [[selector]]})
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("gpc", [False, True], ids=["plain", "gpc"])
def test_axe_finds_nothing_serious_on_the_banner_or_the_panel(gpc, browser_context, demo_url):
    page = browser_context.new_page()
    page.add_init_script(ALLOW_AUTOMATION)
    if gpc:
        page.add_init_script(GPC_ON)
    open_demo(page, demo_url)
    assert serious_violations(page, ".hf-b") == []
    page.get_by_role("button", name="Reject all").click()
    page.wait_for_function("() => window.Heedful.consent() !== null")
    # The panel with everything on it: switches, notice, the self-service buttons.
    page.evaluate("() => window.Heedful.showPreferences()")
    panel(page).get_by_role("button", name="Delete my data").wait_for()
    assert serious_violations(page, ".hf-p") == []
    # and the floating button
    page.keyboard.press("Escape")
    assert serious_violations(page, ".hf-f") == []


def test_focus_moves_in_is_trapped_and_returns(banner_page, demo_url):
    page = banner_page
    open_demo(page, demo_url)
    assert page.evaluate("() => document.activeElement.matches('.hf-b[role=dialog]')")
    customise = banner(page).get_by_role("button", name="Customise")
    customise.focus()
    page.keyboard.press("Enter")
    assert panel(page).get_attribute("aria-modal") == "true"
    assert page.evaluate(IN_DIALOG)
    for key in ["Tab"] * 14 + ["Shift+Tab"] * 14:
        page.keyboard.press(key)
        assert page.evaluate(IN_DIALOG), f"focus escaped the panel after {key}"
    page.keyboard.press("Escape")
    assert panel(page).count() == 0
    assert page.evaluate("() => document.activeElement.dataset.a") == "c"
    assert banner(page).is_visible()  # no choice was made: the banner stays

    # Reopened from the page, focus returns to the page's own button.
    page.get_by_role("button", name="Reject all").click()
    page.wait_for_function("() => window.Heedful.consent() !== null")
    opener = page.get_by_role("button", name="Change my privacy choices")
    opener.focus()
    page.keyboard.press("Enter")
    assert page.evaluate(IN_DIALOG)
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement.id") == "open-preferences"


def test_keyboard_focus_is_visible(banner_page, demo_url):
    page = banner_page
    open_demo(page, demo_url)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
             return [document.activeElement.textContent, s.outlineStyle, s.outlineWidth]; }"""
    )
    assert outline == ["Accept all", "solid", "3px"]


@pytest.mark.parametrize(
    ("width", "height", "scale"),
    [(320, 640, 1), (640, 360, 2)],
    ids=["320px", "1280px-at-200%"],
)
def test_layout_holds_when_narrow_or_zoomed(width, height, scale, browser, demo_url):
    context = browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=scale,
        reduced_motion="reduce",  # measure the settled layout, not a frame of the slide-in
    )
    try:
        page = context.new_page()
        page.add_init_script(ALLOW_AUTOMATION)
        open_demo(page, demo_url)
        no_overflow = "() => document.documentElement.scrollWidth <= window.innerWidth"
        for selector in (".hf-b", ".hf-p"):
            if selector == ".hf-p":
                page.get_by_role("button", name="Customise").click()
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["y"] >= 0 and box["y"] + box["height"] <= height
            assert page.evaluate(no_overflow)
            for button in page.locator(selector).locator("button").all():
                button.scroll_into_view_if_needed()
                b = button.bounding_box()
                assert b["x"] >= 0 and b["x"] + b["width"] <= width, button.inner_text()
                assert b["y"] >= 0 and b["y"] + b["height"] <= height, button.inner_text()
    finally:
        context.close()


@pytest.mark.parametrize(("motion", "animation"), [("reduce", "none"), ("no-preference", "hf-in")])
def test_motion_follows_the_visitors_preference(motion, animation, banner_page, demo_url):
    page = banner_page
    page.emulate_media(reduced_motion=motion)
    open_demo(page, demo_url)
    assert banner(page).evaluate("e => getComputedStyle(e).animationName") == animation


SHIFT_PROBE = """
window.__hf = {shift: 0, shifts: 0};
new PerformanceObserver(list => {
  for (const e of list.getEntries()) { __hf.shift += e.value; __hf.shifts += 1; }
}).observe({type: 'layout-shift', buffered: true});
new MutationObserver((records, observer) => {
  if (document.querySelector('.hf-b')) {
    __hf.bannerState = document.readyState;
    __hf.bannerAt = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
document.addEventListener('DOMContentLoaded', () => { __hf.dclAt = performance.now(); });
"""


def test_banner_is_in_place_by_domcontentloaded_and_shifts_nothing(banner_page, demo_url):
    """The banner does not wait for the network, so it is up when DOMContentLoaded fires
    (the milliseconds are measured by ``make bench``); it never shifts the page."""
    page = banner_page
    page.add_init_script(SHIFT_PROBE)
    open_demo(page, demo_url)
    probe = page.evaluate("() => window.__hf")
    assert probe["bannerState"] == "interactive"
    assert probe["bannerAt"] <= probe["dclAt"]
    assert banner(page).is_visible()
    # Reopen, close, choose: still no shift anywhere on the page.
    page.get_by_role("button", name="Customise").click()
    page.keyboard.press("Escape")
    consent_response(page, lambda: page.get_by_role("button", name="Accept all").click())
    page.wait_for_function("() => window.demoRuns.analytics === 1")
    page.evaluate("() => window.Heedful.showPreferences()")
    page.keyboard.press("Escape")
    page.wait_for_timeout(100)  # let the observer deliver its last entries
    probe = page.evaluate("() => window.__hf")
    assert probe["shift"] == 0 and probe["shifts"] == 0
