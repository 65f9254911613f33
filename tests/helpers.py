"""Helpers shared by the foundation tests (extra app instances, logins, CLI)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db, reset_process_state
from app.storage.cache import shared_cache
from tests.conftest import test_config

CSRF_FIELD = re.compile(r'name="(?:[\w-]+-)?csrf_token"[^>]*value="([^"]+)"')


@contextmanager
def extra_app(database_url: str, instance_path: Path | str, **config: Any) -> Iterator[Flask]:
    """A second app instance (another "worker") on ``database_url``; engines disposed after."""
    os.environ.setdefault("HEEDFUL_ENV", "development")  # as the session app fixture does
    application = create_app(test_config(database_url, **config), instance_path=str(instance_path))
    try:
        yield application
    finally:
        with application.app_context():
            shared_cache().stop()
            reset_process_state(application)
            db.session.remove()
            db.engine.dispose()


def csrf_token_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def add_user(app: Flask, email: str, role: str = "admin", password: str = "correct horse 1") -> int:
    from app.accounts.service import create_user

    with app.app_context():
        user_id = create_user(email, role, password).id
        db.session.remove()
    return user_id


def login(client: FlaskClient, email: str, password: str = "correct horse 1", **extra: str) -> Any:
    """Sign in through the real form, CSRF token included unless the caller passes one."""
    if "csrf_token" not in extra:
        page = client.get("/admin/login")
        if page.status_code == 200:
            extra["csrf_token"] = csrf_token_from(page.get_data(as_text=True))
    return client.post(
        "/admin/login", data={"email": email, "password": password, **extra}, follow_redirects=False
    )


@pytest.fixture
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: still argon2id hashes, a fraction of the CPU per login."""
    from argon2 import PasswordHasher

    import app.accounts.service as accounts

    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
