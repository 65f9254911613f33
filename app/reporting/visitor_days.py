"""Exact visitors over any range, from the visitor-day table.

``rollup_visitor_days`` keeps each (site, day, consent id) with ``prev_day``, the day that
consent id was seen last before. The visitors of [a, b] are the rows in [a, b] whose
``prev_day`` is before a (or none): each consent id counts once, on its first day in the
range. ``rollup_visitor_day_counts`` keeps those rows counted per (day, prev_day), so a
range reads at most one row per day and distinct previous day, not one per visitor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models.reporting import NEVER_SEEN, VisitorDay, VisitorDayCount
from app.storage import BulkInsert

_CHUNK = 500


def replace_visitor_days(site_id: int, day: date, consent_ids: set[str]) -> None:
    """Store the day's consent ids with the day each was seen before, re-link the next day
    of every id that came or went (so ``prev_day`` stays right whatever the order days are
    recomputed in), and recount the days that changed. Does not commit."""
    where = (VisitorDay.site_id == site_id, VisitorDay.day == day)
    before = set(db.session.scalars(select(VisitorDay.consent_id).where(*where)))
    db.session.execute(delete(VisitorDay).where(*where))
    rows = []
    for chunk in chunks(sorted(consent_ids)):
        previous = dict(
            db.session.execute(
                select(VisitorDay.consent_id, func.max(VisitorDay.day))
                .where(
                    VisitorDay.site_id == site_id,
                    VisitorDay.consent_id.in_(chunk),
                    VisitorDay.day < day,
                )
                .group_by(VisitorDay.consent_id)
            ).all()
        )
        rows += [
            {"site_id": site_id, "day": day, "consent_id": c, "prev_day": previous.get(c)}
            for c in chunk
        ]
    insert_rows(VisitorDay.__table__, rows)
    changed = sorted(before ^ consent_ids)
    relinked = _relink_next_days(site_id, day, changed) if changed else set()
    _recount(site_id, {day} | relinked)


def _relink_next_days(site_id: int, day: date, consent_ids: list[str]) -> set[date]:
    """Point the next visitor day after ``day`` of each of ``consent_ids`` at the day it
    was seen last before; returns the days of the rows changed."""
    earlier, later = aliased(VisitorDay), aliased(VisitorDay)
    latest_before = (
        select(func.max(earlier.day))
        .where(
            earlier.site_id == VisitorDay.site_id,
            earlier.consent_id == VisitorDay.consent_id,
            earlier.day < VisitorDay.day,
        )
        .scalar_subquery()
    )
    next_day = (
        select(func.min(later.day))
        .where(
            later.site_id == VisitorDay.site_id,
            later.consent_id == VisitorDay.consent_id,
            later.day > day,
        )
        .scalar_subquery()
    )
    days: set[date] = set()
    for chunk in chunks(consent_ids):
        next_rows = (
            VisitorDay.site_id == site_id,
            VisitorDay.consent_id.in_(chunk),
            VisitorDay.day == next_day,
        )
        days.update(db.session.scalars(select(VisitorDay.day).where(*next_rows).distinct()))
        db.session.execute(
            update(VisitorDay)
            .where(*next_rows)
            .values(prev_day=latest_before)
            .execution_options(synchronize_session=False)
        )
    return days


def _recount(site_id: int, days: set[date]) -> None:
    for chunk in chunks(sorted(days)):
        db.session.execute(
            delete(VisitorDayCount).where(
                VisitorDayCount.site_id == site_id, VisitorDayCount.day.in_(chunk)
            )
        )
        counts = db.session.execute(
            select(VisitorDay.day, VisitorDay.prev_day, func.count())
            .where(VisitorDay.site_id == site_id, VisitorDay.day.in_(chunk))
            .group_by(VisitorDay.day, VisitorDay.prev_day)
        ).all()
        rows = [
            {"site_id": site_id, "day": d, "prev_day": prev or NEVER_SEEN, "visitors": n}
            for d, prev, n in counts
        ]
        insert_rows(VisitorDayCount.__table__, rows)


def visitors_between(site_id: int, first: date, last: date) -> int:
    """Distinct consent ids seen on the site from ``first`` to ``last`` (rolled-up days)."""
    found = db.session.scalar(
        select(func.sum(VisitorDayCount.visitors)).where(
            VisitorDayCount.site_id == site_id,
            VisitorDayCount.day.between(first, last),
            VisitorDayCount.prev_day < first,
        )
    )
    return int(found or 0)


def seen_between(site_id: int, first: date, last: date, consent_ids: set[str]) -> int:
    """How many of ``consent_ids`` were seen on the site from ``first`` to ``last``."""
    ids = sorted(consent_ids)
    found = 0
    for chunk in chunks(ids):
        found += int(
            db.session.scalar(
                select(func.count(func.distinct(VisitorDay.consent_id))).where(
                    VisitorDay.site_id == site_id,
                    VisitorDay.day.between(first, last),
                    VisitorDay.consent_id.in_(chunk),
                )
            )
            or 0
        )
    return found


def insert_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in the session's transaction through the storage's prepared bulk
    insert (multi-row statements, no per-row statement work)."""
    if not rows:
        return
    connection = db.session.connection()
    insert = BulkInsert(table, connection.dialect)
    insert.execute(connection.connection.cursor(), insert.params(rows))


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size``: what one ``IN (...)`` or multi-row insert takes."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
