"""Every metric's definition on hand-made data, read from raw events and from the rollups
(a rollup run never changes a figure)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask

from app.reporting import rollup, service
from app.reporting.channels import visit_source
from tests.reporting.helpers import DAY, at, event, query, snapshot, store

OWN = ("example.com",)


def _day_of_visits(site_id: int) -> list[dict[str, Any]]:
    return [
        # A: search, three page views over 5 minutes, 30 s engaged on /pricing.
        event(at(DAY, 10), "A", "a1", path="/", referrer="https://www.google.com"),
        event(at(DAY, 10, 2), "A", "a1", path="/pricing"),
        event(at(DAY, 10, 3), "A", "a1", "engagement", "/pricing", engaged_ms=30_000),
        event(at(DAY, 10, 5), "A", "a1", path="/signup", country="DE", browser="Firefox"),
        # B: an email campaign, one page view (a bounce), 10 s engaged, 60 s long.
        event(
            at(DAY, 11),
            "B",
            "b1",
            path="/pricing",
            query="utm_source=news&utm_medium=email&utm_campaign=spring",
            country="FR",
        ),
        event(at(DAY, 11, 1), "B", "b1", "engagement", "/pricing", engaged_ms=10_000),
        # C: twice; from social with a download (bounce, 30 s), then direct (bounce, 0 s).
        event(at(DAY, 12), "C", "c1", path="/", referrer="https://t.co", country="DE"),
        event(at(DAY, 12, 0, 30), "C", "c1", "download", "/", target="https://example.com/a.pdf"),
        event(at(DAY, 15), "C", "c2", path="/", country="DE"),
        # D: another site's link, then a page of the site itself (not a referral).
        event(at(DAY, 16), "D", "d1", path="/", referrer="https://blog.example.org"),
        event(at(DAY, 16, 1), "D", "d1", path="/", referrer="https://www.example.com"),
    ]


@pytest.fixture
def day_site(app: Flask, site: str) -> int:
    with app.app_context():
        site_id = snapshot(site).id
    store(app, site_id, _day_of_visits(site_id))
    return site_id


def _reports(app: Flask, site_key: str) -> dict[str, Any]:
    with app.app_context():
        found = snapshot(site_key)
        one = query(DAY, limit=100)
        return {
            "overview": service.overview(found, one),
            **{d: _rows(service.breakdown(found, one, d)) for d in _DIMENSIONS},
        }


_DIMENSIONS = ("page", "entry_page", "exit_page", "channel", "referrer", "search_engine")
_DIMENSIONS += ("campaign", "download", "country", "browser")


def _rows(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["value"]: row for row in found["rows"]}


@time_machine.travel(at(DAY + timedelta(days=1), 12), tick=False)
def test_metric_definitions_from_raw_and_from_rollups(app: Flask, site: str, day_site: int):
    raw = _reports(app, site)
    with app.app_context():
        rollup.bring_up_to_date()
        assert rollup.final_through(snapshot(site)) == DAY
    rolled = _reports(app, site)
    assert rolled == raw

    top = raw["overview"]
    assert {k: top[k] for k in ("visitors", "visits", "pageviews", "downloads")} == {
        "visitors": 4,
        "visits": 5,
        "pageviews": 8,
        "downloads": 1,
    }
    assert top["bounce_rate"] == 0.6  # b1, c1, c2: exactly one page view each
    assert top["visit_duration_s"] == 90.0  # (300 + 60 + 30 + 0 + 60) / 5
    assert top["views_per_visit"] == 1.6

    pricing = raw["page"]["/pricing"]
    assert (pricing["pageviews"], pricing["visitors"]) == (2, 2)
    assert pricing["time_on_page_s"] == 20.0  # 40 s engaged over 2 views
    assert {v: r["entries"] for v, r in raw["entry_page"].items()} == {"/": 4, "/pricing": 1}
    assert {v: r["exits"] for v, r in raw["exit_page"].items()} == {
        "/": 3,
        "/pricing": 1,
        "/signup": 1,
    }
    assert raw["entry_page"]["/pricing"]["bounce_rate"] == 1.0
    assert {v: r["visits"] for v, r in raw["channel"].items()} == {
        "search": 1,
        "email": 1,
        "social": 1,
        "direct": 1,
        "referral": 1,
    }
    assert set(raw["referrer"]) == {"google.com", "t.co", "blog.example.org"}
    assert set(raw["search_engine"]) == {"Google"}
    assert set(raw["campaign"]) == {"news / email / spring"}
    assert raw["download"]["https://example.com/a.pdf"]["events"] == 1
    # Place and device come from the visit's first event.
    assert {v: r["visits"] for v, r in raw["country"].items()} == {"DE": 2, "FR": 1}
    assert raw["browser"] == {}


@pytest.mark.parametrize(
    ("query_string", "referrer", "channel"),
    [
        (None, None, "direct"),
        (None, "https://www.bing.com", "search"),
        (None, "https://duckduckgo.com", "search"),
        (None, "https://www.facebook.com", "social"),
        (None, "https://news.ycombinator.com", "social"),
        (None, "https://mail.google.com", "email"),
        ("utm_medium=email&utm_source=weekly", None, "email"),
        ("utm_source=fb&utm_campaign=spring", "https://www.facebook.com", "campaign"),
        ("utm_medium=cpc", "https://www.google.com", "campaign"),
        (None, "https://someone.example.net", "referral"),
        (None, "https://shop.example.com", "direct"),  # the site's own domain
    ],
)
def test_channels(query_string: str | None, referrer: str | None, channel: str):
    assert visit_source(query_string, referrer, OWN).channel == channel


def test_sources_name_the_referrer_engine_and_campaign():
    found = visit_source("utm_source=news&utm_campaign=may", "https://www.bing.com", OWN)
    assert (found.referrer, found.search_engine, found.campaign) == (
        "bing.com",
        "Bing",
        "news / may",
    )
    assert visit_source(None, "https://shop.example.com", OWN).referrer is None
