"""Helpers for the email tests: a marketing token and quick campaign/recipient setup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.service import create_token
from app.extensions import db

SENT_AT = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)

# Real user-agent strings seen on pixel fetches.
APPLE_MPP = "Mozilla/5.0"
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
GMAIL_SCANNER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"
BARRACUDA = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"
THUNDERBIRD = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64; rv:52.0) Gecko/20100101 Thunderbird/52.9.1 "
    "Lightning/5.4.9.1"
)


def role_headers(app: Flask, role: str = "marketing") -> dict[str, str]:
    with app.app_context():
        _, plain = create_token(f"{role}-test", role)
        db.session.remove()
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def auth(app: Flask) -> dict[str, str]:
    return role_headers(app)


class Email:
    """Drives the staff API the way a sending tool would."""

    def __init__(self, client: FlaskClient, headers: dict[str, str], site_key: str) -> None:
        self.client = client
        self.headers = headers
        self.site_key = site_key

    def campaign(self, name: str = "September news", sent_at: datetime | None = SENT_AT) -> int:
        body: dict[str, Any] = {"site": self.site_key, "name": name}
        if sent_at is not None:
            body["sent_at"] = sent_at.isoformat()
        response = self.client.post("/api/v1/email/campaigns", json=body, headers=self.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["campaign_id"]

    def recipient(self, email: str, tracking: bool, source: str = "signup_form") -> int:
        response = self.client.post(
            "/api/v1/email/recipients",
            json={"email": email, "consent": {"email_tracking": tracking}, "source": source},
            headers=self.headers,
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["recipient_id"]

    def links(self, campaign_id: int, recipient_id: int) -> dict[str, Any]:
        response = self.client.get(
            f"/api/v1/email/campaigns/{campaign_id}/pixel?recipient={recipient_id}",
            headers=self.headers,
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def report(self, campaign_id: int) -> dict[str, Any]:
        response = self.client.get(
            f"/api/v1/reports/{self.site_key}/email?campaign={campaign_id}", headers=self.headers
        )
        assert response.status_code == 200, response.get_json()
        (report,) = response.get_json()["campaigns"]
        return report


@pytest.fixture
def email(client: FlaskClient, auth: dict[str, str], site: str) -> Email:
    return Email(client, auth, site)


def path_of(url: str) -> str:
    return urlsplit(url).path


def later(hours: int = 3) -> datetime:
    return SENT_AT + timedelta(hours=hours)
