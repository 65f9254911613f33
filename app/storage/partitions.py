"""Monthly partitions of the raw event tables on PostgreSQL (a no-op on SQLite).

Partitions are made on demand the first time a process stores something for a month, and
the next month is made with it so a month boundary never waits on DDL. Rows that arrive
before their partition exists land in the DEFAULT partition, so an insert never fails.
Which months a process has made sure of is the app's (``app.extensions``), forgotten on
``reset_process_state`` and whenever months are dropped.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, date, datetime, time

from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.extensions import on_reset
from app.models.analytics import PARTITIONED_TABLES, VISIT_MARGIN

log = logging.getLogger(__name__)

READY = "heedful_partitions_ready"
_PARTITION_NAME = re.compile(r"^(?P<table>[a-z_]+)_(?P<year>\d{4})_(?P<month>\d{2})$")


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_{month.year:04d}_{month.month:02d}"


class _ReadyMonths:
    """The (engine, month) pairs an app's process has made sure of."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.months: set[tuple[Engine, date]] = set()

    def forget(self) -> None:
        with self.lock:
            self.months.clear()


def init_app(app: Flask) -> None:
    ready = _ReadyMonths()
    app.extensions[READY] = ready
    on_reset(app, ready.forget)


def ensure_partitions(engine: Engine, moment: datetime) -> None:
    """Make sure this month's and next month's partitions exist (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return
    ready: _ReadyMonths = current_app.extensions[READY]
    key = (engine, month_start(moment))
    if key in ready.months:
        return
    with ready.lock:
        if key in ready.months:
            return
        for wanted in (key[1], next_month(key[1])):
            for table in PARTITIONED_TABLES:
                _create_partition(engine, table, wanted)
        ready.months.add(key)


def _create_partition(engine: Engine, table: str, month: date) -> None:
    name = partition_name(table, month)
    statement = text(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
    )
    try:
        # Its own autocommit connection: DDL must not join (or break) a request's transaction.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if conn.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar():
                return
            conn.execute(statement)
    except DBAPIError as exc:
        # Another worker won the race (harmless), or the DEFAULT partition already holds
        # rows of this month; either way rows keep landing somewhere valid.
        if "already exists" in str(exc.orig):
            return
        log.warning("could not create partition %s: %s", name, exc.orig)


def list_partitions(engine: Engine, table: str) -> list[str]:
    """Names of the monthly partitions of ``table`` (PostgreSQL), oldest first."""
    if engine.dialect.name != "postgresql":
        return []
    query = text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = :table AND p.relnamespace = to_regnamespace(current_schema())::oid"
    )
    with engine.connect() as conn:
        names = [row[0] for row in conn.execute(query, {"table": table})]
    return sorted(n for n in names if _PARTITION_NAME.match(n))


def drop_months_before(engine: Engine, cutoff: date) -> list[str]:
    """Drop every monthly partition that ends on or before ``cutoff`` (retention), and the
    visits that ended before it and have no rows left."""
    dropped: list[str] = []
    for table in PARTITIONED_TABLES:
        for name in list_partitions(engine, table):
            match = _PARTITION_NAME.match(name)
            assert match is not None
            month = date(int(match["year"]), int(match["month"]), 1)
            if match["table"] == table and next_month(month) <= cutoff:
                with engine.begin() as conn:
                    conn.execute(text(f"DROP TABLE {name}"))
                dropped.append(name)
    if dropped:
        _delete_emptied_visits(engine, datetime.combine(cutoff, time(), UTC) - VISIT_MARGIN)
    current_app.extensions[READY].forget()
    return dropped


def _delete_emptied_visits(engine: Engine, ended_before: datetime) -> None:
    # Rows that landed in the DEFAULT partition outlive the monthly ones: keep their visits.
    rows_left = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} r WHERE r.site_id = v.site_id"
        f" AND r.session_id = v.session_id AND r.received_at <= v.last_seen_at + :margin)"
        for table in PARTITIONED_TABLES
    )
    with engine.begin() as conn:
        conn.execute(
            text(f"DELETE FROM visits v WHERE v.last_seen_at < :ended AND NOT ({rows_left})"),
            {"ended": ended_before, "margin": VISIT_MARGIN},
        )
