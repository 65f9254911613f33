"""Search-term extraction, normalisation and redaction of personal data."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from .urls import host_belongs, url_host

MAX_TERM_LENGTH = 200
# Bounds the per-character and regex work spent on hostile input; far above any real query.
_MAX_INPUT_LENGTH = 2000

TermSource = Literal["site", "utm_term", "referrer"]

_LOCAL_CHAR = r"[\w.+'%!#$&*=?^{|}~-]"
# Ideographic and full-width dots are included because browsers accept them in domain names.
_DOT = r"[.\u3002\uff0e\uff61]"
# The local part is optional so that a bare "@domain.tld" is redacted too; the lookbehind
# makes each local part start once, keeping the scan linear.
_EMAIL_RE = re.compile(rf"(?:(?<!{_LOCAL_CHAR}){_LOCAL_CHAR}+)?@[\w-]+(?:{_DOT}[\w-]+)+")
# A leading "+" marks an international phone number, however Luhn-valid its digits are.
_CARD_RE = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,18}(?!\d)")
_PHONE_RE = re.compile(r"[+(]?\d[\d ().-]*\d\)?")
_DIGIT_GROUP_RE = re.compile(r"\d+")
_LONG_NUMBER_RE = re.compile(r"\d{6,}")
_MIN_PHONE_DIGITS = 7


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """A normalised, redacted search term and where it was found."""

    term: str
    source: TermSource


@dataclass(frozen=True, slots=True)
class _Engine:
    name: str
    domains: tuple[str, ...]  # matched as host suffixes
    brand: str | None  # matched as brand.<tld>, e.g. yandex.ru or yandex.com.tr
    paths: frozenset[str]  # without trailing slash; "" is the root
    params: tuple[str, ...]


_ENGINES: tuple[_Engine, ...] = (
    _Engine("Bing", ("bing.com",), None, frozenset({"/search"}), ("q",)),
    _Engine("Yahoo", ("search.yahoo.com",), None, frozenset({"/search"}), ("p",)),
    _Engine("Yandex", ("ya.ru",), "yandex", frozenset({"/search"}), ("text",)),
    _Engine("Baidu", ("baidu.com",), None, frozenset({"/s"}), ("wd", "word")),
    _Engine("Ecosia", ("ecosia.org",), None, frozenset({"/search"}), ("q",)),
    _Engine("Qwant", ("qwant.com",), None, frozenset({""}), ("q",)),
    _Engine("DuckDuckGo", ("duckduckgo.com",), None, frozenset({"", "/html", "/lite"}), ("q",)),
    # Google no longer sends the query, but naming the engine still attributes the visit.
    _Engine("Google", (), "google", frozenset(), ()),
)


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (decimal digits only) passes the Luhn checksum."""
    if not digits or not digits.isdecimal():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def redact(term: str) -> str:
    """Replace emails, payment cards, phone numbers and long digit runs with placeholders."""
    # Emails first because they may contain digits; cards before phones because a spaced
    # card number also looks like a phone number; long runs last as the catch-all.
    term = _EMAIL_RE.sub("[email]", term)
    term = _CARD_RE.sub(_redact_card, term)
    term = _PHONE_RE.sub(_redact_phone, term)
    return _LONG_NUMBER_RE.sub("[number]", term)


def normalise_term(raw: str) -> str | None:
    """NFKC-normalise, casefold, strip control characters, collapse whitespace and redact.

    The result is at most MAX_TERM_LENGTH characters; None when nothing remains.
    """
    truncated = len(raw) > _MAX_INPUT_LENGTH
    text = raw[:_MAX_INPUT_LENGTH]
    # Invisible format characters (zero-width space, bidi marks) are dropped before matching
    # so they cannot be used to slip an email or number past redaction.
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char)[0] != "C"
    )
    # Casefolding can produce decomposed sequences; the second NFKC makes the result stable.
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    text = " ".join(text.split())
    if truncated:
        # The cut may have split an email or number so redaction would miss it: drop that word.
        text = text.rpartition(" ")[0]
    # Redact before capping, since the cap could likewise split personal data.
    text = redact(text)[:MAX_TERM_LENGTH].strip()
    return text or None


