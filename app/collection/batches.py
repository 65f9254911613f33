"""Storing a collect batch: collection's write plan (``COLLECT``, the rows of a batch
by table), and a batch sent with a batch id stored once, however often it is retried.

The tracker keeps unsent events and retries them after a 503, a 429 or a network error;
an answer lost on the way back makes it send a batch the server already stored. Each
batch carries a random id, and the plan's claim (``BatchLedger``) takes ``(site, batch
id)`` in ``collect_batches`` in the same transaction as the batch's rows: one multi-row
``INSERT … ON CONFLICT DO NOTHING RETURNING`` per group, so the dedupe costs no round
trip of its own. A claim that was already stored (by this or any other worker, or by a
concurrent transaction, which PostgreSQL makes the insert wait for) writes nothing and is
answered with the counts stored with the first copy; only its visit row is written, so
the visit stays current. Rows hold no consent id; they are swept once they are older than
any retry the tracker still makes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Dialect

from app.clock import utcnow
from app.models.analytics import CollectBatch, DailyCount, Event, SearchTerm, Visit
from app.storage import TableWrite, WriteJob, WritePlan, submit

# The tracker gives up on an event after 24 hours; twice that covers clocks and stragglers.
KEEP_FOR = timedelta(hours=48)
# Each worker deletes rows older than KEEP_FOR now and then, a bounded number per group so
# that no group commit waits on a long delete; a full sweep is followed by another.
SWEEP_SECONDS = 10.0
SWEEP_ROWS = 1000
SWEEP_DUE = float("-inf")
_COLUMNS = ("site_id", "batch", "received_at", "accepted", "dropped")


@dataclass(eq=False, slots=True)
class BatchClaim:
    """A job's batch id and the answer it would give; ``first`` is the answer stored with
    the batch once the group is written (this one's, or an earlier copy's)."""

    site_id: int
    batch: str
    received_at: datetime
    accepted: int
    dropped: int
    first: tuple[int, int] | None = None

    @property
    def key(self) -> tuple[int, str]:
        return self.site_id, self.batch


class BatchLedger:
    """Claims the batch ids of a group of jobs on the group's own cursor."""

    def __init__(self, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        table, site, batch = quote("collect_batches"), quote("site_id"), quote("batch")
        names = ", ".join(quote(name) for name in _COLUMNS)
        self._head = f"INSERT INTO {table} ({names}) VALUES "
        self._row_marks = f"({', '.join([mark] * len(_COLUMNS))})"
        self._tail = f" ON CONFLICT ({site}, {batch}) DO NOTHING RETURNING {site}, {batch}"
        self._stored_head = (
            f"SELECT {site}, {batch}, {quote('accepted')}, {quote('dropped')} FROM {table}"
            f" WHERE ({site}, {batch}) IN (VALUES "
        )
        self._pair_marks = f"({mark}, {mark})"
        self._sweep_sql = (
            f"DELETE FROM {table} WHERE ({site}, {batch}) IN (SELECT {site}, {batch}"
            f" FROM {table} WHERE {quote('received_at')} < {mark} LIMIT {mark})"
        )
        column = CollectBatch.__table__.c.received_at
        convert = column.type.dialect_impl(dialect).bind_processor(dialect)
        self._time: Callable[[datetime], Any] = convert or (lambda value: value)
        self._swept_at = SWEEP_DUE

    def claim(self, cursor: Any, jobs: list[WriteJob]) -> list[WriteJob]:
        """The jobs whose rows the group writes: those without a batch id, and the first
        copy of each batch not stored before. Sets ``first`` on every claim."""
        claims: list[BatchClaim] = [job.claim for job in jobs if job.claim is not None]
        if not claims:
            return jobs
        firsts: dict[tuple[int, str], BatchClaim] = {}
        for claim in claims:
            claim.first = None
            firsts.setdefault(claim.key, claim)
        # In key order, so concurrent PostgreSQL writers wait on each other's keys in the
        # same order and cannot deadlock.
        ordered = sorted(firsts.values(), key=lambda claim: claim.key)
        params: list[Any] = []
        for claim in ordered:
            params += (claim.site_id, claim.batch, self._time(claim.received_at))
            params += (claim.accepted, claim.dropped)
        rows = ", ".join([self._row_marks] * len(ordered))
        cursor.execute(self._head + rows + self._tail, params)
        new = {(site_id, batch) for site_id, batch in cursor.fetchall()}
        retried = [claim for claim in ordered if claim.key not in new]
        stored: dict[tuple[int, str], tuple[int, int]] = {}
        if retried:  # stored before: the first copy's answer, in one query for the group
            pairs = ", ".join([self._pair_marks] * len(retried))
            cursor.execute(
                self._stored_head + pairs + ")", [value for c in retried for value in c.key]
            )
            stored = {(row[0], row[1]): (row[2], row[3]) for row in cursor.fetchall()}
        for claim in ordered:
            # (Not found: deleted since, which the sweep does only long after any retry.)
            claim.first = stored.get(claim.key, (claim.accepted, claim.dropped))
        for claim in claims:
            if claim.first is None:  # a second copy within this group
                claim.first = firsts[claim.key].first
        self._sweep(cursor)
        return [job for job in jobs if job.claim is None or _writes(job.claim, new, firsts)]

    def _sweep(self, cursor: Any) -> None:
        if time.monotonic() - self._swept_at < SWEEP_SECONDS:
            return
        cursor.execute(self._sweep_sql, (self._time(utcnow() - KEEP_FOR), SWEEP_ROWS))
        # More left: sweep again with the next group.
        self._swept_at = SWEEP_DUE if cursor.rowcount >= SWEEP_ROWS else time.monotonic()


def _writes(
    claim: BatchClaim, new: set[tuple[int, str]], firsts: dict[tuple[int, str], BatchClaim]
) -> bool:
    return claim.key in new and firsts[claim.key] is claim


# Only the first copy of a batch writes its events, terms and counts; every copy writes its
# visit (access and erasure find a visit's rows within its span). Visits and counts are
# sorted: concurrent PostgreSQL writers then lock their rows in the same order.
COLLECT = WritePlan(
    (
        TableWrite("events", Event.__table__),
        TableWrite("terms", SearchTerm.__table__),
        TableWrite(
            "visits", Visit.__table__, keep_latest="last_seen_at", sort=True, every_job=True
        ),
        TableWrite("visits_kept", Visit.__table__, if_new=True, sort=True, every_job=True),
        TableWrite("counts", DailyCount.__table__, accumulate="count", sort=True),
    ),
    claim=BatchLedger,
)


@dataclass(eq=False, slots=True)
class CollectedRows:
    """One request's rows, as column dicts. Rows of ``visits`` are inserted, or raise the
    stored ``last_seen_at`` if theirs is later; rows of ``visits_kept`` are inserted only
    if missing. ``counts`` are per (site, day, reason) drop counts."""

    events: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    visits_kept: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[tuple[int, date, str]] = field(default_factory=Counter)

    def job(self, batch: BatchClaim | None = None) -> WriteJob:
        """The write job of these rows; with ``batch``, stored once per batch id."""
        counts = [
            {"site_id": site_id, "day": day, "reason": reason, "count": count}
            for (site_id, day, reason), count in self.counts.items()
        ]
        rows = {"events": self.events, "terms": self.terms, "visits": self.visits}
        rows |= {"visits_kept": self.visits_kept, "counts": counts}
        return COLLECT.job(rows, batch)


def submit_once(
    site_id: int,
    batch_id: str | None,
    now: datetime,
    rows: CollectedRows,
    accepted: int,
    dropped: int,
) -> tuple[int, int]:
    """Store ``rows``, answering ``(accepted, dropped)``; with a batch id stored before,
    only the visit is written and the answer is the first copy's."""
    if batch_id is None:
        submit(rows.job())
        return accepted, dropped
    claim = BatchClaim(site_id, batch_id, now, accepted, dropped)
    submit(rows.job(claim))
    return claim.first or (accepted, dropped)
