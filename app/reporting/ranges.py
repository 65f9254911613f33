"""Figures over a range of site days, from the rollups where they are final and from raw
events where they are not (today, and days the timer has not reached yet), so an answer is
always current and a rollup run never changes it. With filters, every day is read raw.

The rolled-up days of a range are always its beginning: rollups are final up to a day
(``final_through``) and raw after it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import g
from sqlalchemy import func, select

from app.clock import utcnow
from app.extensions import db
from app.models.reporting import DailyDimension, DailyTotal, MonthlyDimension
from app.reporting.facts import DayTally, Visit, tally
from app.reporting.params import DateRange, Filter
from app.reporting.raw import first_arrival, local_day, month_end, visits_by_day
from app.reporting.rollup import final_through
from app.reporting.sketches import merged_estimate
from app.reporting.visitor_days import chunks, seen_between, visitors_between
from app.sites.snapshot import SiteSnapshot

_FIGURES = ("visits", "pageviews", "bounces", "duration_s", "engaged_ms")


@dataclass(slots=True)
class Figures:
    visitors: int = 0
    visits: int = 0
    pageviews: int = 0
    bounces: int = 0
    duration_s: int = 0
    engaged_ms: int = 0
    entries: int = 0
    exits: int = 0
    events: int = 0
    downloads: int = 0
    outbounds: int = 0
    searches: int = 0
    stored_events: int = 0


@dataclass(slots=True)
class Split:
    """Which days of a range come from the rollups and which from raw events."""

    rolled: DateRange | None
    raw: DateRange | None


def split(site: SiteSnapshot, span: DateRange, filters: Sequence[Filter]) -> Split:
    today = local_day(utcnow(), site.timezone)
    final = None if filters else final_through(site)
    if final is not None and final >= span.first:
        rolled = DateRange(span.first, min(final, span.last))
        raw_first = final + timedelta(days=1)
    else:
        rolled, raw_first = None, span.first
        first = first_arrival(site.id)
        if first is None:
            return Split(None, None)
        raw_first = max(raw_first, local_day(first, site.timezone))
    raw_last = min(span.last, today)
    return Split(rolled, DateRange(raw_first, raw_last) if raw_first <= raw_last else None)


# --- raw -----------------------------------------------------------------------------


def raw_tallies(
    site: SiteSnapshot,
    span: DateRange | None,
    filters: Sequence[Filter],
    dimensions: Iterable[str] = (),
) -> dict[date, DayTally]:
    if span is None:
        return {}
    wanted = tuple(dimensions)
    return {day: tally(visits, wanted) for day, visits in _raw_visits(site, span, filters).items()}


def filtered_visits(site: SiteSnapshot, span: DateRange, filters: Sequence[Filter]) -> list[Visit]:
    """The visits of the range's days that match every filter, from raw events."""
    return [visit for visits in _raw_visits(site, span, filters).values() for visit in visits]


def _raw_visits(
    site: SiteSnapshot, span: DateRange, filters: Sequence[Filter]
) -> dict[date, list[Visit]]:
    """The matching visits of each day, read once per request: a dashboard view asks for
    the same days' visits for every panel (a filtered view reads its whole range raw)."""
    memo: dict[tuple[Any, ...], dict[date, list[Visit]]] = g.setdefault("heedful_report_visits", {})
    key = (site.id, span.first, span.last, tuple(filters))
    if key not in memo:
        narrow = [(f.dimension, f.value) for f in filters]
        memo[key] = {
            day: [visit for visit in visits if _matches(visit, filters)]
            for day, visits in visits_by_day(site, span.first, span.last, narrow).items()
        }
    return memo[key]


def _matches(visit: Visit, filters: Sequence[Filter]) -> bool:
    return all(visit.has(f.dimension, f.value) for f in filters)


# --- totals --------------------------------------------------------------------------


