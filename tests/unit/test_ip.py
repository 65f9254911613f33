"""Tests for app.enrichment.ip: parsing and truncating addresses, telling host names apart."""

import pytest

from app.enrichment.ip import parse_ip, truncate_ip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("81.2.69.160", "81.2.69.160"),
        (" 81.2.69.160 ", "81.2.69.160"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::ffff:81.2.69.160", "81.2.69.160"),
        ("::1", "::1"),
        ("example.com", None),
        ("shop.example.com.", None),
        ("999.1.1.1", None),
        ("1.2.3.4.", None),
        ("localhost", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_ip(text: str | None, expected: str | None) -> None:
    assert parse_ip(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("81.2.69.160", "81.2.69.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:81.2.69.160", "81.2.69.0/24"),
        ("shop.example.com", None),
    ],
)
def test_truncate_ip(text: str, expected: str | None) -> None:
    assert truncate_ip(text) == expected
