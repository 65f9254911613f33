"""What a pixel hit may record: checked against the token, the send and consent *now*.

The request's user agent, headers and address are read here, classified, and dropped;
only the verdict, its reason codes and (for the read pixel) a bucket reach the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, request
from sqlalchemy import select

from app.clock import utcnow
from app.consent.gate import email_tracking_allows
from app.email.classify import OpenClassification, Verdict, classify_open, read_bucket
from app.email.tokens import TokenError, read_pixel_token
from app.enrichment.context import geo_readers
from app.extensions import db
from app.models.email import EmailCampaign, EmailOpen, EmailReadTime, EmailSend
from app.ratelimit import rate_guard

log = logging.getLogger(__name__)

# Only the headers the classifier looks at are passed on; nothing else is read.
_CLASSIFIER_HEADERS = ("Purpose", "Sec-Purpose", "X-Moz", "X-Purpose")
_APPLE_MPP_USER_AGENT = "Mozilla/5.0"


@dataclass(frozen=True)
class Eligible:
    """A pixel hit whose token is good, whose send is known and whose consent holds."""

    campaign_id: int
    recipient_id: int
    sent_at: datetime | None
    site_id: int


def eligible(token: str, kind: str) -> Eligible | None:
    """None unless ``token`` is genuine and minted for ``kind``, the campaign went to its
    recipient, and tracking is granted right now."""
    try:
        claim = read_pixel_token(current_app.config["SECRET_KEY"], token)
    except TokenError:
        return None
    if claim.kind != kind:
        return None
    row = db.session.execute(
        select(EmailCampaign.sent_at, EmailCampaign.site_id)
        .join(EmailSend, EmailSend.campaign_id == EmailCampaign.id)
        .where(EmailCampaign.id == claim.campaign_id, EmailSend.recipient_id == claim.recipient_id)
    ).first()
    if row is None or not email_tracking_allows(claim.recipient_id):
        return None
    if rate_guard().wait("pixel.site", str(row[1])) is not None:
        return None  # the site's pixels are over their limit: answered, not recorded
    return Eligible(claim.campaign_id, claim.recipient_id, row[0], row[1])


def classify_request(sent_at: datetime | None, now: datetime) -> OpenClassification:
    """Classify the current request; the UA and address do not outlive this call."""
    user_agent = request.headers.get("User-Agent")
    asn_org = None
    # The network lookup only matters for Apple's bare UA; skip the address otherwise.
    if (user_agent or "").strip() == _APPLE_MPP_USER_AGENT:
        _location, network = geo_readers().place(request.remote_addr)
        asn_org = network.organisation if network else None
    headers = {
        name: request.headers[name] for name in _CLASSIFIER_HEADERS if name in request.headers
    }
    return classify_open(
        method=request.method,
        user_agent=user_agent,
        headers=headers,
        asn_org=asn_org,
        sent_at=sent_at,
        opened_at=now,
    )


def record_open(token: str) -> OpenClassification | None:
    """Record an open for the current request if everything allows it; never raises.

    Repeats of one verdict for one recipient and campaign within
    ``HEEDFUL_OPEN_REPEAT_MINUTES`` are not stored (a reload, or one URL fetched in a
    loop). The verdict and its first reason (who fetched: ``apple_mpp``, ``scanner``, …)
    are part of the key, so a scanner's or Gmail's delivery-time fetch never hides the
    person's own open after it, nor a scanner the Apple fetch the open rate leaves out.
    """
    repeat_key = None
    try:
        target = eligible(token, "open")
        if target is None:
            return None
        now = utcnow()
        verdict = classify_request(target.sent_at, now)
        guard = rate_guard()
        kind = f"{verdict.verdict.value}:{verdict.reasons[0] if verdict.reasons else ''}"
        repeat_key = f"{target.campaign_id}:{target.recipient_id}:{kind}"
        if not guard.first_in_window(repeat_key):
            return None
        db.session.add(
            EmailOpen(
                campaign_id=target.campaign_id,
                recipient_id=target.recipient_id,
                verdict=verdict.verdict.value,
                reasons=",".join(verdict.reasons)[:200],
                opened_at=now,
            )
        )
        db.session.commit()
        return verdict
    except Exception:
        # The pixel answers the same whatever happens here, database outage included.
        db.session.rollback()
        if repeat_key is not None:
            rate_guard().forget_open(repeat_key)  # not stored: the next fetch may be
        log.exception("could not record an email open")
        return None


@dataclass(frozen=True)
class ReadPlan:
    """What to do with a read-pixel hit: hold it to time it, or record ``unsupported`` now."""

    target: Eligible
    hold: bool


def plan_read(token: str) -> ReadPlan | None:
    """None when nothing may be recorded (bad token, no consent, machine fetch)."""
    try:
        target = eligible(token, "read")
        if target is None:
            return None
        verdict = classify_request(target.sent_at, utcnow())
        if verdict.verdict is Verdict.MACHINE:
            return None
        # Proxies (Gmail, Yahoo) fetch on the reader's behalf: their hold says nothing.
        return ReadPlan(target, hold=verdict.device_data)
    except Exception:
        db.session.rollback()
        log.exception("could not check a read pixel")
        return None


def record_read(target: Eligible, held_seconds: float | None, *, proxied: bool) -> None:
    """Store the bucket, if consent still holds at the end of the hold; never raises."""
    try:
        if not email_tracking_allows(target.recipient_id):
            return
        bucket = read_bucket(held_seconds, proxied=proxied)
        db.session.add(
            EmailReadTime(
                campaign_id=target.campaign_id,
                recipient_id=target.recipient_id,
                bucket=bucket.value,
            )
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not record a read time")
