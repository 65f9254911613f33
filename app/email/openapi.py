"""OpenAPI paths of the email domain, as strict as the parsers in ``app.email.routes``."""

from __future__ import annotations

from typing import Any

from app.email.classify import ReadBucket
from app.email.routes import MAX_BODY
from app.email.service import MAX_CAMPAIGN_NAME, STAFF_SOURCES
from app.openapi import (
    STAFF_SECURITY,
    bad_query,
    body_errors,
    error_response,
    json_body,
    json_response,
    staff_errors,
    text,
    unavailable,
)

# The ids the routes' converters and parsers accept (``int(max=…)``, 18 digits).
MAX_CAMPAIGN_ID = 2_147_483_647
MAX_RECIPIENT_ID = 9_007_199_254_740_991
MAX_QUERY_ID = 10**18 - 1
SITE_KEY_MAX = 64
# A name ``create_campaign`` keeps: something besides white space once stripped.
_CAMPAIGN_NAME_PATTERN = "^[^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f\\s][^\\x00-\\x1f\\x7f]*$"

_ID = {"type": "integer", "minimum": 1}
_DATE_TIME = {"type": "string", "format": "date-time"}
_GIF = {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}
_PIXEL_HEADERS = {
    name: {"required": True, "schema": {"type": "string", "const": value}}
    for name, value in (
        ("Cache-Control", "no-store, max-age=0"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    )
}


def _path_id(name: str, maximum: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": maximum},
    }


def _query_id(name: str, *, required: bool) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": "Decimal digits only, at most 18 (else 400).",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_ID},
    }


_REPORT = {
    "type": "object",
    "required": [
        "campaign_id",
        "name",
        "sent_at",
        "sends_known",
        "tracked_sends",
        "human_eligible",
        "unique_human_opens",
        "total_human_opens",
        "machine_opens",
        "unknown_opens",
        "open_rate",
        "read_time",
    ],
    "properties": {
        "campaign_id": _ID,
        "name": {"type": "string"},
        "sent_at": {"type": ["string", "null"], "format": "date-time"},
        "sends_known": {"type": "integer", "minimum": 0},
        "tracked_sends": {
            "type": "integer",
            "minimum": 0,
            "description": "sends given a pixel URL",
        },
        "human_eligible": {
            "type": "integer",
            "minimum": 0,
            "description": "tracked sends minus recipients seen only through Apple MPP",
        },
        "unique_human_opens": {"type": "integer", "minimum": 0},
        "total_human_opens": {"type": "integer", "minimum": 0},
        "machine_opens": {"type": "integer", "minimum": 0},
        "unknown_opens": {"type": "integer", "minimum": 0},
        "open_rate": {"type": ["number", "null"], "minimum": 0},
        "read_time": {
            "type": "object",
            "required": [b.value for b in ReadBucket],
            "properties": {b.value: {"type": "integer", "minimum": 0} for b in ReadBucket},
        },
    },
}

_CONSENT_RECORD = {
    "type": "object",
    "required": ["seq", "email_tracking", "source", "recorded_at"],
    "properties": {
        "seq": _ID,
        "email_tracking": {"type": "boolean"},
        "source": {"type": "string"},
        "recorded_at": _DATE_TIME,
    },
}

SCHEMAS: dict[str, Any] = {
    "EmailCampaignReport": _REPORT,
    "EmailCampaignRequest": {
        "type": "object",
        "description": "Fields not listed here are ignored.",
        "required": ["site", "name"],
        "properties": {
            "site": text(SITE_KEY_MAX),
            "name": {
                "type": "string",
                "maxLength": MAX_CAMPAIGN_NAME,
                "pattern": _CAMPAIGN_NAME_PATTERN,
                "description": "Stored stripped of surrounding white space.",
            },
            "sent_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "ISO 8601 with a time zone (`Z` accepted).",
            },
        },
    },
    "EmailRecipientRequest": {
        "type": "object",
        "description": "Fields not listed here are ignored.",
        "required": ["email", "consent"],
        "properties": {
            "email": {
                "type": "string",
                "format": "email",
                "maxLength": 1024,
                "description": "One @, a local part and a dotted domain, at most 254 "
                "characters once normalised (else 400). Kept only as an HMAC.",
            },
            "consent": {
                "type": "object",
                "additionalProperties": False,
                "required": ["email_tracking"],
                "properties": {"email_tracking": {"type": "boolean"}},
            },
            "source": {
                "type": ["string", "null"],
                "enum": [*STAFF_SOURCES, None],
                "default": "api",
            },
        },
    },
}

_report_ref = {"$ref": "#/components/schemas/EmailCampaignReport"}
_MARKETING = staff_errors("marketing")
_REPORTING = staff_errors("marketing or finance")

