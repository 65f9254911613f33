"""OpenAPI description of self-service access and erasure."""

from __future__ import annotations

from typing import Any

from app.openapi import bad_query, error_response, json_response, too_many_requests, unavailable

CONSENT_ID = {
    "name": "consent_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
_CORS_NOTE = " Browsers may call it only from the site's registered domains (else 403)."

SCHEMAS: dict[str, Any] = {
    "SubjectData": {
        "type": "object",
        "required": ["consent_id", "generated_at", "data"],
        "properties": {
            "consent_id": {"type": "string"},
            "generated_at": {"type": "string", "format": "date-time"},
            "data": {
                "type": "object",
                "description": "Every kind of data held for the id (consent_records, events, "
                "...), each a list of rows.",
                "additionalProperties": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
    "Erasure": {
        "type": "object",
        "required": ["deleted"],
        "properties": {
            "deleted": {
                "type": "object",
                "description": "Rows removed, by kind.",
                "additionalProperties": {"type": "integer", "minimum": 0},
            }
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/consent/{consent_id}/data": {
        "get": {
            "summary": "Everything held for this consent id (self-service access)." + _CORS_NOTE,
            "tags": ["privacy"],
            "parameters": [CONSENT_ID],
            "responses": {
                "200": json_response("The data", {"$ref": "#/components/schemas/SubjectData"}),
                "400": bad_query(),
                "403": error_response("Origin not registered for the site"),
                "404": error_response("Unknown consent id"),
                "429": too_many_requests(),
                "503": unavailable(),
            },
        },
        "delete": {
            "summary": "Erase everything held for this consent id (self-service erasure)."
            + _CORS_NOTE,
            "tags": ["privacy"],
            "parameters": [CONSENT_ID],
            "responses": {
                "200": json_response("Counts removed", {"$ref": "#/components/schemas/Erasure"}),
                "400": bad_query(),
                "403": error_response("Origin not registered for the site"),
                "404": error_response("Unknown consent id"),
                "429": too_many_requests(),
                "503": unavailable(),
            },
        },
    }
}
