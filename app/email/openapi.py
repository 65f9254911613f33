"""OpenAPI paths of the email domain."""

from __future__ import annotations

from typing import Any

from app.openapi import error_response, json_body, json_response

_STAFF = [{"bearer": []}, {"session": []}]
_ID = {"type": "integer", "minimum": 1}
_GIF = {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}

_REPORT = {
    "type": "object",
    "properties": {
        "campaign_id": _ID,
        "name": {"type": "string"},
        "sent_at": {"type": ["string", "null"], "format": "date-time"},
        "sends_known": {"type": "integer"},
        "tracked_sends": {"type": "integer", "description": "sends given a pixel URL"},
        "human_eligible": {
            "type": "integer",
            "description": "tracked sends minus recipients seen only through Apple MPP",
        },
        "unique_human_opens": {"type": "integer"},
        "total_human_opens": {"type": "integer"},
        "machine_opens": {"type": "integer"},
        "unknown_opens": {"type": "integer"},
        "open_rate": {"type": ["number", "null"]},
        "read_time": {
            "type": "object",
            "properties": {
                k: {"type": "integer"} for k in ("glanced", "skimmed", "read", "unsupported")
            },
        },
    },
}

SCHEMAS: dict[str, Any] = {"EmailCampaignReport": _REPORT}

_report_ref = {"$ref": "#/components/schemas/EmailCampaignReport"}

PATHS: dict[str, Any] = {
    "/api/v1/email/campaigns": {
        "post": {
            "summary": "Create an email campaign for a site",
            "tags": ["email"],
            "security": _STAFF,
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["site", "name"],
                    "properties": {
                        "site": {"type": "string"},
                        "name": {"type": "string", "maxLength": 200},
                        "sent_at": {"type": "string", "format": "date-time"},
                    },
                }
            ),
            "responses": {
                "201": json_response(
                    "Created", {"type": "object", "properties": {"campaign_id": _ID}}
                ),
                "400": error_response("Malformed input"),
                "401": error_response("No credentials"),
                "403": error_response("Needs the marketing role"),
                "404": error_response("Unknown site"),
            },
        }
    },
    "/api/v1/email/campaigns/{campaign_id}": {
        "get": {
            "summary": "One campaign's report",
            "tags": ["email"],
            "security": _STAFF,
            "parameters": [{"name": "campaign_id", "in": "path", "required": True, "schema": _ID}],
            "responses": {
                "200": json_response("The report", _report_ref),
                "404": error_response("Unknown campaign"),
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
            "security": _STAFF,
            "requestBody": json_body(
                {
                    "type": "object",
                    "required": ["email", "consent"],
                    "properties": {
                        "email": {"type": "string", "format": "email"},
                        "consent": {
                            "type": "object",
                            "required": ["email_tracking"],
                            "properties": {"email_tracking": {"type": "boolean"}},
                        },
                        "source": {
                            "type": "string",
                            "enum": ["signup_form", "crm_import", "api", "admin"],
                            "default": "api",
                        },
                    },
                }
            ),
            "responses": {
                "201": json_response(
                    "Recorded",
                    {
                        "type": "object",
                        "properties": {"recipient_id": _ID, "created": {"type": "boolean"}},
                    },
                ),
                "400": error_response("Malformed input"),
            },
        }
    },
    "/api/v1/email/recipients/{recipient_id}": {
        "get": {
            "summary": "A recipient's consent history and preference-centre link",
            "tags": ["email"],
            "security": _STAFF,
            "parameters": [{"name": "recipient_id", "in": "path", "required": True, "schema": _ID}],
            "responses": {
                "200": json_response("The recipient", {"type": "object"}),
                "404": error_response("Unknown recipient"),
            },
        }
    },
    "/api/v1/email/campaigns/{campaign_id}/pixel": {
        "get": {
            "summary": "Record a send and mint its pixel URLs",
            "description": "url and read_url are null unless the recipient's latest choice "
            "grants email_tracking; then no pixel should be put in the email at all.",
            "tags": ["email"],
            "security": _STAFF,
            "parameters": [
                {"name": "campaign_id", "in": "path", "required": True, "schema": _ID},
                {"name": "recipient", "in": "query", "required": True, "schema": _ID},
            ],
            "responses": {
                "200": json_response(
                    "The URLs",
                    {
                        "type": "object",
                        "properties": {
                            "url": {"type": ["string", "null"]},
                            "read_url": {"type": ["string", "null"]},
                            "preference_url": {"type": "string"},
                        },
                    },
                ),
                "404": error_response("Unknown campaign or recipient"),
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
            "responses": {"200": {"description": "A 1x1 GIF", **_GIF}},
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
            "responses": {"200": {"description": "A 1x1 GIF", **_GIF}},
        }
    },
    "/api/v1/reports/{site_key}/email": {
        "get": {
            "summary": "Email campaign reports of a site",
            "tags": ["reports"],
            "security": _STAFF,
            "parameters": [
                {"name": "site_key", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "campaign", "in": "query", "required": False, "schema": _ID},
            ],
            "responses": {
                "200": json_response(
                    "Reports",
                    {
                        "type": "object",
                        "properties": {
                            "site": {"type": "string"},
                            "campaigns": {"type": "array", "items": _report_ref},
                        },
                    },
                ),
                "404": error_response("Unknown site"),
            },
        }
    },
}
