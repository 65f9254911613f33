"""SQLite's write-ahead log is synced and checkpointed beside the collection writer's
write turn, not inside it, and still before a batch is acknowledged."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app.collection.batches import CollectedRows
from app.extensions import db
from app.models import Site
from app.models.analytics import Event
from app.storage import GroupWriter, WriteJob, checkpoint
from app.storage import store as store_module
from app.storage.store import RowStore
from tests.collection.helpers import event_row


def _job(site_id: int, path: str) -> WriteJob:
    return CollectedRows(events=[event_row(site_id, path)]).job()


def _until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def sqlite_file(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the checkpointer is for SQLite database files")
        yield db.engine


def test_commits_leave_checkpoints_to_the_checkpointer(app, site, sqlite_file):
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(sqlite_file)
        for index in range(3):
            writer.submit(_job(site_id, f"/page/{index}"))
        # The writer's own commits never checkpoint: that would happen inside the turn.
        raw = writer.store._raw.dbapi_connection
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        checkpointer = writer.store._checkpointer
        assert _until(lambda: checkpointer.checkpoints >= 1)
        assert db.session.scalar(select(func.count()).select_from(Event)) == 3


def test_an_idle_checkpointer_ends_and_the_next_commit_restarts_it(
    app, site, sqlite_file, monkeypatch
):
    monkeypatch.setattr(checkpoint, "IDLE", 0.05)
    monkeypatch.setattr(checkpoint, "INTERVAL", 0.01)
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(sqlite_file)
        checkpointer = writer.store._checkpointer
        writer.submit(_job(site_id, "/first"))
        assert _until(lambda: checkpointer.checkpoints >= 1)
        assert _until(lambda: checkpointer._thread is None)
        passes = checkpointer.checkpoints
        writer.submit(_job(site_id, "/second"))
        assert _until(lambda: checkpointer.checkpoints > passes)


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ("_connect", sqlite3.OperationalError("disk I/O error")),
        ("_write_turn", PermissionError(errno.EACCES, "Permission denied")),
    ],
)
def test_a_failed_checkpoint_is_logged_and_retried(
    app, site, sqlite_file, monkeypatch, caplog, step, error
):
    monkeypatch.setattr(checkpoint, "LOG_PAGES", 1)  # so every pass takes the turn too
    monkeypatch.setattr(checkpoint, "INTERVAL", 0.01)
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(sqlite_file)
        checkpointer = writer.store._checkpointer
        real_step = getattr(checkpointer, step)
        failures = [1]

        def failing_once():
            if failures:
                failures.pop()
                raise error
            return real_step()

        setattr(checkpointer, step, failing_once)
        with caplog.at_level(logging.WARNING, logger="app.storage.checkpoint"):
            writer.submit(_job(site_id, "/first"))
            assert _until(lambda: "checkpoint failed" in caplog.text)
        assert checkpointer.checkpoints == 0
        writer.submit(_job(site_id, "/second"))
        assert _until(lambda: checkpointer.log_restarts >= 1)
        paths = set(db.session.scalars(select(Event.path)))
        assert paths == {"/first", "/second"}


def test_only_sqlite_files_get_a_checkpointer(tmp_path):
    engines = [
        sa.create_engine("sqlite://"),
        sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    ]
    for engine in engines:  # made without connecting
        assert RowStore(engine)._checkpointer is None
    file_engine = sa.create_engine(f"sqlite:///{tmp_path}/x.db")
    assert RowStore(file_engine)._checkpointer is not None
    for engine in [*engines, file_engine]:
        engine.dispose()


def test_a_long_log_is_finished_inside_the_write_turn_so_it_starts_over(
    app, site, sqlite_file, monkeypatch
):
    # Under steady load a checkpoint outside the turn never reaches the log's end, and
    # SQLite starts the log over only after one that did.
    monkeypatch.setattr(checkpoint, "LOG_PAGES", 1)
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        db.session.remove()  # an open read transaction would keep the log from starting over
        writer = GroupWriter(sqlite_file)
        writer.submit(_job(site_id, "/a"))
        # Let the writer's own checkpointer finish its pass: two at once, one is told busy.
        assert _until(lambda: writer.store._checkpointer.checkpoints >= 1)
        database = sqlite_file.url.database
        own = store_module._checkpointer_for(database)
        with store_module._separate_write_turn(database):
            worker = threading.Thread(target=own._checkpoint, args=(None,))
            worker.start()
            worker.join(0.3)
            assert worker.is_alive()  # waiting for the turn
            assert own.log_restarts == 0
        worker.join(5)
        assert own.log_restarts == 1
        writer.submit(_job(site_id, "/b"))
        pages: list[int] = []

        def log_pages() -> bool:  # -1 while the writer's checkpointer is at it
            connection = sqlite3.connect(database)
            try:
                pages.append(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
            finally:
                connection.close()
            return pages[-1] >= 0

        assert _until(log_pages)
        assert 0 < pages[-1] < 20  # only the last commit's pages


def test_the_log_is_synced_outside_the_write_turn_before_submit_returns(
    app, site, sqlite_file, monkeypatch
):
    synced: list[str] = []
    real_fdatasync = os.fdatasync

    def fdatasync(fd: int) -> None:
        # Another open file description conflicts with the turn's lock while it is held.
        probe = os.open(sqlite_file.url.database + ".heedful-writer.lock", os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(probe, fcntl.LOCK_UN)
        finally:
            os.close(probe)
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fdatasync(fd)

    monkeypatch.setattr(store_module.os, "fdatasync", fdatasync)
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(sqlite_file)
        writer.submit(_job(site_id, "/first"))
        assert synced == [sqlite_file.url.database + "-wal"]
        # The commit itself leaves the sync to ``RowStore.sync``.
        raw = writer.store._raw.dbapi_connection
        assert raw.execute("PRAGMA synchronous").fetchone()[0] == 1
        writer.submit(_job(site_id, "/second"))
        assert len(synced) == 2


def test_a_failed_log_sync_fails_the_group_and_the_next_one_is_stored(
    app, site, sqlite_file, monkeypatch
):
    real_fdatasync = os.fdatasync
    failures = [1]

    def fdatasync(fd: int) -> None:
        if failures:
            failures.pop()
            raise OSError(errno.EIO, "Input/output error")
        real_fdatasync(fd)

    monkeypatch.setattr(store_module.os, "fdatasync", fdatasync)
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
        writer = GroupWriter(sqlite_file)
        with pytest.raises(OSError):
            writer.submit(_job(site_id, "/unsure"))
        writer.submit(_job(site_id, "/second"))
        assert "/second" in set(db.session.scalars(select(Event.path)))
