"""The collect endpoint's place among Flask's routes: the CORS preflight, the 405 for other
methods, and the URL rule the API description lists. ``CollectEndpoint`` answers the POSTs
before Flask sees them; the view here gives the same answer when a request reaches Flask
anyway (an app mounted without the endpoint in front)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from app.collection.endpoint import answer_collect
from app.sites.origins import preflight

bp = Blueprint("collection_api", __name__, url_prefix="/api/v1")


@bp.before_request
def answer_preflight() -> Response | None:
    return preflight() if request.method == "OPTIONS" else None


@bp.post("/collect")
def post_collect() -> Response:
    answer = answer_collect(request.environ)
    return current_app.response_class(
        json.dumps(answer.payload),
        status=answer.status,
        headers=answer.headers,
        mimetype="application/json",
    )
