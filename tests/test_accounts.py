"""Staff accounts (argon2, no plain email), admin login with CSRF, bearer tokens."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.service import AccountError, authenticate, create_token, create_user
from app.extensions import db
from app.models import ApiToken, User
from tests.helpers import add_user, csrf_token_from, extra_app, fast_argon2, login  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_argon2")

EMAIL = "Ada.Lovelace@Example.org"
PASSWORD = "correct horse battery"


def _table_text(app: Flask, table: str) -> str:
    with app.app_context():
        rows = db.session.execute(sa.text(f"SELECT * FROM {table}")).all()
        db.session.remove()
    return " ".join(str(v) for row in rows for v in row)


def test_cli_user_add_stores_argon2_and_no_plain_email(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["heedful", "user", "add", EMAIL, "--role", "admin"],
        env={"HEEDFUL_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.password_hash.startswith("$argon2")
        assert user.role == "admin"
        assert len(user.email_hmac) == 64
        db.session.remove()
    stored = _table_text(app, "users")
    for forbidden in (EMAIL, EMAIL.lower(), "example.org", PASSWORD):
        assert forbidden.lower() not in stored.lower()


def test_cli_user_add_refuses_duplicates_and_weak_passwords(app: Flask) -> None:
    runner = app.test_cli_runner()
    args = ["heedful", "user", "add", EMAIL, "--role", "marketing"]
    assert runner.invoke(args=args, env={"HEEDFUL_PASSWORD": PASSWORD}).exit_code == 0
    duplicate = runner.invoke(
        args=["heedful", "user", "add", EMAIL.lower(), "--role", "admin"],
        env={"HEEDFUL_PASSWORD": PASSWORD},
    )
    assert duplicate.exit_code != 0
    assert "already exists" in duplicate.output
    weak = runner.invoke(
        args=["heedful", "user", "add", "b@example.org", "--role", "admin"],
        env={"HEEDFUL_PASSWORD": "short"},
    )
    assert weak.exit_code != 0
    assert "at least" in weak.output
    bad_role = runner.invoke(
        args=["heedful", "user", "add", "c@example.org", "--role", "root"],
        env={"HEEDFUL_PASSWORD": PASSWORD},
    )
    assert bad_role.exit_code != 0
    not_email = runner.invoke(
        args=["heedful", "user", "add", "not-an-email", "--role", "admin"],
        env={"HEEDFUL_PASSWORD": PASSWORD},
    )
    assert not_email.exit_code != 0
    assert "Traceback" not in not_email.output
    with app.app_context():
        assert db.session.scalar(select(sa.func.count()).select_from(User)) == 1
        db.session.remove()


def test_cli_user_add_without_password_and_no_terminal_fails_cleanly(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEEDFUL_PASSWORD", raising=False)
    result = app.test_cli_runner().invoke(args=["heedful", "user", "add", EMAIL, "--role", "admin"])
    assert result.exit_code != 0
    assert "HEEDFUL_PASSWORD" in result.output


def test_authenticate(app: Flask) -> None:
    with app.app_context():
        create_user(EMAIL, "finance", PASSWORD)
        assert authenticate(EMAIL.lower(), PASSWORD) is not None
        assert authenticate(EMAIL, PASSWORD + "x") is None
        assert authenticate("nobody@example.org", PASSWORD) is None
        assert authenticate("garbage", PASSWORD) is None
        with pytest.raises(AccountError):
            create_user("x@example.org", "owner", PASSWORD)
        db.session.remove()


# --- admin login with CSRF on ------------------------------------------------------------


@pytest.fixture
def csrf_app(app: Flask, database_url: str, tmp_path: Path):
    with extra_app(database_url, tmp_path, WTF_CSRF_ENABLED=True) as application:
        yield application


def test_login_requires_csrf_token(csrf_app: Flask) -> None:
    add_user(csrf_app, EMAIL, password=PASSWORD)
    client = csrf_app.test_client()
    without = login(client, EMAIL, PASSWORD, csrf_token="")
    assert without.status_code == 400
    assert "CSRF" in without.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # still signed out

    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    bad = login(client, EMAIL, PASSWORD, csrf_token=token[:-4] + "abcd")
    assert bad.status_code == 400

    good = login(client, EMAIL, PASSWORD, csrf_token=token)
    assert good.status_code == 302
    assert good.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200


def test_logout_needs_csrf_and_signs_out(csrf_app: Flask) -> None:
    add_user(csrf_app, EMAIL, password=PASSWORD)
    client = csrf_app.test_client()
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    assert login(client, EMAIL, PASSWORD, csrf_token=token).status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert client.post("/admin/logout").status_code == 400  # no token: refused
    assert client.get("/admin/").status_code == 200
    response = client.post("/admin/logout", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
    assert client.get("/admin/").status_code == 302


def test_wrong_password_shows_an_error(csrf_app: Flask) -> None:
    add_user(csrf_app, EMAIL, password=PASSWORD)
    client = csrf_app.test_client()
    for email, password in ((EMAIL, "wrong password!"), ("nobody@example.org", PASSWORD)):
        token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
        response = login(client, email, password, csrf_token=token)
        assert response.status_code == 200
        assert "do not match" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_inactive_user_cannot_sign_in(app: Flask, client: FlaskClient) -> None:
    user_id = add_user(app, EMAIL, password=PASSWORD)
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
        db.session.remove()
    assert login(client, EMAIL, PASSWORD).status_code == 200
    assert client.get("/admin/").status_code == 302


# --- bearer tokens ---------------------------------------------------------------------------


def test_cli_token_add_prints_once_and_stores_only_sha256(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=["heedful", "token", "add", "reports bot", "--role", "marketing"]
    )
    assert result.exit_code == 0, result.output
    plain = result.output.strip().splitlines()[-1]
    assert plain.startswith("hdf_")
    assert len(plain) >= 40
    with app.app_context():
        token = db.session.scalar(select(ApiToken))
        assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest()
        assert token.role == "marketing"
        assert token.name == "reports bot"
        db.session.remove()
    assert plain not in _table_text(app, "api_tokens")
    assert plain[10:] not in _table_text(app, "api_tokens")


def _token(app: Flask, role: str) -> str:
    with app.app_context():
        _, plain = create_token(f"{role} token", role)
        db.session.remove()
    return plain


def test_sites_endpoint_requires_a_valid_token(app: Flask, client: FlaskClient, site: str) -> None:
    assert client.get("/api/v1/sites").status_code == 401
    assert "error" in client.get("/api/v1/sites").get_json()
    for header in ("Bearer hdf_nottherealtoken", "Bearer ", "Basic dXNlcjpwYXNz", "hdf_x"):
        response = client.get("/api/v1/sites", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert "error" in response.get_json()
    for role in ("marketing", "finance", "admin"):
        response = client.get(
            "/api/v1/sites", headers={"Authorization": f"Bearer {_token(app, role)}"}
        )
        assert response.status_code == 200, role
        assert response.get_json()["sites"] == [
            {"key": site, "name": "Example", "domains": ["example.com"], "policy_version": 1}
        ]


def test_revoked_token_is_refused(app: Flask, client: FlaskClient, site: str) -> None:
    from app.clock import utcnow

    plain = _token(app, "finance")
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/sites", headers=headers).status_code == 200
    with app.app_context():
        db.session.scalar(select(ApiToken)).revoked_at = utcnow()
        db.session.commit()
        db.session.remove()
    assert client.get("/api/v1/sites", headers=headers).status_code == 401


def test_admin_session_reaches_the_sites_endpoint(
    app: Flask, client: FlaskClient, site: str
) -> None:
    add_user(app, EMAIL, role="marketing", password=PASSWORD)
    assert login(client, EMAIL, PASSWORD).status_code == 302
    response = client.get("/api/v1/sites")
    assert response.status_code == 200
    assert [s["key"] for s in response.get_json()["sites"]] == [site]
