"""The staff console's campaign report page (the rest of the email pages are in
``app/email/admin.py``)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from app.accounts.auth import require_role
from app.extensions import db
from app.models import Site
from app.models.email import EmailCampaign
from app.reporting.email import campaign_report

bp = Blueprint("reports_admin", __name__, url_prefix="/admin/email")


@bp.get("/campaigns/<int(max=2147483647):campaign_id>")
# The report GET /api/v1/email/campaigns/<id> gives these roles: the page agrees.
@require_role("marketing", "finance", page=True)
def campaign(campaign_id: int) -> str:
    found = db.session.get(EmailCampaign, campaign_id)
    if found is None:
        abort(404)
    site = db.session.get(Site, found.site_id)
    return render_template(
        "admin/email_campaign.html", campaign=found, site=site, report=campaign_report(found)
    )
