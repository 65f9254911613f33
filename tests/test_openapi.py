"""GET /api/v1/openapi.json documents the API, every /api route included."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import SITE_ORIGIN

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


# --- the document says what the server does: statuses -----------------------------------

NO_STORAGE = {("get", "/api/v1/openapi.json"), ("get", "/api/v1/e/{token}.gif")}
NO_STORAGE |= {("get", "/api/v1/e/{token}/read.gif")}  # the pixels answer 200 whatever happens


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    ]


def test_every_json_write_documents_its_body_errors(spec: dict) -> None:
    for method, path, operation in operations(spec):
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]
        assert set(content) == {"application/json", "text/plain"}, f"{method} {path}"
        assert {"400", "413", "415"} <= set(operation["responses"]), f"{method} {path}"


def test_every_staff_operation_documents_401_and_403(spec: dict) -> None:
    staff = [(m, p, o) for m, p, o in operations(spec) if o.get("security")]
    assert len(staff) >= 7
    for method, path, operation in staff:
        assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"


def test_storage_failures_and_limits_are_documented_with_retry_after(spec: dict) -> None:
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        if (method, path) not in NO_STORAGE:
            assert "503" in responses, f"{method} {path}"
        for status in ("429", "503"):
            if status in responses:
                header = responses[status]["headers"]["Retry-After"]
                assert header["required"] is True
                assert header["schema"]["type"] == "integer"
    limited = [
        ("post", "/api/v1/collect"),
        ("post", "/api/v1/consent"),
        ("get", "/api/v1/sites/{site_key}/policy"),
        ("get", "/api/v1/consent/{consent_id}"),
        ("post", "/api/v1/consent/{consent_id}/withdraw"),
        ("get", "/api/v1/consent/{consent_id}/data"),
        ("delete", "/api/v1/consent/{consent_id}/data"),
    ]
    for method, path in limited:
        assert "429" in spec["paths"][path][method]["responses"], f"{method} {path}"


def test_the_pixels_always_answer_200(spec: dict) -> None:
    for path in ("/api/v1/e/{token}.gif", "/api/v1/e/{token}/read.gif"):
        assert set(spec["paths"][path]["get"]["responses"]) == {"200"}, path


def test_every_other_operation_documents_the_edge_400(spec: dict) -> None:
    """Every request's query values pass one check at the edge (NUL, lone surrogates)."""
    for method, path, operation in operations(spec):
        if "/api/v1/e/" not in path:
            assert "400" in operation["responses"], f"{method} {path}"


def test_issue_16_statuses_are_documented(spec: dict) -> None:
    paths = spec["paths"]
    assert "415" in paths["/api/v1/email/campaigns"]["post"]["responses"]
    assert "415" in paths["/api/v1/email/recipients"]["post"]["responses"]
    assert "400" in paths["/api/v1/email/campaigns/{campaign_id}/pixel"]["get"]["responses"]
    assert "400" in paths["/api/v1/reports/{site_key}/email"]["get"]["responses"]


@pytest.fixture
def staff(app: Flask) -> dict[str, str]:
    from app.accounts.service import create_token
    from app.extensions import db

    with app.app_context():
        _, token = create_token("openapi", "admin")
        db.session.remove()
    return {"Authorization": f"Bearer {token}"}


def _documented(spec: dict, method: str, path: str, status: int) -> None:
    assert str(status) in spec["paths"][path][method]["responses"], f"{method} {path} {status}"


@pytest.mark.parametrize("path", ["/api/v1/email/campaigns", "/api/v1/email/recipients"])
def test_email_writes_answer_415_and_413_as_documented(
    client: FlaskClient, spec: dict, staff: dict[str, str], path: str
) -> None:
    form = client.post(path, data={"site": "x"}, headers=staff)
    assert form.status_code == 415
    _documented(spec, "post", path, 415)
    big = client.post(path, data="{" + " " * 9000 + "}", headers=staff, content_type="text/plain")
    assert big.status_code == 413
    _documented(spec, "post", path, 413)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "²", "1" * 19, ""])
def test_query_ids_that_are_not_ids_answer_400_never_500(
    client: FlaskClient, spec: dict, staff: dict[str, str], site: str, value: str
) -> None:
    pixel = client.get(f"/api/v1/email/campaigns/1/pixel?recipient={quote(value)}", headers=staff)
    assert pixel.status_code == 400, pixel.get_json()
    _documented(spec, "get", "/api/v1/email/campaigns/{campaign_id}/pixel", 400)
    report = client.get(f"/api/v1/reports/{site}/email?campaign={quote(value)}", headers=staff)
    assert report.status_code == 400, report.get_json()
    _documented(spec, "get", "/api/v1/reports/{site_key}/email", 400)


