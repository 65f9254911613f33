"""A site's settings with their defaults filled in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
