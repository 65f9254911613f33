"""Report parameters: the date range (site days, inclusive), filters, comparison, limit.

``parse_report_query`` is the one parser for the API and the dashboard; bad input raises a
400 ``ApiError`` whose message names the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from app.clock import utcnow
from app.errors import bad_request
from app.reporting.raw import local_day, month_end
from app.sites.snapshot import SiteSnapshot

PERIODS = ("day", "7d", "30d", "month", "12mo", "year", "all")
DIMENSIONS = (
    "page", "entry_page", "exit_page", "channel", "referrer", "search_engine", "campaign",
    "search_term", "country", "region", "city", "network", "browser", "os", "device",
    "download", "outbound",
)  # fmt: skip
METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration_s")
INTERVALS = ("hour", "day", "month")
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
MAX_RANGE_DAYS = 3653  # ten years
MAX_FILTERS = 10
MAX_FILTER_VALUE = 2048
# "all" starts here: no site has data from before Heedful existed.
ALL_SINCE = date(2020, 1, 1)


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> DateRange:
        """The range of the same length just before this one."""
        last = self.first - timedelta(days=1)
        return DateRange(last - timedelta(days=self.days - 1), last)

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


@dataclass(frozen=True)
class Filter:
    dimension: str
    value: str


@dataclass(frozen=True)
class ReportQuery:
    range: DateRange
    filters: tuple[Filter, ...] = ()
    compare: bool = False
    limit: int = DEFAULT_LIMIT


def parse_report_query(
    args: Mapping[str, str], site: SiteSnapshot, today: date | None = None
) -> ReportQuery:
    today = today or local_day(utcnow(), site.timezone)
    date_range = _range(args, today)
    compare = args.get("compare")
    if compare not in (None, "", "previous"):
        raise bad_request("compare must be 'previous'")
    return ReportQuery(
        range=date_range,
        filters=parse_filters(args.get("filters", "")),
        compare=compare == "previous",
        limit=_limit(args.get("limit")),
    )


def _range(args: Mapping[str, str], today: date) -> DateRange:
    if args.get("from") or args.get("to"):
        first = _iso_date(args, "from", default=None)
        last = _iso_date(args, "to", default=today)
        if first is None:
            raise bad_request("from is required with to")
        if last < first:
            raise bad_request("to is before from")
        found = DateRange(first, last)
    else:
        found = period_range(args.get("period") or "30d", _iso_date(args, "date", default=today))
    if found.days > MAX_RANGE_DAYS:
        raise bad_request("from and to span more than 10 years")
    return found


def period_range(period: str, anchor: date) -> DateRange:
    """The range a preset names, ending on (or containing) ``anchor``."""
    if period == "day":
        return DateRange(anchor, anchor)
    if period in ("7d", "30d"):
        return DateRange(anchor - timedelta(days=int(period[:-1]) - 1), anchor)
    if period == "month":
        return DateRange(anchor.replace(day=1), month_end(anchor))
    if period == "12mo":  # this month and the eleven before it
        months = anchor.year * 12 + anchor.month - 1 - 11
        return DateRange(date(months // 12, months % 12 + 1, 1), month_end(anchor))
    if period == "year":
        return DateRange(date(anchor.year, 1, 1), date(anchor.year, 12, 31))
    if period == "all":
        return DateRange(min(ALL_SINCE, anchor), anchor)
    raise bad_request(f"period must be one of {', '.join(PERIODS)}")


def _iso_date(args: Mapping[str, str], name: str, *, default: date | None) -> date | None:
    raw = args.get(name)
    if not raw:
        return default
    try:
        found = date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"{name} must be an ISO date (YYYY-MM-DD)") from None
    if len(raw) != 10 or not 1970 <= found.year <= 2999:
        raise bad_request(f"{name} must be an ISO date (YYYY-MM-DD) from 1970 to 2999")
    return found


def parse_filters(raw: str) -> tuple[Filter, ...]:
    """``dimension==value`` filters, several joined by ``;``."""
    if not raw:
        return ()
    parts = raw.split(";")
    if len(parts) > MAX_FILTERS:
        raise bad_request(f"filters allows at most {MAX_FILTERS} filters")
    found = []
    for part in parts:
        dimension, separator, value = part.partition("==")
        if not separator or not value or len(value) > MAX_FILTER_VALUE:
            raise bad_request("filters must be dimension==value, several joined by ';'")
        if dimension not in DIMENSIONS:
            raise bad_request(f"filters names an unknown dimension {dimension[:40]!r}")
        found.append(Filter(dimension, value))
    return tuple(found)


def _limit(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def require_choice(value: str | None, name: str, choices: tuple[str, ...], default: str) -> str:
    """``value`` if it is one of ``choices`` (``default`` when absent), else a 400."""
    if value in (None, ""):
        return default
    if value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}")
    return value
