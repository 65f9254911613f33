"""schemathesis against GET /api/v1/openapi.json: no 5xx, and every response as documented.

Runs in-process through the WSGI app (no network), with an admin bearer token so the staff
endpoints are reached, and with known ids (a site, an active consent id, a campaign, a
recipient) mixed into the generated ones so requests get past the 404s. Bounded for CI: a
fixed number of examples per operation, derandomized, no shrinking.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db
from app.openapi import build_spec
from tests.conftest import SITE_ORIGIN

MAX_EXAMPLES = 100
# The ids the generator mixes in, filled by the ``known`` fixture before each operation.
KNOWN: dict[str, Any] = {}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def known(app: Flask, site: str, client: Any) -> dict[str, Any]:
    """Real ids for the generator to use now and then, and an admin token."""
    from app.accounts.service import create_token
    from app.email.service import RecipientChoice, create_campaign, record_recipient
    from tests.conftest import give_consent

    consent_id = give_consent(client, site)["consent_id"]
    with app.app_context():
        _, token = create_token("schemathesis", "admin")
        campaign_id = create_campaign(site, "Launch", None).id
        recipient, _ = record_recipient(
            RecipientChoice(email="reader@example.org", email_tracking=True, source="api")
        )
        recipient_id = recipient.id
        db.session.remove()
    # Set before any example is drawn: the hooks below read KNOWN while generating.
    KNOWN.clear()
    KNOWN.update(
        {
            "site_key": site,
            "site": site,
            "consent_id": consent_id,
            "campaign_id": campaign_id,
            "campaign": campaign_id,
            "recipient_id": recipient_id,
            "recipient": recipient_id,
            "token": token,
            "policy_version": 1,
        }
    )
    return KNOWN


def _sometimes_known(values: Any, known: dict[str, Any]) -> st.SearchStrategy:
    """The generated values, or (as often) the same with the known ids put in."""
    if not isinstance(values, dict):
        return st.just(values)
    swap = {k: known[k] for k in values if k in known and k != "token"}
    variants = [values, {**values, **swap}]
    if isinstance(values.get("events"), list):
        # A batch of events on the site's own pages, so that it can be stored; and one
        # without the optional batch id, which a server before issue 16 refuses.
        on_site = {**values, **swap, "events": [_on_site(e) for e in values["events"]]}
        variants[1] = on_site
        variants.append({k: v for k, v in on_site.items() if k != "batch"})
    return st.sampled_from(variants) if swap or len(variants) > 2 else st.just(values)


def _on_site(event: Any) -> Any:
    """``event`` with its URLs (whatever was generated, quoted) on http(s) hosts."""
    if not isinstance(event, dict):
        return event
    moved = dict(event)
    if isinstance(event.get("url"), str):
        moved["url"] = f"{SITE_ORIGIN}/{quote(event['url'][:200])}"
    if isinstance(event.get("target"), str):
        moved["target"] = f"https://files.example.net/{quote(event['target'][:200])}"
    return moved


def _served_document() -> dict[str, Any]:
    """The document as /api/v1/openapi.json serves it (checked below to be the same)."""
    return json.loads(json.dumps(build_spec()))


schema = schemathesis.openapi.from_dict(_served_document())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    deterministic=True,
    no_shrink=True,
)


@schema.hook("flatmap_path_parameters")
def known_path(context: Any, path_parameters: dict[str, Any]) -> st.SearchStrategy:
    return _sometimes_known(path_parameters, KNOWN)


@schema.hook("flatmap_query")
def known_query(context: Any, query: dict[str, Any]) -> st.SearchStrategy:
    return _sometimes_known(query, KNOWN)


@schema.hook("flatmap_body")
def known_body(context: Any, body: Any) -> st.SearchStrategy:
    return _sometimes_known(body, KNOWN)


def test_the_tested_document_is_the_served_one(client: Any) -> None:
    assert client.get("/api/v1/openapi.json").get_json() == _served_document()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(
    case: schemathesis.Case, app: Flask, known: dict[str, Any]
) -> None:
    # Always the site's own origin: the 403 for a foreign one is tested with the consent
    # API; here every request should get as far as it can.
    headers = {"Authorization": f"Bearer {known['token']}", "Origin": SITE_ORIGIN}
    case.call_and_validate(headers=headers, checks=CHECKS, app=app)
