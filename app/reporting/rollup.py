"""Rollup upkeep: each (site, day) is recomputed wholly from its raw events, and its rows
replaced in one transaction. Upkeep is therefore idempotent, and a rebuild equals what the
upkeep produced, by construction.

``bring_up_to_date`` is what ``heedful rollup`` runs (from cron, every minute): per site it
recomputes the days that received events since the site's watermark, and today. Events
are stamped with their arrival time, so only the current day receives new ones; the safety
margin covers group commits still in flight (an event stamped a moment before the run can
commit a moment after it). The collect endpoint does no rollup work at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from app.clock import utcnow
from app.extensions import db
from app.models import Site
from app.models.reporting import (
    ConsentDay,
    DailyDimension,
    DailyTotal,
    MonthlyDimension,
    RollupWatermark,
)
from app.reporting.consent_days import first_recorded, recorded_between, replace_consent_day
from app.reporting.facts import ALL_DIMENSIONS, DayTally, tally
from app.reporting.raw import (
    arrivals_between,
    first_arrival,
    local_day,
    month_end,
    visits_by_day,
)
from app.reporting.sketches import merged, sketch_of
from app.reporting.visitor_days import insert_rows, replace_visitor_days
from app.sites.snapshot import SiteSnapshot, load_site_snapshot

# Events stamped before a run may still be committing in a group writer: the watermark
# stays this far behind the clock, so their day is recomputed by the next run.
SAFETY_MARGIN = timedelta(seconds=30)


def recompute_day(site: SiteSnapshot, day: date) -> DayTally:
    """Replace the rollup rows of ``site`` on ``day`` with figures from its raw events."""
    _lock_site(site.id)
    figures = tally(visits_by_day(site, day, day).get(day, []))
    db.session.execute(
        delete(DailyTotal).where(DailyTotal.site_id == site.id, DailyTotal.day == day)
    )
    db.session.execute(
        delete(DailyDimension).where(
            DailyDimension.site_id == site.id,
            DailyDimension.dimension.in_(ALL_DIMENSIONS),
            DailyDimension.day == day,
        )
    )
    if figures.total.visits:
        insert_rows(DailyTotal.__table__, [_total_row(site.id, day, figures)])
        rows = [_dimension_row(site.id, day, key, row) for key, row in figures.rows.items()]
        insert_rows(DailyDimension.__table__, rows)
    replace_visitor_days(site.id, day, figures.total.consent_ids)
    insert_rows(ConsentDay.__table__, replace_consent_day(site, day))
    db.session.commit()
    return figures


def _lock_site(site_id: int) -> None:
    """Serialise rollup writers of one site until the transaction ends, so two overlapping
    timer runs replace a day's rows one after the other instead of one failing on the
    other's keys. SQLite has a single writer lock already."""
    if db.session.get_bind().dialect.name == "postgresql":
        key = func.hashtext(f"heedful-rollup:{site_id}")
        db.session.execute(select(func.pg_advisory_xact_lock(key)))


def _total_row(site_id: int, day: date, figures: DayTally) -> dict[str, Any]:
    total = figures.total
    return {
        "site_id": site_id,
        "day": day,
        "visitors": total.visitors,
        "visits": total.visits,
        "pageviews": total.pageviews,
        "bounces": total.bounces,
        "duration_s": total.duration_s,
        "engaged_ms": total.engaged_ms,
        "events": figures.stored_events,
        "downloads": figures.downloads,
        "outbounds": figures.outbounds,
        "searches": figures.searches,
    }


def _dimension_row(site_id: int, day: date, key: tuple[str, str], row: Any) -> dict[str, Any]:
    dimension, value = key
    return {
        "site_id": site_id,
        "day": day,
        "dimension": dimension,
        "value": value,
        "visitors": row.visitors,
        "visits": row.visits,
        "pageviews": row.pageviews,
        "bounces": row.bounces,
        "duration_s": row.duration_s,
        "engaged_ms": row.engaged_ms,
        "entries": row.entries,
        "exits": row.exits,
        "events": row.events,
        "sketch": sketch_of(row.consent_ids),
    }


_MONTH_SUMS = ("visits", "pageviews", "bounces", "duration_s", "engaged_ms")
_MONTH_SUMS += ("entries", "exits", "events")


def recompute_month(site: SiteSnapshot, month: date) -> None:
    """Replace the monthly rows of ``month`` (its first day) with its daily rows added up."""
    _lock_site(site.id)
    last = month_end(month)
    in_month = (
        DailyDimension.site_id == site.id,
        DailyDimension.dimension.in_(ALL_DIMENSIONS),
        DailyDimension.day.between(month, last),
    )
    db.session.execute(
        delete(MonthlyDimension).where(
            MonthlyDimension.site_id == site.id,
            MonthlyDimension.dimension.in_(ALL_DIMENSIONS),
            MonthlyDimension.month == month,
        )
    )
    sketches: dict[tuple[str, str], list[str]] = {}
    for dimension, value, sketch in db.session.execute(
        select(DailyDimension.dimension, DailyDimension.value, DailyDimension.sketch).where(
            *in_month, DailyDimension.sketch.is_not(None)
        )
    ):
        sketches.setdefault((dimension, value), []).append(sketch)
    rows = []
    for dimension, value, visitors, most, days, *sums in db.session.execute(
        select(
            DailyDimension.dimension,
            DailyDimension.value,
            func.sum(DailyDimension.visitors),
            func.max(DailyDimension.visitors),
            func.count(),
            *(func.sum(getattr(DailyDimension, name)) for name in _MONTH_SUMS),
        )
        .where(*in_month)
        .group_by(DailyDimension.dimension, DailyDimension.value)
    ):
        found = sketches.get((dimension, value))
        rows.append(
            {
                "site_id": site.id,
                "dimension": dimension,
                "month": month,
                "value": value,
                "visitors": int(visitors),
                "max_day_visitors": int(most),
                "days": int(days),
                **{name: int(total) for name, total in zip(_MONTH_SUMS, sums, strict=True)},
                "sketch": merged(found) if found else None,
            }
        )
    insert_rows(MonthlyDimension.__table__, rows)
    db.session.commit()


