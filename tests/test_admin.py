"""The staff console under /admin: sign-in required, sites and their policy versions."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.consent.policy import update_policy
from app.extensions import db
from app.sites.registry import create_site, get_site
from tests.helpers import add_user, csrf_token_from, fast_argon2, login  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_argon2")

EMAIL = "staff@example.org"


def test_admin_requires_login(client: FlaskClient) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
    assert "next=" in response.headers["Location"]


def test_login_page_renders(client: FlaskClient) -> None:
    response = client.get("/admin/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'type="password"' in html
    assert 'autocomplete="current-password"' in html


def test_dashboard_lists_sites_with_policy_versions(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_site("Shop", ["shop.example"], key="shop")
        create_site("Blog", ["blog.example"], key="blog")
        update_policy(get_site("shop"), consent_days=90)
        db.session.remove()
    add_user(app, EMAIL)
    assert login(client, EMAIL).status_code == 302
    html = client.get("/admin/").get_data(as_text=True)
    assert "Shop" in html and "Blog" in html
    assert "<code>shop</code>" in html and "<code>blog</code>" in html
    shop = html[html.index("<code>shop</code>") :]
    assert "v2" in shop and "v1" in shop
    assert html.index("Blog") < html.index("Shop")  # ordered by name
    # The role and id, not the address's local part ("staff"): see test_display_names.py.
    assert re.search(r"Admin #\d+ \(admin\)", html)


def test_signed_in_user_skips_the_login_page(app: Flask, client: FlaskClient) -> None:
    add_user(app, EMAIL)
    login(client, EMAIL)
    response = client.get("/admin/login")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")


def test_login_follows_next_only_within_admin(app: Flask, client: FlaskClient) -> None:
    add_user(app, EMAIL)
    for target, expected in (
        ("/admin/?tab=sites", "/admin/?tab=sites"),
        ("https://evil.test/admin/", "/admin/"),
        ("//evil.test/admin/", "/admin/"),
        ("/demo", "/admin/"),
    ):
        fresh = app.test_client()
        token = csrf_token_from(fresh.get("/admin/login").get_data(as_text=True))
        response = fresh.post(
            f"/admin/login?next={target}",
            data={"email": EMAIL, "password": "correct horse 1", "csrf_token": token},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == expected, target


def test_admin_404_is_an_html_page(app: Flask, client: FlaskClient) -> None:
    add_user(app, EMAIL)
    login(client, EMAIL)
    response = client.get("/admin/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "404" in response.get_data(as_text=True)


def test_session_cookie_flags(app: Flask, client: FlaskClient) -> None:
    add_user(app, EMAIL)
    response = login(client, EMAIL)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
