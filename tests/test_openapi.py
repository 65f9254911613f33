"""GET /api/v1/openapi.json documents the API, every /api route included."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

IGNORED_METHODS = {"HEAD", "OPTIONS"}
OWN_PATHS = {
    "/api/v1/openapi.json": {"get"},
    "/api/v1/sites": {"get"},
    "/api/v1/sites/{site_key}/policy": {"get"},
    "/api/v1/consent": {"post"},
    "/api/v1/consent/{consent_id}": {"get"},
    "/api/v1/consent/{consent_id}/withdraw": {"post"},
    "/api/v1/consent/{consent_id}/data": {"get", "delete"},
}


def openapi_path(rule: str) -> str:
    """``/a/<int(max=9):b>/<c>.gif`` → ``/a/{b}/{c}.gif``."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", re.sub(r"\([^)]*\)", "", rule))


def api_routes(app: Flask) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            methods = {m.lower() for m in (rule.methods or set()) - IGNORED_METHODS}
            routes.setdefault(openapi_path(rule.rule), set()).update(methods)
    return routes


@pytest.fixture
def spec(client: FlaskClient) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_path_conversion() -> None:
    assert openapi_path("/api/v1/consent/<consent_id>") == "/api/v1/consent/{consent_id}"
    assert openapi_path("/x/<int(max=2147483647):campaign_id>/pixel") == "/x/{campaign_id}/pixel"
    assert openapi_path("/api/v1/e/<token>.gif") == "/api/v1/e/{token}.gif"


def test_document_is_openapi_3_1(spec: dict) -> None:
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"]
    assert "Error" in spec["components"]["schemas"]


def test_consent_privacy_and_site_endpoints_are_documented(spec: dict) -> None:
    for path, methods in OWN_PATHS.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), path


def test_every_reference_resolves(spec: dict) -> None:
    schemas = spec["components"]["schemas"]
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', __import__("json").dumps(spec))
    assert refs
    assert not {r for r in refs if r not in schemas}


def test_documented_operations_have_responses(spec: dict) -> None:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("responses"), f"{method.upper()} {path}"
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"{([^}]+)}", path)), f"{method.upper()} {path}"


def test_every_api_route_is_documented(app: Flask, spec: dict) -> None:
    """Strict: each /api route of the app, with each method, is in the document."""
    missing = []
    for path, methods in sorted(api_routes(app).items()):
        documented = set(spec["paths"].get(path, {}))
        for method in sorted(methods - documented):
            missing.append(f"{method.upper()} {path}")
    assert not missing, "routes missing from /api/v1/openapi.json:\n" + "\n".join(missing)


def test_no_documented_path_is_dead(app: Flask, spec: dict) -> None:
    routes = api_routes(app)
    dead = [path for path in spec["paths"] if path not in routes]
    assert not dead, f"documented but not routed: {dead}"
