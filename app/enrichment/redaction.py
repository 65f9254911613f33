"""Redaction of personal data from free text before it is stored (invariant 2).

One step for every free-text value the collector keeps (path segments, kept query values,
titles, targets, search terms): emails, user-agent strings, IPv4 and IPv6 literals,
payment cards (Luhn), phone numbers and runs of ``LONG_NUMBER_DIGITS`` or more digits
become ``[email]``, ``[user-agent]``, ``[ip]``, ``[card]``, ``[phone]`` and ``[number]``.

URL parts are judged on their percent-decoded form too (decoded until it no longer
changes, since double encoding is a cheap way past a single decode), and on a folded
form (format characters dropped, NFKC, whitespace collapsed), the same folding search
terms get, so no stored column keeps what the search term beside it redacted. A value
that is clean in every form is kept exactly as sent; one that is not is stored as the
redacted decoded text, re-encoded for its place in the URL. A URL is then read whole, as
the suite's audit reads a column, for an email split across its parts (``redact_url``).
Most values hold nothing any pattern needs (no "@", "/", escape, six digits, ...) and are
passed by one precompiled check; the collector caches results per distinct URL and title.

Each part is re-encoded the way a browser sends it: path segments with WHATWG's path
percent-encode set, which leaves ``[`` and ``]`` alone, so a path reads ``/u/[email]``;
query values as ``application/x-www-form-urlencoded``, where the brackets become
``%5B``/``%5D`` (``q=%5Bemail%5D``, as the referrer's engine query was stored already).

Thresholds: a digit run of ``LONG_NUMBER_DIGITS`` (6) or more is a number that can name a
person (customer and order numbers, one-time codes, unseparated phone numbers, dates of
birth as 19900101); five digits and fewer (years, postcodes, product and page ids such as
``/products/12345``) are kept. Dates, years and version strings of up to three parts
(``v1.2.3``) stay; four dotted parts each up to 255 are an IPv4 address, version or not.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, unquote, unquote_plus, urlencode

EMAIL = "[email]"
USER_AGENT = "[user-agent]"
IP = "[ip]"
CARD = "[card]"
PHONE = "[phone]"
NUMBER = "[number]"
# A value still percent-encoded after MAX_DECODE_ROUNDS decodings says nothing a report
# needs and cannot be judged: it is replaced whole.
ENCODED = "[encoded]"
# A query part that reads as personal data only as stored (see ``redact_url``).
REDACTED = "[redacted]"
MAX_DECODE_ROUNDS = 8
LONG_NUMBER_DIGITS = 6

# What every pattern below needs: emails "@", user agents "/" or "MSOffice", IPv6 two
# colons, IPv4 three dots, long numbers six digits (phones seven, cards thirteen). A text
# without any of these cannot match, which spares the regexes on most values.
_PATTERNS_NEED = r"[@/]|:[^:]*:|\.[^.]*\.[^.]*\.|\d(?:\D*\d){5}|(?i:msoffice)"
_TRIGGER = re.compile(_PATTERNS_NEED)
# An ASCII value as sent can also hide one behind an escape or a control character.
_RAW_TRIGGER = re.compile(_PATTERNS_NEED + r"|%[0-9A-Fa-f]{2}|[\x00-\x1f\x7f]")
_UA_GATE = re.compile(r"/|msoffice", re.IGNORECASE)
_SIX_DIGITS = re.compile(r"\d(?:\D*\d){5}")

# Product names of browsers, engines and mail clients (and every marker the suite's audit
# looks for); a known name followed by "/" starts a user-agent string, however it goes on.
_UA_NAMES = (
    r"(?:mozilla|applewebkit|gecko|chrome|chromium|safari|firefox|opera|presto|trident"
    r"|crios|fxios|edgios|edga|samsungbrowser|ucbrowser|yabrowser|vivaldi|dalvik"
    r"|\bopr|\bedge?|\bmsie)/[\w.+-]*"
)
# Any other "name/1.2 (platform; details)" is a user agent too: the ";"-separated comment
# after a product version is the user-agent shape.
_UA_GENERIC = r"(?<![\w.!+-])[A-Za-z][\w.!+-]*/\d[\w.+-]*\s*\([^()]{0,300};[^()]{0,300}\)"
_UA_PART = r"(?:[A-Za-z][\w.!+-]*/[\w.+-]*|\([^()]{0,300}\)|mobile\b)"
_UA_RE = re.compile(
    rf"(?:{_UA_NAMES}|{_UA_GENERIC}|msoffice[\w.+/-]*)(?:\s*{_UA_PART})*", re.IGNORECASE
)

_LOCAL_CHAR = r"[\w.+'%!#$&*=?^{|}~-]"
# Ideographic and full-width dots are included because browsers accept them in domain names.
_DOT = r"[.\u3002\uff0e\uff61]"
# The local part may be empty so that a bare "@domain.tld" is redacted too; the lookbehind
# makes each local part start once, keeping the scan linear. A local part run on from the
# previous email ("a@b.com+c@d.com") is left to the loose pattern, which takes it whole.
_EMAIL_RE = re.compile(rf"(?<!{_LOCAL_CHAR}){_LOCAL_CHAR}*@[\w-]+(?:{_DOT}[\w-]+)+")
# The widest reading ("anything@anything.tld", as the suite's audit reads it) catches what
# the precise pattern leaves, such as "jane@example/.com".
# The lookbehind starts each try at the start of a run, keeping the scan linear.
_LOOSE_EMAIL_RE = re.compile(r"(?<![^\s@\"',;<>])[^\s@\"',;<>]+@[^\s@\"',;<>]+\.[A-Za-z]{2,}")


# Runs of hex digits, colons and dots are cut and checked as the audit cuts them, then
# parsed: ``ipaddress`` decides what an address is, for IPv6 and IPv4-in-IPv6 alike.
_IP_TOKEN_RE = re.compile(r"[0-9A-Fa-f:.]{3,45}")
# Dotted quads in any context ("v1.2.3.4", "a:10.0.0.1"); octets are checked in code.
_IPV4_RE = re.compile(r"(?<!\d)\d{1,3}(?:\.\d{1,3}){3}(?!\d|\.\d)")

# A leading "+" marks an international phone number, however Luhn-valid its digits are.
_CARD_RE = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,18}(?!\d)")
_PHONE_RE = re.compile(r"[+(]?\d[\d ().-]*\d\)?")
_DIGIT_GROUP_RE = re.compile(r"\d+")
_LONG_NUMBER_RE = re.compile(rf"\d{{{LONG_NUMBER_DIGITS},}}")
_MIN_PHONE_DIGITS = 7

# WHATWG's path percent-encode set, plus "%" and "/" (a decoded "/" must not split the
# segment) and "\" (which special URLs read as "/").
_PATH_SAFE = "!$&'()*+,;=:@[]|^~"


def redact(text: str) -> str:
    """Replace personal data in plain ``text`` with placeholders; other text is unchanged."""
    for _ in range(3):
        # A replacement can join what was apart ("a@b.c" + "+44 20 7946 0958x.com" reads
        # as one email once the phone is "[phone]"): passes repeat until nothing changes.
        if not _TRIGGER.search(text):
            break
        redacted = _redact_once(text)
        if redacted == text:
            break
        text = redacted
    return text


def _redact_once(text: str) -> str:
    # User agents first: their versions look like addresses and numbers. Emails before
    # numbers because they may contain digits; addresses before phones, which would take
    # "192.168.100.200"; cards before phones because a spaced card also looks like one.
    # Each step runs only when the text has what its pattern needs.
    if _UA_GATE.search(text):
        text = _UA_RE.sub(USER_AGENT, text)
    for _ in range(3):
        # Each pass can leave an "@" run on from the email before it ("a@b.coc@d.com").
        if "@" not in text:
            break
        redacted = _LOOSE_EMAIL_RE.sub(EMAIL, _EMAIL_RE.sub(EMAIL, text))
        if redacted == text:
            break
        text = redacted
    text = _redact_ip_tokens(text)
    if text.count(".") >= 3:
        text = _IPV4_RE.sub(_redact_ipv4, text)
    if _SIX_DIGITS.search(text):
        text = _CARD_RE.sub(_redact_card, text)
        text = _PHONE_RE.sub(_redact_phone, text)
        text = _LONG_NUMBER_RE.sub(NUMBER, text)
    # A number taken out of a longer hex-and-colon run can leave a valid IPv6 behind.
    return _redact_ip_tokens(text)


def is_clean(text: str) -> bool:
    """True when ``text`` holds nothing ``redact`` would replace."""
    return not _TRIGGER.search(text) or redact(text) == text


def spells_address(host: str) -> bool:
    """True when a host name holds an IP address, as "10.0.0.1.nip.io" does."""
    if host.count(".") < 3 and host.count(":") < 2:
        return False
    return _redact_ip_tokens(host) != host or _IPV4_RE.sub(_redact_ipv4, host) != host


def redact_text(text: str, *, plus_is_space: bool = False) -> str:
    """``text`` as sent when it is clean decoded and folded too; else the redacted view.

    For values that may carry percent-encoding (titles, query values as ``parse_qsl``
    gives them); ``plus_is_space`` reads "+" as a space, as query strings do.
    """
    if text.isascii() and not _RAW_TRIGGER.search(text):
        return text
    view = _view(text, plus_is_space)
    if view is None:
        return ENCODED
    if (
        is_clean(view)
        and (view.isascii() or is_clean(view.casefold()))
        and (view == text or _clean_as_sent_and_decoded(text, plus_is_space))
    ):
        return text
    redacted = redact(view)
    # Casefolding, as search terms get, can make ASCII letters ("ß" to "ss", a TLD).
    if not redacted.isascii() and not is_clean(redacted.casefold()):
        redacted = redact(redacted.casefold())
    return redacted


def redact_path(path: str) -> str:
    """``path`` with each segment run through ``redact_text`` and re-encoded if changed."""
    if path.isascii() and not _RAW_TRIGGER.search(path.replace("/", "")):
        return path
    segments = path.split("/")
    for index, segment in enumerate(segments):
        kept = redact_text(segment)
        if kept != segment:
            segments[index] = _path_segment(kept)
    return "/".join(segments)


def redact_url(
    netloc: str, path: str, params: Iterable[tuple[str, str]]
) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """Redacted path, query parameters (as ``parse_qsl`` gives them) and query string.

    Each part is redacted on its own, then the URL is read whole, as the audit reads a
    column: an "@" in one part and a domain in the next ("/jane.doe@example/.com",
    "q=jane@&utm_source=example.com") make the parts holding an "@" "[email]".
    """
    path = redact_path(path)
    kept = tuple((redact_query_value(name), redact_query_value(value)) for name, value in params)
    query = urlencode(kept)
    whole = f"//{netloc}{path}?{query}"
    # Emails are the one pattern that reaches across "/", "?", "=" and "&".
    if any("@" in form and _LOOSE_EMAIL_RE.search(form) for form in _forms(whole)):
        path = "/".join(EMAIL if _has_at(part) else part for part in path.split("/"))
        kept = tuple((_no_at(name), _no_at(value)) for name, value in kept)
        query = urlencode(kept)
    # A segment is re-encoded clean by ``redact_path``; a query value can still be unclean
    # as stored: the digits of an escape reading as part of an address ("%21.1.2.3").
    if not _clean_in_every_form(query):
        kept = tuple(
            (
                _stored_part(name, urlencode([(name, "")])),
                _stored_part(value, urlencode([("", value)])),
            )
            for name, value in kept
        )
        query = urlencode(kept)
    return path, kept, query


def redact_query_value(value: str) -> str:
    """A query value (or name) as ``parse_qsl`` decoded it, redacted for re-encoding.

    Judged with "+" read both ways: stored form-encoded, a space comes back as "+", which
    a reader may take literally ("::@+example.com" reads as an email then).
    """
    value = redact_text(value, plus_is_space=True)
    for _ in range(3):
        literal = value.replace(" ", "+")
        redacted = redact_text(literal)
        if redacted == literal:
            break
        value = redacted
    return value


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


def _view(text: str, plus_is_space: bool) -> str | None:
    """Decoded until stable, then folded; None when still encoded after the bound."""
    decode = unquote_plus if plus_is_space else unquote
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = decode(text, errors="replace")
        # NFKC can make a "%" of a full-width "％", so decoding and folding go round together.
        folded = _fold(decoded)
        if folded == text:
            return text
        text = folded
    return None


def _clean_as_sent_and_decoded(text: str, plus_is_space: bool) -> bool:
    """Clean as sent, and decoded but not folded: a control character kept between two
    decoded "@" can make an email of what folding reads as none."""
    return is_clean(text) and is_clean(_decoded(text, plus_is_space))


def _decoded(text: str, plus_is_space: bool) -> str:
    """Percent-decoded until stable (at most MAX_DECODE_ROUNDS times), not folded."""
    decode = unquote_plus if plus_is_space else unquote
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = decode(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    return text


def _fold(text: str) -> str:
    """Format and control characters dropped, NFKC, whitespace collapsed (as search terms)."""
    if not text.isprintable():
        # Not printable: a control, format or private character, or a space other than " ".
        text = "".join(
            " " if char.isspace() else char
            for char in text
            if char.isspace() or unicodedata.category(char)[0] != "C"
        )
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


def _forms(stored: str) -> set[str]:
    """A stored value as sent and decoded, "+" read both ways (as the audit reads it)."""
    if "%" not in stored and "+" not in stored:
        return {stored}
    return {stored, _decoded(stored, False), _decoded(stored, True)}


def _clean_in_every_form(stored: str) -> bool:
    return all(is_clean(form) for form in _forms(stored))


def _stored_part(part: str, stored: str) -> str:
    return part if _clean_in_every_form(stored) else REDACTED


def _no_at(value: str) -> str:
    return EMAIL if _has_at(value) else value


def _has_at(part: str) -> bool:
    view = _view(part, False)
    return view is None or "@" in view or "@" in _decoded(part, True)


def _path_segment(text: str) -> str:
    segment = quote(text, safe=_PATH_SAFE, errors="replace")
    # An escape's own digits can read as part of an address ("%20" before ".1.2.3").
    return segment if is_clean(segment) else redact(segment)


def _redact_ip_tokens(text: str) -> str:
    for _ in range(3):
        if text.count(":") < 2 and text.count(".") < 3:
            break
        # A run that is no address can hold one once a neighbour is replaced ("1::2::e").
        redacted = _IP_TOKEN_RE.sub(_redact_ip_token, text)
        if redacted == text:
            break
        text = redacted
    return text


def _redact_ip_token(match: re.Match[str]) -> str:
    token = match.group()
    # Stripped as the audit strips, and with a leading "::" kept ("::1", "::ffff:10.0.0.1").
    for address in (token.strip(".:"), token.lstrip(".").rstrip(".:")):
        if address.count(".") != 3 and address.count(":") < 2:
            continue
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        start = token.index(address)
        return token[:start] + IP + token[start + len(address) :]
    return token


def _redact_ipv4(match: re.Match[str]) -> str:
    octets = match.group().split(".")
    return IP if all(int(octet) <= 255 for octet in octets) else match.group()


def _redact_card(match: re.Match[str]) -> str:
    digits = "".join(char for char in match.group() if char.isdecimal())
    return CARD if luhn_valid(digits) else match.group()


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
    return PHONE


def _only_years_and_small_numbers(groups: list[str]) -> bool:
    """Year ranges and dates ("2023-2024", "covid-19 2020", "12.05.2024") are not phones."""
    years = [group for group in groups if len(group) == 4 and group[:2] in ("19", "20")]
    return bool(years) and all(group in years or len(group) <= 2 for group in groups)
