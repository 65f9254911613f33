"""Group commit: the batches of concurrent requests in one process are stored in one
transaction, so a durable commit (an fsync on SQLite) is shared instead of paid by every
request. Each request still waits until its rows are committed before answering, and
each batch is stored whole or not at all: if a group fails, its batches are retried one by
one so that one bad batch cannot take the others down with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Flask, current_app
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.collection.bulk import BulkInsert
from app.models.analytics import DailyCount, Event, SearchTerm

MAX_GROUP = 256
WAIT_SECONDS = 30.0


class WriteTimeout(RuntimeError):
    """The writer did not finish in time; the caller answers 503 and the client retries."""


@dataclass
class WriteJob:
    events: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[tuple[int, date, str]] = field(default_factory=Counter)
    # ``events`` and ``terms`` as bind tuples, made by the submitting thread.
    event_params: list[tuple[Any, ...]] = field(default_factory=list)
    term_params: list[tuple[Any, ...]] = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None


class GroupWriter:
    """Leader/follower group commit: the first request to find no write in progress writes
    everything queued so far in one transaction; requests arriving meanwhile queue up and
    the next leader takes them all. Alone, a request writes its own rows at once (no thread
    hand-off); under load, one commit serves many requests."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cond = threading.Condition()
        self._pending: list[WriteJob] = []
        self._writing = False
        self._pid = os.getpid()
        self._lock_file = _open_lock_file(engine)
        self._raw: Any = None
        self._event_insert = BulkInsert(Event.__table__, engine.dialect)
        self._term_insert = BulkInsert(SearchTerm.__table__, engine.dialect)
        self._count_upsert = BulkInsert(DailyCount.__table__, engine.dialect, accumulate="count")

    def submit(self, job: WriteJob) -> None:
        """Store ``job`` durably, or raise the database error that prevented it."""
        self._after_fork()
        # Converting rows is the costly part of a write: do it here, before queueing, so
        # the leader holds the write lock only to send and commit.
        job.event_params = self._event_insert.params(job.events)
        job.term_params = self._term_insert.params(job.terms)
        deadline = time.monotonic() + WAIT_SECONDS
        with self._cond:
            self._pending.append(job)
        while True:
            with self._cond:
                while self._writing and not job.done:
                    remaining = deadline - time.monotonic()
                    timed_out = remaining <= 0 or not self._cond.wait(remaining)
                    if timed_out and job in self._pending:
                        # Not taken by a writer yet: withdraw it so a retry cannot duplicate.
                        self._pending.remove(job)
                        raise WriteTimeout("the event store did not answer in time")
                if job.done:
                    break
                self._writing = True
            jobs: list[WriteJob] = []
            try:
                with self._sqlite_write_turn():
                    # Lead: take the queue only once it is our turn to write, so what
                    # arrived while another process wrote rides in this commit too (ours
                    # is in it, unless the queue is longer than a group: then go round).
                    with self._cond:
                        jobs = self._pending[:MAX_GROUP]
                        self._pending = self._pending[MAX_GROUP:]
                    self._write_group(jobs)
            finally:
                with self._cond:
                    for queued in jobs:
                        queued.done = True
                    self._writing = False
                    self._cond.notify_all()
        if job.error is not None:
            raise job.error

    def _after_fork(self) -> None:
        # A forked worker inherits the object: give it its own lock file and state.
        if self._pid != os.getpid():
            with self._cond:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._pending, self._writing = [], False
                    self._lock_file = _open_lock_file(self.engine)
                    self._raw = None  # the parent's connection is not ours to use

    def _write_group(self, jobs: list[WriteJob]) -> None:
        try:
            self._write(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                jobs[0].error = exc
            else:
                self._write_one_by_one(jobs)

    def _write_one_by_one(self, jobs: list[WriteJob]) -> None:
        for job in jobs:
            try:
                self._write([job])
            except Exception as exc:
                job.error = exc

    def _write(self, jobs: list[WriteJob]) -> None:
        events = [row for job in jobs for row in job.event_params]
        terms = [row for job in jobs for row in job.term_params]
        counts: Counter[tuple[int, date, str]] = Counter()
        for job in jobs:
            counts.update(job.counts)
        count_rows = [
            {"site_id": site_id, "day": day, "reason": reason, "count": count}
            for (site_id, day, reason), count in sorted(counts.items())
        ]
        self._write_rows(events, terms, count_rows)

    def _write_rows(
        self,
        events: list[tuple[Any, ...]],
        terms: list[tuple[Any, ...]],
        counts: list[dict[str, Any]],
    ) -> None:
        """One transaction on the writer's own connection, kept open for the life of the
        process: a pool check-out and a SQLAlchemy transaction per group cost more than
        the inserts themselves."""
        connection = self._raw
        try:
            if connection is None:
                connection = self._raw = self.engine.raw_connection()
            cursor = connection.cursor()
            try:
                self._event_insert.execute(cursor, events)
                self._term_insert.execute(cursor, terms)
                self._count_upsert.execute(cursor, self._count_upsert.params(counts))
            finally:
                cursor.close()
            connection.commit()
        except Exception as exc:
            self._raw = None
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.rollback()
                # A broken connection must not go back to the pool.
                with contextlib.suppress(Exception):
                    connection.invalidate()
            dbapi_error = self.engine.dialect.loaded_dbapi.Error
            if isinstance(exc, dbapi_error):
                # The same exception types the rest of the app sees from SQLAlchemy.
                raise DBAPIError.instance(self._event_insert.sql, None, exc, dbapi_error) from exc
            raise

    @contextlib.contextmanager
    def _sqlite_write_turn(self) -> Iterator[None]:
        """On SQLite, take turns with the other worker processes through a blocking file
        lock. SQLite's own busy handler polls with growing sleeps, so under steady load one
        process's writer can starve; a waiter on ``flock`` wakes as soon as the lock is free
        (and meanwhile collects a bigger group)."""
        if self._lock_file is None:
            yield
            return
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)


def _open_lock_file(engine: Engine) -> int | None:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    try:
        return os.open(database + ".heedful-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None  # a read-only folder: fall back to SQLite's own locking


def init_app(app: Flask) -> None:
    app.extensions["heedful_group_writer"] = None  # made on first use, inside a worker


_create_lock = threading.Lock()


def group_writer() -> GroupWriter:
    from app.extensions import db

    writer = current_app.extensions.get("heedful_group_writer")
    if writer is None or writer.engine is not db.engine:
        with _create_lock:
            writer = current_app.extensions.get("heedful_group_writer")
            if writer is None or writer.engine is not db.engine:
                writer = GroupWriter(db.engine)
                current_app.extensions["heedful_group_writer"] = writer
    return writer