def terms_from_page_url(url: str, search_params: Iterable[str]) -> list[SearchTerm]:
    """Site-search term (first non-empty configured parameter) and ``utm_term`` of a page URL."""
    try:
        query = urlsplit(url.strip()).query
    except ValueError:
        return []
    return terms_from_query(parse_qsl(query), search_params)


def terms_from_query(
    params: Iterable[tuple[str, str]], search_params: Iterable[str]
) -> list[SearchTerm]:
    """Like ``terms_from_page_url``, from a page's already parsed query parameters."""
    wanted = {name.casefold() for name in search_params}
    site: str | None = None
    utm: str | None = None
    for name, value in params:
        key = name.casefold()
        if site is None and key in wanted:
            site = normalise_term(value)
        if utm is None and key == "utm_term":
            utm = normalise_term(value)
    terms: list[SearchTerm] = []
    if site is not None:
        terms.append(SearchTerm(site, "site"))
    if utm is not None:
        terms.append(SearchTerm(utm, "utm_term"))
    return terms


def search_engine(referrer: str | None) -> str | None:
    """Name of the search engine ``referrer`` points at, or None."""
    host = url_host(referrer) if referrer else None
    engine = _engine_for_host(host) if host else None
    return engine.name if engine else None


@dataclass(frozen=True, slots=True)
class ReferrerSearch:
    """The query a search-engine referrer still carries: engine, parameter and term."""

    engine: str
    param: str
    term: SearchTerm


def referrer_search(referrer: str | None) -> ReferrerSearch | None:
    """The engine, parameter and normalised term of a search-engine referrer, or None."""
    if not referrer:
        return None
    try:
        parts = urlsplit(referrer.strip())
    except ValueError:
        return None
    host = url_host(referrer)
    if parts.scheme not in ("http", "https") or host is None:
        return None
    engine = _engine_for_host(host)
    if engine is None:
        return None
    # Yahoo appends ";_ylt=..." tracking segments to its result path.
    path = parts.path.split(";", 1)[0].rstrip("/")
    if path not in engine.paths:
        return None
    for name, value in parse_qsl(parts.query):
        if name in engine.params and (term := normalise_term(value)):
            return ReferrerSearch(engine.name, name, SearchTerm(term, "referrer"))
    return None


def _engine_for_host(host: str) -> _Engine | None:
    for engine in _ENGINES:
        if host_belongs(host, engine.domains):
            return engine
        if engine.brand and _is_brand_host(host, engine.brand):
            return engine
    return None


def _is_brand_host(host: str, brand: str) -> bool:
    """True for ``brand.<tld>``, ``brand.com.<cc>`` or ``brand.co.<cc>``, optionally www/m."""
    labels = host.split(".")
    if brand not in labels:
        return False
    index = labels.index(brand)
    # Other subdomains (mail.google.com, docs.google.com) are products, not search.
    if labels[:index] not in ([], ["www"], ["m"]):
        return False
    suffix = labels[index + 1 :]
    return len(suffix) == 1 or (len(suffix) == 2 and suffix[0] in ("com", "co"))


def _redact_card(match: re.Match[str]) -> str:
    digits = "".join(char for char in match.group() if char.isdecimal())
    return "[card]" if luhn_valid(digits) else match.group()


def _redact_phone(match: re.Match[str]) -> str:
    candidate = match.group()
    groups = _DIGIT_GROUP_RE.findall(candidate)
    if sum(len(group) for group in groups) < _MIN_PHONE_DIGITS:
        return candidate
    # Unseparated runs are left to the generic "[number]" rule.
    if len(groups) == 1 and not candidate.startswith(("+", "(")):
        return candidate
    if not candidate.startswith("+") and _only_years_and_small_numbers(groups):
        return candidate
    return "[phone]"


def _only_years_and_small_numbers(groups: list[str]) -> bool:
    """Year ranges and dates ("2023-2024", "covid-19 2020", "12.05.2024") are not phones."""
    years = [group for group in groups if len(group) == 4 and group[:2] in ("19", "20")]
    return bool(years) and all(group in years or len(group) <= 2 for group in groups)
