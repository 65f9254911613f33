"""``email_tracking_allows``: the record in force at the time asked about decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from app.consent.gate import email_tracking_allows
from app.extensions import db
from app.models.email import EmailConsentRecord
from tests.email.conftest import Email

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _history(app: Flask, recipient_id: int, *choices: tuple[datetime, bool]) -> None:
    with app.app_context():
        seq = db.session.query(EmailConsentRecord).filter_by(recipient_id=recipient_id).count()
        for offset, (at, tracking) in enumerate(choices, start=1):
            db.session.add(
                EmailConsentRecord(
                    recipient_id=recipient_id,
                    seq=seq + offset,
                    email_tracking=tracking,
                    source="api",
                    recorded_at=at,
                )
            )
        db.session.commit()


def test_the_record_in_force_at_the_time_decides(app: Flask, email: Email) -> None:
    recipient = email.recipient("gate@example.com", tracking=False)
    hour = timedelta(hours=1)
    _history(app, recipient, (T0, True), (T0 + 2 * hour, False), (T0 + 4 * hour, True))
    with app.app_context():
        assert email_tracking_allows(recipient, T0 - hour) is False  # the first refusal
        assert email_tracking_allows(recipient, T0) is True
        assert email_tracking_allows(recipient, T0 + hour) is True
        assert email_tracking_allows(recipient, T0 + 2 * hour) is False
        assert email_tracking_allows(recipient, T0 + 3 * hour) is False
        assert email_tracking_allows(recipient, T0 + 5 * hour) is True


def test_now_is_the_default_and_the_latest_choice_counts(app: Flask, email: Email) -> None:
    granted = email.recipient("granted@example.com", tracking=True)
    refused = email.recipient("refused@example.com", tracking=False)
    email.recipient("changed@example.com", tracking=True)
    changed = email.recipient("changed@example.com", tracking=False)
    with app.app_context():
        assert email_tracking_allows(granted) is True
        assert email_tracking_allows(refused) is False
        assert email_tracking_allows(changed) is False


def test_a_recipient_without_records_is_not_tracked(app: Flask) -> None:
    with app.app_context():
        assert email_tracking_allows(987654321) is False
