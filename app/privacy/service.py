"""Self-service access and erasure for a consent id."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from app.consent.cache import consent_stamp_keys
from app.extensions import db, reset_process_state
from app.models import ConsentRecord
from app.storage.cache import deliver_invalidation, stage_invalidation
from app.subjects import DataHolder, data_holders, register_holder


def _export_consent_records(consent_id: str) -> list[dict[str, Any]]:
    records = db.session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.consent_id == consent_id)
        .order_by(ConsentRecord.seq)
    )
    return [record.as_dict() for record in records]


def _erase_consent_records(consent_id: str) -> int:
    # The one code path allowed to remove consent records: a data-subject erasure.
    result = db.session.execute(delete(ConsentRecord).where(ConsentRecord.consent_id == consent_id))
    return result.rowcount or 0


def init_app(app: Flask) -> None:
    register_holder(
        app,
        DataHolder(
            kind="consent_records",
            export=_export_consent_records,
            erase=_erase_consent_records,
            order=1000,
        ),
    )


def export_subject(consent_id: str) -> dict[str, list[dict[str, Any]]]:
    return {holder.kind: holder.export(consent_id) for holder in data_holders()}


def erase_subject(consent_id: str) -> dict[str, int]:
    """Delete everything held for ``consent_id`` in one transaction."""
    deleted = {holder.kind: holder.erase(consent_id) for holder in data_holders()}
    # Staged in the same transaction, so no host can miss the erasure (see invalidation.py).
    staged = stage_invalidation(consent_stamp_keys(consent_id))
    db.session.commit()
    deliver_invalidation(staged)
    # This worker forgets what it remembered of the rows gone (its visits, for one).
    reset_process_state()
    return deleted
