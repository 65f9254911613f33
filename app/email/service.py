"""Writing campaigns, recipients and their email-tracking consent.

Every write here commits once. Recipients are found by the HMAC of their normalised
address; the address itself is dropped as soon as it is hashed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from flask import current_app
from sqlalchemy import func, select

from app.clock import utcnow
from app.consent.gate import email_tracking_allows
from app.database import commit_retrying
from app.errors import ApiError
from app.extensions import db
from app.identity import MAX_EMAIL_LENGTH, email_hmac
from app.models.email import (
    CONSENT_SOURCES,
    EmailCampaign,
    EmailConsentRecord,
    EmailRecipient,
    EmailSend,
)
from app.sites.registry import get_site

WRITE_ATTEMPTS = 8
MAX_CAMPAIGN_NAME = 200
# Sources a staff caller may claim; "preference_centre" is the recipient's own action.
STAFF_SOURCES = tuple(s for s in CONSENT_SOURCES if s != "preference_centre")
_IMPORT_CHUNK = 500
T = TypeVar("T")


class EmailError(ApiError, ValueError):
    """Bad input from a caller. An ``ApiError``, so the API answers it with ``status`` and
    ``{"error": message}`` through the one error handler; the CLI and admin print it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)


@dataclass(frozen=True)
class RecipientChoice:
    """One row to record: an address, its tracking choice and where the choice came from."""

    email: str
    email_tracking: bool
    source: str


def recipient_key(email: str) -> str:
    """The HMAC a recipient is stored under; EmailError if ``email`` is not an address."""
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH * 4:
        raise EmailError("email is not a plausible address")
    try:
        return email_hmac(current_app.config["SECRET_KEY"], email)
    except ValueError as exc:
        # The message never echoes the address.
        raise EmailError(f"email is not a plausible address ({exc})") from None


def check_source(source: str, allowed: Sequence[str] = STAFF_SOURCES) -> str:
    if source not in allowed:
        raise EmailError(f"source must be one of {', '.join(allowed)}")
    return source


def _busy(what: str) -> EmailError:
    # A 503 always says when to come back (the API documents Retry-After on every 503).
    error = EmailError(f"{what} is busy, try again", 503)
    error.headers["Retry-After"] = "1"
    return error


def _retrying(write: Callable[[], T], what: str) -> T:
    """Commit ``write``, running it again when a concurrent writer won a race."""
    return commit_retrying(write, attempts=WRITE_ATTEMPTS, busy=lambda: _busy(what))


def _next_seqs(recipient_ids: Iterable[int]) -> dict[int, int]:
    ids = list(recipient_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(EmailConsentRecord.recipient_id, func.max(EmailConsentRecord.seq))
        .where(EmailConsentRecord.recipient_id.in_(ids))
        .group_by(EmailConsentRecord.recipient_id)
    ).all()
    latest = {rid: seq for rid, seq in rows}
    return {rid: (latest.get(rid) or 0) + 1 for rid in ids}


def _recipients_by_key(keys: Sequence[str]) -> dict[str, EmailRecipient]:
    found: dict[str, EmailRecipient] = {}
    for start in range(0, len(keys), _IMPORT_CHUNK):
        chunk = keys[start : start + _IMPORT_CHUNK]
        for recipient in db.session.scalars(
            select(EmailRecipient).where(EmailRecipient.email_hmac.in_(chunk))
        ):
            found[recipient.email_hmac] = recipient
    return found


def _append_choices(
    keyed: Sequence[tuple[str, bool, str]], progress: Callable[[int], None] | None
) -> tuple[list[EmailRecipient], int]:
    """Add (key, tracking, source) in order, creating recipients as needed; no commit."""
    existing = _recipients_by_key(sorted({key for key, _, _ in keyed}))
    created = 0
    for key, _, _ in keyed:
        if key not in existing:
            existing[key] = EmailRecipient(email_hmac=key)
            db.session.add(existing[key])
            created += 1
    db.session.flush()
    seqs = _next_seqs(r.id for r in existing.values())
    now = utcnow()
    ordered: list[EmailRecipient] = []
    for index, (key, tracking, source) in enumerate(keyed, start=1):
        recipient = existing[key]
        db.session.add(
            EmailConsentRecord(
                recipient_id=recipient.id,
                seq=seqs[recipient.id],
                email_tracking=tracking,
                source=source,
                recorded_at=now,
            )
        )
        seqs[recipient.id] += 1
        ordered.append(recipient)
        if progress is not None and index % 100 == 0:
            progress(100)
    if progress is not None and len(keyed) % 100:
        progress(len(keyed) % 100)
    return ordered, created


