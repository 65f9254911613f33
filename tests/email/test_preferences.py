"""The preference centre: a signed link shows the choice and switches it, at once."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models.email import EmailConsentRecord, EmailOpen
from tests.email.conftest import THUNDERBIRD, Email, path_of


def test_switch_off_and_on_again_takes_effect_at_once(
    app: Flask, client: FlaskClient, email: Email
):
    campaign = email.campaign()
    recipient = email.recipient("pc@example.com", True)
    links = email.links(campaign, recipient)
    prefs = path_of(links["preference_url"])
    assert prefs.startswith("/p/")

    page = client.get(prefs)
    assert page.status_code == 200
    assert b"currently\n    <strong>on</strong>" in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page.headers["Cache-Control"]

    off = client.post(prefs, data={"email_tracking": "off"})
    assert off.status_code == 200 and b"<strong>off</strong>" in off.data
    client.get(path_of(links["url"]), headers={"User-Agent": THUNDERBIRD})
    assert email.links(campaign, recipient)["url"] is None

    on = client.post(prefs, data={"email_tracking": "on"})
    assert b"<strong>on</strong>" in on.data
    client.get(path_of(links["url"]), headers={"User-Agent": THUNDERBIRD})

    with app.app_context():
        history = db.session.execute(
            select(EmailConsentRecord.email_tracking, EmailConsentRecord.source).order_by(
                EmailConsentRecord.seq
            )
        ).all()
        opened = db.session.scalars(select(EmailOpen)).all()
    assert [tuple(h) for h in history] == [
        (True, "signup_form"),
        (False, "preference_centre"),
        (True, "preference_centre"),
    ]
    assert len(opened) == 1  # only the open after switching back on


def test_get_never_changes_anything(app: Flask, client: FlaskClient, email: Email):
    recipient = email.recipient("pg@example.com", True)
    prefs = path_of(email.links(email.campaign(), recipient)["preference_url"])
    for _ in range(3):
        client.get(prefs)
    with app.app_context():
        assert len(db.session.scalars(select(EmailConsentRecord)).all()) == 1


def test_bad_links_and_bad_input(client: FlaskClient, email: Email):
    recipient = email.recipient("pb@example.com", True)
    links = email.links(email.campaign(), recipient)
    assert client.get("/p/forged").status_code == 404
    assert client.post("/p/forged", data={"email_tracking": "off"}).status_code == 404
    # A pixel token is not a preference token.
    pixel_token = path_of(links["url"]).removeprefix("/api/v1/e/").removesuffix(".gif")
    assert client.get(f"/p/{pixel_token}").status_code == 404
    prefs = path_of(links["preference_url"])
    assert client.post(prefs, data={"email_tracking": "maybe"}).status_code == 400
