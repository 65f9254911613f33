"""Analytics events (built by the collection pipeline).

Raw events and search terms are keyed to ``consent_id`` and to their visit; access and
erasure find them through the consent id's visits (``Visit``).
On PostgreSQL both tables are partitioned by month on ``received_at`` (declarative
partitioning), so retention can drop a whole month at once; the primary key therefore
includes ``received_at``, and ids are made by the application (SQLite only auto-increments
a single-column integer key). No column holds an IP address or a user-agent string.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import date, datetime, timedelta

from sqlalchemy import DDL, BigInteger, Date, ForeignKey, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime

PARTITIONED_TABLES = ("events", "search_terms")

# A visit's stored ``last_seen_at`` lags its latest event by less than VISIT_TOUCH: each
# worker rewrites it only when the value it last wrote or read is that old.
VISIT_TOUCH = timedelta(seconds=60)
# Where a visit's rows are looked for: its span widened by this much on both sides. An
# event's arrival time is taken before its visit is looked up, so it can come a moment
# before ``started_at``; and it comes less than VISIT_TOUCH after ``last_seen_at``.
VISIT_MARGIN = timedelta(minutes=5)


class _RowIds:
    """Time-ordered 63-bit ids: milliseconds since 2020 in the high 41 bits, a per-process
    counter (from a random start) in the low 22. Unique across workers without a shared
    sequence: two processes would need the same millisecond, the same counter value and,
    since the key is ``(id, received_at)``, the same microsecond of arrival. Increasing ids
    append to the primary-key index instead of dirtying a random page of it per row, which
    was a large part of every commit's cost."""

    _EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
    _COUNTER_BITS = 22

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._counter = secrets.randbits(self._COUNTER_BITS)

    def __call__(self) -> int:
        with self._lock:
            self._counter = (self._counter + 1) & ((1 << self._COUNTER_BITS) - 1)
            counter = self._counter
        millis = time.time_ns() // 1_000_000 - self._EPOCH_MS
        return (millis << self._COUNTER_BITS) | counter or 1


new_row_id = _RowIds()


class _CollectedRow:
    """The key columns every raw collected row shares: a time-ordered id with the arrival
    time (the partition key on PostgreSQL), the site, and the consent and visit it belongs
    to, so access and erasure find it."""

    # sort_order keeps these first in each table, where the migrations put them.
    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, default=new_row_id, sort_order=-1
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, sort_order=-1)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), sort_order=-1)
    consent_id: Mapped[str] = mapped_column(String(40), sort_order=-1)
    # Server-made per visit (30 minutes without events end it); never derived from the client.
    session_id: Mapped[str] = mapped_column(String(32), sort_order=-1)


class Event(_CollectedRow, db.Model):
    """One collected event: a page view, engagement ping, download, outbound click or search."""

    __tablename__ = "events"
    __table_args__ = (
        # Arrival before visit: new rows land at the index's end, not on a random page.
        Index("ix_events_site_received_session", "site_id", "received_at", "session_id"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )

    type: Mapped[str] = mapped_column(String(16))
    # The page, cleaned: host (None when it is a bare IP address), path and the allow-listed
    # query string (None when nothing survived); the fragment is never kept.
    host: Mapped[str | None] = mapped_column(String(253))
    path: Mapped[str] = mapped_column(String(1024))
    query: Mapped[str | None] = mapped_column(String(1024))
    title: Mapped[str | None] = mapped_column(String(300))
    referrer: Mapped[str | None] = mapped_column(String(300))  # scheme://host[/?engine query]
    # Download or outbound link, cleaned like the page (relative when its host is a bare IP).
    target: Mapped[str | None] = mapped_column(String(2048))
    engaged_ms: Mapped[int | None] = mapped_column(Integer)
    browser: Mapped[str | None] = mapped_column(String(64))
    browser_version: Mapped[str | None] = mapped_column(String(16))
    os: Mapped[str | None] = mapped_column(String(64))
    os_version: Mapped[str | None] = mapped_column(String(16))
    device: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(8))
    city: Mapped[str | None] = mapped_column(String(128))
    asn: Mapped[int | None] = mapped_column(BigInteger)
    network_org: Mapped[str | None] = mapped_column(String(200))
    network_domain: Mapped[str | None] = mapped_column(String(200))

    def as_dict(self) -> dict[str, object]:
        values = {column.name: getattr(self, column.key) for column in self.__table__.columns}
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in values.items()
        }


class SearchTerm(_CollectedRow, db.Model):
    """A normalised, redacted search term and its source: site, utm_term or referrer."""

    __tablename__ = "search_terms"
    __table_args__ = (
        Index("ix_search_terms_site_received_session", "site_id", "received_at", "session_id"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )

    term: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # site | utm_term | referrer
    engine: Mapped[str | None] = mapped_column(String(32))  # for source == referrer
    path: Mapped[str | None] = mapped_column(String(1024))

    def as_dict(self) -> dict[str, object]:
        return {
            "received_at": self.received_at.isoformat(),
            "session_id": self.session_id,
            "term": self.term,
            "source": self.source,
            "engine": self.engine,
            "path": self.path,
        }


class Visit(db.Model):
    """One visit of a consent id on a site: the way access and erasure find its rows.

    Events and search terms carry no index on the consent id: one visitor's rows sit
    together in such an index, so every stored row dirtied a page of it at random, which
    cost about a third of the collection writer's throughput. A visit row is written when
    the visit starts and touched at most once per VISIT_TOUCH per worker; its rows are then
    found on the (site, arrival, visit) indexes within ``span``."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_consent_started", "consent_id", "started_at"),)

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    consent_id: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def span(self) -> tuple[datetime, datetime]:
        """Arrival times between which every row of the visit lies."""
        return self.started_at - VISIT_MARGIN, self.last_seen_at + VISIT_MARGIN

    def as_dict(self) -> dict[str, object]:
        return {
            "session_id": self.session_id,
            "started_at": self.started_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
        }


class DailyCount(db.Model):
    """Per-site, per-day counters with no identifiers: events dropped for lack of consent
    (``reason='consent'``) and events from bots and headless browsers (``reason='bot'``)."""

    __tablename__ = "daily_drop_counts"

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


def _default_partition(table: str) -> DDL:
    return DDL(f"CREATE TABLE IF NOT EXISTS {table}_default PARTITION OF {table} DEFAULT")


# The migration creates the same DEFAULT partitions, so an insert never finds no partition
# even before the monthly one exists.
for _table in (Event.__table__, SearchTerm.__table__):
    event.listen(
        _table,
        "after_create",
        _default_partition(_table.name).execute_if(dialect="postgresql"),
    )


class CollectBatch(db.Model):
    """A batch of events the tracker sent with a batch id, kept for a while so that a
    retry of it (an answer lost to the network, a 503 after the commit) is answered with
    the first answer's counts and stores nothing again. No consent id and nothing about
    the visitor: the id is random and made per batch by the tracker."""

    __tablename__ = "collect_batches"
    __table_args__ = (Index("ix_collect_batches_received", "received_at"),)

    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    batch: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted: Mapped[int] = mapped_column(Integer)
    dropped: Mapped[int] = mapped_column(Integer)
