"""OpenAPI description of the consent API, the staff site list and the document itself."""

from __future__ import annotations

from typing import Any

from app.consent.policy import CATEGORY_KEY
from app.consent.routes import CONSENT_ID_MAX, MAX_CONSENT_BODY
from app.consent.service import METHODS
from app.openapi import (
    STAFF_SECURITY,
    bad_query,
    body_errors,
    error_response,
    json_body,
    json_response,
    staff_errors,
    text,
    too_many_requests,
    unavailable,
)
from app.sites.default_policy import MAX_CONSENT_DAYS

_REF = "#/components/schemas/"
# What ``_parse_consent_body`` accepts: at most 32 choices, and a language tag this long.
MAX_CHOICES = 32
MAX_LANG = 35
SITE_KEY_MAX = 64


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _date_time() -> dict[str, str]:
    return {"type": "string", "format": "date-time"}


SITE_KEY = {
    "name": "site_key",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": SITE_KEY_MAX},
}
CONSENT_ID = {
    "name": "consent_id",
    "in": "path",
    "required": True,
    "description": "As `POST /api/v1/consent` made it; an id not held answers 404.",
    "schema": {"type": "string", "minLength": 1, "maxLength": CONSENT_ID_MAX},
}
_CHOICES = {
    "type": "object",
    "propertyNames": {"pattern": CATEGORY_KEY.pattern},
    "additionalProperties": {"type": "boolean"},
}

SCHEMAS: dict[str, Any] = {
    "Category": {
        "type": "object",
        "required": ["key", "required", "label", "description"],
        "properties": {
            "key": {"type": "string", "pattern": CATEGORY_KEY.pattern},
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
            "lang",
            "languages",
            "categories",
            "texts",
            "texts_hash",
            "consent_days",
            "refusal_days",
            "tracker",
        ],
        "properties": {
            "site": {"type": "string"},
            "policy_version": {"type": "integer", "minimum": 1},
            "lang": {"type": "string", "description": "The language served (fallback: en)."},
            "languages": {"type": "array", "items": {"type": "string"}},
            "categories": {"type": "array", "minItems": 2, "items": _ref("Category")},
            "texts": {
                "type": "object",
                "description": "Banner texts in `lang`; `dir` is ltr or rtl.",
            },
            "texts_hash": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "SHA-256 of what is shown.",
            },
            "consent_days": {"type": "integer", "minimum": 1, "maximum": MAX_CONSENT_DAYS},
            "refusal_days": {"type": "integer", "minimum": 1, "maximum": MAX_CONSENT_DAYS},
            "tracker": {
                "type": "object",
                "required": ["download_extensions"],
                "properties": {
                    "download_extensions": {"type": "array", "items": {"type": "string"}}
                },
            },
        },
    },
    "ConsentRequest": {
        "type": "object",
        "description": "Fields not listed here are ignored.",
        "required": ["site", "policy_version", "method"],
        "properties": {
            "site": text(SITE_KEY_MAX),
            "consent_id": text(
                CONSENT_ID_MAX,
                nullable=True,
                description="Omit on the first choice; an unknown or foreign id gets a new one.",
            ),
            "policy_version": {"type": "integer", "minimum": 1},
            "choices": {
                **_CHOICES,
                "maxProperties": MAX_CHOICES,
                "description": "Categories of the policy only (else 400); `custom` only.",
            },
            "method": {"type": "string", "enum": list(METHODS)},
            "lang": text(MAX_LANG, nullable=True),
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
            "consent_id",
            "controller",
            "site",
            "notice",
            "event",
            "purposes",
            "method",
            "recorded_at",
            "expires_at",
            "gpc",
            "jurisdiction_signal",
            "signature",
        ],
        "properties": {
            "schema": {"type": "string"},
            "record_id": {"type": "string", "format": "uuid"},
            "consent_id": {"type": "string"},
            "controller": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            },
            "site": {
                "type": "object",
                "required": ["key", "name", "domains"],
                "properties": {
                    "key": {"type": "string"},
                    "name": {"type": "string"},
                    "domains": {"type": "array", "items": {"type": "string"}},
                },
            },
            "notice": {
                "type": "object",
                "required": ["policy_version", "texts_hash", "language"],
                "properties": {
                    "policy_version": {"type": "integer", "minimum": 1},
                    "texts_hash": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                    "language": {"type": "string"},
                },
            },
            "event": {"type": "string", "enum": ["given", "withdrawn"]},
            "purposes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["category", "granted"],
                    "properties": {
                        "category": {"type": "string"},
                        "granted": {"type": "boolean"},
                    },
                },
            },
            "method": {"type": "string", "enum": [*METHODS, "withdraw"]},
            "recorded_at": _date_time(),
            "expires_at": _date_time(),
            "gpc": {"type": "boolean"},
            "jurisdiction_signal": {"type": ["string", "null"], "enum": ["GPC", None]},
            "signature": {"type": "string", "minLength": 1},
        },
    },
    "ConsentCreated": {
        "type": "object",
        "required": ["consent_id", "policy_version", "choices", "expires_at", "gpc", "receipt"],
        "properties": {
            "consent_id": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]{32,}$",
                "description": "Server-made, 192 random bits.",
            },
            "policy_version": {"type": "integer", "minimum": 1},
            "choices": _CHOICES,
            "expires_at": _date_time(),
            "gpc": {"type": "boolean"},
            "receipt": _ref("Receipt"),
        },
    },
    "StalePolicy": {
        "type": "object",
        "required": ["error", "policy_version"],
        "properties": {
            "error": {"type": "string"},
            "policy_version": {"type": "integer", "minimum": 1},
        },
    },
    "ConsentStatus": {
        "type": "object",
        "required": [
            "consent_id",
            "site",
            "policy_version",
            "current_policy_version",
            "choices",
            "method",
            "lang",
            "gpc",
            "recorded_at",
            "expires_at",
            "status",
        ],
        "properties": {
            "consent_id": {"type": "string"},
            "site": {"type": "string"},
            "policy_version": {"type": "integer", "minimum": 1},
            "current_policy_version": {"type": "integer", "minimum": 1},
            "choices": _CHOICES,
            "method": {"type": "string", "enum": [*METHODS, "withdraw"]},
            "lang": {"type": "string"},
            "gpc": {"type": "boolean"},
            "recorded_at": _date_time(),
            "expires_at": _date_time(),
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
            "policy_version": {"type": "integer", "minimum": 1},
        },
    },
}

