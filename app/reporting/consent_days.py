"""Each site day's consent decisions, counted from the consent records (for the days not
rolled up yet, and by the rollup upkeep) or read from ``rollup_consent_days``.

A day counts the choices recorded on it (by method, with GPC, and how many granted each
category) and the withdrawals. Days are the site's days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from app.extensions import db
from app.models import ConsentRecord
from app.models.reporting import ConsentDay
from app.reporting.params import DateRange
from app.reporting.raw import day_start, local_day, time_span
from app.sites.snapshot import SiteSnapshot

METHODS = ("accept_all", "reject_all", "custom")


class Decisions:
    """One day's (or a range's) consent decisions, and the events seen and dropped."""

    def __init__(self, categories: tuple[str, ...]) -> None:
        self.decisions = dict.fromkeys(METHODS, 0)
        self.granted = dict.fromkeys(categories, 0)
        self.gpc = 0
        self.withdrawals = 0
        self.dropped = 0
        self.stored = 0

    def add(self, other: Decisions) -> None:
        for method, count in other.decisions.items():
            self.decisions[method] = self.decisions.get(method, 0) + count
        for category, count in other.granted.items():
            self.granted[category] = self.granted.get(category, 0) + count
        self.gpc += other.gpc
        self.withdrawals += other.withdrawals
        self.dropped += other.dropped
        self.stored += other.stored

    def row(self, site_id: int, day: date) -> dict[str, Any]:
        """The ``rollup_consent_days`` row of this day's decisions."""
        return {
            "site_id": site_id,
            "day": day,
            **{method: self.decisions.get(method, 0) for method in METHODS},
            "gpc": self.gpc,
            "withdrawals": self.withdrawals,
            "granted": {c: n for c, n in self.granted.items() if n},
        }


def counted_days(site: SiteSnapshot, span: DateRange) -> dict[date, Decisions]:
    """The decisions of each day of ``span``, counted from the consent records."""
    days = {day: Decisions(site.category_keys) for day in span.each_day()}
    records = db.session.execute(
        select(
            ConsentRecord.recorded_at,
            ConsentRecord.kind,
            ConsentRecord.method,
            ConsentRecord.choices,
            ConsentRecord.gpc,
        ).where(
            ConsentRecord.site_id == site.id,
            ConsentRecord.recorded_at >= day_start(span.first, site.timezone),
            ConsentRecord.recorded_at < day_start(span.last + timedelta(days=1), site.timezone),
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
    return days


def rolled_days(site: SiteSnapshot, span: DateRange) -> dict[date, Decisions]:
    """The decisions of each day of ``span`` as the rollups keep them."""
    days = {day: Decisions(site.category_keys) for day in span.each_day()}
    for found in db.session.scalars(
        select(ConsentDay).where(
            ConsentDay.site_id == site.id, ConsentDay.day.between(span.first, span.last)
        )
    ):
        day = days[found.day]
        for method in METHODS:
            day.decisions[method] = getattr(found, method)
        for category, count in (found.granted or {}).items():
            day.granted[category] = day.granted.get(category, 0) + count
        day.gpc, day.withdrawals = found.gpc, found.withdrawals
    return days


def replace_consent_day(site: SiteSnapshot, day: date) -> list[dict[str, Any]]:
    """Delete the day's row (in the caller's transaction); the row to insert, if any."""
    db.session.execute(
        delete(ConsentDay).where(ConsentDay.site_id == site.id, ConsentDay.day == day)
    )
    found = counted_days(site, DateRange(day, day))[day]
    decided = sum(found.decisions.values()) + found.withdrawals
    return [found.row(site.id, day)] if decided else []


def recorded_between(
    site_id: int, start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """The first and last time a consent record was written in [start, end), or None."""
    return time_span(ConsentRecord.recorded_at, ConsentRecord.site_id, site_id, start, end)


def first_recorded(site_id: int) -> datetime | None:
    span = time_span(ConsentRecord.recorded_at, ConsentRecord.site_id, site_id)
    return span[0] if span is not None else None
