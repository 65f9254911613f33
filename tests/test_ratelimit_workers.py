"""Limits hold across the worker processes of one host without Redis (a shared file in
the instance folder), and across hosts with Redis: real gunicorn servers, real sockets."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from app import create_app
from app.extensions import db
from tests.conftest import make_database_url
from tests.unit.test_ratelimit_storage import REDIS_URL, _redis_or_skip

ROOT = Path(__file__).resolve().parent.parent
SITE = "workers"
ORIGIN = "https://www.workers.example"
SECRET = "workers-secret-" + "x" * 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url, cleanup = make_database_url(tmp_path, "workers")
    os.environ.setdefault("HEEDFUL_ENV", "development")
    application = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "RATELIMIT_ENABLED": False},
        instance_path=str(tmp_path / "setup"),
    )
    with application.app_context():
        from app.sites.registry import create_site

        db.create_all()
        create_site("Workers", ["workers.example"], key=SITE)
        db.session.remove()
        db.engine.dispose()
    yield url
    cleanup()


@contextmanager
def gunicorn(database_url: str, instance: Path, **env: str) -> Iterator[int]:
    """``gunicorn`` with 2 gthread workers; yields its port."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "-b",
            f"127.0.0.1:{port}",
            "tests.ratelimit_wsgi:app",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "HEEDFUL_ENV": "development",
            "HEEDFUL_SECRET_KEY": SECRET,
            "HEEDFUL_DATABASE_URL": database_url,
            "TEST_INSTANCE_PATH": str(instance),
            **env,
        },
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, _ = request(port, "GET", f"/api/v1/sites/{SITE}/policy")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def request(port: int, method: str, path: str, body: object = None, **headers: str):
    """One request on a connection of its own, so the kernel spreads them over workers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if isinstance(body, dict):
            payload = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        else:
            payload = body
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("X-Test-Worker"), response.read()
    finally:
        connection.close()


CONSENT = {"site": SITE, "policy_version": 1, "choices": {}, "method": "accept_all"}


def hammer(port: int, count: int) -> tuple[list[int], set[str]]:
    answers, workers = [], set()
    for _ in range(count):
        status, worker, _ = request(port, "POST", "/api/v1/consent", CONSENT, Origin=ORIGIN)
        answers.append(status)
        workers.add(worker)
    return answers, workers


def test_limits_hold_across_the_workers_of_one_host(database: str, tmp_path: Path) -> None:
    env = {
        "HEEDFUL_CONSENT_RATE": "10/minute",
        "HEEDFUL_LOGIN_RATE": "20/minute",
        "HEEDFUL_COLLECT_RATE_PER_ADDRESS": "15/minute",
    }
    with gunicorn(database, tmp_path / "host", **env) as port:
        answers, workers = hammer(port, 25)
        assert answers.count(201) == 10 and answers.count(429) == 15, answers
        logins = []
        for index in range(29):
            status, worker, _ = request(
                port,
                "POST",
                "/admin/login",
                f"email=u{index}%40example.com&password=wrong-password",
                **{"Content-Type": "application/x-www-form-urlencoded"},
            )
            logins.append(status)
            workers.add(worker)
        assert logins.count(429) == 9 and 429 not in logins[:20], logins
        collected = []
        for _ in range(20):
            batch = {
                "site": SITE,
                "consent_id": "x" * 32,  # unknown: dropped, but counted all the same
                "events": [{"type": "pageview", "url": ORIGIN + "/"}],
            }
            status, _, body = request(
                port, "POST", "/api/v1/collect", batch, Origin=ORIGIN, **{"User-Agent": "x"}
            )
            collected.append(status)
        assert collected.count(429) == 5 and 429 not in collected[:15], collected
        refused = json.loads(body)
        assert set(refused) == {"error"}
    # With memory:// each worker would have counted on its own: the test only shows
    # something when both workers answered.
    assert len(workers - {None}) == 2, workers


def test_limits_hold_across_hosts_with_redis(database: str, tmp_path: Path) -> None:
    _redis_or_skip()
    env = {
        "HEEDFUL_REDIS_URL": REDIS_URL,
        "TEST_RATELIMIT_PREFIX": f"heedful-test-{secrets.token_hex(4)}",
        "HEEDFUL_CONSENT_RATE": "12/minute",
    }
    with (
        gunicorn(database, tmp_path / "host-a", **env) as first,
        gunicorn(database, tmp_path / "host-b", **env) as second,
    ):
        answers = []
        for index in range(30):
            status, _, _ = request(
                (first, second)[index % 2], "POST", "/api/v1/consent", CONSENT, Origin=ORIGIN
            )
            answers.append(status)
    assert answers.count(201) == 12 and answers.count(429) == 18, answers
    keys = redis.from_url(REDIS_URL).keys("*" + env["TEST_RATELIMIT_PREFIX"] + "*")
    assert keys and not any(b"127.0.0.1" in key for key in keys)  # hashed addresses only
