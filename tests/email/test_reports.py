"""Campaign reports: sends, unique and total human opens, machine opens, rate, read time."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from flask import Flask
from flask.testing import FlaskClient

from app.clock import utcnow
from tests.email.conftest import (
    APPLE_MPP,
    BARRACUDA,
    GMAIL_PROXY,
    THUNDERBIRD,
    Email,
    path_of,
    role_headers,
)


def test_report_figures(app: Flask, client: FlaskClient, email: Email):
    campaign = email.campaign()
    people = {
        name: email.recipient(f"{name}@example.com", name != "refuser")
        for name in ("reader", "gmail", "apple", "scanned", "silent", "refuser")
    }
    urls = {name: email.links(campaign, rid)["url"] for name, rid in people.items()}
    assert urls["refuser"] is None

    def open_as(name: str, ua: str) -> None:
        client.get(path_of(urls[name]), headers={"User-Agent": ua})

    open_as("reader", THUNDERBIRD)
    # A second open after the repeat window (30 min) counts again.
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=False):
        open_as("reader", THUNDERBIRD)
    open_as("gmail", GMAIL_PROXY)
    open_as("apple", APPLE_MPP)
    open_as("scanned", BARRACUDA)
    client.get(
        path_of(email.links(campaign, people["gmail"])["read_url"]),
        headers={"User-Agent": GMAIL_PROXY},
    )

    report = email.report(campaign)
    assert report["sends_known"] == 6
    assert report["tracked_sends"] == 5
    # Apple MPP hides the real open: that recipient is not human-eligible.
    assert report["human_eligible"] == 4
    assert report["unique_human_opens"] == 2
    assert report["total_human_opens"] == 3
    assert report["machine_opens"] == 2
    assert report["open_rate"] == 0.5
    assert report["read_time"] == {"glanced": 0, "skimmed": 0, "read": 0, "unsupported": 1}


def test_report_access(app: Flask, client: FlaskClient, email: Email):
    campaign = email.campaign()
    url = f"/api/v1/reports/{email.site_key}/email"
    assert client.get(url).status_code == 401
    finance = role_headers(app, "finance")
    body = client.get(url, headers=finance).get_json()
    assert body["site"] == email.site_key
    assert [c["campaign_id"] for c in body["campaigns"]] == [campaign]
    assert body["campaigns"][0]["open_rate"] is None
    assert client.get("/api/v1/reports/nope/email", headers=finance).status_code == 404
    assert client.get(f"{url}?campaign=x", headers=finance).status_code == 400
    single = client.get(f"/api/v1/email/campaigns/{campaign}", headers=finance).get_json()
    assert single["sends_known"] == 0 and single["site"] == email.site_key
