"""Group commit: the batches of concurrent requests in one process are stored in one
transaction, so a durable commit (an fsync on SQLite) is shared instead of paid by every
request. Each request still waits until its rows are committed before answering, for at
most ``DatabaseTimeouts.write_wait`` seconds (then it answers 503).

What a caller is told: a return means the rows are committed and durable (the endpoint
answers 202); ``WriteTimeout`` or a database error means they are stored whole or not at
all, never in part (503: the client retries, and a retried batch carries its batch id).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from app.config import DatabaseTimeouts
from app.extensions import db, on_reset
from app.storage.plan import WriteJob
from app.storage.store import RowStore, WriteTimeout

__all__ = ["GroupWriter", "WriteTimeout", "group_writer", "init_app", "submit"]

MAX_GROUP = 256


class _Waiter:
    """A queued job and the condition its thread sleeps on."""

    __slots__ = ("job", "wakeup", "taken", "done")

    def __init__(self, job: WriteJob, mutex: threading.Lock) -> None:
        self.job = job
        self.wakeup = threading.Condition(mutex)
        self.taken = False  # in a group a leader is writing: no longer withdrawable
        self.done = False


class GroupWriter:
    """Leader/follower group commit over a queue of jobs. The job at the head of the queue
    leads: it waits for its turn to write, then stores itself and everything queued behind
    it in one transaction. Each waiting job is woken once, when it is stored or becomes the
    head; waking every waiter on every commit costs more CPU under load than the inserts.
    Alone, a request writes its own rows at once (no thread hand-off)."""

    def __init__(self, engine: Engine, timeouts: DatabaseTimeouts | None = None) -> None:
        self.engine = engine
        self.timeouts = timeouts or DatabaseTimeouts()
        self.store = RowStore(engine)
        self._mutex = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._writing_since: float | None = None  # when the group being written began

    def submit(self, job: WriteJob) -> None:
        """Store ``job`` durably, or raise the database error that prevented it.

        Raises ``WriteTimeout`` when the store did not confirm within ``write_wait``
        seconds. The job is then stored whole or not at all, never in part: either it was
        withdrawn from the queue (not stored), or a leader was already writing it in one
        transaction, which may still commit. Only a return means "stored"."""
        self._after_fork()
        if self._stalled(time.monotonic()):
            raise WriteTimeout("the event store is not answering")  # spare the conversion
        # Converting rows is the costly part of a write: do it here, before queueing, so
        # the leader holds the write turn only to send and commit.
        self.store.prepare(job)
        waiter = _Waiter(job, self._mutex)
        now = time.monotonic()
        deadline = now + self.timeouts.write_wait
        with self._mutex:
            if self._stalled(now):
                # The store has not answered the current group for seconds (a healthy
                # commit takes milliseconds): refuse at once rather than hold this thread,
                # so the process keeps threads for what needs no database.
                raise WriteTimeout("the event store is not answering")
            self._queue.append(waiter)
            while not waiter.done and self._queue[0] is not waiter:
                now = time.monotonic()
                if now < deadline and not self._stalled(now):
                    # Woken by its leader; or, while a group is slow, often enough to
                    # notice a stall and let this thread go.
                    waiter.wakeup.wait(min(deadline - now, self.timeouts.write_stalled / 4))
                    continue
                if waiter.taken:
                    # A leader is writing it in one transaction: it may still commit (a
                    # retry carries the same batch id). The leader pops it when done.
                    raise WriteTimeout("the event store did not confirm in time")
                # Not in a group yet: withdraw it, so it is certainly not stored.
                self._queue.remove(waiter)
                raise WriteTimeout("the event store did not answer in time")
        if not waiter.done:
            self._lead(waiter)
        if job.error is not None:
            raise job.error

    def _stalled(self, now: float) -> bool:
        since = self._writing_since
        return since is not None and now - since > self.timeouts.write_stalled

    def _lead(self, leader: _Waiter) -> None:
        """Write the group headed by ``leader``. Each wait in here is bounded by the
        database's own timeouts (``DatabaseTimeouts``): SQLite's busy timeout, PostgreSQL's
        statement timeout and the client deadline on every exchange. The write turn's
        ``flock`` waits only for another process's leader or checkpoint, bounded alike (and
        released by the kernel if that process dies)."""
        group: list[_Waiter] = []
        with self._mutex:
            self._writing_since = time.monotonic()
        try:
            with self.store.write_turn():
                # Take the queue only once it is our turn to write, so what arrived while
                # another process wrote rides in this commit too.
                with self._mutex:
                    group = [self._queue[i] for i in range(min(len(self._queue), MAX_GROUP))]
                    for waiter in group:
                        waiter.taken = True
                jobs = [waiter.job for waiter in group]
                self.store.write_group(jobs)
            # Outside the turn: other workers write while this one waits for the disk.
            self.store.sync(jobs)
        finally:
            with self._mutex:
                self._writing_since = None
                # No group when the write turn itself failed: then only the leader goes,
                # and its caller gets the error.
                for waiter in group or [leader]:
                    self._queue.popleft()
                    waiter.done = True
                    waiter.wakeup.notify()
                if self._queue:
                    self._queue[0].wakeup.notify()  # the next leader

    def _after_fork(self) -> None:
        if self.store.after_fork_needed():
            with self._mutex:
                if self.store.after_fork_needed():
                    self._queue = deque()
                    self.store.after_fork()


WRITER = "heedful_group_writer"


class _AppWriter:
    """An app's group writer in this process: made on first use, inside a worker (after
    any fork), with the app's timeouts as configured then, and made again if the app's
    engine was replaced."""

    def __init__(self, app: Flask) -> None:
        self.config = app.config
        self.writer: GroupWriter | None = None
        self._lock = threading.Lock()

    def get(self, engine: Engine) -> GroupWriter:
        writer = self.writer
        if writer is None or writer.engine is not engine:
            with self._lock:
                writer = self.writer
                if writer is None or writer.engine is not engine:
                    timeouts = self.config.get("HEEDFUL_DB_TIMEOUTS")
                    writer = self.writer = GroupWriter(engine, timeouts)
        return writer

    def forget(self) -> None:
        # It remembers no rows; its connection may hold on to a database since replaced.
        if self.writer is not None:
            self.writer.store.forget_connection()


def init_app(app: Flask) -> None:
    holder = _AppWriter(app)
    app.extensions[WRITER] = holder
    on_reset(app, holder.forget)


def group_writer() -> GroupWriter:
    """The current app's group writer."""
    return current_app.extensions[WRITER].get(db.engine)


def submit(job: WriteJob) -> None:
    """Store ``job`` durably with the current app's group writer (``GroupWriter.submit``)."""
    group_writer().submit(job)
