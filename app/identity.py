"""Normalise email addresses and key them with an HMAC, so plain addresses are never stored."""

import hashlib
import hmac
import unicodedata
from typing import Final

EMAIL_HMAC_CONTEXT: Final = b"heedful.email-hmac.v1"
# RFC 5321 allows a 256-octet path including its angle brackets; counted here in characters.
MAX_EMAIL_LENGTH: Final = 254


def _fold(text: str) -> str:
    # Unicode's compatibility caseless match (D146), recomposed with NFKC. Its double
    # casefold exists so the result is stable when applied again: the stored key must not
    # depend on how many times an address was normalised.
    text = unicodedata.normalize("NFD", text).casefold()
    text = unicodedata.normalize("NFKD", text).casefold()
    return unicodedata.normalize("NFKC", text)


def normalise_email(address: str) -> str:
    """Strip, NFKC-normalise and casefold an address; raise ValueError if implausible.

    Plausible means one "@", a non-empty local part and a dotted domain with no empty
    labels, no whitespace or control characters, and at most 254 characters.
    """
    # Error messages never echo the address: they may end up in logs.
    if not isinstance(address, str):
        raise ValueError("email address must be a string")
    text = _fold(unicodedata.normalize("NFKC", address).strip())
    if not text or len(text) > MAX_EMAIL_LENGTH:
        raise ValueError("email address is empty or too long")
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in text):
        raise ValueError("email address contains whitespace or control characters")
    if text.count("@") != 1:
        raise ValueError("email address must contain exactly one '@'")
    local, domain = text.split("@")
    if not local or "." not in domain or not all(domain.split(".")):
        raise ValueError("email address needs a local part and a dotted domain")
    return text


def _hmac_key(secret: str) -> bytes:
    # A derived key keeps this HMAC independent of every other use of the app secret.
    return hashlib.sha256(EMAIL_HMAC_CONTEXT + secret.encode("utf-8")).digest()


def email_hmac(secret: str, address: str) -> str:
    """Hex HMAC-SHA256 of the normalised address, keyed from the app secret."""
    if not secret:
        raise ValueError("secret must not be empty")
    normalised = normalise_email(address)
    return hmac.new(_hmac_key(secret), normalised.encode("utf-8"), hashlib.sha256).hexdigest()