def daily_figures(
    site: SiteSnapshot, span: DateRange, filters: Sequence[Filter]
) -> dict[date, Figures]:
    """Each day's figures (exact visitors per day); days without events are absent."""
    parts = split(site, span, filters)
    found: dict[date, Figures] = {}
    if parts.rolled is not None:
        for row in db.session.scalars(
            select(DailyTotal).where(
                DailyTotal.site_id == site.id,
                DailyTotal.day.between(parts.rolled.first, parts.rolled.last),
            )
        ):
            found[row.day] = Figures(
                **{name: getattr(row, name) for name in ("visitors", *_FIGURES)},
                downloads=row.downloads,
                outbounds=row.outbounds,
                searches=row.searches,
                stored_events=row.events,
            )
    for day, day_tally in raw_tallies(site, parts.raw, filters).items():
        found[day] = _figures_of(day_tally)
    return found


def _figures_of(day_tally: DayTally) -> Figures:
    total = day_tally.total
    return Figures(
        visitors=total.visitors,
        **{name: getattr(total, name) for name in _FIGURES},
        downloads=day_tally.downloads,
        outbounds=day_tally.outbounds,
        searches=day_tally.searches,
        stored_events=day_tally.stored_events,
    )


def range_figures(site: SiteSnapshot, span: DateRange, filters: Sequence[Filter]) -> Figures:
    """The range's figures, visitors counted once however many days they were seen."""
    parts = split(site, span, filters)
    total = Figures()
    if parts.rolled is not None:
        row = db.session.execute(
            select(
                *(func.coalesce(func.sum(getattr(DailyTotal, name)), 0) for name in _FIGURES),
                func.coalesce(func.sum(DailyTotal.downloads), 0),
                func.coalesce(func.sum(DailyTotal.outbounds), 0),
                func.coalesce(func.sum(DailyTotal.searches), 0),
                func.coalesce(func.sum(DailyTotal.events), 0),
            ).where(
                DailyTotal.site_id == site.id,
                DailyTotal.day.between(parts.rolled.first, parts.rolled.last),
            )
        ).one()
        total = Figures(0, *(int(value) for value in row[:5]))
        total.downloads, total.outbounds, total.searches, total.stored_events = (
            int(v) for v in row[5:]
        )
    raw_ids: set[str] = set()
    for day_tally in raw_tallies(site, parts.raw, filters).values():
        figures = _figures_of(day_tally)
        for name in (*_FIGURES, "downloads", "outbounds", "searches", "stored_events"):
            setattr(total, name, getattr(total, name) + getattr(figures, name))
        raw_ids |= day_tally.total.consent_ids
    total.visitors = len(raw_ids)
    if parts.rolled is not None:
        first, last = parts.rolled.first, parts.rolled.last
        total.visitors += visitors_between(site.id, first, last)
        if raw_ids:  # a visitor of the raw days seen on a rolled day counts once
            total.visitors -= seen_between(site.id, first, last, raw_ids)
    return total


# --- dimension rows ------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    value: str
    figures: Figures = field(default_factory=Figures)
    # What is known of the visitors before they are counted over the range.
    sum_visitors: int = 0
    max_visitors: int = 0
    consent_ids: set[str] = field(default_factory=set)
    rolled_days: int = 0


@dataclass(frozen=True, slots=True)
class RolledParts:
    """The rolled-up days of a range: whole months (read from the monthly rows) and the
    days around them (read from the daily rows)."""

    months: tuple[date, ...]
    day_spans: tuple[DateRange, ...]


def rolled_parts(span: DateRange) -> RolledParts:
    months = []
    month = span.first if span.first.day == 1 else month_end(span.first) + timedelta(days=1)
    while month_end(month) <= span.last:
        months.append(month)
        month = month_end(month) + timedelta(days=1)
    if not months:
        return RolledParts((), (span,))
    head = DateRange(span.first, months[0] - timedelta(days=1))
    tail = DateRange(month_end(months[-1]) + timedelta(days=1), span.last)
    return RolledParts(tuple(months), tuple(p for p in (head, tail) if p.days > 0))


