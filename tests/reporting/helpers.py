"""Hand-made raw events for the report tests, written as the collection pipeline stores them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask

from app.extensions import db
from app.models.analytics import Event, SearchTerm
from app.reporting.params import DateRange, ReportQuery
from app.sites.snapshot import SiteSnapshot, load_site_snapshot

DAY = date(2026, 3, 10)  # a Tuesday, well before DST changes


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def event(
    when: datetime,
    consent: str,
    session: str,
    kind: str = "pageview",
    path: str = "/",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "received_at": when,
        "consent_id": consent,
        "session_id": session,
        "type": kind,
        "path": path,
        **extra,
    }


def store(
    app: Flask, site_id: int, events: list[dict[str, Any]], terms: list[dict[str, Any]] = ()
) -> None:
    with app.app_context():
        if events:
            db.session.execute(Event.__table__.insert(), _uniform(events, site_id=site_id))
        if terms:
            rows = _uniform(terms, site_id=site_id, source="site")
            db.session.execute(SearchTerm.__table__.insert(), rows)
        db.session.commit()
        db.session.remove()


def _uniform(rows: list[dict[str, Any]], **common: Any) -> list[dict[str, Any]]:
    """Rows with the same keys (one multi-row insert needs them), missing ones None."""
    keys = {key for row in rows for key in row}
    return [{**common, **dict.fromkeys(keys), **row} for row in rows]


def _uniform(rows: list[dict[str, Any]], **common: Any) -> list[dict[str, Any]]:
    """Rows with the same keys (one multi-row insert needs them), missing ones None."""
    keys = {key for row in rows for key in row}
    return [{**common, **dict.fromkeys(keys), **row} for row in rows]


def snapshot(site_key: str) -> SiteSnapshot:
    found = load_site_snapshot(site_key)
    assert found is not None
    return found


def query(first: date, last: date | None = None, **extra: Any) -> ReportQuery:
    return ReportQuery(range=DateRange(first, last or first), **extra)


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]
