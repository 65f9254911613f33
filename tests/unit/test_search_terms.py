"""Tests for app.collection.search_terms: normalisation and term extraction (redaction has
tests of its own, in test_redaction.py)."""

import dataclasses
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.collection.search_terms import (
    MAX_TERM_LENGTH,
    SearchTerm,
    normalise_term,
    referrer_search,
    search_engine,
    terms_from_page_url,
    terms_from_query,
)
from app.sites.settings import DEFAULT_QUERY_PARAMS

EMAIL_LIKE = re.compile(r"@[\w-]+(?:\.[\w-]+)+")


# --- normalise_term --------------------------------------------------------------------------


def test_normalise_nfkc_full_width() -> None:
    assert normalise_term("ＡＢＣ") == "abc"


def test_normalise_nfkc_compatibility_forms() -> None:
    assert normalise_term("ﬁsh ①") == "fish 1"


def test_normalise_casefold() -> None:
    assert normalise_term("Straße CAFÉ") == "strasse café"


def test_normalise_collapses_whitespace() -> None:
    assert normalise_term("  red \t\n  shoes\u00a0 size\u3000 9 ") == "red shoes size 9"


def test_normalise_strips_control_and_format_characters() -> None:
    assert normalise_term("red\x00 sho\x1bes\u200b\u202e") == "red shoes"


def test_normalise_control_characters_cannot_hide_an_email() -> None:
    assert normalise_term("ann\u200b@exa\x00mple.com") == "[email]"


def test_normalise_full_width_at_sign_is_redacted() -> None:
    assert normalise_term("ann＠example．com") == "[email]"


@pytest.mark.parametrize("raw", ["", "   ", "\x00\x01", "\u200b\u200b", "\t\n"])
def test_normalise_empty_gives_none(raw: str) -> None:
    assert normalise_term(raw) is None


def test_normalise_caps_length() -> None:
    assert normalise_term("abcd" * 100) == "abcd" * 50
    assert normalise_term("word " * 100) == ("word " * 40).strip()


def test_normalise_cap_does_not_leave_trailing_space() -> None:
    term = normalise_term("a" * 199 + " b")
    assert term == "a" * 199


def test_normalise_redacts_before_capping() -> None:
    term = normalise_term("x" * 190 + " ann@example.com")
    assert term is not None
    assert "ann" not in term
    assert "@" not in term


def test_normalise_huge_input_drops_the_cut_word() -> None:
    raw = "a " * 999 + "ann@example.com" * 10
    term = normalise_term(raw)
    assert term is not None
    assert "@" not in term and "ann" not in term


def test_normalise_redacts() -> None:
    assert normalise_term("Call ME on 555-123-4567") == "call me on [phone]"


@given(st.text(max_size=400))
def test_normalise_property_no_email_and_bounded(raw: str) -> None:
    term = normalise_term(raw)
    if term is not None:
        assert len(term) <= MAX_TERM_LENGTH
        assert term == term.strip() and term
        assert EMAIL_LIKE.search(term) is None


@given(
    st.lists(
        st.one_of(
            st.emails(),
            st.from_regex(
                r"[a-z0-9._+-]{0,10}@[a-z0-9-]{1,10}(\.[a-z0-9-]{1,6}){1,3}", fullmatch=True
            ),
            st.text(max_size=20),
        ),
        max_size=8,
    )
)
def test_normalise_property_email_heavy_input(parts: list[str]) -> None:
    term = normalise_term(" ".join(parts))
    if term is not None:
        assert len(term) <= MAX_TERM_LENGTH
        assert EMAIL_LIKE.search(term) is None


# --- SearchTerm ------------------------------------------------------------------------------


def test_search_term_is_frozen() -> None:
    term = SearchTerm("shoes", "site")
    with pytest.raises(dataclasses.FrozenInstanceError):
        term.term = "hats"  # type: ignore[misc]


# --- terms_from_page_url ---------------------------------------------------------------------


def test_terms_from_page_url_site_search() -> None:
    terms = terms_from_page_url("https://example.com/search?q=Red+Shoes", DEFAULT_QUERY_PARAMS)
    assert terms == [SearchTerm("red shoes", "site")]


def test_terms_from_page_url_first_non_empty_configured_param() -> None:
    url = "https://example.com/?page=2&s=&query=%20&keywords=Blue%20Hat&q=other"
    assert terms_from_page_url(url, DEFAULT_QUERY_PARAMS) == [SearchTerm("blue hat", "site")]


def test_terms_from_page_url_only_configured_params() -> None:
    url = "https://example.com/?q=shoes&find=hats"
    assert terms_from_page_url(url, ["find"]) == [SearchTerm("hats", "site")]
    assert terms_from_page_url(url, []) == []


def test_terms_from_page_url_param_names_case_insensitive() -> None:
    assert terms_from_page_url("https://example.com/?Q=tea", ["q"]) == [SearchTerm("tea", "site")]


def test_terms_from_page_url_utm_term() -> None:
    url = "https://example.com/?utm_source=ads&utm_term=Running%20Shoes"
    assert terms_from_page_url(url, DEFAULT_QUERY_PARAMS) == [
        SearchTerm("running shoes", "utm_term")
    ]


def test_terms_from_page_url_site_and_utm_term() -> None:
    url = "https://example.com/?utm_term=boots&q=sandals"
    assert terms_from_page_url(url, DEFAULT_QUERY_PARAMS) == [
        SearchTerm("sandals", "site"),
        SearchTerm("boots", "utm_term"),
    ]


