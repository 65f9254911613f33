"""The staff email API: campaigns, recipients (HMAC only), pixel URLs, auth."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.identity import email_hmac
from app.models.email import EmailConsentRecord, EmailRecipient, EmailSend
from tests.email.conftest import Email, role_headers


def test_campaign_needs_marketing_or_admin(app: Flask, client: FlaskClient, site: str):
    body = {"site": site, "name": "Launch"}
    assert client.post("/api/v1/email/campaigns", json=body).status_code == 401
    finance = role_headers(app, "finance")
    assert client.post("/api/v1/email/campaigns", json=body, headers=finance).status_code == 403
    admin = role_headers(app, "admin")
    response = client.post("/api/v1/email/campaigns", json=body, headers=admin)
    assert response.status_code == 201 and isinstance(response.get_json()["campaign_id"], int)


def test_campaign_input_is_checked(client: FlaskClient, auth: dict[str, str], site: str):
    def post(body):
        return client.post("/api/v1/email/campaigns", json=body, headers=auth)

    assert post({"site": "nope", "name": "x"}).status_code == 404
    assert post({"site": site}).status_code == 400
    assert post({"site": site, "name": "  "}).status_code == 400
    assert post({"site": site, "name": "x", "sent_at": "yesterday"}).status_code == 400
    assert post({"site": site, "name": "x", "sent_at": "2026-09-01T09:00:00"}).status_code == 400
    assert post({"site": site, "name": "x", "sent_at": 5}).status_code == 400
    ok = post({"site": site, "name": "x", "sent_at": "2026-09-01T09:00:00Z"})
    assert ok.status_code == 201


def test_recipient_is_stored_as_an_hmac_with_an_append_only_history(
    app: Flask, client: FlaskClient, auth: dict[str, str], email: Email
):
    first = email.recipient("  Zoë@Example.COM", True, source="signup_form")
    again = email.recipient("zoë@example.com", False, source="crm_import")
    assert first == again
    with app.app_context():
        (recipient,) = db.session.scalars(select(EmailRecipient)).all()
        assert recipient.email_hmac == email_hmac(app.config["SECRET_KEY"], "zoë@example.com")
        history = db.session.scalars(
            select(EmailConsentRecord).order_by(EmailConsentRecord.seq)
        ).all()
        assert [(r.seq, r.email_tracking, r.source) for r in history] == [
            (1, True, "signup_form"),
            (2, False, "crm_import"),
        ]
    detail = client.get(f"/api/v1/email/recipients/{first}", headers=auth).get_json()
    assert detail["email_tracking"] is False
    assert [h["source"] for h in detail["consent_history"]] == ["signup_form", "crm_import"]
    assert "@" not in str(detail)


def test_consent_records_refuse_updates_and_deletes(app: Flask, email: Email):
    import pytest

    from app.models import AppendOnlyError

    email.recipient("ap@example.com", True)
    with app.app_context():
        record = db.session.scalars(select(EmailConsentRecord)).one()
        record.email_tracking = False
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        record = db.session.scalars(select(EmailConsentRecord)).one()
        db.session.delete(record)
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        # The database refuses an update that bypasses the ORM as well.
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(EmailConsentRecord.__table__.update().values(email_tracking=False))
        db.session.rollback()
        db.session.remove()


def test_recipient_input_is_checked(client: FlaskClient, auth: dict[str, str]):
    def post(body):
        return client.post("/api/v1/email/recipients", json=body, headers=auth)

    good = {"email": "a@example.com", "consent": {"email_tracking": True}, "source": "api"}
    assert post({**good, "email": "not-an-address"}).status_code == 400
    assert post({**good, "email": "a@b"}).status_code == 400
    assert post({**good, "consent": {"email_tracking": "yes"}}).status_code == 400
    assert post({**good, "consent": {}}).status_code == 400
    assert post({**good, "source": "preference_centre"}).status_code == 400
    assert post({**good, "source": "made_up"}).status_code == 400
    error = post({**good, "email": "bad address@example.com"}).get_json()["error"]
    assert "bad address" not in error  # errors never echo an address
    assert post({k: v for k, v in good.items() if k != "source"}).status_code == 201


def test_pixel_url_follows_consent_and_records_the_send(
    app: Flask, client: FlaskClient, auth: dict[str, str], email: Email
):
    campaign = email.campaign()
    yes = email.recipient("yes@example.com", True)
    no = email.recipient("no@example.com", False)
    granted = email.links(campaign, yes)
    refused = email.links(campaign, no)
    assert granted["url"].startswith("http://localhost/api/v1/e/")
    assert granted["read_url"].endswith("/read.gif")
    assert refused == {"url": None, "read_url": None, "preference_url": refused["preference_url"]}
    # Tokens are per campaign and recipient: another campaign mints another URL.
    other = email.links(email.campaign("Other"), yes)
    assert other["url"] != granted["url"]
    with app.app_context():
        sends = db.session.execute(
            select(EmailSend.recipient_id, EmailSend.tracked).where(
                EmailSend.campaign_id == campaign
            )
        ).all()
    assert sorted(sends) == sorted([(yes, True), (no, False)])


def test_pixel_endpoint_errors(client: FlaskClient, auth: dict[str, str], email: Email):
    campaign = email.campaign()
    recipient = email.recipient("pe@example.com", True)
    base = f"/api/v1/email/campaigns/{campaign}/pixel"
    assert client.get(f"{base}?recipient={recipient}").status_code == 401
    assert client.get(f"{base}?recipient=abc", headers=auth).status_code == 400
    assert client.get(base, headers=auth).status_code == 400
    assert client.get(f"{base}?recipient=999999", headers=auth).status_code == 404
    missing = f"/api/v1/email/campaigns/999999/pixel?recipient={recipient}"
    assert client.get(missing, headers=auth).status_code == 404


def test_openapi_documents_the_email_paths(client: FlaskClient):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/email/campaigns",
        "/api/v1/email/recipients",
        "/api/v1/email/campaigns/{campaign_id}/pixel",
        "/api/v1/e/{token}.gif",
        "/api/v1/reports/{site_key}/email",
    ):
        assert path in paths
