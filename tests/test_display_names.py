"""users.display_name: never derived from the email address (invariant 2), always sensible.

A user's address is kept only as a keyed hash; the name the console shows is the one the
admin gave (``heedful user add --name``) or the role and id ("Admin #3"), never the local
part of the address.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from app.accounts.service import AccountError, create_user
from app.extensions import db
from app.models import User
from tests.conftest import make_database_url
from tests.helpers import extra_app, fast_argon2, login  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_argon2")

EMAIL = "Ada.Lovelace@Example.org"
LOCAL_PART = "ada.lovelace"
PASSWORD = "correct horse battery"


def _users_text(app: Flask) -> str:
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT * FROM users")).all()
        db.session.remove()
    return " ".join(str(v) for row in rows for v in row).lower()


def _add(app: Flask, *extra: str) -> object:
    return app.test_cli_runner().invoke(
        args=["heedful", "user", "add", EMAIL, "--role", "admin", *extra],
        env={"HEEDFUL_PASSWORD": PASSWORD},
    )


def test_default_name_is_the_role_and_id_not_the_local_part(app: Flask) -> None:
    result = _add(app)
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.display_name == f"Admin #{user.id}"
        db.session.remove()
    assert f'"name": "Admin #{user.id}"' in result.output
    stored = _users_text(app)
    for part in (LOCAL_PART, "ada", "lovelace", "example.org"):
        assert part not in stored, part


def test_the_admin_may_give_a_name_and_the_console_shows_it(app: Flask) -> None:
    result = _add(app, "--name", "  Ada   L. ")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User.display_name)) == "Ada L."
        db.session.remove()
    client = app.test_client()
    assert login(client, EMAIL, PASSWORD).status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert "Ada L. (admin)" in page
    assert LOCAL_PART not in page.lower()


def test_the_console_shows_the_default_name(app: Flask) -> None:
    with app.app_context():
        user_id = create_user(EMAIL, "marketing", PASSWORD).id
        db.session.remove()
    client = app.test_client()
    assert login(client, EMAIL, PASSWORD).status_code == 302
    page = client.get("/admin/email/").get_data(as_text=True)
    assert f"Marketing #{user_id} (marketing)" in page
    assert LOCAL_PART not in page.lower()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ada.lovelace@example.org", "email address"),
        ("Ada @ work", "email address"),
        ("   ", "1 to 120"),
        ("x" * 121, "1 to 120"),
        ("Ada\x00", "control characters"),
    ],
)
def test_names_that_cannot_be_kept_are_refused(app: Flask, name: str, message: str) -> None:
    with app.app_context():
        with pytest.raises(AccountError, match=message):
            create_user(EMAIL, "admin", PASSWORD, display_name=name)
        assert db.session.scalar(select(sa.func.count()).select_from(User)) == 0
        db.session.remove()
    result = _add(app, "--name", name.replace("\x00", "\x7f"))
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_migration_0009_replaces_names_made_from_addresses(tmp_path: Path) -> None:
    url, cleanup = make_database_url(tmp_path, "names")
    try:
        with extra_app(url, tmp_path / "instance") as application, application.app_context():
            upgrade(revision="0005")
            with db.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO users (id, email_hmac, display_name, role, password_hash,"
                        " active, created_at) VALUES (7, :hmac, :name, 'finance', 'x', :yes, :at)"
                    ),
                    {"hmac": "0" * 64, "name": LOCAL_PART, "yes": True, "at": "2026-01-01"},
                )
            upgrade(revision="0009")
            with db.engine.connect() as conn:
                names = conn.execute(sa.text("SELECT display_name FROM users")).scalars().all()
            assert names == ["Finance #7"]
            db.session.remove()
    finally:
        cleanup()
