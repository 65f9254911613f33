"""OpenAPI description of the consent API, the staff site list and the document itself."""

from __future__ import annotations

from typing import Any

from app.consent.routes import CONSENT_ID_MAX, MAX_CONSENT_BODY
from app.consent.service import METHODS
from app.openapi import error_response, json_body, json_response

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


SITE_KEY = {"name": "site_key", "in": "path", "required": True, "schema": {"type": "string"}}
CONSENT_ID = {
    "name": "consent_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "maxLength": CONSENT_ID_MAX},
}

SCHEMAS: dict[str, Any] = {
    "Category": {
        "type": "object",
        "required": ["key", "required", "label", "description"],
        "properties": {
            "key": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"},
            "required": {"type": "boolean"},
            "label": {"type": "string"},
            "description": {"type": "string"},
        },
    },
    "Policy": {
        "type": "object",
        "required": [
            "site",
            "policy_version",
            "categories",
            "texts",
            "consent_days",
            "refusal_days",
        ],
        "properties": {
            "site": {"type": "string"},
            "policy_version": {"type": "integer", "minimum": 1},
            "lang": {"type": "string", "description": "The language served (fallback: en)."},
            "languages": {"type": "array", "items": {"type": "string"}},
            "categories": {"type": "array", "items": _ref("Category")},
            "texts": {
                "type": "object",
                "description": "Banner texts in `lang`; `dir` is ltr or rtl.",
            },
            "texts_hash": {"type": "string", "description": "SHA-256 of what is shown."},
            "consent_days": {"type": "integer", "minimum": 1, "maximum": 395},
            "refusal_days": {"type": "integer", "minimum": 1, "maximum": 395},
            "tracker": {"type": "object"},
        },
    },
    "ConsentRequest": {
        "type": "object",
        "required": ["site", "policy_version", "method"],
        "properties": {
            "site": {"type": "string"},
            "consent_id": {
                "type": "string",
                "maxLength": CONSENT_ID_MAX,
                "description": "Omit on the first choice; an unknown or foreign id gets a new one.",
            },
            "policy_version": {"type": "integer", "minimum": 1},
            "choices": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "method": {"type": "string", "enum": list(METHODS)},
            "lang": {"type": "string"},
            "gpc": {
                "type": "boolean",
                "description": "Global Privacy Control seen by the page (as `Sec-GPC: 1`); "
                "marketing is then never recorded as granted.",
            },
        },
    },
    "Receipt": {
        "type": "object",
        "description": "Consent receipt after ISO/IEC TS 27560, signed (HMAC-SHA256).",
        "required": [
            "schema",
            "record_id",
            "controller",
            "site",
            "notice",
            "purposes",
            "method",
            "recorded_at",
            "expires_at",
            "gpc",
            "signature",
        ],
        "properties": {
            "schema": {"type": "string"},
            "record_id": {"type": "string", "format": "uuid"},
            "consent_id": {"type": "string"},
            "controller": {"type": "object"},
            "site": {"type": "object"},
            "notice": {
                "type": "object",
                "properties": {
                    "policy_version": {"type": "integer"},
                    "texts_hash": {"type": "string"},
                    "language": {"type": "string"},
                },
            },
            "event": {"type": "string", "enum": ["given", "withdrawn"]},
            "purposes": {"type": "array", "items": {"type": "object"}},
            "method": {"type": "string"},
            "recorded_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "gpc": {"type": "boolean"},
            "signature": {"type": "string"},
        },
    },
    "ConsentCreated": {
        "type": "object",
        "required": ["consent_id", "receipt"],
        "properties": {
            "consent_id": {"type": "string", "description": "Server-made, 192 random bits."},
            "policy_version": {"type": "integer"},
            "choices": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "expires_at": {"type": "string", "format": "date-time"},
            "gpc": {"type": "boolean"},
            "receipt": _ref("Receipt"),
        },
    },
    "ConsentStatus": {
        "type": "object",
        "required": [
            "site",
            "policy_version",
            "choices",
            "method",
            "recorded_at",
            "expires_at",
            "status",
        ],
        "properties": {
            "consent_id": {"type": "string"},
            "site": {"type": "string"},
            "policy_version": {"type": "integer"},
            "current_policy_version": {"type": "integer"},
            "choices": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "method": {"type": "string"},
            "lang": {"type": "string"},
            "gpc": {"type": "boolean"},
            "recorded_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "status": {"type": "string", "enum": ["active", "expired", "withdrawn", "stale"]},
            "receipt": _ref("Receipt"),
        },
    },
    "SiteSummary": {
        "type": "object",
        "required": ["key", "name", "domains", "policy_version"],
        "properties": {
            "key": {"type": "string"},
            "name": {"type": "string"},
            "domains": {"type": "array", "items": {"type": "string"}},
            "policy_version": {"type": "integer"},
        },
    },
}

