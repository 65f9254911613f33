"""Who is calling: a bearer token or an admin session, and with which role.

``require_role`` is the one role check for every staff route, JSON API and HTML page alike;
``may_open`` lets a template show only the links the signed-in role can open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request
from flask_login import current_user

from app.accounts.service import token_for
from app.errors import ApiError
from app.extensions import csrf, db, login_manager
from app.models import User

F = TypeVar("F", bound=Callable[..., Any])
# The attribute require_role leaves on a view: the roles it admits (admin always).
ROLES_ATTRIBUTE = "heedful_roles"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    kind: str  # "token" | "user"
    id: int
    role: str
    name: str


def init_app(app: Flask) -> None:
    login_manager.login_view = "admin.login"
    login_manager.login_message = "Please sign in."

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id))

    @app.context_processor
    def link_checks() -> dict[str, Any]:
        return {"may_open": may_open}


def current_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = token_for(header[7:].strip())
        if token is None:
            raise ApiError(401, "invalid or revoked token")
        return Principal("token", token.id, token.role, token.name)
    return session_principal()


def session_principal() -> Principal | None:
    """The signed-in staff user, if any (pages know no bearer tokens)."""
    if current_user.is_authenticated:
        return Principal("user", current_user.id, current_user.role, current_user.display_name)
    return None


def role_admits(role: str, roles: tuple[str, ...]) -> bool:
    """Whether ``role`` may pass a check for ``roles``: admin passes every check."""
    return role == "admin" or role in roles


def may_open(endpoint: str) -> bool:
    """Whether the signed-in user passes the role check of ``endpoint`` (for nav links)."""
    view = current_app.view_functions.get(endpoint)
    roles = getattr(view, ROLES_ATTRIBUTE, None)
    if roles is None:
        return True
    principal = session_principal()
    return principal is not None and role_admits(principal.role, roles)


def require_role(*roles: str, page: bool = False) -> Callable[[F], F]:
    """Admit a caller whose role is in ``roles`` (admin always); the one check for staff routes.

    API routes (the default) take a bearer token or an admin session and answer 401 or 403
    as JSON ``{"error": ...}``; a session write must carry the CSRF token, a bearer call is
    exempt (it carries no cookies). HTML pages (``page=True``) take the session only, as
    Flask-Login's ``login_required`` does: an anonymous visitor is sent to the login page
    (with ``next``), a signed-in user without the role gets the HTML 403 error page, and the
    app-wide CSRF check applies to their forms unchanged.

    The wrapped view carries ``heedful_roles`` (``ROLES_ATTRIBUTE``), which the route test
    reads to prove no staff route goes unchecked and ``may_open`` reads to hide links.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def api_view(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None:
                raise ApiError(401, "authentication required (bearer token or admin session)")
            if not role_admits(principal.role, roles):
                raise ApiError(403, f"this needs the role {' or '.join(roles)}")
            if principal.kind == "user" and request.method not in SAFE_METHODS:
                # A session-authenticated write must carry the CSRF token.
                csrf.protect()
            g.principal = principal
            return view(*args, **kwargs)

        @wraps(view)
        def page_view(*args: Any, **kwargs: Any) -> Any:
            principal = session_principal()
            if principal is None:
                return login_manager.unauthorized()
            if not role_admits(principal.role, roles):
                abort(403)
            g.principal = principal
            return view(*args, **kwargs)

        if page:
            setattr(page_view, ROLES_ATTRIBUTE, roles)
            return page_view  # type: ignore[return-value]
        setattr(api_view, ROLES_ATTRIBUTE, roles)
        # Bearer-token calls carry no cookies, so CSRF does not apply to them.
        return csrf.exempt(api_view)  # type: ignore[return-value]

    return decorator
