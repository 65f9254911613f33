"""Engine tuning per backend, and the one retry loop for writes that can lose a race.

Every wait on the database is bounded (``app.config.DatabaseTimeouts``): on SQLite by the
busy timeout, on PostgreSQL by the server's statement, lock and idle-in-transaction
timeouts, TCP keepalives and ``tcp_user_timeout``, and on the client by a deadline on each
exchange (``DeadlineConnection``), the one bound that holds when the server is frozen.
"""

from __future__ import annotations

import functools
import random
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.config import DatabaseTimeouts, database_timeouts
from app.extensions import db

T = TypeVar("T")


def init_app(app: Flask) -> None:
    timeouts: DatabaseTimeouts = app.config.get("HEEDFUL_DB_TIMEOUTS") or database_timeouts()
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, timeouts))
    elif engine.dialect.driver == "psycopg" and not engine.dialect.is_async:
        # Imported only here: psycopg and libpq take some 17 MB a worker on SQLite.
        from app.database_postgresql import _connect_postgresql, _pinging

        event.listen(engine, "do_connect", functools.partial(_connect_postgresql, timeouts))
        engine.dialect.do_ping = _pinging(engine.dialect.do_ping)  # type: ignore[method-assign]


def _sqlite_pragmas(timeouts: DatabaseTimeouts, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL syncs the log at every commit so
    # an acknowledged consent record or event survives a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={round(timeouts.sqlite_busy * 1000)}")
    cursor.close()


def storage_gone(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or did not answer in time (not
    a lost race): retrying at once would only wait again."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    psycopg = sys.modules.get("psycopg")  # not loaded: the error cannot be one of its own
    if psycopg is None:
        return bool(exc.connection_invalidated)
    # psycopg's OperationalError with no SQLSTATE is a failed connection, not a statement.
    unreachable = type(orig) is psycopg.OperationalError and orig.sqlstate is None
    canceled = isinstance(orig, psycopg.errors.QueryCanceled)
    return exc.connection_invalidated or unreachable or canceled


def commit_retrying(
    write: Callable[[], T],
    *,
    attempts: int,
    busy: Callable[[], Exception],
    within: float | None = None,
) -> T:
    """Run ``write`` and commit once. When a concurrent writer wins a race (it took the
    same unique key, or held SQLite's write lock), roll back and run ``write`` again; after
    ``attempts`` tries, or ``within`` seconds (the request's storage bound by default),
    raise ``busy()``, the caller's "try again" error. A database that cannot be reached
    ends the loop at once with its own error."""
    deadline = time.monotonic() + (_request_bound() if within is None else within)
    for attempt in range(attempts):
        try:
            result = write()
            db.session.commit()
            return result
        except (IntegrityError, OperationalError) as exc:
            db.session.rollback()
            if storage_gone(exc):
                raise
            if time.monotonic() >= deadline:
                break
            # Jitter, so writers that collided do not collide again in lockstep.
            time.sleep(random.uniform(0.001, 0.005) * (attempt + 1))
    raise busy()


def _request_bound() -> float:
    from flask import current_app, has_app_context

    timeouts = current_app.config.get("HEEDFUL_DB_TIMEOUTS") if has_app_context() else None
    return (timeouts or database_timeouts()).request


__all__ = [
    "Engine",
    "commit_retrying",
    "init_app",
    "storage_gone",
]
