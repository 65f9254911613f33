"""The /admin email pages: role check, campaign form with CSRF, import, report page."""

from __future__ import annotations

import io

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.service import create_user
from app.extensions import db
from app.models.email import EmailCampaign, EmailRecipient
from tests.conftest import test_config
from tests.email.conftest import Email
from tests.helpers import csrf_token_from, login

PASSWORD = "a-long-password"


def sign_in(app: Flask, client: FlaskClient, role: str) -> None:
    with app.app_context():
        create_user(f"{role}@example.com", role, PASSWORD)
        db.session.remove()
    response = login(client, f"{role}@example.com", PASSWORD)
    assert response.status_code == 302


def test_pages_need_a_marketing_or_admin_login(app: Flask, client: FlaskClient):
    assert client.get("/admin/email/").status_code == 302  # to the login page
    sign_in(app, client, "finance")
    assert client.get("/admin/email/").status_code == 403


def test_create_a_campaign_and_see_its_report(
    app: Flask, client: FlaskClient, site: str, email: Email
):
    sign_in(app, client, "marketing")
    page = client.get("/admin/email/")
    assert page.status_code == 200 and b"New campaign" in page.data
    assert b'href="/admin/email/"' in page.data  # nav link in base.html
    response = client.post(
        "/admin/email/campaigns",
        data={
            "campaign-site": site,
            "campaign-name": "Autumn sale",
            "campaign-sent_at": "2026-09-01T09:00",
            "campaign-csrf_token": csrf_token_from(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    with app.app_context():
        campaign = db.session.scalars(select(EmailCampaign)).one()
        assert campaign.sent_at.isoformat() == "2026-09-01T09:00:00+00:00"
    report = client.get(response.headers["Location"])
    assert report.status_code == 200
    assert b"Autumn sale" in report.data and b"Unique human opens" in report.data
    assert client.get("/admin/email/campaigns/999999").status_code == 404


def test_import_from_the_console_is_all_or_nothing(app: Flask, client: FlaskClient):
    sign_in(app, client, "admin")

    token = csrf_token_from(client.get("/admin/email/").get_data(as_text=True))

    def upload(text: str):
        return client.post(
            "/admin/email/recipients/import",
            data={
                "import-csv_file": (io.BytesIO(text.encode()), "people.csv"),
                "import-source": "crm_import",
                "import-csrf_token": token,
            },
            content_type="multipart/form-data",
        )

    bad = upload("email,email_tracking\na@example.com,true\nbroken,true\n")
    assert bad.status_code == 200 and b"Nothing was imported" in bad.data
    assert b"line 3" in bad.data
    good = upload("email,email_tracking\na@example.com,true\nb@example.com,false\n")
    assert good.status_code == 302
    with app.app_context():
        assert len(db.session.scalars(select(EmailRecipient)).all()) == 2


def test_campaign_form_requires_csrf(app: Flask, database_url: str, tmp_path, site: str):
    from app import create_app

    strict = create_app(
        test_config(database_url, WTF_CSRF_ENABLED=True), instance_path=str(tmp_path)
    )
    client = strict.test_client()
    with strict.app_context():
        create_user("csrf@example.com", "marketing", PASSWORD)
        db.session.remove()
    login_page = client.get("/admin/login")
    token = login_page.data.split(b'name="csrf_token" type="hidden" value="')[1].split(b'"')[0]
    client.post(
        "/admin/login",
        data={"email": "csrf@example.com", "password": PASSWORD, "csrf_token": token.decode()},
    )
    response = client.post(
        "/admin/email/campaigns", data={"campaign-site": site, "campaign-name": "No token"}
    )
    assert response.status_code == 400
    with strict.app_context():
        assert db.session.scalars(select(EmailCampaign)).all() == []
        db.session.remove()
        db.engine.dispose()
