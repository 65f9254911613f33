"""Group commit: the batches of concurrent requests in one process are stored in one
transaction, so a durable commit (an fsync on SQLite) is shared instead of paid by every
request. Each request still waits until its rows are committed before answering.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask, current_app
from sqlalchemy.engine import Engine

from app.collection.store import RowStore, WriteJob, WriteTimeout

__all__ = ["GroupWriter", "WriteJob", "WriteTimeout", "group_writer", "init_app"]

MAX_GROUP = 256
WAIT_SECONDS = 30.0


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

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = RowStore(engine)
        self._mutex = threading.Lock()
        self._queue: deque[_Waiter] = deque()

    def submit(self, job: WriteJob) -> None:
        """Store ``job`` durably, or raise the database error that prevented it."""
        self._after_fork()
        # Converting rows is the costly part of a write: do it here, before queueing, so
        # the leader holds the write turn only to send and commit.
        self.store.prepare(job)
        waiter = _Waiter(job, self._mutex)
        deadline = time.monotonic() + WAIT_SECONDS
        with self._mutex:
            self._queue.append(waiter)
            while not waiter.done and self._queue[0] is not waiter:
                if waiter.taken:
                    # A leader is writing it: the outcome is on its way (the database's
                    # own busy timeout bounds the write).
                    waiter.wakeup.wait(1.0)
                    continue
                remaining = deadline - time.monotonic()
                timed_out = remaining <= 0 or not waiter.wakeup.wait(remaining)
                if timed_out and not (waiter.done or waiter.taken or self._queue[0] is waiter):
                    # Not in a group yet: withdraw it so a retry cannot duplicate it.
                    self._queue.remove(waiter)
                    raise WriteTimeout("the event store did not answer in time")
        if not waiter.done:
            self._lead(waiter)
        if job.error is not None:
            raise job.error

    def _lead(self, leader: _Waiter) -> None:
        group: list[_Waiter] = []
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
