"""Each consent id's latest record, cached on every worker and validated against its
generation stamp (``app.storage.cache``), so a withdrawal is seen at once on every host.
An answer that allows something is trusted for ``ACTIVE_TRUST_SECONDS`` at most (a
backstop), and not at all while the stamps cannot be read. Decisions are made in
``gate.py``; this module only finds the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import ConsentRecord
from app.storage.cache import ACTIVE_TRUST_SECONDS, MAX_ENTRY_AGE_SECONDS, shared_cache


@dataclass(frozen=True, slots=True)
class ConsentState:
    record_uid: str
    seq: int
    site_id: int
    policy_version: int
    kind: str
    choices: dict[str, bool]
    recorded_at: datetime
    expires_at: datetime


def _consent_key(consent_id: str) -> str:
    return "consent:" + consent_id


def consent_stamp_keys(consent_id: str) -> tuple[str, ...]:
    return (_consent_key(consent_id),)


def _consent_trust(state: ConsentState | None) -> float:
    allows = state is not None and state.kind == "choice"
    return ACTIVE_TRUST_SECONDS if allows else MAX_ENTRY_AGE_SECONDS


def load_consent_state(
    site_id: int, consent_id: str, as_of: datetime | None = None
) -> ConsentState | None:
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.site_id == site_id, ConsentRecord.consent_id == consent_id)
        .order_by(ConsentRecord.seq.desc())
        .limit(1)
    )
    if as_of is not None:
        query = query.where(ConsentRecord.recorded_at <= as_of)
    record = db.session.scalar(query)
    return None if record is None else consent_state_of(record)


def consent_state_of(record: ConsentRecord) -> ConsentState:
    return ConsentState(
        record_uid=record.record_uid,
        seq=record.seq,
        site_id=record.site_id,
        policy_version=record.policy_version,
        kind=record.kind,
        choices=dict(record.choices),
        recorded_at=record.recorded_at,
        expires_at=record.expires_at,
    )


def latest_consent(site_id: int, consent_id: str, *, cached: bool = True) -> ConsentState | None:
    if not cached:
        return load_consent_state(site_id, consent_id)
    return shared_cache().get(
        f"{site_id}:{consent_id}",
        lambda: load_consent_state(site_id, consent_id),
        stamp_key=_consent_key(consent_id),
        trust=_consent_trust,
    )
