"""The OpenAPI document at /api/v1/openapi.json, assembled from each domain's paths.

The document is meant to match the server exactly: every status an operation can answer,
and request schemas as strict as the parsers (the suite runs schemathesis against it).
The helpers below are the shapes every domain shares.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

# Each module exposes PATHS (and optionally SCHEMAS) describing its endpoints.
SPEC_MODULES = (
    "app.consent.openapi",
    "app.privacy.openapi",
    "app.collection.openapi",
    "app.email.openapi",
    "app.reporting.openapi",
)

# What ``app.http.require_str`` refuses: C0 control characters and DEL.
NO_CONTROL_CHARACTERS = "^[^\\x00-\\x1f\\x7f]*$"
STAFF_SECURITY = [{"bearer": []}, {"session": []}]


def text(
    max_length: int, *, min_length: int = 0, nullable: bool = False, **extra: Any
) -> dict[str, Any]:
    """A string field as ``require_str`` parses it: bounded, no control characters."""
    schema: dict[str, Any] = {
        "type": ["string", "null"] if nullable else "string",
        "maxLength": max_length,
        "pattern": NO_CONTROL_CHARACTERS,
        **extra,
    }
    if min_length:
        schema["minLength"] = min_length
    return schema


def error_response(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return response


def bad_query() -> dict[str, Any]:
    """400 from the edge check every request passes: a query value that cannot be stored."""
    return error_response("A query value holds NUL or a lone surrogate, which cannot be stored")


def unavailable() -> dict[str, Any]:
    """503: nothing was written; the storage is down or busy."""
    return error_response(
        "Storage unavailable or busy; nothing was written. Retry after Retry-After.",
        retry_after=True,
    )


def too_many_requests() -> dict[str, Any]:
    return error_response("Rate limit reached; retry after Retry-After.", retry_after=True)


def body_errors(max_bytes: int) -> dict[str, Any]:
    """What ``app.http.parse_json_body`` answers besides the route's own 400s."""
    return {
        "413": error_response(f"Body larger than {max_bytes} bytes"),
        "415": error_response("Body is not application/json or text/plain"),
    }


def staff_errors(roles: str) -> dict[str, Any]:
    return {
        "401": error_response("No credentials, or an invalid or revoked bearer token"),
        "403": error_response(f"The caller's role is not {roles} (admin may do everything)"),
    }


def json_body(
    schema: dict[str, Any], *, required: bool = True, text_plain: bool = True
) -> dict[str, Any]:
    """A JSON request body; ``text/plain`` is parsed as JSON too (no CORS preflight)."""
    content = {"application/json": {"schema": schema}}
    if text_plain:
        content["text/plain"] = {"schema": schema}
    return {"required": required, "content": content}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_spec() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        }
    }
    for name in SPEC_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError:
            continue
        paths.update(getattr(module, "PATHS", {}))
        schemas.update(getattr(module, "SCHEMAS", {}))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Heedful API",
            "version": "1",
            "description": "Consent-first website analytics. Public endpoints are called by "
            "the banner and tracker; staff endpoints take a bearer token or an admin session "
            "(a session's writes also need the CSRF token, else 400). Errors are "
            '`{"error": "..."}`; a storage failure answers 503 with Retry-After.',
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    return jsonify(build_spec())