_CORS_NOTE = " Browsers may call it only from the site's registered domains (else 403)."
_FORBIDDEN_ORIGIN = error_response("The request's Origin is not registered for the site")
_UNKNOWN_CONSENT = error_response(
    "Unknown consent id (also a path value no id can be: NUL, a lone surrogate, over 512 "
    "characters)"
)

PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["meta"],
            "responses": {
                "400": bad_query(),
                "200": json_response(
                    "OpenAPI 3.1 document",
                    {
                        "type": "object",
                        "required": ["openapi", "info", "paths"],
                        "properties": {"openapi": {"type": "string", "pattern": "^3\\.1\\."}},
                    },
                ),
            },
        }
    },
    "/api/v1/sites": {
        "get": {
            "summary": "List sites and their current policy versions",
            "tags": ["staff"],
            "security": STAFF_SECURITY,
            "responses": {
                "200": json_response(
                    "Sites",
                    {
                        "type": "object",
                        "required": ["sites"],
                        "properties": {"sites": {"type": "array", "items": _ref("SiteSummary")}},
                    },
                ),
                "400": bad_query(),
                **staff_errors("marketing or finance"),
                "503": unavailable(),
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
                "400": bad_query(),
                "403": _FORBIDDEN_ORIGIN,
                "404": error_response("Unknown site"),
                "429": too_many_requests(),
                "503": unavailable(),
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
                "400": error_response("Malformed body, or a category the policy does not have"),
                "403": _FORBIDDEN_ORIGIN,
                "404": error_response("Unknown site"),
                "409": json_response(
                    "Stale policy_version; the body carries the current one",
                    _ref("StalePolicy"),
                ),
                **body_errors(MAX_CONSENT_BODY),
                "429": too_many_requests(),
                "503": unavailable(),
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
                "400": bad_query(),
                "403": _FORBIDDEN_ORIGIN,
                "404": _UNKNOWN_CONSENT,
                "429": too_many_requests(),
                "503": unavailable(),
            },
        }
    },
    "/api/v1/consent/{consent_id}/withdraw": {
        "post": {
            "summary": "Withdraw consent: from now on nothing is collected." + _CORS_NOTE,
            "tags": ["consent"],
            "description": "Takes no body; appends a withdrawal record.",
            "parameters": [CONSENT_ID],
            "responses": {
                "200": json_response(
                    "Withdrawn, with a receipt",
                    {"allOf": [_ref("ConsentStatus"), {"required": ["receipt"]}]},
                ),
                "400": bad_query(),
                "403": _FORBIDDEN_ORIGIN,
                "404": _UNKNOWN_CONSENT,
                "429": too_many_requests(),
                "503": unavailable(),
            },
        }
    },
}
