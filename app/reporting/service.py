"""The report service: what the reports API and the dashboard show, as plain dicts.

Unfiltered figures come from the rollups for finished days and from raw events for the
rest; filtered ones from raw events (``app.reporting.ranges``). The metrics are defined
once, in ``app.reporting.facts``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from app.clock import utcnow
from app.errors import bad_request
from app.extensions import db
from app.models import Site
from app.reporting.consent_coverage import consent_coverage
from app.reporting.email import site_report
from app.reporting.facts import Tally
from app.reporting.params import DateRange, ReportQuery
from app.reporting.ranges import (
    Figures,
    Row,
    count_visitors,
    daily_figures,
    dimension_rows,
    filtered_visits,
    range_figures,
    upper_bound,
)
from app.reporting.raw import live_visitors, local_hour, month_end
from app.sites.snapshot import SiteSnapshot

__all__ = ["breakdown", "consent_coverage", "email", "overview", "timeseries"]

# Values people type: shown only when at least the site's k visitors produced them.
FREE_TEXT_DIMENSIONS = frozenset({"search_term"})
MAX_HOURLY_DAYS = 2
# Rows whose visitors are counted (sketches merged) before the top ``limit`` are chosen:
# the order by summed daily visitors is close to the order by visitors.
CANDIDATE_FACTOR = 3


def metrics(figures: Figures | Tally) -> dict[str, float | int]:
    visits = figures.visits
    return {
        "visitors": figures.visitors,
        "visits": visits,
        "pageviews": figures.pageviews,
        "views_per_visit": round(figures.pageviews / visits, 2) if visits else 0,
        "bounce_rate": round(figures.bounces / visits, 4) if visits else 0,
        "visit_duration_s": round(figures.duration_s / visits, 1) if visits else 0,
    }


def _overview_of(site: SiteSnapshot, query: ReportQuery, span: DateRange) -> dict[str, Any]:
    figures = range_figures(site, span, query.filters)
    return {
        **metrics(figures),
        "downloads": figures.downloads,
        "outbound_clicks": figures.outbounds,
        "searches": figures.searches,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
    }


def overview(site: SiteSnapshot, query: ReportQuery) -> dict[str, Any]:
    """Top figures of the range, visitors in the last 5 minutes, and (with ``compare``) the
    same figures for the previous period."""
    found = _overview_of(site, query, query.range)
    found["live_visitors"] = live_visitors(site.id, utcnow())
    if query.compare:
        found["previous"] = _overview_of(site, query, query.range.previous())
    return found


def timeseries(
    site: SiteSnapshot, query: ReportQuery, metric: str, interval: str
) -> dict[str, Any]:
    """One metric per hour (ranges of up to 2 days), day or month of the range."""
    if interval == "hour":
        points = _hourly(site, query, metric)
    elif interval == "day":
        by_day = daily_figures(site, query.range, query.filters)
        points = [
            {"t": day.isoformat(), "value": metrics(by_day.get(day, Figures()))[metric]}
            for day in query.range.each_day()
        ]
    else:
        points = [
            {
                "t": month.first.replace(day=1).isoformat(),
                "value": metrics(range_figures(site, month, query.filters))[metric],
            }
            for month in _months(query.range)
        ]
    return {"metric": metric, "interval": interval, "points": points}


def _hourly(site: SiteSnapshot, query: ReportQuery, metric: str) -> list[dict[str, Any]]:
    if query.range.days > MAX_HOURLY_DAYS:
        raise bad_request(f"interval hour needs a range of {MAX_HOURLY_DAYS} days at most")
    # A visit counts in the hour it began.
    hours: dict[datetime, Tally] = defaultdict(Tally)
    for visit in filtered_visits(site, query.range, query.filters):
        hour = hours[local_hour(visit.first_at, site.timezone)]
        hour.consent_ids.add(visit.consent_id)
        hour.visits += 1
        hour.pageviews += visit.pageviews
        hour.bounces += visit.bounce
        hour.duration_s += visit.duration_s
    first = datetime.combine(query.range.first, datetime.min.time())
    return [
        {"t": at.strftime("%Y-%m-%dT%H:00"), "value": metrics(hours.get(at, Tally()))[metric]}
        for at in (first + timedelta(hours=n) for n in range(24 * query.range.days))
    ]


def _months(span: DateRange) -> list[DateRange]:
    months = []
    first = span.first
    while first <= span.last:
        months.append(DateRange(first, min(month_end(first), span.last)))
        first = month_end(first) + timedelta(days=1)
    return months


def breakdown(site: SiteSnapshot, query: ReportQuery, dimension: str) -> dict[str, Any]:
    """The top ``query.limit`` values of ``dimension`` by visitors, then page views. Free-text
    values produced by fewer than ``site.k`` visitors are not shown, only counted (hidden)."""
    rows, rolled = dimension_rows(site, query.range, query.filters, dimension)
    candidates = sorted(
        rows.values(), key=lambda r: (-upper_bound(r), -r.figures.pageviews, r.value)
    )
    hidden = 0
    if dimension in FREE_TEXT_DIMENSIONS:
        # Whatever the sketches say, a value with fewer than k visitor-days has < k visitors.
        hidden = sum(1 for row in candidates if upper_bound(row) < site.k)
        candidates = [row for row in candidates if upper_bound(row) >= site.k]
    else:
        candidates = candidates[: max(query.limit * CANDIDATE_FACTOR, query.limit + 20)]
    count_visitors(site, rolled, dimension, candidates)
    if dimension in FREE_TEXT_DIMENSIONS:
        hidden += sum(1 for row in candidates if row.figures.visitors < site.k)
        candidates = [row for row in candidates if row.figures.visitors >= site.k]
    candidates.sort(key=lambda r: (-r.figures.visitors, -r.figures.pageviews, r.value))
    return {
        "dimension": dimension,
        "rows": [_row(dimension, row) for row in candidates[: query.limit]],
        "hidden": hidden,
    }


def _row(dimension: str, row: Row) -> dict[str, Any]:
    figures = row.figures
    found: dict[str, Any] = {"value": row.value, **metrics(figures)}
    if dimension == "page":
        seconds = figures.engaged_ms / 1000 / figures.pageviews if figures.pageviews else 0
        found["time_on_page_s"] = round(seconds, 1)
    elif dimension == "entry_page":
        found["entries"] = figures.entries
    elif dimension == "exit_page":
        found["exits"] = figures.exits
    if dimension in ("download", "outbound", "search_term"):
        found["events"] = figures.events
    return found


def email(site: SiteSnapshot, query: ReportQuery | None = None) -> dict[str, Any]:
    """The site's email campaigns report (campaigns are not bound to a date range)."""
    found = db.session.get(Site, site.id)
    assert found is not None
    return site_report(found)
