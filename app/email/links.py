"""Minting the signed URLs a campaign puts in its emails."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, has_request_context, request

from app.email.service import record_send
from app.email.tokens import make_pixel_token, make_preference_token


@dataclass(frozen=True)
class PixelLinks:
    url: str | None
    read_url: str | None
    preference_url: str


def absolute(path: str) -> str:
    """``path`` on this service's public origin (HEEDFUL_PUBLIC_URL, else the request's)."""
    base = current_app.config.get("HEEDFUL_PUBLIC_URL")
    if not base and has_request_context():
        base = request.host_url
    return (base or "").rstrip("/") + path


def preference_url(recipient_id: int) -> str:
    token = make_preference_token(current_app.config["SECRET_KEY"], recipient_id=recipient_id)
    return absolute(f"/p/{token}")


def pixel_links(campaign_id: int, recipient_id: int) -> PixelLinks:
    """Record the send and mint its pixels, but only when tracking is granted right now."""
    granted = record_send(campaign_id, recipient_id)
    secret = current_app.config["SECRET_KEY"]
    url = read_url = None
    if granted:
        open_token = make_pixel_token(
            secret, campaign_id=campaign_id, recipient_id=recipient_id, kind="open"
        )
        read_token = make_pixel_token(
            secret, campaign_id=campaign_id, recipient_id=recipient_id, kind="read"
        )
        url = absolute(f"/api/v1/e/{open_token}.gif")
        read_url = absolute(f"/api/v1/e/{read_token}/read.gif")
    return PixelLinks(url=url, read_url=read_url, preference_url=preference_url(recipient_id))
