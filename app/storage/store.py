"""Storing groups of jobs: one transaction per group, each job whole or not.

``RowStore`` is the one place jobs reach their tables; the group writer
(``writer.GroupWriter``) hands it groups of jobs. Each job's plan (``plan.WritePlan``)
says what its rows are written as; the store works a plan out once per dialect. If a group
fails, its jobs are retried one by one, so that one bad job cannot take the others down
with it.

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
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.storage.bulk import BulkInsert
from app.storage.checkpoint import WalCheckpointer
from app.storage.plan import Claim, TableWrite, WriteJob, WritePlan


class WriteTimeout(RuntimeError):
    """The writer did not finish in time; the caller answers 503 and the client retries."""


@dataclass(frozen=True, slots=True)
class _CompiledPlan:
    """A plan's statements for one dialect, and its claim."""

    writes: tuple[tuple[TableWrite, BulkInsert], ...]
    claim: Claim | None


def _compile(plan: WritePlan, dialect: Dialect) -> _CompiledPlan:
    writes = tuple(
        (
            write,
            BulkInsert(
                write.table,
                dialect,
                accumulate=write.accumulate,
                keep_latest=write.keep_latest,
                if_new=write.if_new,
            ),
        )
        for write in plan.writes
    )
    return _CompiledPlan(writes, plan.claim(dialect) if plan.claim is not None else None)


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
        self._stale = False  # drop the connection before the next group
        self._writing = False  # a group is being written on ``_raw``
        self._connection_lock = threading.Lock()
        self._statement = ""  # the statement being sent, for the error it may raise
        self._plans: dict[WritePlan, _CompiledPlan] = {}

    def _compiled(self, plan: WritePlan) -> _CompiledPlan:
        found = self._plans.get(plan)
        if found is None:
            # Two threads may work it out at once: the first one stored is used by both.
            found = self._plans.setdefault(plan, _compile(plan, self.engine.dialect))
        return found

    def claim_for(self, plan: WritePlan) -> Claim | None:
        """This store's claim of ``plan`` (it keeps state across groups)."""
        return self._compiled(plan).claim

    def prepare(self, job: WriteJob) -> None:
        """Turn the job's rows into bind tuples (costly: done before the write turn)."""
        converted: dict = {}  # the job's rows share their arrival time: convert it once
        rows = job.rows
        job.params = [
            insert.params(rows.get(write.name, ()), converted)
            for write, insert in self._compiled(job.plan).writes
        ]

    def forget_connection(self) -> None:
        """Let go of the connection (the database may have been replaced, or the app is
        being disposed): at once when no group is being written, else after that group,
        which finishes on it. The next group opens a new one."""
        with self._connection_lock:
            if self._writing:
                self._stale = True
                return
            connection, self._raw = self._raw, None
        self._drop(connection)

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
        with self._connection_lock:
            self._writing = True
            stale, self._stale = self._stale, False
            connection = self._raw
        try:
            self._write_on(connection, stale, jobs)
        finally:
            with self._connection_lock:
                self._writing = False

    def _write_on(self, connection: Any, stale: bool, jobs: list[WriteJob]) -> None:
        try:
            if stale:
                self._raw = None
                self._drop(connection)
                connection = None
            if connection is None:
                connection = self._raw = self.engine.raw_connection()
                if self._database is not None:
                    # Checkpoints run on the checkpointer's thread and the log is synced by
                    # ``sync``: both outside the write turn.
                    connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
                    connection.dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            cursor = connection.cursor()
            try:
                by_plan: dict[WritePlan, list[WriteJob]] = {}
                for job in jobs:
                    by_plan.setdefault(job.plan, []).append(job)
                for plan, plan_jobs in by_plan.items():
                    self._write_plan(cursor, self._compiled(plan), plan_jobs)
            finally:
                cursor.close()
            connection.commit()
        except Exception as exc:
            self._raw = None
            self._drop(connection)
            dbapi_error = self.engine.dialect.loaded_dbapi.Error
            if isinstance(exc, dbapi_error):
                # The same exception types the rest of the app sees from SQLAlchemy.
                raise DBAPIError.instance(self._statement, None, exc, dbapi_error) from exc
            raise
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _write_plan(self, cursor: Any, plan: _CompiledPlan, jobs: list[WriteJob]) -> None:
        """Write the rows of ``jobs``, all of ``plan``: the claim first, then each table
        write the rows of the jobs it claimed (or of every job, for ``every_job``)."""
        stored = jobs
        if plan.claim is not None:
            self._statement = f"{type(plan.claim).__name__}.claim"
            stored = plan.claim.claim(cursor, jobs)
        for index, (write, insert) in enumerate(plan.writes):
            rows = [
                row for job in (jobs if write.every_job else stored) for row in job.params[index]
            ]
            if not rows:
                continue
            if write.accumulate is not None:
                rows = insert.merged(rows)
            if write.sort:
                rows.sort()
            self._statement = insert.sql
            insert.execute(cursor, rows)

    def _drop(self, connection: Any) -> None:
        """Let go of a connection that failed or is stale, and of the log it kept open."""
        self._close_wal()
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.rollback()
            # A broken connection must not go back to the pool, nor this one's pragmas.
            with contextlib.suppress(Exception):
                connection.invalidate()


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
