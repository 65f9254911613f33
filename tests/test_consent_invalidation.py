"""Invariant 1 across hosts: a withdrawal cannot be lost, whatever Redis does.

In-process tests use several app instances; the ``hosts`` tests run real separate
processes (``tests/consent_host.py``) on one database.
"""

from __future__ import annotations

import contextlib
import select as select_module
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from app.consent import service
from app.consent.gate import consent_allows
from app.consent.service import withdraw_consent
from app.extensions import db
from app.models import ConsentRecord, StampOutbox
from app.models.analytics import Event
from app.storage.cache import shared_cache
from tests.collection.helpers import CHROME_UA, PAGE, collect
from tests.conftest import BACKEND, SITE_KEY, SITE_ORIGIN, give_consent
from tests.helpers import extra_app

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parent.parent
SEEN_WITHIN = 1.0  # seconds: how soon every host must stop collecting after a withdrawal


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_up(), reason="needs Redis at 127.0.0.1:6379")
needs_postgresql = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="several hosts share one database only on PostgreSQL (run with "
    "HEEDFUL_TEST_BACKEND=postgresql)",
)


def _closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unreachable_redis() -> str:
    return f"redis://127.0.0.1:{_closed_port()}/0"


def _allows(app: Flask, consent_id: str) -> bool:
    with app.app_context():
        try:
            return consent_allows(SITE_KEY, consent_id, "analytics")
        finally:
            db.session.remove()


def _count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(model).where(*where))
        finally:
            db.session.remove()


def _cut_redis(app: Flask) -> Any:
    """Make ``app`` unable to reach Redis; returns what puts it back."""
    with app.app_context():
        generations = shared_cache().generations
    reachable = generations._redis
    generations._redis = redis.Redis.from_url(
        _unreachable_redis(), socket_connect_timeout=0.25, socket_timeout=0.25
    )

    def restore() -> None:
        generations._redis = reachable
        generations._down_until = 0.0  # skip the one-second pause after a failure

    return restore


def _freeze_cache_clock(app: Flask) -> None:
    """Entries never grow old: what a test then sees comes from the stamps alone."""
    with app.app_context():
        shared_cache().clock = lambda: 1000.0


