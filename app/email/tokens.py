"""Signed tokens for the email open pixel and the preference centre.

Each purpose signs under its own salt, so a token minted for one purpose never verifies
for another. Tokens are itsdangerous URL-safe strings ([A-Za-z0-9_.-]) carrying a short
JSON payload with an explicit issue time.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeGuard

from itsdangerous import BadData, URLSafeSerializer

from app.clock import utcnow

PIXEL_SALT: Final = "heedful.email.pixel.v1"
PREFERENCE_SALT: Final = "heedful.email.preference.v1"
PIXEL_KINDS: Final = frozenset({"open", "read"})
PIXEL_SUFFIX: Final = ".gif"

# Real tokens stay near 100 characters; refusing long input bounds the work done for junk.
MAX_TOKEN_LENGTH: Final = 512
# App hosts' clocks may disagree a little; a token "from the future" within this is fine.
CLOCK_SKEW: Final = timedelta(minutes=5)


class TokenError(Exception):
    """The token is forged, altered, malformed, expired or meant for another purpose."""


class TokenExpired(TokenError):
    """The token's signature is valid but it is older than the allowed age."""


@dataclass(frozen=True)
class PixelClaim:
    campaign_id: int
    recipient_id: int
    kind: str


def _serializer(secret: str, salt: str) -> URLSafeSerializer:
    # An empty key would make every token trivially forgeable: fail loudly instead.
    if not secret:
        raise ValueError("secret must not be empty")
    return URLSafeSerializer(secret, salt=salt, signer_kwargs={"digest_method": hashlib.sha256})


def _is_id(value: object) -> TypeGuard[int]:
    # bool is an int subclass; true/false in a payload is never an id.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_kind(value: object) -> TypeGuard[str]:
    # isinstance first: a list or dict in a payload is unhashable for the set lookup.
    return isinstance(value, str) and value in PIXEL_KINDS


def _check_id(name: str, value: int) -> None:
    if not _is_id(value):
        raise ValueError(f"{name} must be a non-negative int")


def _now() -> int:
    return int(utcnow().timestamp())


def _load(secret: str, salt: str, token: str, *, suffix: str = "") -> object:
    serializer = _serializer(secret, salt)
    if not isinstance(token, str):
        raise TokenError("malformed token")
    token = token.removesuffix(suffix) if suffix else token
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed token")
    try:
        return serializer.loads(token)
    except BadData as exc:
        raise TokenError("invalid token") from exc


def _check_age(issued_at: object, max_age: timedelta) -> None:
    if not _is_id(issued_at):
        raise TokenError("malformed token")
    age = _now() - issued_at
    if age > max_age.total_seconds():
        raise TokenExpired("token expired")
    if age < -CLOCK_SKEW.total_seconds():
        raise TokenError("token issued in the future")


def make_pixel_token(
    secret: str, *, campaign_id: int, recipient_id: int, kind: str = "open"
) -> str:
    """Sign a pixel token binding a campaign, a recipient and the pixel kind."""
    _check_id("campaign_id", campaign_id)
    _check_id("recipient_id", recipient_id)
    if kind not in PIXEL_KINDS:
        raise ValueError(f"kind must be one of {sorted(PIXEL_KINDS)}")
    payload = [campaign_id, recipient_id, kind, _now()]
    return _serializer(secret, PIXEL_SALT).dumps(payload)


def read_pixel_token(
    secret: str, token: str, *, max_age: timedelta = timedelta(days=365)
) -> PixelClaim:
    """Verify a pixel token (with or without its ".gif" suffix); raise TokenError if bad."""
    # Accepting the suffix is unambiguous: a valid signature segment never contains a dot.
    data = _load(secret, PIXEL_SALT, token, suffix=PIXEL_SUFFIX)
    if not isinstance(data, list) or len(data) != 4:
        raise TokenError("malformed token")
    campaign_id, recipient_id, kind, issued_at = data
    if not (_is_id(campaign_id) and _is_id(recipient_id) and _is_kind(kind)):
        raise TokenError("malformed token")
    _check_age(issued_at, max_age)
    return PixelClaim(campaign_id=campaign_id, recipient_id=recipient_id, kind=kind)


def make_preference_token(secret: str, *, recipient_id: int) -> str:
    """Sign a preference-centre token for one recipient."""
    _check_id("recipient_id", recipient_id)
    return _serializer(secret, PREFERENCE_SALT).dumps([recipient_id, _now()])


def read_preference_token(
    secret: str, token: str, *, max_age: timedelta = timedelta(days=730)
) -> int:
    """Verify a preference-centre token and return its recipient id; raise TokenError if bad."""
    data = _load(secret, PREFERENCE_SALT, token)
    if not isinstance(data, list) or len(data) != 2 or not _is_id(data[0]):
        raise TokenError("malformed token")
    _check_age(data[1], max_age)
    return data[0]
