"""Tests for app.email.tokens: signed pixel and preference-centre tokens."""

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from app.email.tokens import (
    PIXEL_SALT,
    PREFERENCE_SALT,
    PixelClaim,
    TokenError,
    TokenExpired,
    make_pixel_token,
    make_preference_token,
    read_pixel_token,
    read_preference_token,
)

SECRET = "test-secret-key-not-for-production"
ISSUED = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
URL_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(ISSUED, tick=False) as traveller:
        yield traveller


def sign(payload: object, *, salt: str = PIXEL_SALT, secret: str = SECRET) -> str:
    # Signs exactly as the module does, to reach checks that sit behind the signature.
    signer_kwargs = {"digest_method": hashlib.sha256}
    return URLSafeSerializer(secret, salt=salt, signer_kwargs=signer_kwargs).dumps(payload)


def flip(token: str, index: int) -> str:
    # Swap one base64url character for another so the decoded bytes really change.
    replacement = "B" if token[index] == "A" else "A"
    return token[:index] + replacement + token[index + 1 :]


# --- pixel tokens ------------------------------------------------------------------------


@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize("kind", ["open", "read"])
def test_pixel_round_trip_preserves_claim_and_kind(kind: str) -> None:
    token = make_pixel_token(SECRET, campaign_id=42, recipient_id=9001, kind=kind)
    assert read_pixel_token(SECRET, token) == PixelClaim(42, 9001, kind)


@pytest.mark.usefixtures("frozen")
def test_pixel_kind_defaults_to_open() -> None:
    token = make_pixel_token(SECRET, campaign_id=1, recipient_id=2)
    assert read_pixel_token(SECRET, token).kind == "open"


@pytest.mark.usefixtures("frozen")
def test_pixel_token_is_url_safe_and_compact() -> None:
    token = make_pixel_token(SECRET, campaign_id=123456, recipient_id=987654321, kind="read")
    assert URL_SAFE.match(token)
    assert len(token) < 120


@pytest.mark.usefixtures("frozen")
def test_pixel_token_reads_with_or_without_gif_suffix() -> None:
    token = make_pixel_token(SECRET, campaign_id=7, recipient_id=8)
    path_segment = f"{token}.gif"
    assert read_pixel_token(SECRET, path_segment.removesuffix(".gif")).recipient_id == 8
    assert read_pixel_token(SECRET, path_segment).recipient_id == 8


@pytest.mark.usefixtures("frozen")
def test_pixel_tokens_differ_per_recipient_and_campaign() -> None:
    tokens = {
        make_pixel_token(SECRET, campaign_id=c, recipient_id=r) for c in (1, 2) for r in (1, 2)
    }
    assert len(tokens) == 4


@pytest.mark.usefixtures("frozen")
def test_altered_payload_is_rejected() -> None:
    token = make_pixel_token(SECRET, campaign_id=42, recipient_id=9001)
    payload_end = token.index(".")
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, flip(token, payload_end // 2))


@pytest.mark.usefixtures("frozen")
def test_altered_signature_is_rejected() -> None:
    token = make_pixel_token(SECRET, campaign_id=42, recipient_id=9001)
    signature_start = token.rindex(".") + 1
    middle = (signature_start + len(token)) // 2
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, flip(token, middle))


@pytest.mark.usefixtures("frozen")
def test_swapped_ids_forged_with_another_key_are_rejected() -> None:
    forged = sign([42, 1, "open", int(ISSUED.timestamp())], secret="attacker")
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, forged)


@pytest.mark.usefixtures("frozen")
def test_wrong_secret_is_rejected() -> None:
    token = make_pixel_token(SECRET, campaign_id=1, recipient_id=2)
    with pytest.raises(TokenError):
        read_pixel_token("another-secret", token)


def test_pixel_token_expires(frozen: time_machine.Traveller) -> None:
    token = make_pixel_token(SECRET, campaign_id=1, recipient_id=2)
    frozen.move_to(ISSUED + timedelta(days=364))
    assert read_pixel_token(SECRET, token).campaign_id == 1
    frozen.move_to(ISSUED + timedelta(days=366))
    with pytest.raises(TokenExpired):
        read_pixel_token(SECRET, token)


def test_pixel_token_honours_small_max_age(frozen: time_machine.Traveller) -> None:
    token = make_pixel_token(SECRET, campaign_id=1, recipient_id=2)
    frozen.shift(timedelta(minutes=2))
    with pytest.raises(TokenExpired):
        read_pixel_token(SECRET, token, max_age=timedelta(minutes=1))


