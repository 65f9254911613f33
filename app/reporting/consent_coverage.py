"""Consent coverage: how much of reality the analytics figures cover, per site day.

Per day: the decisions recorded by method, the share of decisions granting each category,
the share sent with Global Privacy Control, withdrawals, events dropped for lack of consent,
and ``unseen_share`` = dropped / (dropped + stored) events. Drop counts are kept per UTC
day by the collection pipeline (``daily_drop_counts``), so on a site in another time zone
they are counted on the UTC day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models.analytics import DailyCount
from app.reporting.consent_days import Decisions, counted_days, rolled_days
from app.reporting.params import DateRange, ReportQuery
from app.reporting.ranges import daily_figures
from app.reporting.rollup import final_through
from app.sites.snapshot import SiteSnapshot


def _as_dict(found: Decisions) -> dict[str, Any]:
    decided = sum(found.decisions.values())
    seen = found.dropped + found.stored
    return {
        "decisions": dict(found.decisions),
        "granted": {c: _share(n, decided) for c, n in found.granted.items()},
        "gpc_share": _share(found.gpc, decided),
        "withdrawals": found.withdrawals,
        "dropped_events": found.dropped,
        "stored_events": found.stored,
        "unseen_share": _share(found.dropped, seen),
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _decisions(site: SiteSnapshot, span: DateRange) -> dict[date, Decisions]:
    """Each day's decisions: from the rollups through the last final day, then counted
    from the consent records (today, and any day the timer has not reached)."""
    final = final_through(site)
    if final is None or final < span.first:
        return counted_days(site, span)
    days = rolled_days(site, DateRange(span.first, min(final, span.last)))
    if final < span.last:
        days.update(counted_days(site, DateRange(final + timedelta(days=1), span.last)))
    return days


def consent_coverage(site: SiteSnapshot, query: ReportQuery) -> dict[str, Any]:
    """Per day of the range and in total (decision shares over all the range's decisions)."""
    span: DateRange = query.range
    days = _decisions(site, span)
    for drop_day, count in db.session.execute(
        select(DailyCount.day, DailyCount.count).where(
            DailyCount.site_id == site.id,
            DailyCount.reason == "consent",
            DailyCount.day.between(span.first, span.last),
        )
    ):
        days[drop_day].dropped += int(count)
    for figure_day, figures in daily_figures(site, span, ()).items():
        days[figure_day].stored += figures.stored_events
    total = Decisions(site.category_keys)
    for day in days.values():
        total.add(day)
    return {
        "days": [{"day": _iso(day), **_as_dict(found)} for day, found in sorted(days.items())],
        "totals": _as_dict(total),
    }


def _iso(day: date) -> str:
    return day.isoformat()
