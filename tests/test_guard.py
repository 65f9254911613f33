"""The guard (``app.guard``): one edge step, run by Flask's hooks for every route and by
the collect front door (a WSGI layer in front of Flask) itself, with the same functions."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import NotFound
from werkzeug.test import EnvironBuilder

from app import guard
from app.collection import endpoint
from app.errors import ApiError
from app.http import MAX_PATH_VALUE
from app.ratelimit import rate_guard

SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "Strict-Transport-Security",
    "Referrer-Policy",
    "X-Frame-Options",
    "Content-Security-Policy",
)


def security_headers_of(response: Any) -> list[tuple[str, str]]:
    return [(name, value) for name, value in response.headers if name in SECURITY_HEADERS]


def test_flask_and_the_collect_endpoint_run_the_same_guard(app: Flask) -> None:
    before = app.before_request_funcs[None]
    assert before[0] is guard.check_request_strings  # first: before CSRF reads the form
    assert before.count(guard.check_request_strings) == 1
    assert app.after_request_funcs[None].count(guard.add_security_headers) == 1
    # The front door calls the guard's own functions, not copies of them.
    for name in ("check_rate", "address_key", "read_json_body", "security_headers"):
        assert getattr(endpoint, name) is getattr(guard, name), name


def test_collect_and_flask_json_answers_carry_headers_from_the_same_function(
    client: FlaskClient,
) -> None:
    collected = client.post("/api/v1/collect", data="{}", content_type="application/json")
    assert collected.status_code == 400
    assert security_headers_of(collected) == guard.security_headers("json")
    for path in ("/api/v1/openapi.json", "/api/v1/no-such-thing"):
        answer = client.get(path)
        assert answer.mimetype == "application/json", path
        assert security_headers_of(answer) == guard.security_headers("json"), path
        assert security_headers_of(answer) == security_headers_of(collected), path
    secure = client.get("/api/v1/openapi.json", base_url="https://heedful.example")
    assert security_headers_of(secure) == guard.security_headers("json", secure=True)


def test_the_collect_path_is_fixed_so_a_nul_in_it_names_nothing(client: FlaskClient) -> None:
    for path in ("/api/v1/collect%00", "/api/v1/collect/%00", "/api/v1/%00collect"):
        answer = client.post(path, data="{}", content_type="application/json")
        assert answer.status_code == 404, path
        assert answer.get_json()["error"], path


def test_path_strings() -> None:
    guard.check_path_strings(["a" * MAX_PATH_VALUE, 7, None, "spa/details"])
    for value in ("a" * (MAX_PATH_VALUE + 1), "a\x00b", "a\ud800b", "\udfff"):
        with pytest.raises(NotFound):
            guard.check_path_strings(["fine", value])


def test_collect_counts_the_address_before_it_reads_the_body(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        limits = rate_guard()
    scopes: list[str] = []

    def refuse(scope: str, key: str) -> int:
        scopes.append(scope)
        return 7

    monkeypatch.setattr(limits, "wait", refuse)
    refused = client.post("/api/v1/collect", data="not json", content_type="text/plain")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"
    assert refused.get_json() == {"error": "too many requests, retry later"}
    assert security_headers_of(refused) == guard.security_headers("json")
    assert scopes == ["collect.address"]
    with app.app_context(), pytest.raises(ApiError) as raised:
        guard.check_rate("collect.site", "some-site")
    assert (raised.value.status, raised.value.headers) == (429, {"Retry-After": "7"})


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b'{"a": 1}', "text/plain;charset=UTF-8", None),
        (b'{"a": 1}', "text/html", 415),
        (b'{"a": "' + b"x" * 64 + b'"}', "application/json", 413),
        (b'{"a": "\\u0000"}', "application/json", 400),
        (b"[1]", "application/json", 400),
    ],
)
def test_read_json_body_over_the_environ(data: bytes, content_type: str, status: int | None):
    environ = EnvironBuilder(method="POST", data=data, content_type=content_type).get_environ()
    if status is None:
        assert guard.read_json_body(environ, 64) == {"a": 1}
        return
    with pytest.raises(ApiError) as raised:
        guard.read_json_body(environ, 64)
    assert raised.value.status == status