def test_expired_is_a_token_error(frozen: time_machine.Traveller) -> None:
    token = make_pixel_token(SECRET, campaign_id=1, recipient_id=2)
    frozen.shift(timedelta(days=400))
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, token)


def test_small_clock_skew_is_tolerated_but_far_future_is_not(
    frozen: time_machine.Traveller,
) -> None:
    token = make_pixel_token(SECRET, campaign_id=1, recipient_id=2)
    frozen.move_to(ISSUED - timedelta(minutes=1))
    assert read_pixel_token(SECRET, token).recipient_id == 2
    frozen.move_to(ISSUED - timedelta(hours=1))
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, token)


@pytest.mark.usefixtures("frozen")
def test_validly_signed_but_malformed_payload_is_rejected() -> None:
    now = int(ISSUED.timestamp())
    assert read_pixel_token(SECRET, sign([1, 2, "open", now])) == PixelClaim(1, 2, "open")
    bad_payloads = (
        [1, 2, "click", now],
        [True, 2, "open", now],
        [1, 2, ["open"], now],
        [1, 2, "open", "yesterday"],
        {"c": 1},
        [1, 2, "open"],
    )
    for payload in bad_payloads:
        with pytest.raises(TokenError):
            read_pixel_token(SECRET, sign(payload))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"campaign_id": 1, "recipient_id": 2, "kind": "click"},
        {"campaign_id": -1, "recipient_id": 2},
        {"campaign_id": 1, "recipient_id": True},
    ],
)
def test_make_pixel_token_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_pixel_token(SECRET, **kwargs)  # type: ignore[arg-type]


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        make_pixel_token("", campaign_id=1, recipient_id=2)
    with pytest.raises(ValueError):
        read_pixel_token("", "anything")


@pytest.mark.parametrize("junk", ["", ".gif", "not-a-token", "a.b.c", "x" * 600, "é.ñ"])
def test_junk_is_a_token_error(junk: str) -> None:
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, junk)


@given(st.text(max_size=200))
def test_arbitrary_text_only_ever_raises_token_error(junk: str) -> None:
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, junk)


# --- preference tokens and purpose separation -------------------------------------------


@pytest.mark.usefixtures("frozen")
def test_preference_round_trip() -> None:
    token = make_preference_token(SECRET, recipient_id=314)
    assert URL_SAFE.match(token)
    assert read_preference_token(SECRET, token) == 314


@pytest.mark.usefixtures("frozen")
def test_altered_preference_token_is_rejected() -> None:
    token = make_preference_token(SECRET, recipient_id=314)
    with pytest.raises(TokenError):
        read_preference_token(SECRET, flip(token, 2))
    with pytest.raises(TokenError):
        read_preference_token("another-secret", token)


def test_preference_token_expires_after_two_years(frozen: time_machine.Traveller) -> None:
    token = make_preference_token(SECRET, recipient_id=5)
    frozen.move_to(ISSUED + timedelta(days=729))
    assert read_preference_token(SECRET, token) == 5
    frozen.move_to(ISSUED + timedelta(days=731))
    with pytest.raises(TokenExpired):
        read_preference_token(SECRET, token)


@pytest.mark.usefixtures("frozen")
def test_preference_token_never_reads_as_pixel_token() -> None:
    token = make_preference_token(SECRET, recipient_id=5)
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, token)


@pytest.mark.usefixtures("frozen")
def test_pixel_token_never_reads_as_preference_token() -> None:
    token = make_pixel_token(SECRET, campaign_id=1, recipient_id=5)
    with pytest.raises(TokenError):
        read_preference_token(SECRET, token)


@pytest.mark.usefixtures("frozen")
def test_same_shape_payload_under_other_salt_is_rejected() -> None:
    # Even a payload shaped like a pixel claim fails when signed for the preference centre.
    now = int(ISSUED.timestamp())
    cross = sign([1, 5, "open", now], salt=PREFERENCE_SALT)
    assert read_pixel_token(SECRET, sign([1, 5, "open", now])).recipient_id == 5
    with pytest.raises(TokenError):
        read_pixel_token(SECRET, cross)


def test_salts_differ() -> None:
    assert PIXEL_SALT == "heedful.email.pixel.v1"
    assert PREFERENCE_SALT == "heedful.email.preference.v1"