def test_query_ids_in_range_are_accepted(
    client: FlaskClient, staff: dict[str, str], site: str
) -> None:
    report = client.get(f"/api/v1/reports/{site}/email?campaign={'9' * 18}", headers=staff)
    assert report.status_code == 200
    assert report.get_json()["campaigns"] == []
    pixel = client.get(f"/api/v1/email/campaigns/1/pixel?recipient={'9' * 18}", headers=staff)
    assert pixel.status_code == 404


# --- the document says what the server does: request schemas -----------------------------


def _schema(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _request_schema(spec: dict, path: str) -> dict:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return _schema(spec, body["schema"])


@pytest.fixture
def bodies(client: FlaskClient, site: str) -> dict[str, dict]:
    """A body each JSON write accepts (or answers for a reason other than its shape)."""
    from tests.conftest import give_consent

    consent_id = give_consent(client, site)["consent_id"]
    return {
        "/api/v1/consent": {"site": site, "policy_version": 1, "method": "accept_all"},
        "/api/v1/collect": {
            "site": site,
            "consent_id": consent_id,
            "events": [{"type": "pageview", "url": SITE_ORIGIN + "/"}],
        },
        "/api/v1/email/campaigns": {"site": site, "name": "Launch"},
        "/api/v1/email/recipients": {
            "email": "reader@example.org",
            "consent": {"email_tracking": True},
        },
    }


def _post(client: FlaskClient, path: str, body: dict, headers: dict[str, str]) -> Any:
    return client.post(path, json=body, headers={"Origin": SITE_ORIGIN, **headers})


@pytest.mark.parametrize(
    "path",
    ["/api/v1/consent", "/api/v1/collect", "/api/v1/email/campaigns", "/api/v1/email/recipients"],
)
def test_documented_lengths_are_the_servers(
    client: FlaskClient, spec: dict, staff: dict[str, str], bodies: dict[str, dict], path: str
) -> None:
    """Each documented maxLength of a body field: that many characters pass the length
    check, one more is refused with 400."""
    schema = _request_schema(spec, path)
    checked = []
    for field, prop in schema["properties"].items():
        limit = prop.get("maxLength")
        if limit is None or field == "batch":
            continue  # the batch id is checked by its own tests
        at_limit = _post(client, path, {**bodies[path], field: "a" * limit}, staff)
        assert "longer than" not in at_limit.get_data(as_text=True), (field, limit)
        over = _post(client, path, {**bodies[path], field: "a" * (limit + 1)}, staff)
        assert over.status_code == 400, (field, limit, over.get_json())
        assert "longer than" in over.get_json()["error"], (field, limit)
        checked.append(field)
    assert checked


def test_documented_event_lengths_are_the_servers(
    client: FlaskClient, spec: dict, bodies: dict[str, dict]
) -> None:
    from app.collection.validation import MAX_QUERY, MAX_TITLE, MAX_URL

    events = {
        e["properties"]["type"]["const"]: e
        for e in spec["components"]["schemas"]["CollectEvent"]["oneOf"]
    }
    assert set(events) == {"pageview", "engagement", "download", "outbound", "search"}
    search = events["search"]["properties"]
    assert search["url"]["maxLength"] == MAX_URL
    assert search["title"]["maxLength"] == MAX_TITLE
    assert search["query"]["maxLength"] == MAX_QUERY
    assert events["search"]["required"] == ["type", "url", "query"]
    assert events["download"]["required"] == ["type", "url", "target"]
    assert events["engagement"]["required"] == ["type", "url", "engaged_ms"]
    for field, limit in (("title", MAX_TITLE), ("referrer", MAX_URL), ("query", MAX_QUERY)):
        event = {"type": "search", "url": SITE_ORIGIN + "/", "query": "q", field: "a" * limit}
        body = {**bodies["/api/v1/collect"], "events": [event]}
        assert "longer than" not in _post(client, "/api/v1/collect", body, {}).get_data(
            as_text=True
        )
        event[field] = "a" * (limit + 1)
        over = _post(client, "/api/v1/collect", body, {})
        assert over.status_code == 400 and "longer than" in over.get_json()["error"], field


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/consent", 201),
        ("/api/v1/collect", 400),
        ("/api/v1/email/campaigns", 201),
        ("/api/v1/email/recipients", 201),
    ],
)
def test_closed_objects_are_exactly_the_ones_the_server_closes(
    client: FlaskClient,
    spec: dict,
    staff: dict[str, str],
    bodies: dict[str, dict],
    path: str,
    status: int,
) -> None:
    """``additionalProperties: false`` where an unknown field is refused, and only there."""
    schema = _request_schema(spec, path)
    closed = schema.get("additionalProperties") is False
    assert closed == (status == 400)
    response = _post(client, path, {**bodies[path], "surprise": 1}, staff)
    assert response.status_code == status, response.get_json()
    assert _post(client, path, bodies[path], staff).status_code in (201, 202)


