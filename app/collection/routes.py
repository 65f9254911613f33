"""``POST /api/v1/collect``: parse, authorise (CORS), hand to the service, serialise."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.clock import utcnow
from app.collection.service import collect, resolve_site
from app.collection.validation import MAX_BODY_BYTES, parse_batch
from app.collection.writer import WriteTimeout
from app.consent.cors import check_origin, preflight
from app.enrichment.context import client_facts
from app.errors import ApiError
from app.extensions import db
from app.http import read_json_object

bp = Blueprint("collection_api", __name__, url_prefix="/api/v1")

RETRY_AFTER_SECONDS = "5"


@bp.before_request
def answer_preflight() -> Response | None:
    return preflight() if request.method == "OPTIONS" else None


@bp.post("/collect")
def post_collect() -> tuple[Response, int]:
    batch = parse_batch(read_json_object(MAX_BODY_BYTES))
    try:
        snapshot = resolve_site(batch.site_key)
        check_origin(snapshot.domains)
        result = collect(snapshot, batch, client_facts(), utcnow())
    except (DBAPIError, PoolTimeoutError, WriteTimeout) as exc:
        # Storage is down or overloaded: the client may retry; nothing was half-stored
        # because the batch commits once.
        db.session.rollback()
        error = ApiError(503, "storage is unavailable, retry later")
        error.headers["Retry-After"] = RETRY_AFTER_SECONDS
        raise error from exc
    body = json.dumps({"accepted": result.accepted, "dropped": result.dropped})
    response = current_app.response_class(body, status=202, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response, 202
