"""Who is calling: a bearer token or an admin session, and with which role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, g, request
from flask_login import current_user

from app.accounts.service import token_for
from app.errors import ApiError
from app.extensions import csrf, db, login_manager
from app.models import User

F = TypeVar("F", bound=Callable[..., Any])


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


def current_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = token_for(header[7:].strip())
        if token is None:
            raise ApiError(401, "invalid or revoked token")
        return Principal("token", token.id, token.role, token.name)
    if current_user.is_authenticated:
        return Principal("user", current_user.id, current_user.role, current_user.display_name)
    return None


def require_role(*roles: str) -> Callable[[F], F]:
    """Allow a bearer token or a signed-in user whose role is in ``roles`` (admin always)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None:
                raise ApiError(401, "authentication required (bearer token or admin session)")
            if principal.role != "admin" and principal.role not in roles:
                raise ApiError(403, f"this needs the role {' or '.join(roles)}")
            if principal.kind == "user" and request.method not in ("GET", "HEAD", "OPTIONS"):
                # A session-authenticated write must carry the CSRF token.
                csrf.protect()
            g.principal = principal
            return view(*args, **kwargs)

        # Bearer-token calls carry no cookies, so CSRF does not apply to them.
        return csrf.exempt(wrapped)  # type: ignore[return-value]

    return decorator
