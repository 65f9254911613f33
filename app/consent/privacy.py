"""Access and erasure cover a consent id's consent records, last of all its data."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from app.extensions import db
from app.models import ConsentRecord
from app.subjects import DataHolder, register_holder


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


def register(app: Flask) -> None:
    register_holder(
        app,
        DataHolder(
            kind="consent_records",
            export=_export_consent_records,
            erase=_erase_consent_records,
            order=1000,
            key="consent_id",
            tables=(ConsentRecord.__tablename__,),
        ),
    )
