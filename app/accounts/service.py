"""Staff accounts and bearer tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from app.audit import record_change
from app.extensions import db
from app.identity import email_hmac
from app.models import ROLES, ApiToken, User

TOKEN_PREFIX = "hdf_"
MIN_PASSWORD_LENGTH = 10
MAX_DISPLAY_NAME = 120
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_hasher = PasswordHasher()
# Verifying against this keeps unknown-user logins as slow as real ones.
_DUMMY_HASH = _hasher.hash("heedful-timing-equaliser")


class AccountError(ValueError):
    pass


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")


def _user_key(email: str) -> str:
    try:
        return email_hmac(current_app.config["SECRET_KEY"], email)
    except ValueError as exc:
        raise AccountError(f"not an email address: {email!r}") from exc


def default_display_name(role: str, user_id: int) -> str:
    """What the console shows for a user who was given no name: the role and the id.

    Nothing about a user is derived from the email address (invariant 2): the address is
    kept only as a keyed hash, so its local part ("jane.doe") is not stored either.
    """
    return f"{role.capitalize()} #{user_id}"


def clean_display_name(name: str) -> str:
    """A display name the admin chose: 1 to 120 characters, and not an email address."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_DISPLAY_NAME:
        raise AccountError(f"a display name has 1 to {MAX_DISPLAY_NAME} characters")
    if _CONTROL_CHARACTERS.search(cleaned):
        raise AccountError("a display name cannot contain control characters")
    if "@" in cleaned:
        # The address itself is never stored in plain; a name holding one would be.
        raise AccountError("a display name cannot hold an email address (no '@')")
    return cleaned


def create_user(
    email: str,
    role: str,
    password: str,
    display_name: str | None = None,
    *,
    actor: str = "system",
) -> User:
    """Create a staff account, and audit it; without ``display_name`` it is shown as e.g.
    "Admin #3"."""
    _check_role(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    name = clean_display_name(display_name) if display_name is not None else None
    key = _user_key(email)
    if db.session.scalar(select(User).where(User.email_hmac == key)) is not None:
        raise AccountError("a user with that email already exists")
    user = User(
        email_hmac=key,
        display_name=name or "",
        role=role,
        password_hash=_hasher.hash(password),
    )
    db.session.add(user)
    db.session.flush()  # the id the default name shows and the audit entry names
    if name is None:
        user.display_name = default_display_name(role, user.id)
    record_change("user.create", actor=actor, target=f"user:{user.id}", details={"role": role})
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = _hasher.hash(password)
    db.session.commit()


def login_limit_key(email: str) -> str:
    """The key a login attempt counts under per account: a keyed hash of the normalised
    address (the plain one never reaches the limit storage), whichever address it came
    from; text that is no address at all is hashed as typed."""
    try:
        return "u" + _user_key(email)[:32]
    except AccountError:
        from app.ratelimit import rate_guard

        return rate_guard().hashed("u", email.strip().casefold())


def authenticate(email: str, password: str) -> User | None:
    try:
        key = _user_key(email)
    except AccountError:
        return None
    user = db.session.scalar(select(User).where(User.email_hmac == key))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.session.commit()
    return user


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, role: str, *, actor: str = "system") -> tuple[ApiToken, str]:
    """Create a bearer token, and audit it; the plain token is returned once and never
    stored."""
    _check_role(role)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name.strip()[:120] or "token",
        role=role,
        token_hash=_token_digest(plain),
        prefix=plain[:10],
    )
    db.session.add(token)
    db.session.flush()
    record_change("token.create", actor=actor, target=f"token:{token.id}", details={"role": role})
    db.session.commit()
    return token, plain


def token_for(plain: str) -> ApiToken | None:
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(plain)))
    if token is None or token.revoked_at is not None:
        return None
    return token
