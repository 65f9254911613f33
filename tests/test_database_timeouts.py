"""Every wait on the database is bounded, with the values of ``DatabaseTimeouts``."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import sqlalchemy as sa

from app.config import ConfigError, DatabaseTimeouts, database_timeouts, engine_options
from app.database_postgresql import _Breaker, _deadline_class
from app.extensions import db
from tests.conftest import BACKEND

postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL run only")


def test_the_timeouts_reach_both_backends_engine_options() -> None:
    timeouts = DatabaseTimeouts()
    postgres = engine_options("postgresql+psycopg://heedful@db.internal/heedful", timeouts)
    assert postgres["pool_timeout"] == timeouts.pool
    assert postgres["connect_args"] == {
        "connect_timeout": timeouts.connect,
        "keepalives": 1,
        "keepalives_idle": timeouts.keepalive_idle,
        "keepalives_interval": timeouts.keepalive_interval,
        "keepalives_count": timeouts.keepalive_count,
        "tcp_user_timeout": round(timeouts.tcp_user_timeout * 1000),
    }
    assert timeouts.server_options() == (
        "-c statement_timeout=5000 -c lock_timeout=2000 "
        "-c idle_in_transaction_session_timeout=10000"
    )
    sqlite = engine_options("sqlite:///heedful.db", timeouts)
    assert sqlite["connect_args"]["timeout"] == timeouts.sqlite_busy
    # A request's storage bound stays well inside a proxy's or gunicorn's own timeouts.
    assert timeouts.write_wait < timeouts.request < 30


def test_the_statement_timeout_can_be_raised_for_long_jobs() -> None:
    assert database_timeouts({"HEEDFUL_DB_STATEMENT_TIMEOUT": "600"}).statement == 600
    assert database_timeouts({}, command=False).statement == DatabaseTimeouts.statement
    with pytest.raises(ConfigError):
        database_timeouts({"HEEDFUL_DB_STATEMENT_TIMEOUT": "0"})


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite run only")
def test_sqlite_waits_for_another_writer_a_bounded_time(app) -> None:
    with app.app_context(), db.engine.connect() as connection:
        busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert busy == DatabaseTimeouts().sqlite_busy * 1000


@postgresql_only
def test_postgresql_sessions_carry_the_server_side_timeouts(app, database_url) -> None:
    with app.app_context(), db.engine.connect() as connection:
        shown = {
            name: connection.exec_driver_sql(f"SHOW {name}").scalar()
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        }
        search_path = connection.exec_driver_sql("SHOW search_path").scalar()
    assert shown == {
        "statement_timeout": "5s",
        "lock_timeout": "2s",
        "idle_in_transaction_session_timeout": "10s",
    }
    # Added to the URL's own options (the test schema), not in place of them.
    assert search_path.strip('"') in database_url


def _connect(database_url: str, round_trip: float) -> psycopg.Connection:
    url = sa.engine.make_url(database_url)
    params = {k: v for k, v in url.translate_connect_args(username="user").items() if v}
    params["dbname"] = params.pop("database")
    connection = _deadline_class(round_trip, 0.2).connect(
        autocommit=True, options=url.query.get("options", ""), **params
    )
    connection.breaker = _Breaker()
    return connection


@postgresql_only
def test_an_exchange_without_an_answer_is_given_up_and_its_connection_dropped(
    database_url,
) -> None:
    connection = _connect(database_url, round_trip=0.5)
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="did not answer"):
        connection.execute("SELECT pg_sleep(3)")  # the client cannot tell it from a freeze
    assert time.monotonic() - started < 2.5
    assert connection.closed  # SQLAlchemy takes it for a disconnect
    assert connection.breaker.opened_at is not None


@postgresql_only
def test_an_open_breaker_frees_waiting_exchanges_and_admits_one_probe(database_url) -> None:
    waiting, probe = _connect(database_url, 30.0), _connect(database_url, 30.0)
    breaker = probe.breaker = waiting.breaker
    errors: list[BaseException] = []

    def wait_long() -> None:
        try:
            waiting.execute("SELECT pg_sleep(5)")
        except psycopg.OperationalError as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait_long)
    thread.start()
    time.sleep(0.3)
    breaker.unanswered()  # as when another exchange with the server got no answer
    thread.join(3)  # given up at once, not after its 5 s
    assert not thread.is_alive() and errors
    assert breaker.admit() is True  # one probe at a time...
    assert breaker.admit() is False  # ...the others are refused without waiting
    breaker.answered()
    assert probe.execute("SELECT 1").fetchone() == (1,)  # the answer closes it
    assert breaker.opened_at is None
    probe.close()


def test_command_line_jobs_may_run_long_statements() -> None:
    assert database_timeouts({}, command=True).statement == 3600
    assert database_timeouts({}, command=False).statement == DatabaseTimeouts.statement
    explicit = {"HEEDFUL_DB_STATEMENT_TIMEOUT": "60"}
    assert database_timeouts(explicit, command=True).statement == 60
    assert database_timeouts({}, command=True).idle_in_transaction == 3600
