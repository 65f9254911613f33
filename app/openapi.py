"""The OpenAPI document at /api/v1/openapi.json, assembled from each domain's paths."""

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
)


def error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


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
            "the banner and tracker; staff endpoints take a bearer token or an admin session.",
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
