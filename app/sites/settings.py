"""A site's settings with their defaults filled in, and the checks they must pass."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_QUERY_PARAMS: frozenset[str] = frozenset(
    {"q", "query", "s", "search", "searchword", "k", "keyword", "keywords"}
)

DEFAULT_DOWNLOAD_EXTENSIONS: tuple[str, ...] = (
    # documents
    "pdf",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
    "odt",
    "ods",
    "rtf",
    "csv",
    "epub",
    # archives
    "zip",
    "rar",
    "7z",
    "gz",
    "tgz",
    "xz",
    "tar",
    # media
    "mp3",
    "wav",
    "mp4",
    "mov",
    "avi",
    "mkv",
    # installers and disk images
    "dmg",
    "exe",
    "msi",
    "pkg",
    "deb",
    "rpm",
    "apk",
    "iso",
)


@dataclass(frozen=True, slots=True)
class SiteRules:
    """A site's collection settings with the defaults filled in."""

    search_params: frozenset[str]
    allowed_params: frozenset[str]
    download_extensions: tuple[str, ...]

    @classmethod
    def of(cls, settings: dict[str, Any]) -> SiteRules:
        search = frozenset(_names(settings.get("search_params")) or DEFAULT_QUERY_PARAMS)
        extra = frozenset(_names(settings.get("query_params")))
        extensions = tuple(_names(settings.get("download_extensions")))
        return cls(search, search | extra, extensions or DEFAULT_DOWNLOAD_EXTENSIONS)


def _names(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    return [v.strip().lower() for v in value if isinstance(v, str) and v.strip()]


DEFAULT_TIMEZONE = "UTC"
DEFAULT_K = 10
# Below five people a published figure is too easy to tie to someone, whatever a site asks.
MIN_K = 5
MAX_K = 1000


def check_timezone(name: str) -> str:
    """``name`` when it is an IANA time zone this machine knows ("Europe/Berlin", "UTC")."""
    cleaned = (name or "").strip()
    if cleaned not in _known_zones():
        raise ValueError(f"unknown time zone {name!r}: give an IANA name like Europe/Berlin")
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
    return cleaned


def check_k(k: int) -> int:
    """``k`` when it is a whole number from MIN_K to MAX_K."""
    if isinstance(k, bool) or not isinstance(k, int) or not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be a whole number from {MIN_K} to {MAX_K}")
    return k


@cache
def _known_zones() -> frozenset[str]:
    # Read from the system's (or tzdata's) zone files once: it lists some 600 files.
    return frozenset(available_timezones()) | {"UTC"}
