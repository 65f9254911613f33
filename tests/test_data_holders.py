"""Every table that holds a data subject's key is exported and erased by a registered
holder, and erasing an email recipient removes its rows and only its rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.email.service import recipient_key
from app.extensions import db
from app.models.email import (
    EmailConsentRecord,
    EmailOpen,
    EmailReadTime,
    EmailRecipient,
    EmailSend,
)
from app.privacy.service import erase_subject, export_subject
from app.subjects import Subject, data_holders
from tests.email.conftest import Email, role_headers

# Columns that tie a row to a person: a consent id, a visit, an email recipient.
SUBJECT_COLUMNS = {"consent_id", "session_id", "visit_id", "recipient_id", "email_hmac"}
# Tables with such a column that need no holder, each with the reason. (``stamp_outbox``
# and ``collect_batches`` hold none of these columns, so they need no entry: the outbox
# holds cache slots, and a batch id is random per batch, never tied to a visitor.)
NO_HOLDER_NEEDED: dict[str, str] = {
    "users": "staff accounts, not visitors or recipients: the admin removes them",
}
KEY_COLUMNS = {"consent_id": {"consent_id"}, "recipient_key": {"recipient_id", "email_hmac"}}
EMAIL_TABLES = {
    "email_opens": EmailOpen,
    "email_read_times": EmailReadTime,
    "email_sends": EmailSend,
    "email_consent_records": EmailConsentRecord,
}


def _subject_tables() -> dict[str, set[str]]:
    tables = {}
    for mapper in db.Model.registry.mappers:
        table = mapper.local_table
        columns = {column.name for column in table.columns} & SUBJECT_COLUMNS
        if columns:
            tables[table.name] = columns
    return tables


def test_every_table_holding_a_subject_key_has_a_holder(app: Flask) -> None:
    with app.app_context():
        covered = {table for holder in data_holders() for table in holder.tables}
    forgotten = sorted(set(_subject_tables()) - covered - set(NO_HOLDER_NEEDED))
    assert forgotten == [], f"register a DataHolder (app/subjects.py) for: {forgotten}"
    assert not set(NO_HOLDER_NEEDED) & covered, "a table listed as needing none has a holder"


def test_each_holder_finds_its_rows_by_the_key_it_declares(app: Flask) -> None:
    subject_tables = _subject_tables()
    with app.app_context():
        holders = data_holders()
    assert holders
    for holder in holders:
        assert holder.tables, f"{holder.kind} declares no tables"
        for table in holder.tables:
            assert subject_tables.get(table, set()) & KEY_COLUMNS[holder.key], (
                f"{holder.kind}: {table} holds no {holder.key}"
            )


def test_a_consent_id_alone_runs_no_email_holder(app: Flask) -> None:
    with app.app_context():
        exported = export_subject(Subject.of_consent("no-such-consent-id"))
    assert set(exported) == {"consent_records", "events", "search_terms", "visits", "visitor_days"}


def _recipient_rows(campaign: int, recipient: int) -> None:
    now = datetime.now(UTC)
    db.session.add(
        EmailOpen(
            campaign_id=campaign,
            recipient_id=recipient,
            verdict="human",
            reasons="direct",
            opened_at=now,
        )
    )
    db.session.add(
        EmailReadTime(campaign_id=campaign, recipient_id=recipient, bucket="read", recorded_at=now)
    )


def _counts(recipient: int) -> dict[str, int]:
    counts = {
        name: db.session.scalar(
            select(func.count()).select_from(model).where(model.recipient_id == recipient)
        )
        or 0
        for name, model in EMAIL_TABLES.items()
    }
    counts["email_recipients"] = db.session.scalar(
        select(func.count()).select_from(EmailRecipient).where(EmailRecipient.id == recipient)
    )
    return counts


@pytest.fixture
def two_recipients(app: Flask, client: FlaskClient, site: str) -> tuple[int, int]:
    email = Email(client, role_headers(app), site)
    campaign = email.campaign()
    erased = email.recipient("erase-me@example.com", tracking=True)
    email.recipient("Erase-Me@Example.com", tracking=False, source="api")
    kept = email.recipient("keep-me@example.com", tracking=True)
    for recipient in (erased, kept):
        email.links(campaign, recipient)
    with app.app_context():
        for recipient in (erased, kept):
            _recipient_rows(campaign, recipient)
        db.session.commit()
    return erased, kept


def test_an_email_recipient_is_exported_by_its_key(
    app: Flask, two_recipients: tuple[int, int]
) -> None:
    erased, _ = two_recipients
    with app.test_request_context():
        exported = export_subject(Subject.of_recipient(recipient_key("erase-me@example.com")))
    assert exported["email_recipients"] == [
        {"recipient_id": erased, "created_at": exported["email_recipients"][0]["created_at"]}
    ]
    assert [r["email_tracking"] for r in exported["email_consent_records"]] == [True, False]
    assert [r["tracked"] for r in exported["email_sends"]] == [False]
    assert [r["verdict"] for r in exported["email_opens"]] == ["human"]
    assert [r["bucket"] for r in exported["email_read_times"]] == ["read"]
    assert not {"consent_records", "events", "search_terms", "visits"} & set(exported)
    assert "erase-me" not in str(exported).lower()


def test_erasing_a_recipient_deletes_its_rows_and_only_its_rows(
    app: Flask, two_recipients: tuple[int, int]
) -> None:
    erased, kept = two_recipients
    with app.app_context():
        before = _counts(kept)
    assert before == {
        "email_opens": 1,
        "email_read_times": 1,
        "email_sends": 1,
        "email_consent_records": 1,
        "email_recipients": 1,
    }
    with app.test_request_context():
        deleted = erase_subject(Subject.of_recipient(recipient_key("erase-me@example.com")))
    assert deleted == {
        "email_opens": 1,
        "email_read_times": 1,
        "email_sends": 1,
        "email_consent_records": 2,
        "email_recipients": 1,
    }
    with app.app_context():
        assert set(_counts(erased).values()) == {0}
        assert _counts(kept) == before
    with app.test_request_context():
        again = erase_subject(Subject.of_recipient(recipient_key("erase-me@example.com")))
    assert set(again.values()) == {0}
