"""BulkInsert's bind tuples: defaults filled in, dates converted once per value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import sqlite

from app.models.analytics import Event, Visit
from app.storage import BulkInsert

DIALECT = sqlite.dialect()


def _column(table, name: str) -> int:
    return [c.name for c in table.columns].index(name)


def test_rows_get_their_defaults_and_converted_times_shared_across_tables() -> None:
    events = BulkInsert(Event.__table__, DIALECT)
    visits = BulkInsert(Visit.__table__, DIALECT, if_new=True)
    now = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    earlier = now - timedelta(minutes=3)
    row = {"received_at": now, "site_id": 1, "consent_id": "c", "session_id": "s"}
    converted: dict = {}
    first, second, third = events.params(
        [
            {**row, "type": "pageview", "path": "/a"},
            {**row, "type": "pageview", "path": "/b"},
            {**row, "received_at": earlier, "type": "pageview", "path": "/c"},
        ],
        converted,
    )
    (visit,) = visits.params(
        [
            {
                "session_id": "s",
                "site_id": 1,
                "consent_id": "c",
                "started_at": earlier,
                "last_seen_at": now,
            }
        ],
        converted,
    )
    at = _column(Event.__table__, "received_at")
    assert first[at] == second[at] == "2026-11-30 12:00:00.123456"
    assert third[at] == "2026-11-30 11:57:00.123456"  # a different time is not taken for another
    assert visit[_column(Visit.__table__, "started_at")] == third[at]
    assert visit[_column(Visit.__table__, "last_seen_at")] == first[at]
    assert len(converted) == 2  # one conversion per distinct time, whatever the table
    ids = {first[0], second[0], third[0]}
    assert len(ids) == 3 and all(isinstance(i, int) and i > 0 for i in ids)
    assert first[_column(Event.__table__, "path")] == "/a"
    assert first[_column(Event.__table__, "title")] is None


def test_time_zones_are_stored_as_utc() -> None:
    events = BulkInsert(Event.__table__, DIALECT)
    berlin = datetime(2026, 6, 1, 14, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    (row,) = events.params(
        [
            {
                "received_at": berlin,
                "site_id": 1,
                "consent_id": "c",
                "session_id": "s",
                "type": "pageview",
                "path": "/",
            }
        ]
    )
    assert row[_column(Event.__table__, "received_at")] == "2026-06-01 14:00:00.000000"
