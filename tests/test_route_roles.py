"""Every route carries the one role check (``require_role``) unless it is listed public, and
the JSON API and the HTML pages answer each role alike: admin, marketing, finance, nobody.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.auth import ROLES_ATTRIBUTE
from app.email.service import create_campaign
from app.extensions import db
from tests.email.conftest import role_headers
from tests.helpers import add_user, fast_argon2, login  # noqa: F401

# Endpoints anyone may call, each with why. Everything else must carry require_role.
PUBLIC: dict[str, str] = {
    "assets.banner_asset": "static files of the consent banner, embedded on customer sites",
    "page_assets.page_asset": "static CSS of the console and demo pages, the login page too",
    "page_assets.vendor_asset": "the libraries those pages load (Chart.js), with their licences",
    "admin.login": "the sign-in page itself",
    "consent_api.get_policy": "the banner reads a site's policy before anyone consents",
    "consent_api.post_consent": "a visitor records a choice; the consent id is its secret",
    "consent_api.get_consent": "a visitor reads their choice back with its consent id",
    "consent_api.post_withdraw": "a visitor withdraws with their consent id",
    "privacy_api.get_data": "self-service access, authorised by the consent id",
    "privacy_api.delete_data": "self-service erasure, authorised by the consent id",
    "collection_api.post_collect": "collect: a WSGI layer in front, this route answers OPTIONS",
    "email_pixel.open_pixel": "the open pixel a mail client loads; the token is signed",
    "email_pixel.read_pixel": "the read-time pixel a mail client loads; the token is signed",
    "email_prefs.preference_centre": "a recipient's preference centre, by a signed token",
    "demo.home": "the public landing page",
    "demo.demo_page": "the demo site that shows the banner",
    "demo_files.demo_file": "files the demo site serves",
    "openapi.openapi_json": "the published API description",
}


def test_every_route_has_a_role_check_or_is_listed_public(app: Flask) -> None:
    unchecked = []
    for rule in app.url_map.iter_rules():
        roles = getattr(app.view_functions[rule.endpoint], ROLES_ATTRIBUTE, None)
        if rule.endpoint in PUBLIC:
            assert roles is None, f"{rule.endpoint} is listed public but needs {roles}"
        elif not roles:
            unchecked.append(f"{rule.endpoint} ({rule.rule})")
    assert unchecked == [], "routes without require_role and not listed PUBLIC"


def test_the_public_list_names_only_real_endpoints(app: Flask) -> None:
    assert set(PUBLIC) - set(app.view_functions) == set()


# What each pair of API route and page shows, and the roles (besides admin) that may open it.
ROLES = ["admin", "marketing", "finance", None]  # None: nobody signed in, no token
PAIRS: dict[str, tuple[tuple[str, str], str, tuple[str, ...]]] = {
    "sites": (("GET", "/api/v1/sites"), "/admin/", ("marketing", "finance")),
    "dashboard": (
        ("GET", "/api/v1/reports/{site}/email"),
        "/admin/dashboard/?site={site}",
        ("marketing", "finance"),
    ),
    "email report": (
        ("GET", "/api/v1/email/campaigns/{campaign}"),
        "/admin/email/campaigns/{campaign}",
        ("marketing", "finance"),
    ),
    "email console": (("POST", "/api/v1/email/campaigns"), "/admin/email/", ("marketing",)),
}


@pytest.fixture
def campaign(app: Flask, site: str) -> int:
    with app.app_context():
        campaign_id = create_campaign(site, "Spring", None).id
        db.session.remove()
    return campaign_id


def _bearer(app: Flask, role: str | None) -> dict[str, str]:
    return {} if role is None else role_headers(app, role)


def _sign_in(app: Flask, client: FlaskClient, role: str | None) -> None:
    if role is not None:
        add_user(app, f"{role}@example.com", role)
        assert login(client, f"{role}@example.com").status_code == 302


def _call_api(client: FlaskClient, method: str, path: str, site: str, **kwargs: Any) -> Any:
    body = {"site": site, "name": "Roles"} if method == "POST" else None
    return client.open(path, method=method, json=body, **kwargs)


@pytest.mark.usefixtures("fast_argon2")
@pytest.mark.parametrize("pair", sorted(PAIRS))
@pytest.mark.parametrize("role", ROLES, ids=lambda role: role or "anonymous")
def test_api_and_page_agree_on_each_role(
    app: Flask, client: FlaskClient, site: str, campaign: int, role: str | None, pair: str
) -> None:
    (method, api_path), page_path, admitted = PAIRS[pair]
    api_path, page_path = (p.format(campaign=campaign, site=site) for p in (api_path, page_path))
    allowed = role is not None and (role == "admin" or role in admitted)

    api = _call_api(client, method, api_path, site, headers=_bearer(app, role))
    _sign_in(app, client, role)
    page = client.get(page_path)

    if allowed:
        assert api.status_code in (200, 201), api.get_data(as_text=True)
        assert page.status_code == 200
    elif role is None:
        assert api.status_code == 401 and "error" in api.get_json()
        assert page.status_code == 302
        location = page.headers["Location"]
        assert "/admin/login" in location and "next=" in location
    else:
        assert api.status_code == 403 and "error" in api.get_json()
        assert page.status_code == 403 and page.mimetype == "text/html"
        assert "403" in page.get_data(as_text=True)


@pytest.mark.usefixtures("fast_argon2")
@pytest.mark.parametrize("role", ["admin", "marketing", "finance"])
def test_a_session_reads_the_api_as_its_role(
    app: Flask, client: FlaskClient, site: str, campaign: int, role: str
) -> None:
    _sign_in(app, client, role)
    for pair, ((method, path), _, admitted) in PAIRS.items():
        if method != "GET":
            continue
        status = client.get(path.format(campaign=campaign, site=site)).status_code
        assert status == (200 if role == "admin" or role in admitted else 403), pair


@pytest.mark.usefixtures("fast_argon2")
@pytest.mark.parametrize("role", ["admin", "marketing", "finance"])
def test_the_navigation_links_only_pages_the_role_may_open(
    app: Flask, client: FlaskClient, campaign: int, role: str
) -> None:
    _sign_in(app, client, role)
    may_email = role in ("admin", "marketing")
    for path in ("/admin/", f"/admin/email/campaigns/{campaign}"):
        html = client.get(path).get_data(as_text=True)
        assert 'href="/admin/"' in html
        assert ('href="/admin/email/"' in html) is may_email, path
    assert client.get("/admin/email/").status_code == (200 if may_email else 403)
