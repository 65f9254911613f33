"""The staff report API: a campaign's figures and a site's email report."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.accounts.auth import require_role
from app.email.routes import query_id
from app.errors import ApiError, bad_request
from app.extensions import db
from app.models import Site
from app.models.email import EmailCampaign
from app.reporting.email import campaign_report, site_report
from app.sites.registry import require_site

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1")


@bp.get("/email/campaigns/<int(max=2147483647):campaign_id>")
@require_role("marketing", "finance")
def get_campaign(campaign_id: int) -> Response:
    campaign = db.session.get(EmailCampaign, campaign_id)
    if campaign is None:
        raise ApiError(404, "unknown campaign")
    site = db.session.get(Site, campaign.site_id)
    assert site is not None
    return jsonify({"site": site.key, **campaign_report(campaign)})


@bp.get("/reports/<site_key>/email")
@require_role("marketing", "finance")
def email_report(site_key: str) -> Response:
    site = require_site(site_key)
    campaign_id = query_id("campaign")
    if campaign_id is None and "campaign" in request.args:
        raise bad_request("campaign must be a campaign id")
    return jsonify(site_report(site, campaign_id))
