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
from app.models import ConsentRecord
from app.models.analytics import DailyCount
from app.reporting.params import DateRange, ReportQuery
from app.reporting.ranges import daily_figures
from app.reporting.raw import day_start, local_day
from app.sites.snapshot import SiteSnapshot

METHODS = ("accept_all", "reject_all", "custom")


class _Day:
    def __init__(self, categories: tuple[str, ...]) -> None:
        self.decisions = dict.fromkeys(METHODS, 0)
        self.granted = dict.fromkeys(categories, 0)
        self.gpc = 0
        self.withdrawals = 0
        self.dropped = 0
        self.stored = 0

    def add(self, other: _Day) -> None:
        for method, count in other.decisions.items():
            self.decisions[method] = self.decisions.get(method, 0) + count
        for category, count in other.granted.items():
            self.granted[category] = self.granted.get(category, 0) + count
        self.gpc += other.gpc
        self.withdrawals += other.withdrawals
        self.dropped += other.dropped
        self.stored += other.stored

    def as_dict(self) -> dict[str, Any]:
        decided = sum(self.decisions.values())
        seen = self.dropped + self.stored
        return {
            "decisions": dict(self.decisions),
            "granted": {c: _share(n, decided) for c, n in self.granted.items()},
            "gpc_share": _share(self.gpc, decided),
            "withdrawals": self.withdrawals,
            "dropped_events": self.dropped,
            "stored_events": self.stored,
            "unseen_share": _share(self.dropped, seen),
        }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def consent_coverage(site: SiteSnapshot, query: ReportQuery) -> dict[str, Any]:
    """Per day of the range and in total (decision shares over all the range's decisions)."""
    span: DateRange = query.range
    days = {day: _Day(site.category_keys) for day in span.each_day()}
    start, end = (
        day_start(span.first, site.timezone),
        day_start(span.last + timedelta(days=1), site.timezone),
    )
    records = db.session.execute(
        select(
            ConsentRecord.recorded_at,
            ConsentRecord.kind,
            ConsentRecord.method,
            ConsentRecord.choices,
            ConsentRecord.gpc,
        ).where(
            ConsentRecord.site_id == site.id,
            ConsentRecord.recorded_at >= start,
            ConsentRecord.recorded_at < end,
        )
    )
    for recorded_at, kind, method, choices, gpc in records:
        day = days.get(local_day(recorded_at, site.timezone))
        if day is None:
            continue
        if kind == "withdrawal":
            day.withdrawals += 1
            continue
        day.decisions[method] = day.decisions.get(method, 0) + 1
        for category, granted in (choices or {}).items():
            if granted:
                day.granted[category] = day.granted.get(category, 0) + 1
        day.gpc += bool(gpc)
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
    total = _Day(site.category_keys)
    for day in days.values():
        total.add(day)
    return {
        "days": [{"day": _iso(day), **found.as_dict()} for day, found in days.items()],
        "totals": total.as_dict(),
    }


def _iso(day: date) -> str:
    return day.isoformat()
