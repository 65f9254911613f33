"""OpenAPI description of the collection endpoint, as strict as ``parse_batch``."""

from __future__ import annotations

from typing import Any

from app.collection.validation import (
    BATCH_ID_PATTERN,
    EVENT_TYPES,
    MAX_BATCH_ID,
    MAX_BODY_BYTES,
    MAX_CONSENT_ID,
    MAX_ENGAGED_MS,
    MAX_EVENTS,
    MAX_QUERY,
    MAX_SITE_KEY,
    MAX_TITLE,
    MAX_URL,
    MIN_BATCH_ID,
)
from app.openapi import (
    body_errors,
    error_response,
    json_body,
    json_response,
    text,
    too_many_requests,
    unavailable,
)

_TARGET_TYPES = ("download", "outbound")

_FIELDS: dict[str, dict[str, Any]] = {
    "url": text(
        MAX_URL,
        description="Page the event happened on; must be on one of the site's domains. "
        "Stored with the query cut to an allow-list and no fragment.",
    ),
    "referrer": text(
        MAX_URL,
        nullable=True,
        description="Stored as scheme://host; a search engine's query parameter is kept, "
        "normalised and redacted, and its term is stored as a search term.",
    ),
    "title": text(MAX_TITLE, nullable=True),
    "target": text(MAX_URL, nullable=True, description="download and outbound: the link's URL"),
    "query": text(MAX_QUERY, nullable=True, description="search: what was searched for"),
}


def _event(kind: str) -> dict[str, Any]:
    """One event type's shape: what ``_parse_event`` requires and allows for it."""
    properties: dict[str, Any] = {"type": {"const": kind}, **_FIELDS}
    required = ["type", "url"]
    if kind in _TARGET_TYPES:
        properties["target"] = text(MAX_URL, description="The link's URL")
        required.append("target")
    if kind == "search":
        properties["query"] = text(MAX_QUERY, description="What was searched for")
        required.append("query")
    if kind == "engagement":
        properties["engaged_ms"] = {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_ENGAGED_MS,
            "description": "Visible time since the previous ping",
        }
        required.append("engaged_ms")
    else:
        properties["engaged_ms"] = {"type": "null", "description": "engagement events only"}
    return {
        "type": "object",
        "title": f"{kind} event",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


SCHEMAS: dict[str, Any] = {
    "CollectEvent": {
        "oneOf": [_event(kind) for kind in sorted(EVENT_TYPES)],
        "description": "An event; which fields it needs depends on its `type`.",
    },
    "CollectBatch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["site", "consent_id", "events"],
        "properties": {
            "site": text(MAX_SITE_KEY, min_length=1),
            "consent_id": text(MAX_CONSENT_ID, min_length=1),
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EVENTS,
                "items": {"$ref": "#/components/schemas/CollectEvent"},
            },
            "batch": {
                "type": ["string", "null"],
                "minLength": MIN_BATCH_ID,
                "maxLength": MAX_BATCH_ID,
                "pattern": BATCH_ID_PATTERN,
                "description": "The tracker's id for this batch: a retried batch is stored once "
                "(and answered with the first answer's counts).",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/collect": {
        "post": {
            "tags": ["collection"],
            "summary": "Collect a batch of analytics events",
            "description": (
                f"At most {MAX_EVENTS} events and {MAX_BODY_BYTES} bytes. Send as "
                "`text/plain` to avoid a CORS preflight. Events are stored only when the "
                "current consent record of `consent_id` on the site is active and grants "
                "`analytics`; otherwise they are dropped and only a per-site, per-day count "
                "is kept. A batch is stored whole or not at all. Browsers may call it only "
                "from the site's registered domains (else 403)."
            ),
            "requestBody": json_body({"$ref": "#/components/schemas/CollectBatch"}),
            "responses": {
                "202": json_response(
                    "Batch handled",
                    {
                        "type": "object",
                        "required": ["accepted", "dropped"],
                        "properties": {
                            "accepted": {"type": "integer", "minimum": 0},
                            "dropped": {"type": "integer", "minimum": 0},
                        },
                    },
                ),
                "400": error_response("Malformed batch, unknown site or a URL off the site"),
                "403": error_response("The request's Origin is not registered for the site"),
                **body_errors(MAX_BODY_BYTES),
                "429": too_many_requests(),
                "503": unavailable(),
            },
        }
    }
}
