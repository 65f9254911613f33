"""The open pixel, from both sides: what must be recorded is, what must not is absent,
and every response is byte-for-byte the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.clock import utcnow
from app.email import tracking
from app.email.pixel import PIXEL_GIF
from app.email.tokens import make_pixel_token, make_preference_token
from app.extensions import db
from app.models.email import EmailConsentRecord, EmailOpen
from tests.email.conftest import (
    APPLE_MAIL,
    APPLE_MPP,
    BARRACUDA,
    GMAIL_PROXY,
    GMAIL_SCANNER,
    OUTLOOK_DESKTOP,
    THUNDERBIRD,
    YAHOO_PROXY,
    Email,
    path_of,
)
from tests.helpers import login


def opens(app: Flask) -> list[tuple[int, int, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(
                EmailOpen.campaign_id, EmailOpen.recipient_id, EmailOpen.verdict, EmailOpen.reasons
            ).order_by(EmailOpen.id)
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def hit(client: FlaskClient, path: str, ua: str = THUNDERBIRD, **kwargs):
    return client.get(path, headers={"User-Agent": ua, **kwargs.pop("headers", {})}, **kwargs)


def login_staff(app: Flask, client: FlaskClient) -> None:
    from app.accounts.service import create_user

    with app.app_context():
        create_user("staff@example.com", "marketing", "a-long-password")
        db.session.remove()
    response = login(client, "staff@example.com", "a-long-password")
    assert response.status_code == 302


def fingerprint(response) -> tuple[int, bytes, list[tuple[str, str]]]:
    return response.status_code, response.data, sorted(response.headers.items())


def test_consenting_recipient_open_is_recorded(app: Flask, client: FlaskClient, email: Email):
    campaign = email.campaign()
    recipient = email.recipient("Ada@Example.com", True)
    url = email.links(campaign, recipient)["url"]
    assert url and url.endswith(".gif")

    response = hit(client, path_of(url))

    assert response.status_code == 200
    assert response.data == PIXEL_GIF and response.mimetype == "image/gif"
    assert "no-store" in response.headers["Cache-Control"]
    assert opens(app) == [(campaign, recipient, "human", "client")]


def test_non_consenting_recipient_gets_no_url(app: Flask, email: Email):
    campaign = email.campaign()
    recipient = email.recipient("bo@example.com", False)
    links = email.links(campaign, recipient)
    assert links["url"] is None and links["read_url"] is None
    assert links["preference_url"]  # they can still switch tracking on
    assert opens(app) == []


def test_unknown_consent_gets_no_url_and_no_guessed_token_records(
    app: Flask, client: FlaskClient, email: Email
):
    campaign = email.campaign()
    recipient = email.recipient("cy@example.com", False)
    assert email.links(campaign, recipient)["url"] is None
    # Even a correctly signed token (as if leaked) records nothing without consent.
    with app.app_context():
        token = make_pixel_token(
            app.config["SECRET_KEY"], campaign_id=campaign, recipient_id=recipient
        )
    assert hit(client, f"/api/v1/e/{token}.gif").data == PIXEL_GIF
    assert opens(app) == []


def test_withdrawn_recipient_is_not_recorded_even_with_an_old_url(
    app: Flask, client: FlaskClient, email: Email
):
    campaign = email.campaign()
    recipient = email.recipient("di@example.com", True)
    url = email.links(campaign, recipient)["url"]
    # Withdrawal after the email went out, re-posting the same address.
    assert email.recipient("DI@example.com ", False, source="crm_import") == recipient

    hit(client, path_of(url))

    assert opens(app) == []
    with app.app_context():
        history = db.session.scalars(
            select(EmailConsentRecord.email_tracking).order_by(EmailConsentRecord.seq)
        ).all()
    assert history == [True, False]


def test_regranted_recipient_is_recorded_again(app: Flask, client: FlaskClient, email: Email):
    campaign = email.campaign()
    recipient = email.recipient("ed@example.com", True)
    url = email.links(campaign, recipient)["url"]
    email.recipient("ed@example.com", False)
    hit(client, path_of(url))
    email.recipient("ed@example.com", True)
    hit(client, path_of(url))
    assert len(opens(app)) == 1


def _token_parts(url: str) -> str:
    return path_of(url).removeprefix("/api/v1/e/").removesuffix(".gif")


def test_forged_altered_and_misused_tokens_are_not_recorded(
    app: Flask, client: FlaskClient, email: Email
):
    campaign = email.campaign()
    other_campaign = email.campaign("Other")
    recipient = email.recipient("fa@example.com", True)
    links = email.links(campaign, recipient)
    token = _token_parts(links["url"])
    secret = app.config["SECRET_KEY"]
    with app.app_context():
        forged = make_pixel_token("not-our-secret", campaign_id=campaign, recipient_id=recipient)
        read_kind = make_pixel_token(
            secret, campaign_id=campaign, recipient_id=recipient, kind="read"
        )
        # Signed by us, but for a campaign this recipient was never sent.
        cross = make_pixel_token(secret, campaign_id=other_campaign, recipient_id=recipient)
        preference = make_preference_token(secret, recipient_id=recipient)
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    payload, signature = token.rsplit(".", 1)
    swapped = payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature
    for bad in (forged, read_kind, cross, preference, altered, swapped, "x", "a" * 600):
        response = hit(client, f"/api/v1/e/{bad}.gif")
        assert response.status_code == 200 and response.data == PIXEL_GIF
    assert opens(app) == []


def test_expired_token_is_not_recorded(app: Flask, client: FlaskClient, email: Email):
    campaign = email.campaign()
    recipient = email.recipient("gu@example.com", True)
    url = email.links(campaign, recipient)["url"]
    with time_machine.travel(utcnow() + timedelta(days=366), tick=False):
        assert hit(client, path_of(url)).data == PIXEL_GIF
    assert opens(app) == []


def test_every_case_gets_byte_identical_responses(app: Flask, client: FlaskClient, email: Email):
    campaign = email.campaign()
    granted = email.recipient("ha@example.com", True)
    refused = email.recipient("hb@example.com", False)
    withdrawn = email.recipient("hc@example.com", True)
    granted_url = path_of(email.links(campaign, granted)["url"])
    withdrawn_url = path_of(email.links(campaign, withdrawn)["url"])
    email.recipient("hc@example.com", False)
    with app.app_context():
        refused_token = make_pixel_token(
            app.config["SECRET_KEY"], campaign_id=campaign, recipient_id=refused
        )
        forged = make_pixel_token("forged", campaign_id=campaign, recipient_id=granted)
    # A signed-in staff session in the same browser must not change a thing either.
    cases = {
        "recorded": granted_url,
        "no consent": f"/api/v1/e/{refused_token}.gif",
        "withdrawn": withdrawn_url,
        "forged": f"/api/v1/e/{forged}.gif",
        "garbage": "/api/v1/e/nonsense.gif",
    }
    prints = {name: fingerprint(hit(client, path)) for name, path in cases.items()}
    staff = app.test_client()
    login_staff(app, staff)
    prints["staff session, forged"] = fingerprint(hit(staff, f"/api/v1/e/{forged}.gif"))
    assert len(set(map(repr, prints.values()))) == 1, prints
    status, body, headers = prints["recorded"]
    assert "set-cookie" not in {name.lower() for name, _ in headers}
    assert dict(headers)["Content-Type"] == "image/gif"
    assert len(opens(app)) == 1


def test_database_failure_still_answers_the_same_pixel(
    app: Flask, client: FlaskClient, email: Email, monkeypatch: pytest.MonkeyPatch
):
    campaign = email.campaign()
    recipient = email.recipient("ia@example.com", True)
    url = path_of(email.links(campaign, recipient)["url"])
    normal = fingerprint(hit(client, "/api/v1/e/nonsense.gif"))

    def database_down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is down"))

    monkeypatch.setattr(tracking, "eligible", database_down)
    assert fingerprint(hit(client, url)) == normal
    assert opens(app) == []


def test_head_request_is_a_machine_open_with_the_same_headers(
    app: Flask, client: FlaskClient, email: Email
):
    campaign = email.campaign()
    recipient = email.recipient("ja@example.com", True)
    url = path_of(email.links(campaign, recipient)["url"])
    head = client.head(url, headers={"User-Agent": THUNDERBIRD})
    get = hit(client, "/api/v1/e/nonsense.gif")
    assert sorted(head.headers.items()) == sorted(get.headers.items())
    assert opens(app) == [(campaign, recipient, "machine", "head_request")]


@pytest.mark.parametrize(
    ("user_agent", "headers", "verdict", "reasons"),
    [
        (APPLE_MAIL, {}, "human", "client"),
        (OUTLOOK_DESKTOP, {}, "human", "client"),
        (GMAIL_PROXY, {}, "human", "gmail_proxy"),
        (YAHOO_PROXY, {}, "human", "yahoo_proxy"),
        (APPLE_MPP, {}, "machine", "apple_mpp"),
        (GMAIL_PROXY, {"Sec-Purpose": "prefetch"}, "machine", "gmail_prefetch"),
        (GMAIL_SCANNER, {}, "machine", "scanner"),
        (BARRACUDA, {}, "machine", "scanner"),
        (THUNDERBIRD, {"Purpose": "prefetch"}, "machine", "prefetch"),
        ("", {}, "unknown", "no_user_agent"),
    ],
)
def test_real_user_agents_are_classified_and_only_the_verdict_is_kept(
    app: Flask,
    client: FlaskClient,
    email: Email,
    user_agent: str,
    headers: dict[str, str],
    verdict: str,
    reasons: str,
):
    campaign = email.campaign()
    recipient = email.recipient("ka@example.com", True)
    url = path_of(email.links(campaign, recipient)["url"])
    response = hit(client, url, ua=user_agent, headers=headers)
    assert response.data == PIXEL_GIF
    assert opens(app) == [(campaign, recipient, verdict, reasons)]
    # The database audit (tests/audit.py) then checks no UA or address was kept.


def test_open_within_seconds_of_sending_is_a_machine_open(
    app: Flask, client: FlaskClient, email: Email
):
    campaign = email.campaign(sent_at=utcnow())
    recipient = email.recipient("la@example.com", True)
    url = path_of(email.links(campaign, recipient)["url"])
    hit(client, url, ua=GMAIL_PROXY)
    hit(client, url, ua=OUTLOOK_DESKTOP)
    assert [row[2:] for row in opens(app)] == [
        ("machine", "gmail_prefetch"),
        ("machine", "too_soon_after_send"),
    ]


def test_apple_network_is_named_when_the_asn_database_says_so(
    app: Flask, client: FlaskClient, email: Email, monkeypatch: pytest.MonkeyPatch
):
    from app.enrichment.geo import Network

    monkeypatch.setattr(
        app.extensions["heedful_geo"],
        "place",
        lambda address: (None, Network(714, "APPLE-ENGINEERING", None)),
    )
    campaign = email.campaign()
    recipient = email.recipient("ma@example.com", True)
    url = path_of(email.links(campaign, recipient)["url"])
    hit(client, url, ua=APPLE_MPP, environ_base={"REMOTE_ADDR": "17.58.0.1"})
    assert opens(app) == [(campaign, recipient, "machine", "apple_mpp,apple_network")]


def test_repeated_opens_count_once_for_unique_and_fully_for_total(
    app: Flask, client: FlaskClient, email: Email
):
    campaign = email.campaign()
    first = email.recipient("na@example.com", True)
    second = email.recipient("nb@example.com", True)
    first_url = path_of(email.links(campaign, first)["url"])
    second_url = path_of(email.links(campaign, second)["url"])
    # Opens of one pixel within the repeat window (30 min) count once; later ones again.
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(3):
            hit(client, first_url)
            clock.shift(timedelta(minutes=31))
    hit(client, second_url, ua=APPLE_MPP)
    report = email.report(campaign)
    assert report["unique_human_opens"] == 1
    assert report["total_human_opens"] == 3
    assert report["machine_opens"] == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EmailOpen)) == 4
