"""The preference centre: ``/p/{token}`` shows a recipient's email-tracking choice.

GET never changes anything (link scanners follow links); the switch is a POST. The signed
token in the URL is the capability, so a cross-site form cannot forge a request without
it: the form is CSRF-exempt and needs no session cookie.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, make_response, render_template, request

from app.consent.cache import latest_email_consent
from app.email.service import EmailError, set_tracking
from app.email.tokens import TokenError, read_preference_token
from app.extensions import csrf, db
from app.models.email import EmailRecipient

bp = Blueprint("email_prefs", __name__)

PAGE_HEADERS = (
    ("Cache-Control", "no-store"),
    # The token is a credential: never leak it to another site through Referer.
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex"),
)


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers.extend(PAGE_HEADERS)
    return response


def _recipient_id(token: str) -> int | None:
    try:
        recipient_id = read_preference_token(current_app.config["SECRET_KEY"], token)
    except TokenError:
        return None
    return recipient_id if db.session.get(EmailRecipient, recipient_id) is not None else None


@bp.route("/p/<token>", methods=["GET", "POST"])
@csrf.exempt
def preference_centre(token: str) -> Response:
    recipient_id = _recipient_id(token)
    if recipient_id is None:
        return _page("email/preferences_invalid.html", status=404)
    saved = False
    if request.method == "POST":
        choice = request.form.get("email_tracking")
        if choice not in ("on", "off"):
            return _page("email/preferences_invalid.html", status=400)
        try:
            set_tracking(recipient_id, choice == "on", "preference_centre")
        except EmailError:
            return _page("email/preferences_invalid.html", status=503)
        saved = True
    record = latest_email_consent(recipient_id)
    return _page(
        "email/preferences.html",
        tracking=bool(record and record.email_tracking),
        recorded_at=record.recorded_at if record else None,
        saved=saved,
        token=token,
    )
