"""The staff console under /admin."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.accounts.auth import require_role
from app.accounts.service import authenticate, login_limit_key
from app.admin.dashboard import bp as dashboard_bp
from app.admin.forms import LoginForm
from app.extensions import db, limiter
from app.models import Site
from app.models.account import ROLES

bp = Blueprint("admin", __name__, url_prefix="/admin")
# The dashboard lives in its own module; nested, its pages share /admin and its templates.
bp.register_blueprint(dashboard_bp)


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/admin"):
        return target
    return url_for("admin.index")


def _login_account() -> str:
    return login_limit_key(request.form.get("email", ""))


@bp.route("/login", methods=["GET", "POST"])
# Every password check counts per address and per account (any address), so neither one
# address trying many accounts nor many addresses trying one account get far.
@limiter.limit(lambda: current_app.config["HEEDFUL_LOGIN_RATE"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["HEEDFUL_LOGIN_ACCOUNT_RATE"],
    key_func=_login_account,
    methods=["POST"],
)
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("That email and password do not match an account.", "error")
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
# Every staff role may sign out.
@require_role(*ROLES, page=True)
def logout() -> Response:
    logout_user()
    return redirect(url_for("admin.login"))


@bp.get("/")
# The sites list, as GET /api/v1/sites shows it to the same roles.
@require_role("marketing", "finance", page=True)
def index() -> str:
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    return render_template("admin/index.html", sites=sites)
