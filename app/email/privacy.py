"""Access and erasure cover an email recipient's rows, found by the recipient key (the
HMAC of the address, ``app.email.service.recipient_key``).

Opens, read times and sends go first, then the consent records, and the recipient row
last of all, once nothing refers to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, delete, select

from app.extensions import db
from app.models.email import (
    EmailConsentRecord,
    EmailOpen,
    EmailReadTime,
    EmailRecipient,
    EmailSend,
)
from app.subjects import DataHolder, register_holder

RecipientModel = type[EmailConsentRecord] | type[EmailOpen] | type[EmailReadTime] | type[EmailSend]


def _recipient_ids(recipient_key: str) -> Any:
    return select(EmailRecipient.id).where(EmailRecipient.email_hmac == recipient_key)


def _of_recipient(model: RecipientModel, recipient_key: str) -> ColumnElement[bool]:
    return model.recipient_id.in_(_recipient_ids(recipient_key))


def _recipient_row(row: EmailRecipient) -> dict[str, Any]:
    return {"recipient_id": row.id, "created_at": row.created_at.isoformat()}


def _send_row(row: EmailSend) -> dict[str, Any]:
    return {
        "campaign_id": row.campaign_id,
        "tracked": row.tracked,
        "created_at": row.created_at.isoformat(),
    }


def _open_row(row: EmailOpen) -> dict[str, Any]:
    return {
        "campaign_id": row.campaign_id,
        "verdict": row.verdict,
        "reasons": row.reasons.split(",") if row.reasons else [],
        "opened_at": row.opened_at.isoformat(),
    }


def _read_time_row(row: EmailReadTime) -> dict[str, Any]:
    return {
        "campaign_id": row.campaign_id,
        "bucket": row.bucket,
        "recorded_at": row.recorded_at.isoformat(),
    }


def _consent_row(row: EmailConsentRecord) -> dict[str, Any]:
    return row.as_dict()


def _holder(
    kind: str, model: RecipientModel, as_row: Callable[[Any], dict[str, Any]], order: int
) -> DataHolder:
    def export(recipient_key: str) -> list[dict[str, Any]]:
        rows = db.session.scalars(
            select(model).where(_of_recipient(model, recipient_key)).order_by(model.id)
        )
        return [as_row(row) for row in rows]

    def erase(recipient_key: str) -> int:
        statement = delete(model).where(_of_recipient(model, recipient_key))
        return db.session.execute(statement).rowcount or 0

    return DataHolder(
        kind, export, erase, order=order, key="recipient_key", tables=(model.__tablename__,)
    )


def _export_recipients(recipient_key: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(EmailRecipient).where(EmailRecipient.email_hmac == recipient_key)
    )
    return [_recipient_row(row) for row in rows]


def _erase_recipients(recipient_key: str) -> int:
    statement = delete(EmailRecipient).where(EmailRecipient.email_hmac == recipient_key)
    return db.session.execute(statement).rowcount or 0


def register(app: Flask) -> None:
    for holder in (
        _holder("email_opens", EmailOpen, _open_row, order=100),
        _holder("email_read_times", EmailReadTime, _read_time_row, order=100),
        _holder("email_sends", EmailSend, _send_row, order=100),
        # Append-only: erasing the recipient is the one path that removes them.
        _holder("email_consent_records", EmailConsentRecord, _consent_row, order=900),
    ):
        register_holder(app, holder)
    register_holder(
        app,
        DataHolder(
            "email_recipients",
            _export_recipients,
            _erase_recipients,
            order=1000,
            key="recipient_key",
            tables=(EmailRecipient.__tablename__,),
        ),
    )
