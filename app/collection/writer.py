"""Group commit: one writer thread per process stores the batches of concurrent requests
in one transaction, so a durable commit (an fsync on SQLite) is shared instead of paid by
every request. Each request still waits until its rows are committed before answering, and
each batch is stored whole or not at all: if a group fails, its batches are retried one by
one so that one bad batch cannot take the others down with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Flask, current_app
from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

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
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[WriteJob] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock_file: int | None = None

    def submit(self, job: WriteJob) -> None:
        """Store ``job`` durably, or raise the database error that prevented it."""
        self._ensure_thread()
        self._queue.put(job)
        if not job.done.wait(WAIT_SECONDS):
            raise WriteTimeout("the event store did not answer in time")
        if job.error is not None:
            raise job.error

    def _ensure_thread(self) -> None:
        # A forked worker inherits the object but not the thread: start one per process.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                self._lock_file = _open_lock_file(self.engine)
                self._thread = threading.Thread(
                    target=self._run, name="heedful-group-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < MAX_GROUP:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(jobs)
            except Exception as exc:
                if len(jobs) == 1:
                    jobs[0].error = exc
                else:
                    self._write_one_by_one(jobs)
            finally:
                for job in jobs:
                    job.done.set()

    def _write_one_by_one(self, jobs: list[WriteJob]) -> None:
        for job in jobs:
            try:
                self._write([job])
            except Exception as exc:
                job.error = exc

    def _write(self, jobs: list[WriteJob]) -> None:
        events = [row for job in jobs for row in job.events]
        terms = [row for job in jobs for row in job.terms]
        counts: Counter[tuple[int, date, str]] = Counter()
        for job in jobs:
            counts.update(job.counts)
        with self._sqlite_write_turn(), self.engine.begin() as conn:
            if events:
                conn.execute(insert(Event.__table__), events)
            if terms:
                conn.execute(insert(SearchTerm.__table__), terms)
            for (site_id, day, reason), count in sorted(counts.items()):
                _add_count(conn, site_id, day, reason, count)

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


def _add_count(conn: Connection, site_id: int, day: date, reason: str, count: int) -> None:
    """Add to the per-site, per-day counter (an upsert)."""
    dialect = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect(DailyCount).values(site_id=site_id, day=day, reason=reason, count=count)
    statement = statement.on_conflict_do_update(
        index_elements=["site_id", "day", "reason"],
        set_={"count": DailyCount.count + statement.excluded.count},
    )
    conn.execute(statement)


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
