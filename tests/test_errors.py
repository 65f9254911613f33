"""Errors: JSON under /api, HTML elsewhere; a failed request's writes are rolled back."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import Site
from tests.helpers import extra_app


def test_unknown_api_route_is_json_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert isinstance(response.get_json()["error"], str)


def test_wrong_method_is_json_405_with_allow(client: FlaskClient) -> None:
    response = client.put("/api/v1/consent")
    assert response.status_code == 405
    assert "error" in response.get_json()
    assert "POST" in response.headers["Allow"]


def test_unknown_page_is_html_404(client: FlaskClient) -> None:
    for path in ("/admin/nothing-here", "/nothing-here"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "<h1>404" in response.get_data(as_text=True)


def test_api_error_carries_extra_fields(client: FlaskClient, site: str) -> None:
    response = client.post(
        "/api/v1/consent",
        json={"site": site, "policy_version": 9, "method": "accept_all", "choices": {}},
    )
    assert response.status_code == 409
    assert set(response.get_json()) == {"error", "policy_version"}


@pytest.fixture
def failing_app(app: Flask, database_url: str, tmp_path: Path):
    """An app with routes that write a site and then fail."""
    with extra_app(database_url, tmp_path, TESTING=False, PROPAGATE_EXCEPTIONS=False) as failing:

        def add_site_then_fail(key: str) -> str:
            db.session.add(Site(key=key, name="Doomed", domains=["doomed.example"], settings={}))
            db.session.flush()  # the row really reaches the database before the error
            raise RuntimeError("boom")

        failing.add_url_rule(
            "/api/v1/_test/fail", "api_fail", lambda: add_site_then_fail("doomed-api")
        )
        failing.add_url_rule("/_test/fail", "html_fail", lambda: add_site_then_fail("doomed-html"))
        yield failing


def _site_exists(app: Flask, key: str) -> bool:
    with app.app_context():
        found = db.session.scalar(select(Site).where(Site.key == key)) is not None
        db.session.remove()
    return found


def test_500_under_api_is_json_and_rolls_back(app: Flask, failing_app: Flask) -> None:
    response = failing_app.test_client().get("/api/v1/_test/fail")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error"}
    assert "boom" not in response.get_data(as_text=True)
    assert not _site_exists(app, "doomed-api")


def test_500_elsewhere_is_html_and_rolls_back(app: Flask, failing_app: Flask) -> None:
    response = failing_app.test_client().get("/_test/fail")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "boom" not in response.get_data(as_text=True)
    assert not _site_exists(app, "doomed-html")


def test_the_next_request_on_the_same_app_is_clean(app: Flask, failing_app: Flask) -> None:
    client = failing_app.test_client()
    client.get("/api/v1/_test/fail")
    from app.sites.registry import create_site

    with failing_app.app_context():
        create_site("Kept", ["kept.example"], key="kept")
        db.session.remove()
    assert _site_exists(app, "kept")
    assert not _site_exists(app, "doomed-api")
