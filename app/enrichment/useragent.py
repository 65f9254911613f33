"""User-agent reduction: only coarse, low-entropy facts survive."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from user_agents import parse

MAX_UA_LENGTH = 512  # longer strings are abuse, not browsers; parse the prefix only

_HEADLESS_MARKERS = ("headlesschrome", "phantomjs", "puppeteer", "playwright", "selenium")


@dataclass(frozen=True, slots=True)
class ClientAgent:
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # desktop | mobile | tablet | bot | other
    is_bot: bool
    headless: bool


UNKNOWN_AGENT = ClientAgent("Other", "", "Other", "", "other", False, False)


def reduce_user_agent(user_agent: str | None) -> ClientAgent:
    """Reduce a user-agent string to browser family + major version, OS, device, bot flags."""
    if not user_agent:
        return UNKNOWN_AGENT
    return _reduce_cached(user_agent[:MAX_UA_LENGTH])


def forget_user_agents() -> None:
    """Empty the per-process cache of reduced user agents (``reset_process_state``)."""
    _reduce_cached.cache_clear()


@lru_cache(maxsize=8192)
def _reduce_cached(user_agent: str) -> ClientAgent:
    parsed = parse(user_agent)
    lowered = user_agent.lower()
    headless = any(marker in lowered for marker in _HEADLESS_MARKERS)
    if parsed.is_bot:
        device = "bot"
    elif parsed.is_tablet:
        device = "tablet"
    elif parsed.is_mobile:
        device = "mobile"
    elif parsed.is_pc:
        device = "desktop"
    else:
        device = "other"
    browser = parsed.browser.family or "Other"
    if headless and browser.lower().startswith("headless"):
        browser = browser.split(" ", 1)[-1] if " " in browser else "Chrome"
    major = parsed.browser.version[0] if parsed.browser.version else ""
    os_version = ".".join(str(p) for p in parsed.os.version[:2]) if parsed.os.version else ""
    return ClientAgent(
        browser=browser[:64],
        browser_version=str(major)[:16],
        os=(parsed.os.family or "Other")[:64],
        os_version=os_version[:16],
        device=device,
        is_bot=bool(parsed.is_bot),
        headless=headless,
    )
