"""Each consent id's latest record, cached on every worker and validated against its
generation stamp (``app.storage.cache``), so a withdrawal is seen at once on every host.
An answer that allows something is trusted for ``ACTIVE_TRUST_SECONDS`` at most (a
backstop), and not at all while the stamps cannot be read. Decisions are made in
``gate.py``; this module only finds the record.

It is also the one place that finds "the latest record" of each kind: a consent id's
(``latest_consent_record``) and an email recipient's (``latest_email_consent``). Every
caller that needs the newest record asks one of these two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import ConsentRecord
from app.models.email import EmailConsentRecord
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


def latest_consent_record(
    consent_id: str, *, site_id: int | None = None, as_of: datetime | None = None
) -> ConsentRecord | None:
    """The newest record of ``consent_id`` (on ``site_id``), recorded at or before ``as_of``."""
    query = (
        select(ConsentRecord)
        .where(ConsentRecord.consent_id == consent_id)
        .order_by(ConsentRecord.seq.desc())
        .limit(1)
    )
    if site_id is not None:
        query = query.where(ConsentRecord.site_id == site_id)
    if as_of is not None:
        query = query.where(ConsentRecord.recorded_at <= as_of)
    return db.session.scalar(query)


def latest_email_consent(
    recipient_id: int, *, as_of: datetime | None = None
) -> EmailConsentRecord | None:
    """The newest email-tracking choice of ``recipient_id`` recorded at or before ``as_of``.

    Not cached: only pixel hits and sends ask, and none of them is on a hot path.
    """
    query = (
        select(EmailConsentRecord)
        .where(EmailConsentRecord.recipient_id == recipient_id)
        .order_by(EmailConsentRecord.seq.desc())
        .limit(1)
    )
    if as_of is not None:
        query = query.where(EmailConsentRecord.recorded_at <= as_of)
    return db.session.scalar(query)


def load_consent_state(
    site_id: int, consent_id: str, as_of: datetime | None = None
) -> ConsentState | None:
    record = latest_consent_record(consent_id, site_id=site_id, as_of=as_of)
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
