"""Several hosts on PostgreSQL without Redis: stamps travel by ``LISTEN/NOTIFY``.

A writer calls ``pg_notify`` inside the transaction that changes a consent record or
a policy, so PostgreSQL sends the notification exactly when the change commits, and
never for a change that rolled back. Every worker keeps one listening connection
(started on first use, not at import) and bumps the stamps of its host's
memory-mapped file for each slot it hears about. While that connection is down the
stamps count as unreadable, so readers ask the database; once it is back the worker
drops its cache, since notifications sent in between were missed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.storage.generations import MmapGenerations, StampsUnavailable

log = logging.getLogger(__name__)

# One channel per schema, so test schemas (and tenants) sharing a database stay apart.
CHANNEL_SQL = "'heedful_gen_' || md5(current_schema())"
RECONNECT_SECONDS = 0.5
POLL_SECONDS = 1.0


def stage_notify(session: Session, slots: Iterable[int]) -> None:
    """Queue a notification for ``slots``; PostgreSQL sends it when the session commits."""
    payload = ",".join(str(slot) for slot in sorted(set(slots)))
    if payload:
        session.execute(text(f"SELECT pg_notify({CHANNEL_SQL}, :payload)"), {"payload": payload})


class NotifiedGenerations:
    """The host's mmap stamps, kept in step with other hosts by a listening connection."""

    def __init__(
        self,
        local: MmapGenerations,
        connect: Callable[[], Any],
        on_reset: Callable[[], None],
    ) -> None:
        self._local = local
        self._connect = connect
        self._on_reset = on_reset
        self._ready = False
        self.backend_pid: int | None = None  # the listening connection's, for operators
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def listening(self) -> bool:
        return self._ready

    def get(self, key: str) -> int:
        if not self._ready:
            self.start()
            raise StampsUnavailable("not listening for other hosts' changes yet")
        return self._local.get(key)

    def bump_slots(self, slots: Iterable[int]) -> None:
        self._local.bump_slots(slots)

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="heedful-stamp-listener", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop listening; the thread closes its connection within ``POLL_SECONDS``."""
        self._stop.set()
        self._ready = False

    def _run(self) -> None:
        warned = False
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                channel = conn.execute(f"SELECT {CHANNEL_SQL}").fetchone()[0]
                conn.execute(f'LISTEN "{channel}"')
                self.backend_pid = conn.info.backend_pid
                self._on_reset()
                self._ready = True
                warned = False
                while not self._stop.is_set():
                    for notify in conn.notifies(timeout=POLL_SECONDS):
                        self._local.bump_slots(int(s) for s in notify.payload.split(",") if s)
                    conn.execute("SELECT 1")  # a dead connection shows here
            except Exception as exc:  # noqa: BLE001 - any failure: stop trusting, reconnect
                if not warned:
                    log.warning("stamp listener lost PostgreSQL (%s); reading uncached", exc)
                    warned = True
            finally:
                self._ready = False
                if conn is not None:
                    with contextlib.suppress(Exception):  # already broken
                        conn.close()
            self._stop.wait(RECONNECT_SECONDS)
