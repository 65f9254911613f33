"""The email pages of the staff console: campaigns and a recipients import (a campaign's
report page is in app/reporting/admin.py)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import DateTimeLocalField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.accounts.auth import require_role
from app.clock import utcnow
from app.email.importer import parse_recipients_csv
from app.email.service import STAFF_SOURCES, EmailError, create_campaign, import_recipients
from app.extensions import db
from app.models import Site
from app.models.email import EmailCampaign

bp = Blueprint("email_admin", __name__, url_prefix="/admin/email")

MAX_CSV_BYTES = 1024 * 1024
MAX_ERRORS_SHOWN = 20


class CampaignForm(FlaskForm):
    site = SelectField("Site", validators=[DataRequired()])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    sent_at = DateTimeLocalField("Sent at (UTC, optional)", validators=[Optional()])
    submit = SubmitField("Create campaign")


class ImportForm(FlaskForm):
    csv_file = FileField("Recipients CSV (email, email_tracking, source?)", [FileRequired()])
    source = SelectField("Default source", choices=[SelectChoice(s, s) for s in STAFF_SOURCES])
    submit_import = SubmitField("Import recipients")


def _forms() -> tuple[CampaignForm, ImportForm]:
    campaign_form = CampaignForm(prefix="campaign")
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    campaign_form.site.choices = [SelectChoice(s.key, f"{s.name} ({s.key})") for s in sites]
    return campaign_form, ImportForm(prefix="import")


def _render_index(campaign_form: CampaignForm, import_form: ImportForm) -> str:
    rows = db.session.execute(
        select(EmailCampaign, Site.key)
        .join(Site, Site.id == EmailCampaign.site_id)
        .order_by(EmailCampaign.created_at.desc(), EmailCampaign.id.desc())
    ).all()
    return render_template(
        "admin/email_index.html",
        campaigns=rows,
        campaign_form=campaign_form,
        import_form=import_form,
    )


@bp.get("/")
@require_role("marketing", page=True)
def index() -> str:
    return _render_index(*_forms())


@bp.post("/campaigns")
@require_role("marketing", page=True)
def create() -> str | Response:
    campaign_form, import_form = _forms()
    if not campaign_form.validate_on_submit():
        return _render_index(campaign_form, import_form)
    sent_at = campaign_form.sent_at.data
    try:
        campaign = create_campaign(
            campaign_form.site.data or "",
            campaign_form.name.data or "",
            sent_at.replace(tzinfo=utcnow().tzinfo) if sent_at else None,
        )
    except EmailError as exc:
        flash(str(exc), "error")
        return _render_index(campaign_form, import_form)
    flash(f"Campaign {campaign.name!r} created.", "info")
    return redirect(url_for("reports_admin.campaign", campaign_id=campaign.id))


@bp.post("/recipients/import")
@require_role("marketing", page=True)
def import_csv() -> str | Response:
    campaign_form, import_form = _forms()
    if not import_form.validate_on_submit():
        return _render_index(campaign_form, import_form)
    raw = import_form.csv_file.data.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        flash("That file is larger than 1 MiB; use `heedful email recipients import`.", "error")
        return _render_index(campaign_form, import_form)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        flash("The file is not UTF-8 text.", "error")
        return _render_index(campaign_form, import_form)
    parsed = parse_recipients_csv(text, import_form.source.data or "crm_import")
    if parsed.errors:
        shown = parsed.errors[:MAX_ERRORS_SHOWN]
        more = len(parsed.errors) - len(shown)
        flash(
            "Nothing was imported: " + "; ".join(shown) + (f"; and {more} more" if more else ""),
            "error",
        )
        return _render_index(campaign_form, import_form)
    try:
        summary = import_recipients(parsed.choices)
    except EmailError as exc:
        flash(f"Nothing was imported: {exc}", "error")
        return _render_index(campaign_form, import_form)
    flash(
        f"Imported {summary['rows']} rows ({summary['recipients_created']} new recipients).",
        "info",
    )
    return redirect(url_for("email_admin.index"))
