"""Where a visit came from: its channel, referrer domain, search engine and campaign.

All are read from the visit's entry page view: its stored query (the ``utm_*`` tags, which
the collection allow-list keeps) and its stored referrer. A referrer on one of the site's
own domains is no referrer (navigation inside the site).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from app.collection.search_terms import search_engine
from app.collection.urls import url_host
from app.sites.origins import host_belongs

CHANNELS = ("direct", "search", "social", "email", "campaign", "referral")

# Registered domains (a subdomain matches too) of social networks and webmail front ends.
SOCIAL_DOMAINS = (
    "facebook.com", "fb.com", "fb.me", "instagram.com", "t.co", "twitter.com", "x.com",
    "linkedin.com", "lnkd.in", "reddit.com", "pinterest.com", "pin.it", "tiktok.com",
    "youtube.com", "youtu.be", "mastodon.social", "bsky.app", "threads.net", "tumblr.com",
    "vk.com", "xing.com", "news.ycombinator.com", "discord.com", "telegram.org", "t.me",
    "whatsapp.com", "snapchat.com", "quora.com", "medium.com",
)  # fmt: skip
WEBMAIL_DOMAINS = (
    "mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com",
    "mail.yahoo.com", "mail.proton.me", "mail.aol.com", "webmail.gmx.net", "navigator.gmx.net",
    "email.t-online.de", "mail.yandex.ru", "mail.zoho.com", "app.fastmail.com",
    "mail.ru", "web.de",
)  # fmt: skip
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "newsletter", "mail"})
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")


@dataclass(frozen=True, slots=True)
class Source:
    channel: str
    referrer: str | None  # the referring domain, without "www."
    search_engine: str | None
    campaign: str | None  # "source / medium / campaign", the tags present


def visit_source(query: str | None, referrer: str | None, own_domains: tuple[str, ...]) -> Source:
    """The source of a visit whose entry page had ``query`` and ``referrer`` (as stored)."""
    tags = _utm_tags(query)
    host = url_host(referrer) if referrer else None
    if host is not None and host_belongs(host, own_domains):
        host = referrer = None
    engine = search_engine(referrer) if referrer else None
    campaign = " / ".join(tags[key] for key in UTM_KEYS if tags.get(key)) or None
    return Source(
        channel=_channel(tags, host, engine),
        referrer=_domain(host) if host else None,
        search_engine=engine,
        campaign=campaign,
    )


_SOCIAL = frozenset(SOCIAL_DOMAINS)
_WEBMAIL = frozenset(WEBMAIL_DOMAINS)


def _under(host: str, domains: frozenset[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one: one set lookup per label."""
    labels = host.split(".")
    return any(".".join(labels[n:]) in domains for n in range(len(labels) - 1))


def _channel(tags: dict[str, str], host: str | None, engine: str | None) -> str:
    medium = tags.get("utm_medium", "").lower()
    if medium in EMAIL_MEDIUMS or (host is not None and _under(host, _WEBMAIL)):
        return "email"
    if any(tags.get(key) for key in UTM_KEYS):
        return "campaign"
    if engine is not None:
        return "search"
    if host is None:
        return "direct"
    if _under(host, _SOCIAL):
        return "social"
    return "referral"


def _utm_tags(query: str | None) -> dict[str, str]:
    if not query:
        return {}
    return {
        key: value.strip()[:100]
        for key, value in parse_qsl(query, keep_blank_values=False)
        if key in UTM_KEYS and value.strip()
    }


def _domain(host: str) -> str:
    return host[4:] if host.startswith("www.") else host
