"""Tests for app.collection.urls: page URL cleaning, host matching, referrers, downloads."""

import pytest

from app.collection.urls import (
    UrlError,
    clean_page_url,
    clean_referrer,
    is_download,
    parse_page_url,
    url_host,
)
from app.sites.origins import host_belongs
from app.sites.settings import DEFAULT_DOWNLOAD_EXTENSIONS, DEFAULT_QUERY_PARAMS

NO_PARAMS: frozenset[str] = frozenset()


# --- clean_page_url --------------------------------------------------------------------------


def test_clean_page_url_keeps_scheme_host_and_path() -> None:
    assert clean_page_url("https://example.com/a/b", allowed_params=NO_PARAMS) == (
        "https://example.com/a/b"
    )


def test_clean_page_url_lowercases_host_but_not_path() -> None:
    url = clean_page_url("HTTPS://WWW.Example.COM/About/Team", allowed_params=NO_PARAMS)
    assert url == "https://www.example.com/About/Team"


def test_clean_page_url_empty_path_becomes_root() -> None:
    assert clean_page_url("https://example.com", allowed_params=NO_PARAMS) == (
        "https://example.com/"
    )


def test_clean_page_url_drops_fragment() -> None:
    assert clean_page_url("https://example.com/faq#shipping", allowed_params=NO_PARAMS) == (
        "https://example.com/faq"
    )


def test_clean_page_url_drops_userinfo() -> None:
    assert clean_page_url("https://ann:secret@example.com/", allowed_params=NO_PARAMS) == (
        "https://example.com/"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("http://example.com:443/x", "http://example.com:443/x"),
        ("http://localhost:5000/", "http://localhost:5000/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_clean_page_url_keeps_only_non_default_ports(url: str, expected: str) -> None:
    assert clean_page_url(url, allowed_params=NO_PARAMS) == expected


def test_clean_page_url_drops_unlisted_params() -> None:
    url = "https://example.com/p?session=abc&email=ann%40example.com&id=7"
    assert clean_page_url(url, allowed_params=NO_PARAMS) == "https://example.com/p"


def test_clean_page_url_keeps_allowed_params_in_order() -> None:
    url = "https://example.com/p?page=2&token=x&q=red+shoes&sort=price"
    cleaned = clean_page_url(url, allowed_params={"q", "page", "sort"})
    assert cleaned == "https://example.com/p?page=2&q=red+shoes&sort=price"


def test_clean_page_url_keeps_utm_params() -> None:
    url = "https://example.com/?utm_source=news&fbclid=123&utm_medium=email&utm_campaign=may"
    cleaned = clean_page_url(url, allowed_params=NO_PARAMS)
    assert cleaned == "https://example.com/?utm_source=news&utm_medium=email&utm_campaign=may"


def test_clean_page_url_param_names_match_case_insensitively() -> None:
    url = "https://example.com/?Q=hats&UTM_Source=x&Other=1"
    assert clean_page_url(url, allowed_params={"q"}) == "https://example.com/?Q=hats&UTM_Source=x"


def test_clean_page_url_utm_prefix_must_be_a_prefix() -> None:
    url = "https://example.com/?xutm_source=1&utm=2"
    assert clean_page_url(url, allowed_params=NO_PARAMS) == "https://example.com/"


def test_clean_page_url_reencodes_values() -> None:
    url = "https://example.com/?q=caf%C3%A9 %26 cr%C3%A8me&x=1"
    cleaned = clean_page_url(url, allowed_params={"q"})
    assert cleaned == "https://example.com/?q=caf%C3%A9+%26+cr%C3%A8me"


def test_clean_page_url_keeps_blank_allowed_param() -> None:
    assert clean_page_url("https://example.com/?q=", allowed_params={"q"}) == (
        "https://example.com/?q="
    )


def test_clean_page_url_accepts_default_query_params() -> None:
    url = "https://example.com/search?keywords=tea&ref=x"
    assert clean_page_url(url, allowed_params=DEFAULT_QUERY_PARAMS) == (
        "https://example.com/search?keywords=tea"
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "javascript:alert(1)",
        "mailto:ann@example.com",
        "file:///etc/passwd",
        "data:text/html,hello",
        "/relative/path",
        "example.com/no-scheme",
        "",
    ],
)
def test_clean_page_url_rejects_non_http(url: str) -> None:
    with pytest.raises(ValueError):
        clean_page_url(url, allowed_params=NO_PARAMS)


@pytest.mark.parametrize("url", ["https://", "http:///path", "https://:8080/"])
def test_clean_page_url_rejects_missing_host(url: str) -> None:
    with pytest.raises(ValueError):
        clean_page_url(url, allowed_params=NO_PARAMS)


def test_clean_page_url_rejects_invalid_port() -> None:
    with pytest.raises(ValueError):
        clean_page_url("https://example.com:99999/", allowed_params=NO_PARAMS)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "scheme"),
        ("https:///path", "host"),
        ("https://example.com:99999/", "port"),
    ],
)
def test_parse_page_url_says_why_a_url_is_refused(url: str, reason: str) -> None:
    with pytest.raises(UrlError) as refused:
        parse_page_url(url, allowed_params=NO_PARAMS)
    assert refused.value.reason == reason


