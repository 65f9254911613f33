"""The read-time pixel: holds are timed with a fake clock, only the bucket is kept."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.email import pixel
from app.email.pixel import GIF_HEADER, GIF_TRAILER, PIXEL_GIF, HoldSlots
from app.extensions import db
from app.models.email import EmailOpen, EmailReadTime
from tests.email.conftest import APPLE_MPP, GMAIL_PROXY, THUNDERBIRD, YAHOO_PROXY, Email, path_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(pixel, "_monotonic", fake.monotonic)
    monkeypatch.setattr(pixel, "_sleep", fake.sleep)
    return fake


def buckets(app: Flask) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(select(EmailReadTime.bucket).order_by(EmailReadTime.id)).all()
        db.session.remove()
    return list(rows)


def read_path(email: Email, address: str = "reader@example.com", tracking: bool = True) -> str:
    campaign = email.campaign()
    recipient = email.recipient(address, tracking)
    links = email.links(campaign, recipient)
    return path_of(links["read_url"])


def read_for(client: FlaskClient, path: str, chunks: int | None, ua: str = THUNDERBIRD) -> bytes:
    """Read ``chunks`` chunks (None: all) of the streamed pixel, then hang up.

    A frame goes out every 0.5 s; asking for chunk k proves chunk k-1 arrived, so k chunks
    time a hold of (k - 2) * 0.5 s.
    """
    response = client.get(path, headers={"User-Agent": ua}, buffered=False)
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert "no-store" in response.headers["Cache-Control"]
    body = b""
    stream = iter(response.response)
    try:
        for index, chunk in enumerate(stream):
            body += chunk
            if chunks is not None and index + 1 >= chunks:
                break
    finally:
        response.close()
    return body


@pytest.mark.parametrize(
    ("chunks", "bucket"),
    [(1, "glanced"), (5, "glanced"), (6, "skimmed"), (17, "skimmed"), (18, "read"), (None, "read")],
)
def test_hold_time_is_stored_as_a_bucket(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock, chunks: int | None, bucket: str
):
    body = read_for(client, read_path(email), chunks)
    assert body.startswith(GIF_HEADER)
    assert buckets(app) == [bucket]
    with app.app_context():
        assert db.session.scalars(select(EmailOpen)).all() == []  # a read is not an open


def test_full_hold_is_capped_at_20_seconds_and_ends_as_a_valid_gif(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock
):
    started = clock.now
    body = read_for(client, read_path(email), None)
    assert clock.now - started == pytest.approx(20.0)
    assert body.endswith(GIF_TRAILER)
    assert buckets(app) == ["read"]


@pytest.mark.parametrize("ua", [GMAIL_PROXY, YAHOO_PROXY])
def test_proxied_clients_are_unsupported_and_not_held(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock, ua: str
):
    response = client.get(read_path(email), headers={"User-Agent": ua})
    assert response.data == PIXEL_GIF
    assert buckets(app) == ["unsupported"]


def test_machine_fetches_record_nothing(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock
):
    response = client.get(read_path(email), headers={"User-Agent": APPLE_MPP})
    assert response.data == PIXEL_GIF
    assert buckets(app) == []


def test_no_consent_forged_or_open_tokens_record_nothing(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock
):
    campaign = email.campaign()
    recipient = email.recipient("ob@example.com", True)
    links = email.links(campaign, recipient)
    email.recipient("ob@example.com", False)
    open_token_as_read = path_of(links["url"]).removesuffix(".gif") + "/read.gif"
    for path in (path_of(links["read_url"]), open_token_as_read, "/api/v1/e/forged/read.gif"):
        response = client.get(path, headers={"User-Agent": THUNDERBIRD})
        assert response.data == PIXEL_GIF
    assert buckets(app) == []


def test_withdrawal_during_the_hold_stops_the_record(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock
):
    path = read_path(email, "oc@example.com")
    response = client.get(path, headers={"User-Agent": THUNDERBIRD}, buffered=False)
    stream = iter(response.response)
    next(stream)
    email.recipient("oc@example.com", False)
    next(stream)
    response.close()
    assert buckets(app) == []


def test_full_hold_capacity_falls_back_to_an_instant_unsupported_answer(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock, monkeypatch
):
    full = HoldSlots(0)
    monkeypatch.setitem(app.extensions, "heedful_read_holds", full)
    response = client.get(read_path(email), headers={"User-Agent": THUNDERBIRD})
    assert response.data == PIXEL_GIF
    assert full.refused == 1
    assert buckets(app) == ["unsupported"]


def test_slots_are_released_when_a_hold_ends_or_is_never_started(
    app: Flask, client: FlaskClient, email: Email, clock: FakeClock, monkeypatch
):
    slots = HoldSlots(1)
    monkeypatch.setitem(app.extensions, "heedful_read_holds", slots)
    path = read_path(email)
    read_for(client, path, 2)
    assert slots.in_use == 0
    read_for(client, path, None)
    assert slots.in_use == 0 and slots.refused == 0
    assert buckets(app) == ["glanced", "read"]


def test_a_hold_closed_before_it_started_releases_its_slot_and_records_nothing(
    app: Flask, email: Email, clock: FakeClock
):
    from app.email.pixel import HeldGif
    from app.email.tracking import Eligible, ReadPlan

    slots = HoldSlots(1)
    assert slots.acquire()
    held = HeldGif(app, ReadPlan(Eligible(1, 1, None, 1), hold=True), slots, 0.5)
    held.close()
    held.close()  # idempotent
    assert slots.in_use == 0
    assert buckets(app) == []
