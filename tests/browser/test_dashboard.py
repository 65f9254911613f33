"""Real Chromium on the marketing dashboard: sign in, pick a site and a range, see each
chart drawn, filter by a country row, download a CSV, and axe finds nothing serious."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests import test_dashboard_pages as pages
from tests.browser.test_security_headers_browser import Console
from tests.helpers import add_user, fast_argon2  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("fast_argon2")]

# Shared fixtures, re-exported so pytest finds them in this module.
geo_files = pages.geo_files
located = pages.located

MARKETER = "dashboard-marketer@example.com"
PASSWORD = "correct horse 1"
AXE = Axe()  # bundles axe-core: runs offline
SERIOUS = {"serious", "critical"}
# Whether a chart's canvas holds drawn pixels (Chart.js draws on a transparent canvas).
CANVAS_DRAWN = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return true; }
  return false;
}"""


def serious_violations(page: Page) -> list[str]:
    results = AXE.run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def panel_values(page: Page, dimension: str) -> list[str]:
    rows = page.locator(f'table[data-dimension="{dimension}"] tbody th[scope="row"]')
    return [text.strip() for text in rows.all_inner_texts()]


def assert_charts_drawn(page: Page) -> None:
    holders = page.locator(".chart[data-for]")
    assert holders.count() == 2  # the time series and the consent decisions
    for index in range(holders.count()):
        holder = holders.nth(index)
        canvas = holder.locator("canvas")
        canvas.wait_for()
        assert holder.get_attribute("data-drawn") == "true"
        assert canvas.evaluate("c => c.width > 0 && c.height > 0")
        assert canvas.evaluate(CANVAS_DRAWN), holder.get_attribute("data-for")


@pytest.fixture
def signed_in(located, live_server, site, page: Page) -> Console:
    pages.seed_traffic(located, site)
    return sign_in(located, live_server, page)


def sign_in(app, live_server, page: Page) -> Console:
    """As a marketer, through the login form, landing on the dashboard; the console
    records every Content-Security-Policy violation from here on."""
    watched = Console(page)
    add_user(app, MARKETER, "marketing", PASSWORD)
    page.goto(live_server.url + "/admin/login?next=/admin/dashboard/")
    page.get_by_label("Email").fill(MARKETER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/dashboard/")
    return watched


def test_a_marketer_reads_filters_and_downloads(signed_in: Console, site: str, tmp_path: Path):
    page = signed_in.page
    page.get_by_label("Site", exact=True).select_option(site)
    page.get_by_role("button", name="Show site").click()
    page.get_by_role("link", name="7 days").click()
    page.wait_for_url(lambda url: "period=7d" in url)
    assert page.get_by_role("link", name="7 days").get_attribute("aria-current") == "page"
    assert_charts_drawn(page)
    assert sorted(panel_values(page, "country")) == ["🇩🇪 DE", "🇫🇷 FR", "🇬🇧 GB"]
    # The chart's data is a table for screen readers, shown on request.
    series = page.locator("#series-table")
    assert series.evaluate("t => t.classList.contains('visually-hidden')")
    assert series.locator("tbody tr").count() == 7
    assert serious_violations(page) == []

    # One day is charted by the hour.
    page.get_by_role("link", name="Today").click()
    page.wait_for_url(lambda url: "period=day" in url)
    assert page.locator("#chart-heading").inner_text() == "Visitors per hour"
    assert page.locator("#series-table tbody tr").count() == 24
    assert_charts_drawn(page)
    page.get_by_role("link", name="7 days").click()
    page.wait_for_url(lambda url: "period=7d" in url)

    # Another metric switches the chart.
    page.locator(".figures").get_by_role("link", name="Page views").click()
    page.wait_for_url(lambda url: "metric=pageviews" in url)
    assert page.locator("#chart-heading").inner_text() == "Page views per day"
    assert_charts_drawn(page)

    # A country row filters every panel, and the filter lives in the URL.
    page.locator('table[data-dimension="country"]').get_by_role("link", name="DE").click()
    page.wait_for_url(lambda url: "filters=country" in url)
    query = parse_qs(urlsplit(page.url).query)
    assert query["filters"] == ["country==DE"] and query["period"] == ["7d"]
    assert page.locator(".chip").inner_text().startswith("Country = DE")
    assert panel_values(page, "country") == ["🇩🇪 DE"]
    assert sorted(panel_values(page, "page")) == ["/", "/pricing"]
    assert panel_values(page, "browser") == ["Chrome"]
    visitors = page.locator(".figures li").first.locator("data")
    assert visitors.get_attribute("value") == "1"
    assert_charts_drawn(page)
    assert serious_violations(page) == []

    # The page table's CSV: the same rows, with the filter applied.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV of top pages").click()
    saved = tmp_path / "pages.csv"
    download.value.save_as(saved)
    with saved.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0][:2] == ["value", "visitors"]
    assert sorted((row[0], row[1]) for row in rows[1:]) == [("/", "1"), ("/pricing", "1")]

    # A details page lists the whole breakdown, under the same filter.
    page.get_by_role("link", name="All countries").click()
    page.wait_for_url(lambda url: "/details/country" in url)
    assert panel_values(page, "country") == ["🇩🇪 DE"]
    assert serious_violations(page) == []
    page.go_back()

    # The chip removes the filter again.
    page.get_by_role("link", name="Remove filter Country = DE").click()
    page.wait_for_url(lambda url: "filters" not in parse_qs(urlsplit(url).query))
    assert len(panel_values(page, "country")) == 3
    # Chart.js and the page script ran under the strict policy without a violation.
    assert signed_in.violations() == []


def test_an_empty_site_offers_its_snippet(app, live_server, site, page: Page):
    watched = sign_in(app, live_server, page)
    assert page.get_by_role("heading", name="No data yet").is_visible()
    assert 'data-site="testsite"' in page.locator("#embed-snippet").inner_text()
    assert page.get_by_role("button", name="Copy the snippet").is_visible()
    assert serious_violations(page) == []
    assert watched.violations() == []


def test_figures_and_dates_follow_the_readers_locale(located, live_server, site, browser):
    pages.seed_traffic(located, site)
    context = browser.new_context(locale="de-DE")
    try:
        page = context.new_page()
        sign_in(located, live_server, page)
        page.goto(live_server.url + f"/admin/dashboard/?site={site}&period=7d")
        per_visit = page.locator(".figures li", has_text="Views per visit").locator("data")
        # 5 page views over 3 visits: 1.67 in English, 1,67 in German.
        assert per_visit.get_attribute("value").startswith("1.6")
        assert per_visit.inner_text().startswith("1,6")
        first_day = page.locator(".period time").first
        # German day.month.year ("01.12.2026"), not the server's ISO "2026-12-01".
        year, month, day = first_day.get_attribute("datetime").split("-")
        assert re.fullmatch(
            rf"0?{int(day)}\.( ?\w+\.?|0?{int(month)}\.) ?{year}", first_day.inner_text()
        )
    finally:
        context.close()
