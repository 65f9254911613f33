"""Public consent API: policy, record, status, withdraw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.accounts.auth import require_role
from app.clock import utcnow
from app.consent.policy import policy_payload, resolve_language
from app.consent.receipt import build_receipt
from app.consent.service import (
    ConsentRequest,
    latest_with_site,
    record_consent,
    record_status,
    withdraw_consent,
)
from app.enrichment.context import client_facts
from app.errors import ApiError, bad_request
from app.extensions import db, limiter
from app.http import read_json_object, require_str
from app.models import ConsentRecord, Site
from app.ratelimit import rate_guard
from app.sites.origins import check_origin, preflight
from app.sites.registry import require_site
from app.sites.snapshot import site_snapshot

bp = Blueprint("consent_api", __name__, url_prefix="/api/v1")

MAX_CONSENT_BODY = 8 * 1024
CONSENT_ID_MAX = 64


@bp.before_request
def answer_preflight() -> Response | None:
    return preflight() if request.method == "OPTIONS" else None


def _rate(name: str) -> Callable[[], str]:
    """A limit provider: the rate is read from the config at request time.
    (CORS preflights are not counted: each route's limit names its own method.)"""
    return lambda: current_app.config[name]


def _limit_per_id(scope: str, consent_id: str) -> None:
    """Count a write to one consent id (hashed: the id is a bearer secret)."""
    guard = rate_guard()
    wait = guard.wait(scope, guard.hashed("c", consent_id))
    if wait is not None:
        error = ApiError(429, "too many requests for this consent id, retry later")
        error.headers["Retry-After"] = str(wait)
        raise error


@bp.get("/sites/<site_key>/policy")
@limiter.limit(_rate("HEEDFUL_POLICY_RATE"), methods=["GET"])
def get_policy(site_key: str) -> Response:
    site = require_site(site_key)
    check_origin(site.domains)
    policy = site.current_policy
    lang = resolve_language(policy, request.args.get("lang"))
    response = jsonify(policy_payload(site, policy, lang))
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _parse_consent_body(data: dict[str, Any]) -> ConsentRequest:
    site_key = require_str(data, "site", max_len=64)
    consent_id = require_str(data, "consent_id", max_len=CONSENT_ID_MAX, optional=True)
    version = data.get("policy_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad_request("policy_version must be a positive integer")
    choices = data.get("choices", {})
    if not isinstance(choices, dict) or len(choices) > 32:
        raise bad_request("choices must be an object of category: true|false")
    if any(not isinstance(k, str) or not isinstance(v, bool) for k, v in choices.items()):
        raise bad_request("choices must map category names to true or false")
    method = require_str(data, "method", max_len=16)
    lang = require_str(data, "lang", max_len=35, optional=True)
    gpc_flag = data.get("gpc", False)
    if not isinstance(gpc_flag, bool):
        raise bad_request("gpc must be true or false")
    facts = client_facts(with_network=False)
    assert site_key is not None and method is not None
    return ConsentRequest(
        site_key=site_key,
        consent_id=consent_id,
        policy_version=version,
        choices=choices,
        method=method,
        lang=lang,
        gpc=facts.gpc or gpc_flag,
        country=facts.location.country if facts.location else None,
        browser_family=facts.agent.browser,
    )


@bp.post("/consent")
@limiter.limit(_rate("HEEDFUL_CONSENT_RATE"), methods=["POST"])
def post_consent() -> tuple[Response, int]:
    data = read_json_object(MAX_CONSENT_BODY)
    consent_request = _parse_consent_body(data)
    if consent_request.consent_id:
        _limit_per_id("consent.id", consent_request.consent_id)
    snapshot = site_snapshot(consent_request.site_key)
    if snapshot is None:
        raise ApiError(404, "unknown site")
    check_origin(snapshot.domains)
    record, site = record_consent(consent_request, snapshot)
    body = {
        "consent_id": record.consent_id,
        "policy_version": record.policy_version,
        "choices": record.choices,
        "expires_at": record.expires_at.isoformat(),
        "gpc": record.gpc,
        "receipt": build_receipt(record, site),
    }
    return jsonify(body), 201


def _status_body(record: ConsentRecord, site: Site) -> dict[str, Any]:
    return {
        "consent_id": record.consent_id,
        "site": site.key,
        "policy_version": record.policy_version,
        "current_policy_version": site.current_policy.version,
        "choices": record.choices,
        "method": record.method,
        "lang": record.lang,
        "gpc": record.gpc,
        "recorded_at": record.recorded_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "status": record_status(record, site, utcnow()),
    }


@bp.get("/consent/<consent_id>")
@limiter.limit(_rate("HEEDFUL_STATUS_RATE"), methods=["GET"])
def get_consent(consent_id: str) -> Response:
    record, site = latest_with_site(consent_id)
    check_origin(site.domains)
    response = jsonify(_status_body(record, site))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/consent/<consent_id>/withdraw")
@limiter.limit(_rate("HEEDFUL_WITHDRAW_RATE"), methods=["POST"])
def post_withdraw(consent_id: str) -> Response:
    _limit_per_id("withdraw.id", consent_id)
    _, site = latest_with_site(consent_id)
    check_origin(site.domains)
    withdrawal, site = withdraw_consent(consent_id)
    body = _status_body(withdrawal, site)
    body["receipt"] = build_receipt(withdrawal, site)
    return jsonify(body)


@bp.get("/sites")
@require_role("marketing", "finance")
def list_sites() -> Response:
    """Staff: the registered sites and their current policy versions."""
    sites = db.session.scalars(
        select(Site).options(selectinload(Site.policies)).order_by(Site.name, Site.id)
    ).all()
    return jsonify(
        {
            "sites": [
                {
                    "key": site.key,
                    "name": site.name,
                    "domains": list(site.domains),
                    "policy_version": site.current_policy.version,
                }
                for site in sites
            ]
        }
    )
