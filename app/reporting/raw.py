"""Reading raw events by the site's days: day bounds in its time zone, and the visits of
a day (for the rollups, and for reports on days not rolled up yet or with filters)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.extensions import db
from app.models.analytics import Event, SearchTerm
from app.reporting.facts import EVENT_COLUMNS, Visit, build_visits
from app.sites.snapshot import SiteSnapshot

_EVENT_SELECT = [getattr(Event, name) for name in EVENT_COLUMNS]
_TERM_SELECT = [
    SearchTerm.received_at,
    SearchTerm.consent_id,
    SearchTerm.session_id,
    SearchTerm.term,
]


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_start(day: date, timezone: str) -> datetime:
    """The UTC instant ``day`` begins in ``timezone``."""
    return datetime.combine(day, time(0), tzinfo=_zone(timezone)).astimezone(UTC)


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    return day_start(day, timezone), day_start(day + timedelta(days=1), timezone)


def local_day(at: datetime, timezone: str) -> date:
    """The day ``at`` falls on in ``timezone``."""
    return at.astimezone(_zone(timezone)).date()


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def local_hour(at: datetime, timezone: str) -> datetime:
    local = at.astimezone(_zone(timezone))
    return local.replace(minute=0, second=0, microsecond=0, tzinfo=None)


# Filters a column can narrow down in SQL before any visit is built: a visit has such a
# value only if one of its rows carries it, so its sessions are a superset of the matches.
_NARROWING = {
    "country": Event.country,
    "region": Event.region,
    "city": Event.city,
    "network": Event.network_org,
    "browser": Event.browser,
    "os": Event.os,
    "device": Event.device,
    "page": Event.path,
    "download": Event.target,
    "outbound": Event.target,
    "search_term": SearchTerm.term,
}


def visits_by_day(
    site: SiteSnapshot, first: date, last: date, narrow: Sequence[tuple[str, str]] = ()
) -> dict[date, list[Visit]]:
    """The visits of each day from ``first`` to ``last`` (inclusive) that has any, from the
    site's raw events and search terms. With ``narrow`` ((dimension, value) pairs), only
    sessions with a row carrying each value are read (the caller still checks each visit)."""
    start = day_start(first, site.timezone)
    end = day_start(last + timedelta(days=1), site.timezone)
    sessions = []
    for dimension, value in narrow:
        column = _NARROWING.get(dimension)
        if column is not None:
            table = column.class_
            sessions.append(
                select(table.session_id).where(
                    table.site_id == site.id,
                    table.received_at >= start,
                    table.received_at < end,
                    column == value,
                )
            )
    events: dict[date, list[Any]] = defaultdict(list)
    for row in db.session.execute(
        select(*_EVENT_SELECT)
        .where(Event.site_id == site.id, Event.received_at >= start, Event.received_at < end)
        .where(*(Event.session_id.in_(query) for query in sessions))
        .order_by(Event.received_at, Event.id)
    ):
        events[local_day(row[0], site.timezone)].append(row)
    terms: dict[date, list[Any]] = defaultdict(list)
    for row in db.session.execute(
        select(*_TERM_SELECT)
        .where(
            SearchTerm.site_id == site.id,
            SearchTerm.received_at >= start,
            SearchTerm.received_at < end,
            *(SearchTerm.session_id.in_(query) for query in sessions),
        )
        .order_by(SearchTerm.received_at, SearchTerm.id)
    ):
        terms[local_day(row[0], site.timezone)].append(row)
    return {
        day: build_visits(events.get(day, ()), terms.get(day, ()), site.domains)
        for day in sorted(events.keys() | terms.keys())
    }


def time_span(
    column: Any,
    site_column: Any,
    site_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[datetime, datetime] | None:
    """The first and last value of the time ``column`` among a site's rows, within
    [start, end) when given; None when there are none."""
    query = select(func.min(column), func.max(column)).where(site_column == site_id)
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    first, last = db.session.execute(query).one()
    return None if first is None else (as_utc(first), as_utc(last))


def arrivals_between(
    site_id: int, start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """The first and last arrival of an event in [start, end), or None when none arrived."""
    return time_span(Event.received_at, Event.site_id, site_id, start, end)


def first_arrival(site_id: int) -> datetime | None:
    span = time_span(Event.received_at, Event.site_id, site_id)
    return span[0] if span is not None else None


def as_utc(at: datetime) -> datetime:
    # func.min loses the column type on SQLite: the value comes back naive (it is UTC).
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def live_visitors(site_id: int, now: datetime, minutes: int = 5) -> int:
    """Distinct consent ids with an event in the last ``minutes``."""
    return int(
        db.session.scalar(
            select(func.count(func.distinct(Event.consent_id))).where(
                Event.site_id == site_id, Event.received_at >= now - timedelta(minutes=minutes)
            )
        )
        or 0
    )
