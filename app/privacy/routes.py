"""Self-service access (GET) and erasure (DELETE) for a visitor's own consent id."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from app.clock import utcnow
from app.consent.service import latest_with_site
from app.extensions import limiter
from app.privacy.service import erase_subject, export_subject
from app.sites.origins import check_origin, preflight
from app.subjects import Subject

bp = Blueprint("privacy_api", __name__, url_prefix="/api/v1")


def _site_domains(consent_id: str) -> list[str]:
    return list(latest_with_site(consent_id)[1].domains)


@bp.before_request
def answer_preflight() -> Response | None:
    return preflight() if request.method == "OPTIONS" else None


def _data_rate() -> str:
    return current_app.config["HEEDFUL_DATA_RATE"]


@bp.get("/consent/<consent_id>/data")
@limiter.limit(_data_rate, methods=["GET"])
def get_data(consent_id: str) -> Response:
    check_origin(_site_domains(consent_id))
    body = {
        "consent_id": consent_id,
        "generated_at": utcnow().isoformat(),
        "data": export_subject(Subject.of_consent(consent_id)),
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Disposition"] = 'attachment; filename="heedful-my-data.json"'
    return response


@bp.delete("/consent/<consent_id>/data")
@limiter.limit(_data_rate, methods=["DELETE"])
def delete_data(consent_id: str) -> Response:
    check_origin(_site_domains(consent_id))
    return jsonify({"deleted": erase_subject(Subject.of_consent(consent_id))})
