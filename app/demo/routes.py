"""/demo: a page that embeds Heedful exactly as a customer site would."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from app.geoip_update import read_sources
from app.sites.registry import get_site

bp = Blueprint("demo", __name__)


@bp.get("/demo")
@bp.get("/demo/<path:page>")
def demo_page(page: str = "") -> str:
    site_key = current_app.config.get("HEEDFUL_DEMO_SITE_KEY", "demo")
    site = get_site(site_key)
    return render_template(
        "demo.html",
        site=site,
        site_key=site_key,
        page=page,
        geoip_sources=read_sources(current_app.instance_path),
    )


@bp.get("/")
def home() -> str:
    return render_template("home.html")
