"""tracker.js keeps unsent events in localStorage and retries them, in real Chromium.

The collect endpoint is made to fail in the browser (``page.route``): 503s, refused
connections, and answers lost after the server stored the batch. Events wait in the
queue, reach the server once it recovers, and are stored exactly once (their batch ids).
A withdrawal empties the queue at once; nothing is queued before consent, and the queue
holds at most 100 events, none older than 24 hours.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from tests.browser.conftest import NetworkLog
from tests.browser.test_tracker_collection import (
    HIDE_TAB,
    choose,
    demo,  # noqa: F401 - the fixture
    recorded,
    rows,
)

pytestmark = pytest.mark.browser

COLLECT = "**/api/v1/collect"
QUEUE = "heedful_queue:demo"


def queue(page: Page) -> list[list[Any]]:
    """The tracker's queue as the browser stores it: [time, body, failures] entries."""
    return json.loads(page.evaluate(f"() => localStorage.getItem({QUEUE!r})") or "[]")


def queued_events(page: Page) -> list[dict[str, Any]]:
    return [event for _, body, _ in queue(page) for event in json.loads(body)["events"]]


def until(page: Page, check, what: str, timeout: float = 15.0) -> Any:
    """Wait for ``check``; the page's own clock lets Playwright run the route handlers
    meanwhile (a sleeping test thread would hold every routed request)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def storage_keys(page: Page) -> list[str]:
    return page.evaluate("() => Object.keys(localStorage)")


class FailingCollect:
    """Routes collect requests: ``fail`` decides per request how it fails (or None)."""

    def __init__(self, page: Page, fail) -> None:
        self.page = page
        self.fail = fail
        self.seen = 0
        self.failed = 0
        self.times: list[float] = []
        page.route(COLLECT, self.handle)

    def handle(self, route: Route) -> None:
        self.seen += 1
        self.times.append(time.monotonic())
        how = self.fail(self.seen)
        if how is None:
            route.continue_()
            return
        self.failed += 1
        origin = route.request.headers.get("origin", "*")
        if how in ("503", "429", "400"):
            status, retry_after = int(how), {"503": "1", "429": "3"}.get(how)
            route.fulfill(
                status=status,
                content_type="application/json",
                headers={"Access-Control-Allow-Origin": origin}
                | ({"Retry-After": retry_after} if retry_after else {}),
                body='{"error": "no"}',
            )
        elif how == "refused":
            route.abort("connectionrefused")
        elif how == "lost":
            # The server stores the batch, but the answer never reaches the page.
            route.fetch()
            route.abort("connectionreset")
        else:
            raise AssertionError(how)

    def heal(self) -> None:
        self.fail = lambda _: None


def each_stored_once(app, network: NetworkLog) -> Counter:
    """Every batch the page sent (one event each), however often, is stored exactly once."""
    sent = [json.loads(r.post_data) for r in network.to("/api/v1/collect")]
    batches = {body["batch"] for body in sent}
    assert all(len(body["events"]) == 1 for body in sent)
    assert len(sent) > len(batches)  # some were sent more than once
    events = rows(app)
    assert len(events) == len(batches)
    return Counter((e.type, e.path) for e in events)


@pytest.mark.parametrize("how", ["503", "refused"])
def test_events_wait_out_an_outage_and_are_stored_once(app, page, network, demo, how):  # noqa: F811
    outage = FailingCollect(page, lambda _: how)
    choose(page, demo, "Accept all")
    until(page, lambda: outage.failed >= 1, "the first failed send")
    page.click("#demo-spa")
    page.wait_for_url("**/demo/spa/details")
    with page.expect_download():
        page.click("#demo-download")
    until(page, lambda: len(queued_events(page)) >= 4, "four queued events")
    kinds = sorted(e["type"] for e in queued_events(page))
    assert kinds == ["download", "engagement", "pageview", "pageview"]
    assert rows(app) == []
    until(page, lambda: outage.failed >= 6, "retries during the outage", timeout=20)
    assert rows(app) == [] and len(queue(page)) == 4
    outage.heal()
    until(page, lambda: queue(page) == [], "the queue to drain", timeout=30)
    counts = each_stored_once(app, network)
    assert counts[("pageview", "/demo")] == counts[("pageview", "/demo/spa/details")] == 1
    assert counts[("download", "/demo/spa/details")] == 1
    assert QUEUE not in storage_keys(page)


def test_an_answer_lost_after_storing_is_retried_and_stored_once(
    app,
    page,
    network: NetworkLog,
    demo,  # noqa: F811
):
    lossy = FailingCollect(page, lambda n: "lost" if n <= 3 else None)
    choose(page, demo, "Accept all")
    until(page, recorded(app, "pageview", "/demo"), "the stored page view")
    page.click("#demo-spa")
    page.wait_for_url("**/demo/spa/details")
    until(page, lambda: lossy.seen > 3 and queue(page) == [], "the retries", timeout=30)
    page.wait_for_timeout(500)
    counts = each_stored_once(app, network)
    assert counts[("pageview", "/demo")] == counts[("pageview", "/demo/spa/details")] == 1


def test_a_429_is_retried_no_sooner_than_retry_after(app, page, demo):  # noqa: F811
    limited = FailingCollect(page, lambda n: "429" if n == 1 else None)
    choose(page, demo, "Accept all")
    until(page, recorded(app, "pageview", "/demo"), "the page view, sent again")
    assert limited.seen == 2 and limited.times[1] - limited.times[0] >= 3.0
    until(page, lambda: queue(page) == [], "the queue to drain")


def test_another_4xx_drops_the_batch_for_good(app, page, network, demo):  # noqa: F811
    FailingCollect(page, lambda n: "400" if n == 1 else None)
    choose(page, demo, "Accept all")
    until(page, lambda: len(network.to("/api/v1/collect")) == 1, "the refused send")
    page.evaluate("() => dispatchEvent(new Event('online'))")  # a retry would go now
    page.wait_for_timeout(1500)
    assert queue(page) == [] and len(network.to("/api/v1/collect")) == 1
    assert rows(app) == []


def test_events_left_by_a_page_are_sent_by_the_next_one(app, page, network, demo):  # noqa: F811
    outage = FailingCollect(page, lambda _: "refused")
    choose(page, demo, "Accept all")
    until(page, lambda: len(queue(page)) == 1 and outage.failed >= 1, "the queued page view")
    outage.heal()
    page.route(COLLECT, lambda route: route.continue_())  # recovery, on the next page
    page.goto(demo + "/search?q=boots")
    until(page, recorded(app, "pageview", "/demo/search"), "the next page's view")
    until(page, recorded(app, "pageview", "/demo"), "the first page's view, sent again")
    until(page, lambda: queue(page) == [], "the queue to drain")
    each_stored_once(app, network)


def test_withdrawal_clears_the_queue_and_nothing_more_is_sent(
    app,
    page,
    network: NetworkLog,
    demo,  # noqa: F811
):
    outage = FailingCollect(page, lambda _: "503")
    choose(page, demo, "Accept all")
    page.click("#demo-spa")
    page.wait_for_url("**/demo/spa/details")
    until(page, lambda: len(queue(page)) >= 2, "queued events")
    page.evaluate("() => window.Heedful.showPreferences()")
    with page.expect_response(lambda r: r.url.endswith("/withdraw")):
        page.get_by_role("button", name="Withdraw consent").click()
    # The banner tells the tracker once it has read the answer.
    until(page, lambda: QUEUE not in storage_keys(page), "the queue to be cleared", timeout=5)
    sent = len(network.to("/api/v1/collect"))
    outage.heal()
    page.keyboard.press("Escape")
    with page.expect_download():
        page.click("#demo-download")
    page.evaluate(HIDE_TAB)
    page.evaluate("() => dispatchEvent(new Event('online'))")
    page.wait_for_timeout(4000)  # longer than the next retry would have waited
    assert len(network.to("/api/v1/collect")) == sent
    assert QUEUE not in storage_keys(page)
    assert rows(app) == []


def test_nothing_is_stored_in_the_browser_before_consent_or_after_refusal(
    app,
    page,
    demo,  # noqa: F811
):
    with page.expect_response(lambda r: "/policy" in r.url):
        page.goto(demo)
    # The banner's cache of the policy texts is all there is: no queue, nothing per visitor.
    assert storage_keys(page) == ["heedful_policy:demo:en"]
    with page.expect_response(lambda r: r.url.endswith("/api/v1/consent")):
        page.get_by_role("button", name="Reject all", exact=True).click()
    page.click("#demo-spa")
    page.wait_for_url("**/demo/spa/details")
    page.wait_for_timeout(500)
    assert storage_keys(page) == ["heedful_policy:demo:en"]


def test_a_page_without_analytics_consent_removes_a_queue_left_behind(
    app,
    page,
    demo,  # noqa: F811
):
    """A queue from a stale tab, or from before consent expired, never outlives the grant:
    the banner removes it on any page where analytics is not granted, before a choice too."""
    with page.expect_response(lambda r: "/policy" in r.url):
        page.goto(demo)
    page.evaluate("(key) => localStorage.setItem(key, '[]')", QUEUE)
    with page.expect_response(lambda r: "/policy" in r.url):
        page.reload()
    until(page, lambda: QUEUE not in storage_keys(page), "the leftover queue to go", timeout=5)
    assert storage_keys(page) == ["heedful_policy:demo:en"]


def test_the_queue_holds_at_most_100_events_none_older_than_a_day(
    app,
    page,
    demo,  # noqa: F811
):
    FailingCollect(page, lambda _: "refused")
    choose(page, demo, "Accept all")
    until(page, lambda: len(queue(page)) == 1, "the queued page view")
    consent_id = page.evaluate("() => window.Heedful.consent().consent_id")

    def entry(age_ms: float, path: str) -> list[Any]:
        body = {
            "site": "demo",
            "consent_id": consent_id,
            "batch": secrets.token_urlsafe(16),
            "events": [{"type": "pageview", "url": demo.replace("/demo", path)}],
        }
        return [time.time() * 1000 - age_ms, json.dumps(body), 0]

    day = 24 * 3600 * 1000
    seeded = [entry(day + 60_000, "/demo/too-old"), entry(day - 60_000, "/demo/old")]
    page.evaluate(
        "([key, extra]) => localStorage.setItem(key,"
        " JSON.stringify(extra.concat(JSON.parse(localStorage.getItem(key)))))",
        [QUEUE, seeded],
    )
    # 120 in-page navigations while the collector is unreachable.
    page.evaluate(
        "() => { for (let i = 0; i < 120; i++) history.pushState({}, '', '/demo/spa/n' + i); }"
    )
    until(page, lambda: any(e["url"].endswith("/n119") for e in queued_events(page)), "the last")
    entries = queue(page)
    assert len(entries) == 100
    paths = [json.loads(body)["events"][0]["url"] for _, body, _ in entries]
    assert paths[-1].endswith("/demo/spa/n119")
    assert not any(p.endswith(("/too-old", "/old", "/demo")) for p in paths)  # the oldest go

    # Without the flood, a day-old entry is still sent and an older one is not.
    page.evaluate(f"() => localStorage.setItem({QUEUE!r}, JSON.stringify([]))")
    page.evaluate(
        "([key, extra]) => localStorage.setItem(key, JSON.stringify(extra))", [QUEUE, seeded]
    )
    page.unroute(COLLECT)
    page.evaluate("() => history.pushState({}, '', '/demo/spa/after')")
    until(page, recorded(app, "pageview", "/demo/spa/after"), "the new page view")
    until(page, recorded(app, "pageview", "/demo/old"), "the day-old page view")
    until(page, lambda: queue(page) == [], "the queue to drain")
    assert recorded(app, "pageview", "/demo/too-old")() == []
