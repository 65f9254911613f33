"""Shared fixtures. The whole suite runs once per backend:

* SQLite (default): a database file in a temporary folder;
* PostgreSQL: ``HEEDFUL_TEST_BACKEND=postgresql`` with ``HEEDFUL_TEST_DATABASE_URL``;
  each pytest process works in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import RATE_GUARD, db, reset_process_state
from app.storage.cache import shared_cache
from tests.audit import audit_database

BACKEND = os.environ.get("HEEDFUL_TEST_BACKEND", "sqlite")
TEST_SECRET = "test-secret-" + "x" * 40


def _postgres_url() -> str:
    url = os.environ.get("HEEDFUL_TEST_DATABASE_URL")
    if not url:
        pytest.exit("HEEDFUL_TEST_BACKEND=postgresql needs HEEDFUL_TEST_DATABASE_URL", 2)
    return url


def make_database_url(tmp: Path, label: str) -> tuple[str, Any]:
    """A fresh, empty database for this backend; returns (url, cleanup)."""
    if BACKEND == "sqlite":
        return f"sqlite:///{tmp / (label + '.db')}", lambda: None
    base = _postgres_url()
    schema = f"t_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"

    def cleanup() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return url, cleanup


def test_config(database_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # CSRF stays on, as in production: a public endpoint that forgot its exemption
        # must fail here, not only on a real deployment.
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
        "HEEDFUL_ALLOW_HEADLESS": True,
        "HEEDFUL_GEOIP_CITY_DB": None,
        "HEEDFUL_GEOIP_ASN_DB": None,
        "HEEDFUL_REDIS_URL": None,
        **extra,
    }


test_config.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, cleanup = make_database_url(tmp_path_factory.mktemp("db"), "main")
    yield url
    cleanup()


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    os.environ.setdefault("HEEDFUL_ENV", "development")
    instance = tmp_path_factory.mktemp("instance")
    application = create_app(test_config(database_url), instance_path=str(instance))
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        shared_cache().stop()
        db.session.remove()
        db.engine.dispose()


def truncate_all(application: Flask) -> None:
    with application.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        shared_cache().clear()
        reset_process_state(application)
    # Rate counters and the pixel's repeat window outlive rows whose ids are reused.
    application.extensions[RATE_GUARD].reset()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: check invariant 2 on what it stored, then empty the tables."""
    yield
    if "app" in request.fixturenames:
        application = request.getfixturevalue("app")
        problems = audit_database(application)
        truncate_all(application)
        assert not problems, "personal data reached the database:\n" + "\n".join(problems)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.remove()


SITE_KEY = "testsite"
SITE_ORIGIN = "https://www.example.com"


@pytest.fixture
def site(app: Flask) -> str:
    """A site on example.com with the default policy; returns its key."""
    from app.sites.registry import create_site

    with app.app_context():
        create_site("Example", ["example.com"], key=SITE_KEY)
        db.session.remove()
    return SITE_KEY


def give_consent(
    client: FlaskClient,
    site_key: str = SITE_KEY,
    *,
    method: str = "accept_all",
    choices: dict[str, bool] | None = None,
    consent_id: str | None = None,
    policy_version: int = 1,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "site": site_key,
        "policy_version": policy_version,
        "choices": choices or {},
        "method": method,
        "lang": "en",
    }
    if consent_id:
        body["consent_id"] = consent_id
    response = client.post("/api/v1/consent", json=body, headers=headers or {})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


class LiveServer:
    def __init__(self, application: Flask) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, application, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
