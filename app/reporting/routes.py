"""The staff report API: overview, time series, breakdowns, consent coverage and email
reports of a site, and a campaign's figures. Routes parse, authorise and serialise; the
figures come from ``app.reporting.service``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.accounts.auth import require_role
from app.email.routes import query_id
from app.errors import ApiError, bad_request
from app.extensions import db
from app.models import Site
from app.models.email import EmailCampaign
from app.reporting import service
from app.reporting.email import campaign_report, site_report
from app.reporting.params import DIMENSIONS, INTERVALS, METRICS, parse_report_query, require_choice
from app.sites.registry import require_site
from app.sites.snapshot import SiteSnapshot, site_snapshot

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


def _site(site_key: str) -> SiteSnapshot:
    snapshot = site_snapshot(site_key)
    if snapshot is None:
        raise ApiError(404, "unknown site")
    return snapshot


@bp.get("/reports/<site_key>/overview")
@require_role("marketing", "finance")
def overview(site_key: str) -> Response:
    site = _site(site_key)
    return jsonify(service.overview(site, parse_report_query(request.args, site)))


@bp.get("/reports/<site_key>/timeseries")
@require_role("marketing", "finance")
def timeseries(site_key: str) -> Response:
    site = _site(site_key)
    query = parse_report_query(request.args, site)
    metric = require_choice(request.args.get("metric"), "metric", METRICS, "visitors")
    default_interval = "hour" if query.range.days <= 2 else "day"
    interval = require_choice(request.args.get("interval"), "interval", INTERVALS, default_interval)
    return jsonify(service.timeseries(site, query, metric, interval))


@bp.get("/reports/<site_key>/breakdown/<dimension>")
@require_role("marketing", "finance")
def breakdown(site_key: str, dimension: str) -> Response:
    site = _site(site_key)
    query = parse_report_query(request.args, site)
    if dimension not in DIMENSIONS:
        raise bad_request(f"dimension must be one of {', '.join(DIMENSIONS)}")
    return jsonify(service.breakdown(site, query, dimension))


@bp.get("/reports/<site_key>/consent")
@require_role("marketing", "finance")
def consent(site_key: str) -> Response:
    site = _site(site_key)
    return jsonify(service.consent_coverage(site, parse_report_query(request.args, site)))