def record_recipient(choice: RecipientChoice) -> tuple[EmailRecipient, bool]:
    """Find or create the recipient and append its choice; returns (recipient, created)."""
    key = recipient_key(choice.email)
    check_source(choice.source, CONSENT_SOURCES)

    def write() -> tuple[EmailRecipient, bool]:
        recipients, created = _append_choices([(key, choice.email_tracking, choice.source)], None)
        return recipients[0], created == 1

    return _retrying(write, "the recipient store")


def import_recipients(
    choices: Sequence[RecipientChoice], progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Record many already-validated choices in one transaction: all or none."""
    keyed = [(recipient_key(c.email), c.email_tracking, c.source) for c in choices]
    for choice in choices:
        check_source(choice.source, CONSENT_SOURCES)
    created = 0

    def write() -> None:
        nonlocal created
        _, created = _append_choices(keyed, progress)

    _retrying(write, "the recipient store")
    return {"rows": len(keyed), "recipients_created": created}


def set_tracking(recipient_id: int, email_tracking: bool, source: str) -> EmailConsentRecord:
    """Append a choice for a known recipient (the preference centre, the admin)."""
    check_source(source, CONSENT_SOURCES)
    if db.session.get(EmailRecipient, recipient_id) is None:
        raise EmailError("unknown recipient", status=404)

    def write() -> EmailConsentRecord:
        seq = _next_seqs([recipient_id])[recipient_id]
        record = EmailConsentRecord(
            recipient_id=recipient_id, seq=seq, email_tracking=email_tracking, source=source
        )
        db.session.add(record)
        return record

    return _retrying(write, "the recipient store")


def consent_history(recipient_id: int) -> list[EmailConsentRecord]:
    return list(
        db.session.scalars(
            select(EmailConsentRecord)
            .where(EmailConsentRecord.recipient_id == recipient_id)
            .order_by(EmailConsentRecord.seq)
        )
    )


def parse_sent_at(value: str, name: str = "sent_at") -> datetime:
    """An ISO 8601 date-time with a time zone (``Z`` accepted), or EmailError."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise EmailError(f"{name} must be an ISO 8601 date-time string") from None
    if parsed.tzinfo is None:
        raise EmailError(f"{name} needs a time zone (e.g. 2026-09-01T09:00:00Z)")
    try:
        # Stored in UTC: 9999-12-31T23:59:59-23:59 is a valid ISO string whose UTC time
        # does not exist in Python (nor 0001-01-01T00:00:00+23:59).
        return parsed.astimezone(UTC)
    except OverflowError:
        raise EmailError(f"{name} is out of range once converted to UTC") from None


def create_campaign(site_key: str, name: str, sent_at: datetime | None) -> EmailCampaign:
    site = get_site(site_key)
    if site is None:
        raise EmailError("unknown site", status=404)
    name = name.strip()
    if not name or len(name) > MAX_CAMPAIGN_NAME:
        raise EmailError(f"name must be 1 to {MAX_CAMPAIGN_NAME} characters")
    if sent_at is not None and sent_at.tzinfo is None:
        raise EmailError("sent_at needs a time zone (e.g. 2026-09-01T09:00:00Z)")
    campaign = EmailCampaign(site_id=site.id, name=name, sent_at=sent_at)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def record_send(campaign_id: int, recipient_id: int) -> bool:
    """Note that the campaign goes to the recipient; returns whether tracking is granted.

    The send is recorded either way ("sends known"); ``tracked`` follows the consent at
    the moment the URL is asked for.
    """
    if db.session.get(EmailCampaign, campaign_id) is None:
        raise EmailError("unknown campaign", status=404)
    if db.session.get(EmailRecipient, recipient_id) is None:
        raise EmailError("unknown recipient", status=404)

    def write() -> bool:
        granted = email_tracking_allows(recipient_id)
        send = db.session.scalar(
            select(EmailSend).where(
                EmailSend.campaign_id == campaign_id, EmailSend.recipient_id == recipient_id
            )
        )
        if send is None:
            db.session.add(
                EmailSend(campaign_id=campaign_id, recipient_id=recipient_id, tracked=granted)
            )
        elif send.tracked != granted:
            send.tracked = granted
        return granted

    return _retrying(write, "the send store")