def _finished_months(days: Sequence[date], before: date | None, final: date | None) -> list[date]:
    """The finished months (all days up to ``final`` final) among those of ``days`` and
    those whose last day became final since ``before``."""
    if final is None:
        return []
    months = {day.replace(day=1) for day in days}
    month = (before + timedelta(days=1)).replace(day=1) if before is not None else None
    while month is not None and month_end(month) <= final:
        months.add(month)
        month = month_end(month) + timedelta(days=1)
    return sorted(month for month in months if month_end(month) <= final)


# --- which days to recompute -------------------------------------------------------


def watermark(site_id: int) -> datetime | None:
    """Every event that arrived before this instant is in the site's rollups."""
    return db.session.scalar(
        select(RollupWatermark.through).where(RollupWatermark.site_id == site_id)
    )


def final_through(site: SiteSnapshot) -> date | None:
    """The last day whose rollups are final: it ended before the watermark."""
    through = watermark(site.id)
    return None if through is None else local_day(through, site.timezone) - timedelta(days=1)


def _set_watermark(site_id: int, through: datetime) -> None:
    found = db.session.get(RollupWatermark, site_id)
    if found is None:
        db.session.add(RollupWatermark(site_id=site_id, through=through))
    else:
        found.through = through
    db.session.commit()


def dirty_days(site: SiteSnapshot, now: datetime) -> list[date]:
    """Days with events that arrived, or consent records written, since the watermark (all
    days before the first run), and today. A refusal stores no event: its day is dirty by
    its consent record."""
    today = local_day(now, site.timezone)
    through = watermark(site.id)
    if through is None:
        start = _first_day(site) or today
        return _days(min(start, today), today)
    days = {today}
    for spell in (arrivals_between(site.id, through, now), recorded_between(site.id, through, now)):
        if spell:
            days.update(_days(*(local_day(at, site.timezone) for at in spell)))
    return sorted(days)


def _first_day(site: SiteSnapshot) -> date | None:
    """The site's first day with an event or a consent record."""
    found = [at for at in (first_arrival(site.id), first_recorded(site.id)) if at is not None]
    return min(local_day(at, site.timezone) for at in found) if found else None


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


Progress = Callable[[int], None]


def bring_up_to_date(now: datetime | None = None) -> dict[str, int]:
    """Recompute every site's dirty days; returns the number of days per site key."""
    now = now or utcnow()
    done: dict[str, int] = {}
    for site in _sites():
        days = dirty_days(site, now)
        before = final_through(site)
        for day in days:
            recompute_day(site, day)
        _set_watermark(site.id, now - SAFETY_MARGIN)
        for month in _finished_months(days, before, final_through(site)):
            recompute_month(site, month)
        done[site.key] = len(days)
    return done


def rebuild_plan(
    site_key: str | None = None, since: date | None = None, now: datetime | None = None
) -> list[tuple[SiteSnapshot, list[date]]]:
    """The days ``rebuild`` would recompute, per site: from ``since`` (or the first event)
    to today."""
    now = now or utcnow()
    plan = []
    for site in _sites(site_key):
        today = local_day(now, site.timezone)
        start = since or _first_day(site) or today
        plan.append((site, _days(min(start, today), today)))
    return plan


def rebuild(
    plan: list[tuple[SiteSnapshot, list[date]]],
    now: datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Recompute every day of ``plan``; the watermark moves on where nothing was skipped."""
    now = now or utcnow()
    for site, days in plan:
        through = watermark(site.id)
        for day in days:
            recompute_day(site, day)
            if progress is not None:
                progress(1)
        if _nothing_left_before(site, days, through):
            _set_watermark(site.id, now - SAFETY_MARGIN)
        for month in _finished_months(days, None, final_through(site)):
            recompute_month(site, month)
    return sum(len(days) for _, days in plan)


def _nothing_left_before(site: SiteSnapshot, days: list[date], through: datetime | None) -> bool:
    """Whether every day before ``days`` was rolled up already: then the rebuilt days leave
    no gap, and the watermark may move on to now."""
    if not days:
        return True
    if through is not None and days[0] <= local_day(through, site.timezone):
        return True
    first = _first_day(site)
    return first is None or days[0] <= first


def _sites(site_key: str | None = None) -> list[SiteSnapshot]:
    query = select(Site.key).order_by(Site.id)
    if site_key is not None:
        query = query.where(Site.key == site_key)
    keys = list(db.session.scalars(query))
    if site_key is not None and not keys:
        raise LookupError(f"unknown site {site_key!r}")
    return [snapshot for key in keys if (snapshot := load_site_snapshot(key)) is not None]
