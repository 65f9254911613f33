"""Checkpoints of SQLite's write-ahead log, run beside the writers instead of inside them.

SQLite's automatic checkpoint runs in whichever commit takes the log past 1,000 pages,
inside that commit's call: the collection writer was still holding the write turn while
it copied the log into the database file and synced it, so every worker's requests waited.
The writer's connection turns automatic checkpoints off and wakes a ``WalCheckpointer``
after each commit; its thread runs PASSIVE checkpoints, which never wait for or block
writers and readers, at most every ``INTERVAL`` seconds.

Under steady load writers append while a checkpoint copies, so it never reaches the log's
end, and SQLite starts the log over only after a checkpoint that did: the log would grow
without bound (to hundreds of megabytes in a minute of the ingest bench), and every page
lookup in it would slow down. So once the log is past ``LOG_PAGES`` the checkpointer takes
the write turn and checkpoints again: this copies only what arrived during its first pass,
and the next commit starts the log from its beginning. The thread ends after ``IDLE``
seconds without commits and the next commit starts it again, so an idle process, or a
test's throw-away app, keeps neither a thread nor a connection. Its connection is its own,
not the engine pool's, so it never takes one that request handlers wait for.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

INTERVAL = 0.2
IDLE = 60.0
LOG_PAGES = 1000  # SQLite's own threshold for its automatic checkpoint


class WalCheckpointer:
    def __init__(
        self, database: str, write_turn: Callable[[], contextlib.AbstractContextManager[None]]
    ) -> None:
        self.database = database
        self._write_turn = write_turn
        self.checkpoints = 0  # completed passes, for tests and diagnostics
        self.log_restarts = 0  # passes that finished the log inside the write turn
        self._wrote = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """Note a commit: a checkpoint follows within ``INTERVAL`` seconds."""
        self._wrote.set()
        with self._lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name="heedful-wal-checkpoint", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # Out of threads: the rows are committed all the same; the next commit
                # tries again, and until then the log only grows.
                log.warning("could not start the write-ahead log checkpointer", exc_info=True)
                return
            self._thread = thread

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while self._wait_for_commit():
                self._wrote.clear()
                connection = self._checkpoint(connection)
                time.sleep(INTERVAL)
        finally:
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
            with self._lock:
                # After an unexpected error too, so the next commit starts a new thread.
                if self._thread is threading.current_thread():
                    self._thread = None

    def _wait_for_commit(self) -> bool:
        if self._wrote.wait(IDLE):
            return True
        with self._lock:
            # Checked under the lock ``committed`` takes, so a commit either sees this
            # thread gone (and starts another) or is seen here.
            if self._wrote.is_set():
                return True
            self._thread = None
            return False

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.database, isolation_level=None)
        # A checkpoint syncs the log before copying it and the database file after.
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    def _checkpoint(self, connection: sqlite3.Connection | None) -> sqlite3.Connection | None:
        """One PASSIVE checkpoint; returns the connection to use next time (None after an
        error, so the next pass opens a new one)."""
        try:
            if connection is None:
                connection = self._connect()
            _busy, log_pages, _copied = connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
            if log_pages < 0:
                # Another worker's checkpointer is at it: try again after the interval.
                self._wrote.set()
                return connection
            if log_pages >= LOG_PAGES:
                with self._write_turn():
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.log_restarts += 1
            self.checkpoints += 1
            return connection
        except (sqlite3.Error, OSError):
            # Nothing is lost: the log keeps every commit until a later pass succeeds.
            log.warning("write-ahead log checkpoint failed; retrying later", exc_info=True)
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
            return None