PATHS: dict[str, Any] = {
    "/api/v1/email/campaigns": {
        "post": {
            "summary": "Create an email campaign for a site",
            "tags": ["email"],
            "security": STAFF_SECURITY,
            "requestBody": json_body({"$ref": "#/components/schemas/EmailCampaignRequest"}),
            "responses": {
                "201": json_response(
                    "Created",
                    {
                        "type": "object",
                        "required": ["campaign_id"],
                        "properties": {"campaign_id": _ID},
                    },
                ),
                "400": error_response("Malformed input, or a session write without CSRF token"),
                **_MARKETING,
                "404": error_response("Unknown site"),
                **body_errors(MAX_BODY),
                "503": unavailable(),
            },
        }
    },
    "/api/v1/email/campaigns/{campaign_id}": {
        "get": {
            "summary": "One campaign's report",
            "tags": ["email"],
            "security": STAFF_SECURITY,
            "parameters": [_path_id("campaign_id", MAX_CAMPAIGN_ID)],
            "responses": {
                "200": json_response(
                    "The report",
                    {
                        "allOf": [
                            _report_ref,
                            {
                                "type": "object",
                                "required": ["site"],
                                "properties": {"site": {"type": "string"}},
                            },
                        ]
                    },
                ),
                "400": bad_query(),
                **_REPORTING,
                "404": error_response("Unknown campaign"),
                "503": unavailable(),
            },
        }
    },
    "/api/v1/email/recipients": {
        "post": {
            "summary": "Record a recipient's email_tracking choice",
            "description": "The address is kept only as an HMAC. Posting a known address "
            "appends a consent record to the same recipient and also answers 201, with "
            "created=false.",
            "tags": ["email"],
            "security": STAFF_SECURITY,
            "requestBody": json_body({"$ref": "#/components/schemas/EmailRecipientRequest"}),
            "responses": {
                "201": json_response(
                    "Recorded",
                    {
                        "type": "object",
                        "required": ["recipient_id", "created"],
                        "properties": {"recipient_id": _ID, "created": {"type": "boolean"}},
                    },
                ),
                "400": error_response(
                    "Malformed input, an implausible address, or a session write without CSRF token"
                ),
                **_MARKETING,
                **body_errors(MAX_BODY),
                "503": unavailable(),
            },
        }
    },
    "/api/v1/email/recipients/{recipient_id}": {
        "get": {
            "summary": "A recipient's consent history and preference-centre link",
            "tags": ["email"],
            "security": STAFF_SECURITY,
            "parameters": [_path_id("recipient_id", MAX_RECIPIENT_ID)],
            "responses": {
                "200": json_response(
                    "The recipient",
                    {
                        "type": "object",
                        "required": [
                            "recipient_id",
                            "email_tracking",
                            "consent_history",
                            "preference_url",
                        ],
                        "properties": {
                            "recipient_id": _ID,
                            "email_tracking": {"type": "boolean"},
                            "consent_history": {"type": "array", "items": _CONSENT_RECORD},
                            "preference_url": {"type": "string", "format": "uri"},
                        },
                    },
                ),
                "400": bad_query(),
                **_MARKETING,
                "404": error_response("Unknown recipient"),
                "503": unavailable(),
            },
        }
    },
    "/api/v1/email/campaigns/{campaign_id}/pixel": {
        "get": {
            "summary": "Record a send and mint its pixel URLs",
            "description": "url and read_url are null unless the recipient's latest choice "
            "grants email_tracking; then no pixel should be put in the email at all.",
            "tags": ["email"],
            "security": STAFF_SECURITY,
            "parameters": [
                _path_id("campaign_id", MAX_CAMPAIGN_ID),
                _query_id("recipient", required=True),
            ],
            "responses": {
                "200": json_response(
                    "The URLs",
                    {
                        "type": "object",
                        "required": ["url", "read_url", "preference_url"],
                        "properties": {
                            "url": {"type": ["string", "null"], "format": "uri"},
                            "read_url": {"type": ["string", "null"], "format": "uri"},
                            "preference_url": {"type": "string", "format": "uri"},
                        },
                    },
                ),
                "400": error_response(
                    "recipient is missing or not a recipient id, or a query value "
                    "holds NUL or a lone surrogate"
                ),
                **_MARKETING,
                "404": error_response("Unknown campaign or recipient"),
                "503": unavailable(),
            },
        }
    },
    "/api/v1/e/{token}.gif": {
        "get": {
            "summary": "Email open pixel",
            "description": "Always 200 with the same 43-byte GIF and headers; records an "
            "open only for a valid token whose recipient grants email_tracking now.",
            "tags": ["email"],
            "parameters": [
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "A 1x1 GIF", "headers": _PIXEL_HEADERS, **_GIF},
            },
        }
    },
    "/api/v1/e/{token}/read.gif": {
        "get": {
            "summary": "Email read-time pixel",
            "description": "Streams an animated 1x1 GIF for up to 20 s and stores only the "
            "read-time bucket; answers at once when nothing may be recorded or the "
            "server's hold capacity is full.",
            "tags": ["email"],
            "parameters": [
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "A 1x1 GIF", "headers": _PIXEL_HEADERS, **_GIF},
            },
        }
    },
    "/api/v1/reports/{site_key}/email": {
        "get": {
            "summary": "Email campaign reports of a site",
            "tags": ["reports"],
            "security": STAFF_SECURITY,
            "parameters": [
                {
                    "name": "site_key",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": SITE_KEY_MAX},
                },
                _query_id("campaign", required=False),
            ],
            "responses": {
                "200": json_response(
                    "Reports",
                    {
                        "type": "object",
                        "required": ["site", "campaigns"],
                        "properties": {
                            "site": {"type": "string"},
                            "campaigns": {"type": "array", "items": _report_ref},
                        },
                    },
                ),
                "400": error_response(
                    "campaign is not a campaign id, or a query value holds NUL or a lone surrogate"
                ),
                **_REPORTING,
                "404": error_response("Unknown site"),
                "503": unavailable(),
            },
        }
    },
}
