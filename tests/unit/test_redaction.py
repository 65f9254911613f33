"""Tests for app.enrichment.redaction: the one redaction step for stored free text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.collection.search_terms import normalise_term
from app.enrichment import redaction
from app.enrichment.redaction import (
    is_clean,
    luhn_valid,
    redact,
    redact_path,
    redact_query_value,
    redact_text,
    redact_url,
    spells_address,
)
from tests.audit import personal_data_findings

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
)
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
OUTLOOK_UA = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)"
PLACEHOLDERS = ("[email]", "[user-agent]", "[ip]", "[card]", "[phone]", "[number]")
ANDROID_UA = "Dalvik/2.1.0 (Linux; U; Android 11; SM-A505F Build/RP1A.200720.012)"


# --- redact (moved from test_search_terms.py) --------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ann@example.com", "[email]"),
        ("contact ann.lee+news@mail.example.co.uk please", "contact [email] please"),
        ("o'brien@example.ie", "[email]"),
        ("user123456@example.com", "[email]"),
        ("@example.com", "[email]"),
        ("a@b.c and d@e.f", "[email] and [email]"),
    ],
)
def test_redact_email(raw: str, expected: str) -> None:
    assert redact(raw) == expected


@pytest.mark.parametrize("raw", ["@handle", "c# vs c++", "ann at example dot com", "a@b"])
def test_redact_leaves_non_emails(raw: str) -> None:
    assert redact(raw) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", "[phone]"),
        ("call +44 (0)20 7946 0958 now", "call [phone] now"),
        ("(555) 123-4567", "[phone]"),
        ("555-123-4567", "[phone]"),
        ("555.123.4567", "[phone]"),
        ("tel 555 1234", "tel [phone]"),
        ("06 12 34 56 78", "[phone]"),
        ("+4915112345678", "[phone]"),
        ("abc555-123-4567", "abc[phone]"),
    ],
)
def test_redact_phone(raw: str, expected: str) -> None:
    assert redact(raw) == expected


def test_luhn_valid() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")
    assert not luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("abc")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4111 1111 1111 1111", "[card]"),
        ("4111-1111-1111-1111", "[card]"),
        ("4111111111111111", "[card]"),
        ("card 5500 0000 0000 0004 exp", "card [card] exp"),
        ("amex 378282246310005", "amex [card]"),
        ("4111 1111 1111 1111 2026", "[card] 2026"),
    ],
)
def test_redact_card(raw: str, expected: str) -> None:
    assert redact(raw) == expected


def test_redact_luhn_invalid_card_is_a_number() -> None:
    assert not luhn_valid("4111111111111112")
    assert redact("4111111111111112") == "[number]"


def test_redact_luhn_invalid_spaced_card_is_still_redacted() -> None:
    assert redact("4111 1111 1111 1112") == "[phone]"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("order 123456", "order [number]"),
        ("id 98765432101234567890123", "id [number]"),
        ("ref ab1234567cd", "ref ab[number]cd"),
    ],
)
def test_redact_long_digit_runs(raw: str, expected: str) -> None:
    assert redact(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2026",
        "iphone 15",
        "iphone 15 pro 2026",
        "windows 11 23h2",
        "size 42",
        "12345",
        "route 66 1999",
        "season 2023-2024",
        "tax 2023 2024",
        "covid-19 2020-2021",
        "event 12.05.2026",
        "mp3 320kbps",
        "c++ 20",
    ],
)
def test_redact_leaves_years_and_short_numbers(raw: str) -> None:
    assert redact(raw) == raw


def test_redact_year_exemption_does_not_cover_international_numbers() -> None:
    assert redact("+1 2020 2021") == "[phone]"


# --- addresses and user agents -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("from 203.0.113.77", "from [ip]"),
        ("203.0.113.77.", "[ip]."),
        ("v10.0.0.1", "v[ip]"),
        ("2001:db8::1", "[ip]"),
        ("call 2001:DB8:0:0:8:800:200C:417A now", "call [ip] now"),
        ("::1", "[ip]"),
        ("::ffff:10.0.0.1", "[ip]"),
        ("[fe80::1]:8080", "[[ip]]:8080"),
        ("192.168.100.200", "[ip]"),
    ],
)
def test_redact_ip_literals(raw: str, expected: str) -> None:
    assert redact(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["1.2.3", "v1.2.3", "10.0.190", "256.1.1.1", "12:30:45", "std::vector", "a:b"],
)
def test_redact_leaves_versions_times_and_non_addresses(raw: str) -> None:
    assert redact(raw) == raw


@pytest.mark.parametrize("agent", [CHROME_UA, FIREFOX_UA, SAFARI_UA, OUTLOOK_UA, ANDROID_UA])
def test_redact_user_agent_strings(agent: str) -> None:
    redacted = redact(f"Seen with {agent} today")
    assert "[user-agent]" in redacted
    assert redacted.startswith("Seen with ") and redacted.endswith(" today")
    assert personal_data_findings(redacted) == []
    # Search terms are casefolded before redaction: the lower-case form is one too.
    assert "[user-agent]" in redact(agent.casefold())


@pytest.mark.parametrize("raw", ["HTTP/2 explained", "24/7 support", "and/or", "TCP/IP guide"])
def test_redact_leaves_slashes_that_are_no_user_agent(raw: str) -> None:
    assert redact(raw) == raw


def test_a_host_that_spells_an_address_is_known() -> None:
    assert spells_address("10.0.0.1.nip.io")
    assert spells_address("2001:db8::1")
    assert not spells_address("www.example.com")
    assert not spells_address("cdn1234567.example.net")
    assert not spells_address("10-0-0-1.example.net")


# --- ordinary page content stays as it is --------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/blog/2026/12/01/post-title",
        "/products/12345",
        "/docs/v1.2.3/install",
        "/events/2026-12-01",
        "/events/01.12.2026",
        "/caf%C3%A9/menu",
        "/search%20results",
        "/@handle/post",
        "/a/b/c.pdf",
        "/shop/size-42/colour-red",
        "/100%25-cotton",
    ],
)
def test_ordinary_paths_are_kept_exactly(path: str) -> None:
    assert redact_path(path) is path or redact_path(path) == path


@pytest.mark.parametrize(
    "text",
    [
        "Shop deals",
        "Winter sale 2026 – up to 50% off",
        "Release notes v1.2.3 (2026-12-01)",
        "iPhone 15 Pro, 128 GB",
        "Top 10 tips for 2026/2027",
        "Café crème · Straße",
        "Order status: shipped",
        "C++ 20 and C# 12",
    ],
)
def test_ordinary_titles_are_kept_exactly(text: str) -> None:
    assert redact_text(text) == text


# --- percent-encoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/profile/jane.doe@example.com", "/profile/[email]"),
        ("/profile/jane.doe%40example.com", "/profile/[email]"),
        ("/u/%6A%61ne%40example.com", "/u/[email]"),
        ("/u/jane%2540example.com", "/u/[email]"),
        ("/u/jane%252540example.com", "/u/[email]"),
        ("/u/jane＠example．com", "/u/[email]"),
        ("/u/ja%E2%80%8Bne@exa%00mple.com", "/u/[email]"),
        ("/ip/203.0.113.77/x", "/ip/[ip]/x"),
        ("/ip/2001%3Adb8%3A%3A1", "/ip/[ip]"),
        ("/customer/1234567/orders", "/customer/[number]/orders"),
        ("/pay/4111111111111111", "/pay/[card]"),
        ("/call/+44%2020%207946%200958", "/call/[phone]"),
        ("/ua/Mozilla%2F5.0%20(X11%3B%20Linux)", "/ua/[user-agent]"),
        # An escape's own digits can make an address of what follows it.
        ("/q/%21.1.2.3", "/q/!.1.2.3"),
        ("/q/a%20.1.2.3", "/q/a%[ip]"),
    ],
)
def test_paths_are_redacted_on_their_decoded_form(path: str, expected: str) -> None:
    assert redact_path(path) == expected


def test_a_redacted_segment_is_re_encoded_and_the_others_kept_as_sent() -> None:
    assert redact_path("/caf%C3%A9/jane%40example.com/a%20b") == "/caf%C3%A9/[email]/a%20b"
    # The redacted segment's other text is re-encoded for a path: the space, "%" and "/".
    assert redact_path("/hi%20jane%40x.org%2F50%25") == "/hi%20[email]%2F50%25"


def test_an_email_split_across_parts_of_a_url_is_redacted() -> None:
    """Read whole, as the audit reads a column: "@" in one part, the domain in the next."""
    assert redact_url("x.example", "/jane.doe@example/.com", ()) == ("/[email]/.com", (), "")
    path, params, query = redact_url("x.example", "/a", (("q", "jane@"), ("utm_x", "b.com")))
    assert (path, params, query) == ("/a", (("q", "[email]"), ("utm_x", "b.com")), _q())
    # Parts without an "@" anywhere are left as they are.
    assert redact_url("x.example", "/a/b.html", (("q", "x"),)) == (
        "/a/b.html",
        (("q", "x"),),
        "q=x",
    )


def _q() -> str:
    return "q=%5Bemail%5D&utm_x=b.com"


def test_query_values_are_judged_decoded_with_plus_as_space() -> None:
    # parse_qsl has decoded once already: what is left is a second layer.
    assert redact_query_value("mail me at bob@example.org") == "mail me at [email]"
    assert redact_query_value("bob%40example.org") == "[email]"
    assert redact_query_value("555+123+4567") == "[phone]"
    assert redact_query_value("spring sale") == "spring sale"
    assert redact_query_value("c++") == "c++"


def test_a_value_encoded_past_the_bound_is_replaced_whole() -> None:
    deep = "jane@example.com"
    for _ in range(redaction.MAX_DECODE_ROUNDS + 1):
        deep = deep.replace("%", "%25").replace("@", "%40")
    assert redact_text(deep) == "[encoded]"


def test_the_digit_run_threshold_is_six() -> None:
    assert redaction.LONG_NUMBER_DIGITS == 6
    assert redact("12345") == "12345"
    assert redact("123456") == "[number]"


# --- properties -----------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "jane.doe@example.com",
        "%40",
        "%2540",
        "@",
        "example.com",
        "203.0.113.77",
        "2001:db8::1",
        "::",
        ":",
        ".",
        "%2E",
        "%3A",
        "4111111111111111",
        "+44 20 7946 0958",
        "1234567",
        "Mozilla/5.0",
        "Chrome/",
        " (X11; Linux) ",
        "%20",
        "+",
        "/",
        "%2F",
        "％",
        "\u200b",
        "é",
        "2026",
        "v1.2.3",
    ]
)
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=10).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_property_redacted_text_passes_the_audit_in_every_form(raw: str) -> None:
    assert personal_data_findings(redact_text(raw)) == []
    assert personal_data_findings(redact_query_value(raw)) == []


@settings(max_examples=5000)
@given(st.lists(_TEXT, max_size=4))
def test_property_redacted_paths_pass_the_audit(segments: list[str]) -> None:
    path = "/" + "/".join(segment.replace("/", "") for segment in segments)
    redacted = redact_url("www.example.com", path, ())[0]
    # Each segment on its own; and across segments, where "/" separates segments and is
    # no product's version mark (the audit reads "/Chrome/" as a user agent).
    assert personal_data_findings(redacted.replace("/", " / ")) == []
    across = [f for f in personal_data_findings(redacted) if not f.startswith("user agent")]
    assert across == []


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_property_redaction_is_stable(raw: str) -> None:
    once = redact_text(raw)
    assert redact_text(once) == once
    assert is_clean(redact(raw))


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_property_a_search_term_redacts_nothing_its_query_value_kept(raw: str) -> None:
    """events.query and search_terms.term agree: the term made from the stored value has
    no placeholder the stored value lacks, so normalising found nothing more to redact."""
    stored = redact_query_value(raw)
    term = normalise_term(stored)
    if term is not None:
        for placeholder in PLACEHOLDERS:
            assert term.count(placeholder) <= stored.count(placeholder), (stored, term)
        assert personal_data_findings(term) == []


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
def test_property_the_fast_path_skips_only_what_the_regexes_would_keep(raw: str) -> None:
    if raw.isascii() and not redaction._RAW_TRIGGER.search(raw):
        slow = raw
        for step in (
            redaction._UA_RE,
            redaction._EMAIL_RE,
            redaction._LOOSE_EMAIL_RE,
            redaction._IPV4_RE,
            redaction._CARD_RE,
            redaction._LONG_NUMBER_RE,
        ):
            assert step.search(slow) is None
        assert redaction._redact_ip_tokens(slow) == slow
        assert redaction._PHONE_RE.sub(redaction._redact_phone, slow) == slow
        assert redaction._view(raw, False) == " ".join(raw.split())


@settings(max_examples=400, deadline=None)
@given(_TEXT, _TEXT, _TEXT, st.booleans())
def test_property_a_page_url_is_stored_clean_in_every_column(
    segment: str, value: str, campaign: str, encode: bool
) -> None:
    """End to end through parse_page_url: the path, query and URL as stored, and the search
    term made from them, pass the audit however the pieces were (or were not) encoded."""
    from urllib.parse import quote

    from app.collection.search_terms import terms_from_query
    from app.collection.urls import parse_page_url

    def part(text: str) -> str:
        return quote(text, safe="") if encode else text.replace("#", "").replace("&", "")

    url = f"https://www.example.com/a/{part(segment).replace('?', '')}?q={part(value)}"
    page = parse_page_url(url + f"&utm_campaign={part(campaign)}", allowed_params={"q"})
    for stored in (page.query, page.url.replace("/", " / ")):
        assert personal_data_findings(stored) == [], stored
    assert [f for f in personal_data_findings(page.path) if "user agent" not in f] == []
    for term in terms_from_query(page.params, {"q"}):
        assert personal_data_findings(term.term) == []
