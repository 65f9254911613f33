"""The collect endpoint as a WSGI layer: the same answers with or without Flask behind it,
and other methods left to Flask."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flask import Flask

from app.collection.endpoint import CollectEndpoint
from tests.collection.helpers import collect, pageview, stored
from tests.conftest import SITE_ORIGIN, give_consent


def test_the_endpoint_sits_in_front_of_flask(app: Flask) -> None:
    layers = []
    wsgi = app.wsgi_app
    while wsgi is not None:
        layers.append(type(wsgi).__name__)
        wsgi = getattr(wsgi, "app", None) if not isinstance(wsgi, CollectEndpoint) else None
    assert "CollectEndpoint" in layers


def test_the_flask_view_gives_the_same_answer(app: Flask, client, site) -> None:
    consent_id = give_consent(client, site)["consent_id"]
    body = json.dumps({"site": site, "consent_id": consent_id, "events": [pageview()]})
    view = app.view_functions["collection_api.post_collect"]
    with app.test_request_context(
        "/api/v1/collect",
        method="POST",
        data=body,
        content_type="text/plain;charset=UTF-8",
        headers={"Origin": SITE_ORIGIN},
    ):
        response = view()
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 1, "dropped": 0}
    assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert stored(app)["event_count"] == 1


def test_other_methods_go_on_to_flask(client, site) -> None:
    assert client.get("/api/v1/collect").status_code == 405
    preflight = client.options("/api/v1/collect", headers={"Origin": SITE_ORIGIN})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN


def test_errors_are_json_and_readable_only_after_the_origin_check(client, site) -> None:
    consent_id = give_consent(client, site)["consent_id"]
    malformed = client.post(
        "/api/v1/collect", data="{", content_type="text/plain", headers={"Origin": SITE_ORIGIN}
    )
    assert malformed.status_code == 400
    assert malformed.get_json()["error"]
    assert "Access-Control-Allow-Origin" not in malformed.headers
    foreign = collect(client, consent_id, [pageview(url="https://elsewhere.example/")])
    assert foreign.status_code == 400
    assert foreign.is_json


def test_ids_are_time_ordered_and_distinct_across_forked_workers() -> None:
    # Each worker continues from its own random counter after the fork.
    script = (
        "import os, sys\n"
        "from app.models.analytics import new_row_id\n"
        "first = [new_row_id() for _ in range(1000)]\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.write(w, ' '.join(str(new_row_id()) for _ in range(1000)).encode()); os._exit(0)\n"
        "os.close(w); child = os.read(r, 1 << 20).decode().split(); os.wait()\n"
        "mine = [new_row_id() for _ in range(1000)]\n"
        "assert first == sorted(first) and mine == sorted(mine)\n"
        "print(len(set(first) | set(mine) | set(map(int, child))))\n"
    )
    env = {**os.environ, "HEEDFUL_ENV": "development"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "3000"


def test_the_endpoint_and_the_flask_rule_name_the_same_path(app: Flask) -> None:
    from app.collection.endpoint import COLLECT_PATH

    view = "collection_api.post_collect"
    rules = [rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == view]
    assert rules == [COLLECT_PATH]


def test_an_unexpected_failure_answers_503_and_stores_nothing(app, client, site, monkeypatch):
    # The contract allows 202, 4xx and 503 only: a bug must not surface as a 500 either.
    from app.collection import endpoint

    consent_id = give_consent(client, site)["consent_id"]

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(endpoint, "collect", broken)
    through_layer = collect(client, consent_id, [pageview()])
    view = app.view_functions["collection_api.post_collect"]
    body = json.dumps({"site": site, "consent_id": consent_id, "events": [pageview()]})
    with app.test_request_context(
        "/api/v1/collect", method="POST", data=body, content_type="text/plain"
    ):
        through_flask = view()
    for response in (through_layer, through_flask):
        assert response.status_code == 503
        assert response.headers["Retry-After"].isdigit()
        assert response.get_json()["error"]
    assert stored(app)["event_count"] == 0