_CORS_NOTE = " Browsers may call it only from the site's registered domains (else 403)."

PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["meta"],
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    },
    "/api/v1/sites": {
        "get": {
            "summary": "List sites and their current policy versions",
            "tags": ["staff"],
            "security": [{"bearer": []}, {"session": []}],
            "responses": {
                "200": json_response(
                    "Sites",
                    {
                        "type": "object",
                        "properties": {"sites": {"type": "array", "items": _ref("SiteSummary")}},
                    },
                ),
                "401": error_response("No or invalid token"),
                "403": error_response("Role not allowed"),
            },
        }
    },
    "/api/v1/sites/{site_key}/policy": {
        "get": {
            "summary": "The site's current consent policy in a language." + _CORS_NOTE,
            "tags": ["consent"],
            "parameters": [
                SITE_KEY,
                {
                    "name": "lang",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "BCP 47 tag; de-AT falls back to de, unknown to en.",
                },
            ],
            "responses": {
                "200": json_response("The policy", _ref("Policy")),
                "403": error_response("Origin not registered for the site"),
                "404": error_response("Unknown site"),
            },
        }
    },
    "/api/v1/consent": {
        "post": {
            "summary": "Record a visitor's choice (appends to the consent id's history)."
            + _CORS_NOTE,
            "tags": ["consent"],
            "description": f"Body: JSON as application/json or text/plain, at most "
            f"{MAX_CONSENT_BODY} bytes. `Sec-GPC: 1` keeps marketing off.",
            "parameters": [
                {"name": "Sec-GPC", "in": "header", "schema": {"type": "string", "enum": ["1"]}}
            ],
            "requestBody": json_body(_ref("ConsentRequest")),
            "responses": {
                "201": json_response("Recorded", _ref("ConsentCreated")),
                "400": error_response("Malformed body or unknown category"),
                "403": error_response("Origin not registered for the site"),
                "404": error_response("Unknown site"),
                "409": error_response("Stale policy_version; the body carries the current one"),
                "413": error_response("Body too large"),
                "415": error_response("Not JSON"),
                "429": error_response("Too many requests"),
            },
        }
    },
    "/api/v1/consent/{consent_id}": {
        "get": {
            "summary": "The current state of a consent id." + _CORS_NOTE,
            "tags": ["consent"],
            "parameters": [CONSENT_ID],
            "responses": {
                "200": json_response("Current record and status", _ref("ConsentStatus")),
                "403": error_response("Origin not registered for the site"),
                "404": error_response("Unknown consent id"),
            },
        }
    },
    "/api/v1/consent/{consent_id}/withdraw": {
        "post": {
            "summary": "Withdraw consent: from now on nothing is collected." + _CORS_NOTE,
            "tags": ["consent"],
            "parameters": [CONSENT_ID],
            "responses": {
                "200": json_response("Withdrawn, with a receipt", _ref("ConsentStatus")),
                "403": error_response("Origin not registered for the site"),
                "404": error_response("Unknown consent id"),
            },
        }
    },
}
