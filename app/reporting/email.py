"""Per-campaign open and read-time figures (the email report).

Open rate = unique human opens / human-eligible recipients, where human-eligible means a
pixel was minted (tracking granted at send time) and the recipient is not hidden behind
Apple Mail Privacy Protection: Apple fetches every image on delivery, so such a
recipient's real opens can never be seen and counting them would only dilute the rate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from app.email.classify import ReadBucket, Verdict
from app.extensions import db
from app.models import Site
from app.models.email import EmailCampaign, EmailOpen, EmailReadTime, EmailSend


def _opens_by_verdict(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(EmailOpen.verdict, func.count())
        .where(EmailOpen.campaign_id == campaign_id)
        .group_by(EmailOpen.verdict)
    ).all()
    return {verdict: count for verdict, count in rows}


def _recipient_open_kinds(campaign_id: int) -> tuple[int, int]:
    """(unique human openers, recipients seen only through Apple MPP)."""
    human = func.max(case((EmailOpen.verdict == Verdict.HUMAN.value, 1), else_=0))
    apple = func.max(case((EmailOpen.reasons.like("apple_mpp%"), 1), else_=0))
    per_recipient = (
        select(EmailOpen.recipient_id, human.label("human"), apple.label("apple"))
        .where(EmailOpen.campaign_id == campaign_id)
        .group_by(EmailOpen.recipient_id)
        .subquery()
    )
    row = db.session.execute(
        select(
            func.coalesce(func.sum(per_recipient.c.human), 0),
            func.coalesce(
                func.sum(
                    case(((per_recipient.c.apple == 1) & (per_recipient.c.human == 0), 1), else_=0)
                ),
                0,
            ),
        )
    ).one()
    return int(row[0]), int(row[1])


def _sends(campaign_id: int) -> tuple[int, int]:
    row = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((EmailSend.tracked.is_(True), 1), else_=0)), 0),
        ).where(EmailSend.campaign_id == campaign_id)
    ).one()
    return int(row[0]), int(row[1])


def _read_buckets(campaign_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(EmailReadTime.bucket, func.count())
        .where(EmailReadTime.campaign_id == campaign_id)
        .group_by(EmailReadTime.bucket)
    ).all()
    counts = dict.fromkeys((b.value for b in ReadBucket), 0)
    counts.update({bucket: count for bucket, count in rows})
    return counts


def campaign_report(campaign: EmailCampaign) -> dict[str, Any]:
    sends_known, tracked = _sends(campaign.id)
    opens = _opens_by_verdict(campaign.id)
    unique_human, apple_only = _recipient_open_kinds(campaign.id)
    eligible = max(tracked - apple_only, 0)
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "sent_at": campaign.sent_at.isoformat() if campaign.sent_at else None,
        "sends_known": sends_known,
        "tracked_sends": tracked,
        "human_eligible": eligible,
        "unique_human_opens": unique_human,
        "total_human_opens": opens.get(Verdict.HUMAN.value, 0),
        "machine_opens": opens.get(Verdict.MACHINE.value, 0),
        "unknown_opens": opens.get(Verdict.UNKNOWN.value, 0),
        "open_rate": round(unique_human / eligible, 4) if eligible else None,
        "read_time": _read_buckets(campaign.id),
    }


def site_campaigns(site: Site) -> list[EmailCampaign]:
    return list(
        db.session.scalars(
            select(EmailCampaign)
            .where(EmailCampaign.site_id == site.id)
            .order_by(EmailCampaign.created_at.desc(), EmailCampaign.id.desc())
        )
    )


def site_report(site: Site, campaign_id: int | None = None) -> dict[str, Any]:
    campaigns = site_campaigns(site)
    if campaign_id is not None:
        campaigns = [c for c in campaigns if c.id == campaign_id]
    return {"site": site.key, "campaigns": [campaign_report(c) for c in campaigns]}
