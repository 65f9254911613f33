"""Monthly partitions of the raw event tables on PostgreSQL (a no-op on SQLite).

Partitions are made on demand the first time a process stores something for a month, and
the next month is made with it so a month boundary never waits on DDL. Rows that arrive
before their partition exists land in the DEFAULT partition, so an insert never fails.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, date, datetime, time

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.models.analytics import PARTITIONED_TABLES, VISIT_MARGIN

log = logging.getLogger(__name__)

_lock = threading.Lock()
# (engine url, month) pairs this process has already made sure of.
_ready: set[tuple[str, date]] = set()
_PARTITION_NAME = re.compile(r"^(?P<table>[a-z_]+)_(?P<year>\d{4})_(?P<month>\d{2})$")


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_{month.year:04d}_{month.month:02d}"


def ensure_partitions(engine: Engine, moment: datetime) -> None:
    """Make sure this month's and next month's partitions exist (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return
    month = month_start(moment)
    key = (str(engine.url), month)
    if key in _ready:
        return
    with _lock:
        if key in _ready:
            return
        for wanted in (month, next_month(month)):
            for table in PARTITIONED_TABLES:
                _create_partition(engine, table, wanted)
        _ready.add(key)


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
    with _lock:
        _ready.clear()
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


_ANY_PARTITION = re.compile(r"^(?:" + "|".join(PARTITIONED_TABLES) + r")_(?:default|\d{4}_\d{2})$")


def is_partition_table(name: str) -> bool:
    """True for a partition (monthly or DEFAULT) of a partitioned table: these exist in the
    database but not in the models, so schema comparisons should skip them."""
    return bool(_ANY_PARTITION.match(name))
