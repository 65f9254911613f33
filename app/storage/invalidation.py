"""Getting a committed change's new stamps to every host, even when Redis is down.

A writer *stages* the stamp keys of what it changes inside its transaction, commits,
then *delivers*. How depends on where the stamps live:

* ``local`` (one host, memory-mapped file): delivery bumps the file; it cannot fail.
* ``notify`` (PostgreSQL without Redis): staging queues a ``pg_notify`` that
  PostgreSQL sends with the commit (see ``listener.py``); delivery bumps this host.
* ``outbox`` (Redis): staging adds ``stamp_outbox`` rows to the transaction.
  Delivery bumps Redis; the rows are deleted once that succeeded. When it fails, this
  process's deliverer thread retries until Redis answers, and every deliverer also
  picks up rows a crashed process left behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete, inspect, select
from sqlalchemy.exc import DBAPIError

from app.clock import utcnow
from app.extensions import db
from app.models import StampOutbox
from app.storage.generations import Generations, StampsUnavailable, slot_of
from app.storage.listener import stage_notify

log = logging.getLogger(__name__)

MODES = ("local", "notify", "outbox")
RETRY_MIN_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0
ACK_BATCH_SECONDS = 0.5  # delivered rows are deleted in batches, off the request path
# Every host's deliverer looks this often for rows not yet delivered: ones whose writer
# cannot reach Redis (or died) reach it through any host that can, so a withdrawal is
# seen everywhere within about ORPHAN_AGE + SCAN_SECONDS. A scan of the (nearly always
# empty) table is one indexed read per worker per SCAN_SECONDS, off the request path.
SCAN_SECONDS = 0.25
# Younger rows are normally their writer's to deliver; delivering one twice is harmless
# (a bump sets a fresh random stamp), so this only spares Redis a duplicate.
ORPHAN_AGE = timedelta(seconds=0.2)
SCAN_LIMIT = 1000


@dataclass(frozen=True)
class Staged:
    slots: tuple[int, ...]
    rows: list[StampOutbox] = field(default_factory=list)


class Deliverer:
    """One per process (outbox mode): deletes delivered rows and re-delivers the rest."""

    def __init__(self, app: Flask, generations: Generations) -> None:
        self._app = app
        self._generations = generations
        self._acked: set[int] = set()
        self._pending: dict[int, int] = {}  # outbox id -> slot, not yet in Redis
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_scan = 0.0

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="heedful-stamp-outbox", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def acknowledge(self, ids: Iterable[int]) -> None:
        with self._lock:
            first = not self._acked
            self._acked.update(ids)
        self.start()
        if first:
            self._wake.set()

    def retry(self, rows: dict[int, int]) -> None:
        with self._lock:
            self._pending.update(rows)
        self.start()
        self._wake.set()

    def run_once(self, *, scan: bool) -> None:
        """One round, inside an app context: bump what is pending, delete what is done."""
        with self._lock:
            acked, pending = set(self._acked), dict(self._pending)
        if scan:
            self._last_scan = time.monotonic()
            rows = db.session.execute(
                select(StampOutbox.id, StampOutbox.slot)
                .where(StampOutbox.created_at < utcnow() - ORPHAN_AGE)
                .order_by(StampOutbox.id)
                .limit(SCAN_LIMIT)
            )
            pending.update({row.id: row.slot for row in rows})
        failure: StampsUnavailable | None = None
        delivered: set[int] = set()
        if pending:
            try:
                self._generations.bump_slots(pending.values())
                delivered = set(pending)
            except StampsUnavailable as exc:
                failure = exc
        done = acked | delivered
        if done:
            db.session.execute(delete(StampOutbox).where(StampOutbox.id.in_(done)))
            db.session.commit()
            with self._lock:
                self._acked -= done
                for outbox_id in done:
                    self._pending.pop(outbox_id, None)
        if failure is not None:
            raise failure

    def _timeout(self, delay: float) -> float:
        with self._lock:
            if self._pending:
                return delay
            if self._acked:
                return 0.0
        return max(0.0, SCAN_SECONDS - (time.monotonic() - self._last_scan))

    def _run(self) -> None:
        delay = RETRY_MIN_SECONDS
        while not self._stop.is_set():
            self._wake.wait(self._timeout(delay))
            self._wake.clear()
            with self._lock:
                only_acks = bool(self._acked) and not self._pending
            if only_acks:  # gather a batch of delivered rows to delete in one statement
                self._stop.wait(max(ACK_BATCH_SECONDS, delay))
            if self._stop.is_set():
                break
            scan = time.monotonic() - self._last_scan >= SCAN_SECONDS
            try:
                with self._app.app_context():
                    try:
                        self.run_once(scan=scan)
                    finally:
                        db.session.remove()
                delay = RETRY_MIN_SECONDS
            except (StampsUnavailable, DBAPIError) as exc:
                log.info("stamp outbox: delivery deferred (%s)", exc.__class__.__name__)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            except Exception:  # noqa: BLE001 - the thread must outlive any one failure
                log.exception("stamp outbox: delivery failed")
                delay = RETRY_MAX_SECONDS


class Invalidator:
    def __init__(self, app: Flask, generations: Generations, mode: str) -> None:
        assert mode in MODES
        self.mode = mode
        self.generations = generations
        self.deliverer = Deliverer(app, generations) if mode == "outbox" else None

    def stage(self, keys: Iterable[str]) -> Staged:
        """Inside the writer's transaction, before it commits."""
        slots = tuple(sorted({slot_of(key) for key in keys}))
        if self.mode == "notify":
            stage_notify(db.session, slots)
            return Staged(slots)
        if self.mode == "outbox":
            rows = [StampOutbox(slot=slot) for slot in slots]
            db.session.add_all(rows)
            return Staged(slots, rows)
        return Staged(slots)

    def deliver(self, staged: Staged) -> None:
        """After the commit. Never raises: a failed delivery is retried by the deliverer."""
        ids = _outbox_ids(staged.rows, staged.slots)
        try:
            self.generations.bump_slots(staged.slots)
        except StampsUnavailable:
            if self.deliverer is not None:
                self.deliverer.retry(ids)
            return
        if self.deliverer is not None and ids:
            self.deliverer.acknowledge(ids)

    def after_commit(self, keys: Iterable[str]) -> None:
        """For a change committed without staging (an erasure): deliver now, as best it
        can; answers cached elsewhere expire by age if even this fails."""
        slots = tuple(sorted({slot_of(key) for key in keys}))
        if self.mode == "notify":
            try:
                stage_notify(db.session, slots)
                db.session.commit()
            except DBAPIError:
                db.session.rollback()
                log.warning("could not notify other hosts of a change")
        try:
            self.generations.bump_slots(slots)
        except StampsUnavailable:
            if self.deliverer is None:
                return
            rows = [StampOutbox(slot=slot) for slot in slots]
            try:
                db.session.add_all(rows)
                db.session.commit()
            except DBAPIError:
                db.session.rollback()
                log.warning("could not queue a stamp for Redis either")
                return
            self.deliverer.retry(_outbox_ids(rows, slots))


def _outbox_ids(rows: list[StampOutbox], slots: tuple[int, ...]) -> dict[int, int]:
    """Outbox id -> slot of committed ``rows`` (made from ``slots`` in order), read from
    the identity map so an expired row is not loaded again."""
    ids = {}
    for row, slot in zip(rows, slots, strict=False):  # no rows unless in outbox mode
        identity = inspect(row).identity
        if identity is not None:
            ids[identity[0]] = slot
    return ids
