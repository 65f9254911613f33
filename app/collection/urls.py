"""URL cleaning and classification for collected page views, referrers and downloads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from app.enrichment.redaction import redact_url
from app.sites.settings import DEFAULT_DOWNLOAD_EXTENSIONS

_WEB_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlError(ValueError):
    """Why a URL cannot be a page URL: ``reason`` is "scheme", "host" or "port"."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PageUrl:
    """A page URL reduced by ``parse_page_url``: no userinfo, fragment or unlisted query."""

    scheme: str
    host: str  # lowercased, without a trailing root dot or IPv6 brackets
    netloc: str
    path: str
    params: tuple[tuple[str, str], ...]  # the query parameters kept, in their order
    query: str

    @property
    def url(self) -> str:
        return urlunsplit((self.scheme, self.netloc, self.path, self.query, ""))


def parse_page_url(url: str, *, allowed_params: frozenset[str] | set[str]) -> PageUrl:
    """Reduce a page URL to scheme, host, port, path and allow-listed query parameters.

    The path's segments and the kept names and values go through the shared redaction
    step (``app.enrichment.redaction``), judged on their percent-decoded form.

    Parameters named in ``allowed_params`` or starting with ``utm_`` are kept (names compared
    case-insensitively, original order preserved); everything else, the fragment and any
    userinfo are dropped. Raises ``UrlError`` for non-http(s) URLs, URLs without a host and
    invalid ports.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in _WEB_SCHEMES:
        raise UrlError("scheme", f"not an http(s) URL: {url!r}")
    host = _hostname(parts.hostname)
    if host is None:
        raise UrlError("host", f"URL has no host: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlError("port", f"URL has an invalid port: {url!r}") from exc

    netloc = _netloc_host(host)
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        netloc = f"{netloc}:{port}"

    # Arbitrary query parameters routinely carry session tokens, emails and other personal
    # data, so only parameters the site owner explicitly allowed (plus campaign tags) survive.
    allowed = {name.casefold() for name in allowed_params}
    # What is kept is free text: names ("utm_" + anything) and values are redacted, so the
    # query column, the search terms and the target all hold the same redacted text.
    params = (
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name.casefold() in allowed or name.casefold().startswith("utm_")
    )
    # An empty path and "/" are the same page; normalising avoids splitting its statistics.
    path, kept, query = redact_url(netloc, parts.path or "/", params)
    return PageUrl(parts.scheme, host, netloc, path, kept, query)


def clean_page_url(url: str, *, allowed_params: frozenset[str] | set[str]) -> str:
    """``parse_page_url`` as text. Raises ValueError like it."""
    return parse_page_url(url, allowed_params=allowed_params).url


def url_host(url: str) -> str | None:
    """Lowercased hostname of ``url``, or None when it has none or cannot be parsed."""
    try:
        return _hostname(urlsplit(url.strip()).hostname)
    except ValueError:
        return None


def clean_referrer(url: str | None) -> str | None:
    """Reduce a referrer to ``scheme://host``, or None when empty or not an http(s) URL.

    The path and query are dropped because they can identify the visitor; the query a
    search engine passes is put back, normalised and redacted, by the collection service.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = _hostname(parts.hostname)
    except ValueError:
        return None
    if parts.scheme not in _WEB_SCHEMES or host is None:
        return None
    return f"{parts.scheme}://{_netloc_host(host)}"


def is_download(url: str, extensions: Iterable[str] = DEFAULT_DOWNLOAD_EXTENSIONS) -> bool:
    """True when the last path segment of ``url`` ends in one of ``extensions``."""
    try:
        path = urlsplit(url.strip()).path
    except ValueError:
        return False
    # Matrix parameters such as ";jsessionid=..." would otherwise hide the extension.
    name = unquote(path.rsplit("/", 1)[-1]).split(";", 1)[0]
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or not extension:
        return False
    wanted = {ext.lower().lstrip(".") for ext in extensions}
    return extension.lower() in wanted


def _hostname(hostname: str | None) -> str | None:
    """Normalise a parsed hostname; a trailing root dot names the same host."""
    if not hostname:
        return None
    return hostname.lower().rstrip(".") or None


def _netloc_host(host: str) -> str:
    """Host as it must appear in a netloc (IPv6 literals need brackets)."""
    return f"[{host}]" if ":" in host else host
