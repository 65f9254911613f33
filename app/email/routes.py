"""The staff email API: campaigns, recipients and pixel URLs (reports: app/reporting/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.accounts.auth import require_role
from app.email.links import pixel_links, preference_url
from app.email.service import (
    RecipientChoice,
    check_source,
    consent_history,
    create_campaign,
    parse_sent_at,
    record_recipient,
)
from app.errors import ApiError, bad_request
from app.extensions import db
from app.http import read_json_object, require_str
from app.models.email import EmailRecipient

bp = Blueprint("email_api", __name__, url_prefix="/api/v1")

MAX_BODY = 8 * 1024


def _sent_at(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request("sent_at must be an ISO 8601 date-time string")
    return parse_sent_at(value)


@bp.post("/email/campaigns")
@require_role("marketing")
def post_campaign() -> tuple[Response, int]:
    data = read_json_object(MAX_BODY)
    site_key = require_str(data, "site", max_len=64)
    name = require_str(data, "name", max_len=200)
    sent_at = _sent_at(data.get("sent_at"))
    assert site_key is not None and name is not None
    campaign = create_campaign(site_key, name, sent_at)
    return jsonify({"campaign_id": campaign.id}), 201


def _parse_recipient(data: dict[str, Any]) -> RecipientChoice:
    email = require_str(data, "email", max_len=1024)
    consent = data.get("consent")
    if not isinstance(consent, dict) or not isinstance(consent.get("email_tracking"), bool):
        raise bad_request("consent must be an object with email_tracking: true|false")
    if set(consent) - {"email_tracking"}:
        raise bad_request("consent may only hold email_tracking")
    source = require_str(data, "source", max_len=32, optional=True) or "api"
    check_source(source)  # "preference_centre" belongs to the recipient alone
    assert email is not None
    return RecipientChoice(email=email, email_tracking=consent["email_tracking"], source=source)


@bp.post("/email/recipients")
@require_role("marketing")
def post_recipient() -> tuple[Response, int]:
    """Always 201: a post appends a consent record, to a new or the existing recipient."""
    choice = _parse_recipient(read_json_object(MAX_BODY))
    recipient, created = record_recipient(choice)
    return jsonify({"recipient_id": recipient.id, "created": created}), 201


def _recipient(recipient_id: int) -> EmailRecipient:
    recipient = db.session.get(EmailRecipient, recipient_id)
    if recipient is None:
        raise ApiError(404, "unknown recipient")
    return recipient


@bp.get("/email/recipients/<int(max=9007199254740991):recipient_id>")
@require_role("marketing")
def get_recipient(recipient_id: int) -> Response:
    recipient = _recipient(recipient_id)
    history = [record.as_dict() for record in consent_history(recipient.id)]
    return jsonify(
        {
            "recipient_id": recipient.id,
            "email_tracking": bool(history and history[-1]["email_tracking"]),
            "consent_history": history,
            "preference_url": preference_url(recipient.id),
        }
    )


def query_id(name: str) -> int | None:
    """An id in the query string: 1 to 18 ASCII digits, else None.

    ``str.isdigit`` alone also passes "²", which ``int`` then refuses (a 500).
    """
    raw = request.args.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    return int(raw)


@bp.get("/email/campaigns/<int(max=2147483647):campaign_id>/pixel")
@require_role("marketing")
def get_pixel(campaign_id: int) -> Response:
    recipient_id = query_id("recipient")
    if recipient_id is None:
        raise bad_request("recipient must be a recipient id")
    links = pixel_links(campaign_id, recipient_id)
    return jsonify(
        {"url": links.url, "read_url": links.read_url, "preference_url": links.preference_url}
    )
