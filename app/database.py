"""Engine tuning per backend, and the one retry loop for writes that can lose a race."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db

T = TypeVar("T")


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL syncs the log at every commit so
    # an acknowledged consent record or event survives a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def commit_retrying(write: Callable[[], T], *, attempts: int, busy: Callable[[], Exception]) -> T:
    """Run ``write`` and commit once. When a concurrent writer wins a race (it took the
    same unique key, or held SQLite's write lock), roll back and run ``write`` again; after
    ``attempts`` tries raise ``busy()``, the caller's "try again" error."""
    for attempt in range(attempts):
        try:
            result = write()
            db.session.commit()
            return result
        except (IntegrityError, OperationalError):
            db.session.rollback()
            # Jitter, so writers that collided do not collide again in lockstep.
            time.sleep(random.uniform(0.001, 0.005) * (attempt + 1))
    raise busy()


__all__ = ["Engine", "commit_retrying", "init_app"]
