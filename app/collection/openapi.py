"""OpenAPI description of the collection endpoint."""

from __future__ import annotations

from typing import Any

from app.collection.validation import (
    EVENT_TYPES,
    MAX_BODY_BYTES,
    MAX_ENGAGED_MS,
    MAX_EVENTS,
    MAX_QUERY,
    MAX_TITLE,
    MAX_URL,
)
from app.openapi import error_response, json_response

SCHEMAS: dict[str, Any] = {
    "CollectEvent": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "url"],
        "properties": {
            "type": {"type": "string", "enum": sorted(EVENT_TYPES)},
            "url": {
                "type": "string",
                "maxLength": MAX_URL,
                "description": "Page the event happened on; must be on one of the site's "
                "domains. Stored with the query cut to an allow-list and no fragment.",
            },
            "referrer": {
                "type": "string",
                "maxLength": MAX_URL,
                "description": "Stored as scheme://host; a search engine's query parameter "
                "is kept, normalised and redacted, and its term is stored as a search term.",
            },
            "title": {"type": "string", "maxLength": MAX_TITLE},
            "engaged_ms": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_ENGAGED_MS,
                "description": "engagement only: visible time since the previous ping",
            },
            "target": {
                "type": "string",
                "maxLength": MAX_URL,
                "description": "download and outbound: the link's URL",
            },
            "query": {"type": "string", "maxLength": MAX_QUERY, "description": "search only"},
        },
    },
    "CollectBatch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["site", "consent_id", "events"],
        "properties": {
            "site": {"type": "string", "maxLength": 64},
            "consent_id": {"type": "string", "maxLength": 64},
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_EVENTS,
                "items": {"$ref": "#/components/schemas/CollectEvent"},
            },
        },
    },
}

_BODY = {"$ref": "#/components/schemas/CollectBatch"}

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
                "is kept. A batch is stored whole or not at all."
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _BODY}, "text/plain": {"schema": _BODY}},
            },
            "responses": {
                "202": json_response(
                    "Batch handled",
                    {
                        "type": "object",
                        "required": ["accepted", "dropped"],
                        "properties": {
                            "accepted": {"type": "integer"},
                            "dropped": {"type": "integer"},
                        },
                    },
                ),
                "400": error_response("Malformed batch, unknown site or a URL off the site"),
                "403": error_response("The request's Origin is not registered for the site"),
                "413": error_response("Body larger than 32 KiB"),
                "415": error_response("Body is not application/json or text/plain"),
                "503": error_response(
                    "Nothing was stored (storage unavailable or an internal failure); "
                    "retry after Retry-After"
                ),
            },
        }
    }
}
