"""Strict parsing of a ``POST /api/v1/collect`` body into typed values (no database)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.errors import ApiError, bad_request
from app.http import require_str

MAX_BODY_BYTES = 32 * 1024
MAX_EVENTS = 50
MAX_URL = 2048
MAX_TITLE = 1000
MAX_QUERY = 500
MAX_SITE_KEY = 64
MAX_CONSENT_ID = 64
# A batch id is made by the tracker, at random (at least 96 bits), once per batch: its
# retries carry the same one, so the batch is stored once. URL-safe base64 letters only.
MIN_BATCH_ID = 16
MAX_BATCH_ID = 64
BATCH_ID_PATTERN = f"^[A-Za-z0-9_-]{{{MIN_BATCH_ID},{MAX_BATCH_ID}}}$"
_BATCH_ID = re.compile(BATCH_ID_PATTERN)  # with fullmatch: no trailing newline slips by
# An engagement ping reports visible time since the previous one; the tracker pings at
# least every few minutes, so an hour is a generous bound that still rejects nonsense.
MAX_ENGAGED_MS = 3_600_000

EVENT_TYPES = frozenset({"pageview", "engagement", "download", "outbound", "search"})
_TOP_KEYS = frozenset({"site", "consent_id", "events", "batch"})
_EVENT_KEYS = frozenset({"type", "url", "referrer", "title", "engaged_ms", "target", "query"})
_TARGET_TYPES = frozenset({"download", "outbound"})


@dataclass(frozen=True, slots=True)
class RawEvent:
    type: str
    url: str
    referrer: str | None = None
    title: str | None = None
    engaged_ms: int | None = None
    target: str | None = None
    query: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    site_key: str
    consent_id: str
    events: tuple[RawEvent, ...]
    batch_id: str | None = None


def parse_batch(data: dict[str, Any]) -> Batch:
    """Validate types, lengths and shape; raise a 400 ``ApiError`` on the first problem."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise bad_request(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    site_key = require_str(data, "site", max_len=MAX_SITE_KEY)
    consent_id = require_str(data, "consent_id", max_len=MAX_CONSENT_ID)
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise bad_request("events must be a non-empty array")
    if len(events) > MAX_EVENTS:
        raise bad_request(f"at most {MAX_EVENTS} events per request")
    assert site_key is not None and consent_id is not None
    if not site_key or not consent_id:
        raise bad_request("site and consent_id cannot be empty")
    batch_id = data.get("batch")
    if batch_id is not None and not (isinstance(batch_id, str) and _BATCH_ID.fullmatch(batch_id)):
        raise bad_request(
            f"batch must be {MIN_BATCH_ID} to {MAX_BATCH_ID} characters: letters, digits, - or _"
        )
    parsed = tuple(_parse_event(event, index) for index, event in enumerate(events))
    return Batch(site_key=site_key, consent_id=consent_id, events=parsed, batch_id=batch_id)


def _parse_event(event: Any, index: int) -> RawEvent:
    where = f"events[{index}]"
    if not isinstance(event, dict):
        raise bad_request(f"{where} must be an object")
    unknown = set(event) - _EVENT_KEYS
    if unknown:
        raise bad_request(f"{where} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    kind = _field(event, "type", where, MAX_URL)
    if kind not in EVENT_TYPES:
        raise bad_request(f"{where}.type must be one of {', '.join(sorted(EVENT_TYPES))}")
    url = _field(event, "url", where, MAX_URL)
    assert url is not None
    referrer = _field(event, "referrer", where, MAX_URL, optional=True)
    title = _field(event, "title", where, MAX_TITLE, optional=True)
    target = _field(event, "target", where, MAX_URL, optional=kind not in _TARGET_TYPES)
    query = _field(event, "query", where, MAX_QUERY, optional=kind != "search")
    engaged = event.get("engaged_ms")
    if kind == "engagement":
        if not isinstance(engaged, int) or isinstance(engaged, bool):
            raise bad_request(f"{where}.engaged_ms must be a whole number of milliseconds")
        if not 0 <= engaged <= MAX_ENGAGED_MS:
            raise bad_request(f"{where}.engaged_ms must be between 0 and {MAX_ENGAGED_MS}")
    elif engaged is not None:
        raise bad_request(f"{where}.engaged_ms belongs to engagement events only")
    return RawEvent(
        type=kind,
        url=url,
        referrer=referrer or None,
        title=title,
        engaged_ms=engaged if kind == "engagement" else None,
        target=target,
        query=query,
    )


def _field(
    event: dict[str, Any], key: str, where: str, max_len: int, *, optional: bool = False
) -> str | None:
    try:
        return require_str(event, key, max_len=max_len, optional=optional)
    except ApiError as exc:
        raise bad_request(f"{where}.{exc.message}") from None
