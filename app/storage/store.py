"""Storing groups of collected rows: one transaction per group, each job whole or not.

``RowStore`` is the one place rows reach the event tables; the group writer
(``writer.GroupWriter``) hands it groups of jobs. If a group fails, its jobs are retried
one by one, so that one bad batch cannot take the others down with it.

On a SQLite file the write turn is held only to write: the commit appends to the
write-ahead log without syncing it (``synchronous=NORMAL`` on this connection alone), the
turn passes to the next worker, and ``sync`` then fdatasyncs the log before any job of the
group is acknowledged. A commit is durable once its log frames are on disk, whoever syncs
them, so acknowledged rows survive a power cut as with ``synchronous=FULL``; SQLite itself
still syncs the log before each checkpoint and the database file after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.collection.batches import BatchClaim, BatchLedger
from app.models.analytics import DailyCount, Event, SearchTerm, Visit
from app.storage.bulk import BulkInsert
from app.storage.checkpoint import WalCheckpointer


class WriteTimeout(RuntimeError):
    """The writer did not finish in time; the caller answers 503 and the client retries."""


@dataclass(eq=False)
class WriteJob:
    """One request's rows. ``events``, ``terms`` and the visit rows are column dicts; the
    writers turn them into bind tuples (``…_params``) before queueing. Rows of ``visits``
    are inserted, or raise the stored ``last_seen_at`` if theirs is later; rows of
    ``visits_kept`` are inserted only if missing."""

    events: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    visits_kept: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[tuple[int, date, str]] = field(default_factory=Counter)
    event_params: list[Any] = field(default_factory=list)
    term_params: list[Any] = field(default_factory=list)
    visit_params: list[Any] = field(default_factory=list)
    visit_kept_params: list[Any] = field(default_factory=list)
    batch: BatchClaim | None = None  # the batch id it was sent with: stored once
    error: BaseException | None = None


class RowStore:
    """Writes groups of jobs on its own connection, kept open for the life of the process:
    a pool check-out and a SQLAlchemy transaction per group cost more than the inserts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pid = os.getpid()
        self._database = _sqlite_file(engine)
        self._lock_file = _open_lock_file(self._database)
        self._checkpointer = _checkpointer_for(self._database)
        self._raw: Any = None
        self._wal_fd: int | None = None
        self.event_insert = BulkInsert(Event.__table__, engine.dialect)
        self.term_insert = BulkInsert(SearchTerm.__table__, engine.dialect)
        self._visit_upsert = BulkInsert(Visit.__table__, engine.dialect, keep_latest="last_seen_at")
        self._visit_insert = BulkInsert(Visit.__table__, engine.dialect, if_new=True)
        self._count_upsert = BulkInsert(DailyCount.__table__, engine.dialect, accumulate="count")
        self.batches = BatchLedger(engine.dialect)

    def prepare(self, job: WriteJob) -> None:
        """Turn the job's rows into bind tuples (costly: done before the write turn)."""
        converted: dict = {}  # the job's rows share their arrival time: convert it once
        job.event_params = self.event_insert.params(job.events, converted)
        job.term_params = self.term_insert.params(job.terms, converted)
        job.visit_params = self._visit_upsert.params(job.visits, converted)
        job.visit_kept_params = self._visit_insert.params(job.visits_kept, converted)

    def after_fork_needed(self) -> bool:
        return self._pid != os.getpid()

    def after_fork(self) -> None:
        """A forked worker inherits the object: it needs its own lock file and connection
        (the parent's is not its to use)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock_file = _open_lock_file(self._database)
            # Threads do not survive a fork: the worker starts its own.
            self._checkpointer = _checkpointer_for(self._database)
            self._raw = None
            self._wal_fd = None

    @contextlib.contextmanager
    def write_turn(self) -> Iterator[None]:
        """On SQLite, take turns with other writing processes through a blocking file lock.
        SQLite's own busy handler polls with growing sleeps, so under steady load one
        process can starve; a waiter on ``flock`` wakes as soon as the lock is free."""
        if self._lock_file is None:
            yield
            return
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def sync(self, jobs: list[WriteJob]) -> None:
        """Make the group's commit durable; call it after leaving the write turn. If the
        log cannot be synced, every job not already failed gets the error."""
        if self._database is None:
            return  # the commit was synced by the database itself
        try:
            if self._wal_fd is None:
                # Opened after this connection's first commit, when the log exists; the
                # open connection keeps SQLite from deleting it.
                self._wal_fd = os.open(self._database + "-wal", os.O_RDONLY)
            os.fdatasync(self._wal_fd)
        except OSError as exc:
            self._close_wal()
            for job in jobs:
                if job.error is None:
                    job.error = exc

    def _close_wal(self) -> None:
        if self._wal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._wal_fd)
            self._wal_fd = None

    def write_group(self, jobs: list[WriteJob]) -> None:
        """Store every job, setting ``error`` on those that could not be stored."""
        try:
            self._write(jobs)
        except Exception as exc:
            if len(jobs) == 1 or isinstance(exc, OperationalError | PoolTimeoutError):
                # The store itself failed (gone, full, locked, too slow, no free pooled
                # connection), not one job's rows: one by one, each would only fail
                # again, a timeout each.
                for job in jobs:
                    job.error = exc
                return
            for job in jobs:
                try:
                    self._write([job])
                except Exception as single:
                    job.error = single

    def _write(self, jobs: list[WriteJob]) -> None:
        connection = self._raw
        try:
            if connection is None:
                connection = self._raw = self.engine.raw_connection()
                if self._database is not None:
                    # Checkpoints run on the checkpointer's thread and the log is synced by
                    # ``sync``: both outside the write turn.
                    connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
                    connection.dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            cursor = connection.cursor()
            try:
                # A batch stored before (a retry) keeps its visit current, and no more.
                stored = self.batches.claim(cursor, jobs)
                events, terms, visits, kept, counts = _rows(jobs, stored)
                self.event_insert.execute(cursor, events)
                self.term_insert.execute(cursor, terms)
                self._visit_upsert.execute(cursor, visits)
                self._visit_insert.execute(cursor, kept)
                self._count_upsert.execute(cursor, self._count_upsert.params(counts))
            finally:
                cursor.close()
            connection.commit()
        except Exception as exc:
            self._raw = None
            self._close_wal()
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.rollback()
                # A broken connection must not go back to the pool.
                with contextlib.suppress(Exception):
                    connection.invalidate()
            dbapi_error = self.engine.dialect.loaded_dbapi.Error
            if isinstance(exc, dbapi_error):
                # The same exception types the rest of the app sees from SQLAlchemy.
                raise DBAPIError.instance(self.event_insert.sql, None, exc, dbapi_error) from exc
            raise
        if self._checkpointer is not None:
            self._checkpointer.committed()


def _rows(jobs: list[WriteJob], stored: list[WriteJob]) -> tuple[list[Any], ...]:
    """The group's rows, by table: events, terms, visits, visits kept, counts. Only the
    ``stored`` jobs write events, terms and counts; every job writes its visit."""
    events = [row for job in stored for row in job.event_params]
    terms = [row for job in stored for row in job.term_params]
    # Sorted by visit id (the first column): concurrent PostgreSQL writers then lock
    # visit rows in the same order and cannot deadlock.
    visits = sorted(row for job in jobs for row in job.visit_params)
    kept = sorted(row for job in jobs for row in job.visit_kept_params)
    counts: Counter[tuple[int, date, str]] = Counter()
    for job in stored:
        counts.update(job.counts)
    count_rows = [
        {"site_id": site_id, "day": day, "reason": reason, "count": count}
        for (site_id, day, reason), count in sorted(counts.items())
    ]
    return events, terms, visits, kept, count_rows


def _sqlite_file(engine: Engine) -> str | None:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _checkpointer_for(database: str | None) -> WalCheckpointer | None:
    if database is None:
        return None
    return WalCheckpointer(database, functools.partial(_separate_write_turn, database))


@contextlib.contextmanager
def _separate_write_turn(database: str) -> Iterator[None]:
    """The write turn for another thread than the writer's: ``flock`` excludes per open
    file description, so it needs a description of its own to wait for the writer."""
    fd = _open_lock(database)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # which releases the lock


def _open_lock(database: str) -> int:
    return os.open(database + ".heedful-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)


def _open_lock_file(database: str | None) -> int | None:
    if database is None:
        return None
    try:
        return _open_lock(database)
    except OSError:
        return None  # a read-only folder: fall back to SQLite's own locking
