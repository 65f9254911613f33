"""Tests for app.identity: address normalisation and the keyed address hash."""

import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.identity import email_hmac, normalise_email

SECRET = "test-secret-key-not-for-production"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM \n", "alice@example.com"),
        ("Alice.Smith+news@Mail.Example.co.uk", "alice.smith+news@mail.example.co.uk"),
        # Full-width characters, including the at sign, fold to ASCII under NFKC.
        ("ＡＬＩＣＥ＠ｅｘａｍｐｌｅ.ｃｏｍ", "alice@example.com"),
        ("Straße@Example.de", "strasse@example.de"),
        ("JOSÉ@exämple.org", "josé@exämple.org"),
    ],
)
def test_normalise_email(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


def test_composed_and_decomposed_forms_agree() -> None:
    assert normalise_email("jose\u0301@example.com") == normalise_email("jos\u00e9@example.com")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "alice@@example.com",
        "a@b@example.com",
        "alice@.example.com",
        "alice@example.com.",
        "alice@example..com",
        "al ice@example.com",
        "alice@exa\tmple.com",
        "alice\x00@example.com",
        "ali\u200bce@example.com",
        "a" * 250 + "@example.com",
    ],
)
def test_implausible_addresses_raise(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_email(raw)


def test_error_message_does_not_echo_the_address() -> None:
    with pytest.raises(ValueError) as excinfo:
        normalise_email("secret.person@nowhere")
    assert "secret.person" not in str(excinfo.value)


_addresses = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
    st.text(min_size=2, max_size=6),
)


@given(_addresses)
def test_normalise_is_idempotent(raw: str) -> None:
    try:
        once = normalise_email(raw)
    except ValueError:
        return
    assert normalise_email(once) == once


def test_email_hmac_matches_the_documented_construction() -> None:
    key = hashlib.sha256(b"heedful.email-hmac.v1" + SECRET.encode()).digest()
    expected = hmac.new(key, b"alice@example.com", hashlib.sha256).hexdigest()
    assert email_hmac(SECRET, " Alice@Example.com ") == expected


def test_email_hmac_is_hex_sha256() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", email_hmac(SECRET, "alice@example.com"))


def test_email_hmac_equal_for_equivalent_addresses() -> None:
    assert email_hmac(SECRET, "ALICE@EXAMPLE.COM") == email_hmac(SECRET, "alice@example.com")


def test_email_hmac_differs_by_address_and_secret() -> None:
    base = email_hmac(SECRET, "alice@example.com")
    assert email_hmac(SECRET, "bob@example.com") != base
    assert email_hmac("another-secret", "alice@example.com") != base


def test_email_hmac_is_not_a_plain_hash() -> None:
    plain = hashlib.sha256(b"alice@example.com").hexdigest()
    assert email_hmac(SECRET, "alice@example.com") != plain


def test_email_hmac_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        email_hmac(SECRET, "not-an-address")
    with pytest.raises(ValueError):
        email_hmac("", "alice@example.com")