def test_parse_page_url_parts_agree_with_the_cleaned_url() -> None:
    page = parse_page_url(
        " https://ann:pw@Shop.Example.COM.:8443//a/b?q=hats&token=s3cret&utm_term=x#top",
        allowed_params={"q"},
    )
    assert page.host == "shop.example.com"
    assert page.netloc == "shop.example.com:8443"
    assert page.path == "//a/b"
    assert page.params == (("q", "hats"), ("utm_term", "x"))
    assert page.query == "q=hats&utm_term=x"
    assert page.url == "https://shop.example.com:8443//a/b?q=hats&utm_term=x"
    assert page.url == clean_page_url(page.url, allowed_params={"q"})


def test_parse_page_url_keeps_ipv6_hosts_bracketed_in_the_netloc_only() -> None:
    page = parse_page_url("http://[2001:db8::1]:8080/", allowed_params=NO_PARAMS)
    assert (page.host, page.netloc) == ("2001:db8::1", "[2001:db8::1]:8080")


# --- url_host --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://WWW.Example.com/x", "www.example.com"),
        ("http://example.com:8080/", "example.com"),
        ("https://example.com./", "example.com"),
        ("http://[2001:DB8::1]/", "2001:db8::1"),
        ("/just/a/path", None),
        ("not a url", None),
        ("", None),
        ("http://[broken/", None),
    ],
)
def test_url_host(url: str, expected: str | None) -> None:
    assert url_host(url) == expected


# --- host_belongs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["example.com", "www.example.com", "shop.eu.example.com", "EXAMPLE.com", "example.com."],
)
def test_host_belongs_exact_and_subdomains(host: str) -> None:
    assert host_belongs(host, ["example.com"])


@pytest.mark.parametrize(
    "host",
    ["badexample.com", "example.com.evil.net", "example.org", "com", "", "xample.com"],
)
def test_host_belongs_rejects_look_alikes(host: str) -> None:
    assert not host_belongs(host, ["example.com"])


def test_host_belongs_ignores_ports() -> None:
    assert host_belongs("www.example.com:8443", ["example.com"])
    assert host_belongs("example.com", ["example.com:443"])
    assert host_belongs("[::1]:8080", ["::1"])


def test_host_belongs_any_of_several_domains() -> None:
    assert host_belongs("blog.example.org", ["example.com", "example.org"])
    assert not host_belongs("blog.example.net", ["example.com", "example.org"])


def test_host_belongs_domain_is_not_subdomain_of_its_subdomain() -> None:
    assert not host_belongs("example.com", ["www.example.com"])


def test_host_belongs_no_domains_or_blank_domains() -> None:
    assert not host_belongs("example.com", [])
    assert not host_belongs("example.com", ["", " "])


# --- clean_referrer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.Google.com/search?q=secret", "https://www.google.com"),
        ("http://blog.example.org/posts/1?utm_source=x#top", "http://blog.example.org"),
        ("https://user:pw@example.com/private", "https://example.com"),
        ("https://example.com:8443/a", "https://example.com"),
    ],
)
def test_clean_referrer_keeps_only_scheme_and_host(url: str, expected: str) -> None:
    assert clean_referrer(url) == expected


@pytest.mark.parametrize(
    "url",
    [None, "", "android-app://com.google.android.gm", "about:blank", "/relative", "https://"],
)
def test_clean_referrer_empty_or_invalid(url: str | None) -> None:
    assert clean_referrer(url) is None


# --- defaults and download detection ---------------------------------------------------------


def test_default_query_params() -> None:
    expected = ["k", "keyword", "keywords", "q", "query", "s", "search", "searchword"]
    assert sorted(DEFAULT_QUERY_PARAMS) == expected
    assert isinstance(DEFAULT_QUERY_PARAMS, frozenset)


def test_default_download_extensions_cover_common_types() -> None:
    assert 25 <= len(DEFAULT_DOWNLOAD_EXTENSIONS) <= 40
    assert len(set(DEFAULT_DOWNLOAD_EXTENSIONS)) == len(DEFAULT_DOWNLOAD_EXTENSIONS)
    for ext in ("pdf", "zip", "docx", "xlsx", "csv", "mp3", "mp4", "dmg", "exe"):
        assert ext in DEFAULT_DOWNLOAD_EXTENSIONS


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/files/report.pdf",
        "https://example.com/files/REPORT.PDF",
        "https://example.com/dl/app-1.2.3.dmg?v=2#x",
        "https://example.com/archive.tar.gz",
        "https://example.com/My%20Slides.pptx",
        "https://example.com/data.csv;jsessionid=abc",
    ],
)
def test_is_download_true(url: str) -> None:
    assert is_download(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://example.com/about",
        "https://example.com/index.html",
        "https://example.com/pdf",
        "https://example.com/files.pdf/",
        "https://example.com/.zip",
        "https://example.com/page?file=report.pdf",
        "https://example.com/page#report.pdf",
        "http://[broken/",
    ],
)
def test_is_download_false(url: str) -> None:
    assert not is_download(url)


def test_is_download_custom_extensions() -> None:
    assert is_download("https://example.com/model.stl", extensions=["stl", ".obj"])
    assert is_download("https://example.com/model.obj", extensions=["stl", ".obj"])
    assert not is_download("https://example.com/report.pdf", extensions=["stl"])