def _wait_for(condition: Any, timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(0.02)
    return time.monotonic() - start


def _withdrawals(app: Flask, consent_id: str) -> int:
    return _count(
        app,
        ConsentRecord,
        ConsentRecord.consent_id == consent_id,
        ConsentRecord.kind == "withdrawal",
    )


# --- retries and storage failures -----------------------------------------------------


def test_retried_withdrawal_returns_the_first_and_stores_one(
    app: Flask, client: FlaskClient, site: str
) -> None:
    consent_id = give_consent(client)["consent_id"]
    first = client.post(f"/api/v1/consent/{consent_id}/withdraw")
    again = client.post(f"/api/v1/consent/{consent_id}/withdraw")
    assert first.status_code == again.status_code == 200
    assert again.get_json()["receipt"] == first.get_json()["receipt"]
    assert again.get_json()["status"] == "withdrawn"
    assert _withdrawals(app, consent_id) == 1
    # A new choice, then a withdrawal again: that one is a new record.
    give_consent(client, consent_id=consent_id)
    assert client.post(f"/api/v1/consent/{consent_id}/withdraw").status_code == 200
    assert _withdrawals(app, consent_id) == 2


def test_busy_consent_store_answers_503_with_retry_after(
    app: Flask, client: FlaskClient, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    consent_id = give_consent(client)["consent_id"]

    def locked() -> None:
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(service, "WRITE_ATTEMPTS", 2)
    monkeypatch.setattr(db.session, "commit", locked)
    response = client.post(f"/api/v1/consent/{consent_id}/withdraw")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    monkeypatch.undo()
    assert _withdrawals(app, consent_id) == 0
    assert "Retry-After" not in give_consent_response(client, consent_id).headers


def give_consent_response(client: FlaskClient, consent_id: str) -> Any:
    body = {"site": SITE_KEY, "consent_id": consent_id, "policy_version": 1}
    response = client.post("/api/v1/consent", json={**body, "method": "accept_all"})
    assert response.status_code == 201
    return response


def test_consent_endpoints_answer_from_the_database_when_redis_is_unreachable(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    """Every host's Redis is gone: nothing answers 5xx and nothing is collected wrongly."""
    with extra_app(database_url, tmp_path, HEEDFUL_REDIS_URL=_unreachable_redis()) as host:
        client = host.test_client()
        started = time.monotonic()
        assert client.get(f"/api/v1/sites/{SITE_KEY}/policy").status_code == 200
        consent_id = give_consent(client)["consent_id"]
        assert client.get(f"/api/v1/consent/{consent_id}").status_code == 200
        assert collect(client, consent_id).get_json()["accepted"] == 1
        assert client.post(f"/api/v1/consent/{consent_id}/withdraw").status_code == 200
        assert collect(client, consent_id).get_json() == {"accepted": 0, "dropped": 1}
        assert client.post(f"/api/v1/consent/{consent_id}/withdraw").status_code == 200
        assert client.get(f"/api/v1/consent/{consent_id}").get_json()["status"] == "withdrawn"
        assert time.monotonic() - started < 5  # short timeouts: no request hangs on Redis
        assert _count(host, Event) == 1
        # The invalidations wait in the outbox for Redis (one row per stamp slot).
        assert _count(host, StampOutbox) >= 2


# --- one host's Redis fails -----------------------------------------------------------


@needs_redis
def test_a_reader_that_cannot_read_the_stamps_asks_the_database(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    with (
        extra_app(database_url, tmp_path / "r", HEEDFUL_REDIS_URL=REDIS_URL) as reader,
        extra_app(database_url, tmp_path / "w", HEEDFUL_REDIS_URL=REDIS_URL) as writer,
    ):
        _freeze_cache_clock(reader)
        consent_id = give_consent(writer.test_client())["consent_id"]
        assert _allows(reader, consent_id)  # cached, and trusted while the stamp holds
        restore = _cut_redis(reader)
        withdrawn = writer.test_client().post(f"/api/v1/consent/{consent_id}/withdraw")
        assert withdrawn.status_code == 200
        assert not _allows(reader, consent_id)  # stamps unreadable: the database decides
        assert collect(reader.test_client(), consent_id).get_json()["accepted"] == 0
        restore()
        assert not _allows(reader, consent_id)  # back on Redis, and its new stamp
        assert _count(reader, Event) == 0


@needs_redis
def test_the_outbox_delivers_the_stamp_once_redis_is_back(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    with (
        extra_app(database_url, tmp_path / "r", HEEDFUL_REDIS_URL=REDIS_URL) as reader,
        extra_app(database_url, tmp_path / "w", HEEDFUL_REDIS_URL=REDIS_URL) as writer,
    ):
        _freeze_cache_clock(reader)
        consent_id = give_consent(writer.test_client())["consent_id"]
        _wait_for(lambda: _count(writer, StampOutbox) == 0, timeout=5)  # delivered rows go
        assert _allows(reader, consent_id)
        restore = _cut_redis(writer)
        response = writer.test_client().post(f"/api/v1/consent/{consent_id}/withdraw")
        assert response.status_code == 200  # committed; the stamp waits in the outbox
        assert _count(writer, StampOutbox) == 1
        # With entries that never age, only the stamp can tell the reader.
        assert _allows(reader, consent_id)
        restore()
        _wait_for(lambda: _count(writer, StampOutbox) == 0, timeout=5)
        assert not _allows(reader, consent_id)


# --- separate processes ---------------------------------------------------------------


class Host:
    """``tests/consent_host.py`` in a process of its own."""

    def __init__(self, database_url: str, instance: Path, redis_url: str | None) -> None:
        args = [sys.executable, "-m", "tests.consent_host", database_url, str(instance)]
        self.process = subprocess.Popen(
            [*args, *([redis_url] if redis_url else [])],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = ""

    def wait_ready(self, timeout: float = 60) -> Host:
        assert self.process.stdout is not None
        ready, _, _ = select_module.select([self.process.stdout], [], [], timeout)
        assert ready, "host did not start"
        line = self.process.stdout.readline()
        assert line.startswith("port "), line
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def post(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        headers = {"Origin": SITE_ORIGIN, "User-Agent": CHROME_UA}
        return requests.post(self.url + path, json=body, headers=headers, timeout=10)

    def collect(self, consent_id: str) -> dict[str, Any]:
        body = {"site": SITE_KEY, "consent_id": consent_id, "events": [{"type": "pageview"}]}
        body["events"][0]["url"] = PAGE
        response = self.post("/api/v1/collect", body)
        assert response.status_code == 202, response.text
        return response.json()


@contextlib.contextmanager
def hosts(database_url: str, tmp: Path, *redis_urls: str | None) -> Iterator[list[Host]]:
    started = [Host(database_url, tmp / f"host{i}", url) for i, url in enumerate(redis_urls)]
    try:
        yield [host.wait_ready() for host in started]
    finally:
        for host in started:
            host.stop()


def _withdraw_on_one_host_and_time_the_other(writer: Host, reader: Host, app: Flask) -> float:
    body = {"site": SITE_KEY, "policy_version": 1, "method": "accept_all", "lang": "en"}
    consent_id = reader.post("/api/v1/consent", body).json()["consent_id"]
    for _ in range(5):  # the reader collects, so it has the consent cached
        assert reader.collect(consent_id)["accepted"] == 1
    response = writer.post(f"/api/v1/consent/{consent_id}/withdraw")
    assert response.status_code == 200, response.text
    acknowledged = time.monotonic()
    while reader.collect(consent_id)["accepted"]:
        assert time.monotonic() - acknowledged < SEEN_WITHIN, "the other host kept collecting"
    seen_after = time.monotonic() - acknowledged
    stored = _count(app, Event)
    for _ in range(5):
        assert reader.collect(consent_id) == {"accepted": 0, "dropped": 1}
    assert _count(app, Event) == stored  # nothing more is stored
    return seen_after


@pytest.mark.slow
@needs_redis
@needs_postgresql
def test_two_hosts_a_withdrawal_on_a_host_without_redis_stops_the_other(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    """Both hosts are configured with Redis; the withdrawing one cannot reach it."""
    with hosts(database_url, tmp_path, _unreachable_redis(), REDIS_URL) as (writer, reader):
        seen_after = _withdraw_on_one_host_and_time_the_other(writer, reader, app)
    print(f"withdrawal seen by the other host after {seen_after * 1000:.0f} ms")


@pytest.mark.slow
@needs_postgresql
def test_two_hosts_on_postgresql_without_redis_share_a_withdrawal(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    """No Redis, separate instance folders (no shared stamp file): LISTEN/NOTIFY."""
    with hosts(database_url, tmp_path, None, None) as (writer, reader):
        seen_after = _withdraw_on_one_host_and_time_the_other(writer, reader, app)
    print(f"withdrawal seen by the other host after {seen_after * 1000:.0f} ms")


# --- PostgreSQL without Redis, in process ---------------------------------------------


def _listening(app: Flask) -> None:
    """Start ``app``'s listener and wait until it hears other hosts."""
    with app.app_context():
        generations = shared_cache().generations
    generations.start()
    _wait_for(lambda: generations.listening, timeout=10)


@needs_postgresql
def test_a_notify_carries_a_withdrawal_to_a_host_with_a_stamp_file_of_its_own(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    with (
        extra_app(database_url, tmp_path / "a") as host_a,
        extra_app(database_url, tmp_path / "b") as host_b,
    ):
        _freeze_cache_clock(host_a)  # so only the notification can tell host A
        _listening(host_a)
        consent_id = give_consent(host_b.test_client())["consent_id"]
        assert _allows(host_a, consent_id)
        assert (
            host_b.test_client().post(f"/api/v1/consent/{consent_id}/withdraw").status_code == 200
        )
        seen_after = _wait_for(lambda: not _allows(host_a, consent_id), timeout=SEEN_WITHIN)
        print(f"notification seen after {seen_after * 1000:.0f} ms")


@needs_postgresql
def test_a_host_whose_listener_is_cut_off_asks_the_database(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    with (
        extra_app(database_url, tmp_path / "a") as host_a,
        extra_app(database_url, tmp_path / "b") as host_b,
    ):
        _freeze_cache_clock(host_a)
        _listening(host_a)
        consent_id = give_consent(host_b.test_client())["consent_id"]
        assert _allows(host_a, consent_id)
        with host_a.app_context():
            generations = shared_cache().generations
        connect = generations._connect

        def unreachable() -> Any:
            raise OSError("PostgreSQL is out of reach")

        generations._connect = unreachable
        with host_a.app_context():
            # The listener's connection dies (this very backend, nobody else's).
            db.session.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": generations.backend_pid}
            )
            db.session.commit()
            db.session.remove()
        _wait_for(lambda: not generations.listening, timeout=5)
        # Withdrawn while host A hears nothing: its stamps are unreadable, so it asks.
        with host_b.app_context():
            withdraw_consent(consent_id)
            db.session.remove()
        assert not _allows(host_a, consent_id)
        assert collect(host_a.test_client(), consent_id).get_json()["accepted"] == 0
        generations._connect = connect
        _listening(host_a)  # back, with its cache dropped
        assert not _allows(host_a, consent_id)


def test_postgresql_without_redis_on_a_driver_that_cannot_listen_is_refused() -> None:
    from app.storage.cache import _require_psycopg

    _require_psycopg("postgresql+psycopg://app@db/heedful")
    with pytest.raises(RuntimeError, match="LISTEN/NOTIFY.*HEEDFUL_REDIS_URL"):
        _require_psycopg("postgresql+psycopg2://app@db/heedful")