def test_terms_from_page_url_redacts() -> None:
    url = "https://example.com/?q=ann%40example.com&utm_term=4111111111111111"
    assert terms_from_page_url(url, DEFAULT_QUERY_PARAMS) == [
        SearchTerm("[email]", "site"),
        SearchTerm("[card]", "utm_term"),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://example.com/?q=",
        "https://example.com/?q=%00%00&utm_term=+",
        "https://example.com/#q=hidden",
        "http://[broken/?q=x",
    ],
)
def test_terms_from_page_url_nothing(url: str) -> None:
    assert terms_from_page_url(url, DEFAULT_QUERY_PARAMS) == []


# --- referrer_search / search_engine ------------------------------------------------------


@pytest.mark.parametrize(
    ("referrer", "engine", "term"),
    [
        ("https://www.bing.com/search?q=Heedful+Analytics&form=QBLH", "Bing", "heedful analytics"),
        ("https://bing.com/search/?q=tea", "Bing", "tea"),
        ("https://search.yahoo.com/search?p=green+tea&fr=yfp", "Yahoo", "green tea"),
        ("https://uk.search.yahoo.com/search;_ylt=AwrA?p=oolong", "Yahoo", "oolong"),
        ("https://yandex.ru/search/?text=%D1%87%D0%B0%D0%B9&lr=213", "Yandex", "чай"),
        ("https://yandex.com.tr/search/?text=%C3%87ay", "Yandex", "çay"),
        ("https://www.yandex.com/search?text=matcha", "Yandex", "matcha"),
        ("https://www.baidu.com/s?ie=utf-8&wd=%E8%8C%B6", "Baidu", "茶"),
        ("https://m.baidu.com/s?word=puer", "Baidu", "puer"),
        ("https://www.ecosia.org/search?method=index&q=rooibos", "Ecosia", "rooibos"),
        ("https://www.qwant.com/?q=sencha&t=web", "Qwant", "sencha"),
        ("https://duckduckgo.com/?q=Earl+Grey&ia=web", "DuckDuckGo", "earl grey"),
        ("https://html.duckduckgo.com/html/?q=chai", "DuckDuckGo", "chai"),
        ("https://lite.duckduckgo.com/lite/?q=mate", "DuckDuckGo", "mate"),
    ],
)
def test_referrer_search_engines(referrer: str, engine: str, term: str) -> None:
    found = referrer_search(referrer)
    assert found is not None and found.term == SearchTerm(term, "referrer")
    assert search_engine(referrer) == engine
    assert found.engine == engine
    # The parameter the engine used, so the stored referrer keeps that parameter alone.
    assert found.param in parse_qs(urlsplit(referrer).query)


@pytest.mark.parametrize(
    "referrer",
    [
        "https://www.google.com/",
        "https://www.google.co.uk/",
        "https://www.google.com/search?q=leaked",
    ],
)
def test_referrer_search_google_gives_none(referrer: str) -> None:
    assert referrer_search(referrer) is None
    assert search_engine(referrer) == "Google"


@pytest.mark.parametrize(
    "referrer",
    [
        None,
        "",
        "https://www.bing.com/",
        "https://www.bing.com/search",
        "https://www.bing.com/search?q=",
        "https://www.bing.com/search?form=QBLH",
        "https://www.bing.com/maps?q=paris",
        "https://search.yahoo.com/search?q=wrong-param",
        "https://yandex.ru/search/?q=wrong-param",
        "https://www.baidu.com/link?wd=tea",
        "https://duckduckgo.com/about?q=tea",
        "https://notbing.com/search?q=tea",
        "https://bing.com.evil.net/search?q=tea",
        "https://example.com/search?q=tea",
        "ftp://www.bing.com/search?q=tea",
        "not a url",
    ],
)
def test_referrer_search_none(referrer: str | None) -> None:
    assert referrer_search(referrer) is None


def test_referrer_search_redacts() -> None:
    found = referrer_search("https://www.bing.com/search?q=ann%40example.com+555-123-4567")
    assert found is not None and found.term == SearchTerm("[email] [phone]", "referrer")


def test_referrer_search_invisible_only_query_gives_none() -> None:
    assert referrer_search("https://duckduckgo.com/?q=%E2%80%8B") is None


@pytest.mark.parametrize(
    "referrer",
    [
        None,
        "",
        "https://example.com/",
        "https://mail.google.com/mail/u/0/",
        "https://notbing.com/",
        "https://yahoo.com/",
        "https://yandex.evil.example.com/",
        "android-app://com.google.android.gm",
    ],
)
def test_search_engine_none(referrer: str | None) -> None:
    assert search_engine(referrer) is None


def test_search_engine_without_query() -> None:
    assert search_engine("https://www.bing.com/") == "Bing"
    assert search_engine("https://yandex.ru/") == "Yandex"
    assert search_engine("https://www.ecosia.org/") == "Ecosia"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/search?q=Red+Shoes",
        "https://example.com/?q=&search=tea&utm_term=Spring%20Sale",
        "https://example.com/?Q=tea&q=coffee",
        "https://example.com/?page=2",
    ],
)
def test_terms_from_query_match_terms_from_page_url(url: str) -> None:
    from urllib.parse import parse_qsl, urlsplit

    params = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    assert terms_from_query(params, DEFAULT_QUERY_PARAMS) == terms_from_page_url(
        url, DEFAULT_QUERY_PARAMS
    )