def dimension_rows(
    site: SiteSnapshot, span: DateRange, filters: Sequence[Filter], dimension: str
) -> tuple[dict[str, Row], RolledParts | None]:
    """Every value of ``dimension`` over the range (visitors not counted yet: see
    ``count_visitors``), and the parts of the range read from the rollups."""
    parts = split(site, span, filters)
    rows: dict[str, Row] = {}
    rolled = rolled_parts(parts.rolled) if parts.rolled is not None else None
    for query in _rolled_queries(site.id, dimension, rolled):
        for value, sum_v, max_v, days, *rest in db.session.execute(query):
            row = rows.get(value)
            if row is None:
                row = rows[value] = Row(value)
            _add_sums(row.figures, (int(v) for v in rest))
            row.sum_visitors += int(sum_v)
            row.max_visitors = max(row.max_visitors, int(max_v))
            row.rolled_days += int(days)
    for day_tally in raw_tallies(site, parts.raw, filters, (dimension,)).values():
        for (_, value), found in day_tally.rows.items():
            row = rows.get(value)
            if row is None:
                row = rows[value] = Row(value)
            _add_sums(row.figures, (getattr(found, name) for name in _ROW_SUMS))
            row.consent_ids |= found.consent_ids
    return rows, rolled


_ROW_SUMS = (*_FIGURES, "entries", "exits", "events")


def _rolled_queries(site_id: int, dimension: str, rolled: RolledParts | None) -> list[Any]:
    if rolled is None:
        return []
    queries: list[Any] = [
        select(
            DailyDimension.value,
            func.sum(DailyDimension.visitors),
            func.max(DailyDimension.visitors),
            func.count(),
            *(func.sum(getattr(DailyDimension, name)) for name in _ROW_SUMS),
        )
        .where(*_daily_rows(site_id, dimension, part))
        .group_by(DailyDimension.value)
        for part in rolled.day_spans
    ]
    if rolled.months:
        queries.append(
            select(
                MonthlyDimension.value,
                func.sum(MonthlyDimension.visitors),
                func.max(MonthlyDimension.max_day_visitors),
                func.sum(MonthlyDimension.days),
                *(func.sum(getattr(MonthlyDimension, name)) for name in _ROW_SUMS),
            )
            .where(*_monthly_rows(site_id, dimension, rolled.months))
            .group_by(MonthlyDimension.value)
        )
    return queries


def _daily_rows(site_id: int, dimension: str, span: DateRange) -> list[Any]:
    return [
        DailyDimension.site_id == site_id,
        DailyDimension.dimension == dimension,
        DailyDimension.day.between(span.first, span.last),
    ]


def _monthly_rows(site_id: int, dimension: str, months: Sequence[date]) -> list[Any]:
    return [
        MonthlyDimension.site_id == site_id,
        MonthlyDimension.dimension == dimension,
        MonthlyDimension.month.in_(months),
    ]


def _add_sums(figures: Figures, values: Iterable[int]) -> None:
    for name, value in zip(_ROW_SUMS, values, strict=True):
        setattr(figures, name, getattr(figures, name) + value)


def upper_bound(row: Row) -> int:
    return row.sum_visitors + len(row.consent_ids)


def count_visitors(
    site: SiteSnapshot, rolled: RolledParts | None, dimension: str, rows: Iterable[Row]
) -> None:
    """Fill in ``figures.visitors``: exact when a row has one day of rollups at most (the
    rest raw), else its merged sketches, kept within what is known for sure."""
    pending = []
    for row in rows:
        if row.rolled_days > 1 or (row.rolled_days and row.consent_ids):
            pending.append(row)
        else:
            row.figures.visitors = row.sum_visitors + len(row.consent_ids)
    if not pending or rolled is None:
        return
    sketches: dict[str, list[str]] = defaultdict(list)
    values = [row.value for row in pending]
    for chunk in chunks(values):
        queries = [
            select(DailyDimension.value, DailyDimension.sketch).where(
                *_daily_rows(site.id, dimension, part),
                DailyDimension.value.in_(chunk),
                DailyDimension.sketch.is_not(None),
            )
            for part in rolled.day_spans
        ]
        if rolled.months:
            queries.append(
                select(MonthlyDimension.value, MonthlyDimension.sketch).where(
                    *_monthly_rows(site.id, dimension, rolled.months),
                    MonthlyDimension.value.in_(chunk),
                    MonthlyDimension.sketch.is_not(None),
                )
            )
        for query in queries:
            for value, sketch in db.session.execute(query):
                sketches[value].append(sketch)
    for row in pending:
        estimate = round(merged_estimate(sketches[row.value], row.consent_ids))
        lowest = max(row.max_visitors, len(row.consent_ids))
        row.figures.visitors = min(max(estimate, lowest), upper_bound(row))