def test_an_unknown_field_of_an_event_or_a_recipient_consent_is_refused(
    client: FlaskClient, spec: dict, staff: dict[str, str], bodies: dict[str, dict]
) -> None:
    schemas = spec["components"]["schemas"]
    assert all(e["additionalProperties"] is False for e in schemas["CollectEvent"]["oneOf"])
    consent = schemas["EmailRecipientRequest"]["properties"]["consent"]
    assert consent["additionalProperties"] is False
    collect = bodies["/api/v1/collect"]
    event = {**collect["events"][0], "surprise": 1}
    assert _post(client, "/api/v1/collect", {**collect, "events": [event]}, {}).status_code == 400
    recipient = bodies["/api/v1/email/recipients"]
    extra = {**recipient, "consent": {"email_tracking": True, "surprise": True}}
    assert _post(client, "/api/v1/email/recipients", extra, staff).status_code == 400


def test_control_characters_are_refused_where_the_document_says(
    client: FlaskClient, spec: dict, staff: dict[str, str], bodies: dict[str, dict]
) -> None:
    from app.openapi import NO_CONTROL_CHARACTERS

    for path in ("/api/v1/consent", "/api/v1/collect", "/api/v1/email/campaigns"):
        site = _request_schema(spec, path)["properties"]["site"]
        assert site["pattern"] == NO_CONTROL_CHARACTERS
        response = _post(client, path, {**bodies[path], "site": "test\x01site"}, staff)
        assert response.status_code == 400, path
        assert "control characters" in response.get_json()["error"]


# --- the document says what the server does: responses ----------------------------------


@pytest.fixture
def checked_schema(spec: dict) -> Any:
    import schemathesis

    return schemathesis.openapi.from_dict(spec)


def _conforms(checked_schema: Any, method: str, path: str, response: Any) -> None:
    """The status is documented, its required headers are sent and the body validates."""
    operation = checked_schema[path][method.upper()]
    documented = operation.definition.raw["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path} answered {response.status_code}"
    for name, header in documented.get("headers", {}).items():
        assert not header.get("required") or name in response.headers, name
    operation.validate_response(response)


def test_answers_of_the_consent_api_conform(
    client: FlaskClient, checked_schema: Any, site: str
) -> None:
    body = {"site": site, "policy_version": 1, "method": "custom", "choices": {"analytics": True}}
    created = client.post("/api/v1/consent", json=body)
    _conforms(checked_schema, "post", "/api/v1/consent", created)
    consent_id = created.get_json()["consent_id"]
    stale = client.post("/api/v1/consent", json={**body, "policy_version": 2})
    assert stale.status_code == 409
    _conforms(checked_schema, "post", "/api/v1/consent", stale)
    for method, path in (
        ("get", f"/api/v1/sites/{site}/policy?lang=de"),
        ("get", f"/api/v1/consent/{consent_id}"),
        ("get", f"/api/v1/consent/{consent_id}/data"),
        ("post", f"/api/v1/consent/{consent_id}/withdraw"),
        ("delete", f"/api/v1/consent/{consent_id}/data"),
        ("get", "/api/v1/consent/unknown"),
    ):
        response = client.open(path, method=method.upper())
        template = re.sub(r"/sites/[^/]+/", "/sites/{site_key}/", path.split("?")[0])
        template = re.sub(r"/consent/[^/]+", "/consent/{consent_id}", template)
        _conforms(checked_schema, method, template, response)


def test_a_storage_failure_on_collect_is_503_with_retry_after_as_documented(
    client: FlaskClient, checked_schema: Any, bodies: dict[str, dict], monkeypatch: Any
) -> None:
    from sqlalchemy.exc import OperationalError

    import app.collection.endpoint as endpoint

    def down(*args: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("database is gone"))

    monkeypatch.setattr(endpoint, "collect", down)
    response = _post(client, "/api/v1/collect", bodies["/api/v1/collect"], {})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    _conforms(checked_schema, "post", "/api/v1/collect", response)


def test_a_busy_recipient_store_is_503_with_retry_after_as_documented(
    client: FlaskClient,
    checked_schema: Any,
    staff: dict[str, str],
    bodies: dict[str, dict],
    monkeypatch: Any,
) -> None:
    import app.email.service as email_service

    def always_busy(write: Any, *, attempts: int, busy: Any) -> Any:
        raise busy()

    monkeypatch.setattr(email_service, "commit_retrying", always_busy)
    path = "/api/v1/email/recipients"
    response = _post(client, path, bodies[path], staff)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    _conforms(checked_schema, "post", path, response)
