"""What the dashboard pages show, apart from the routes: the panels and their columns, the
date presets, the filter links, and the plain server-side formatting of figures.

Every link the dashboard offers (a preset, a filter chip, a panel row, a metric) is a plain
URL carrying the report parameters (``period``/``date`` or ``from``/``to``, ``filters``)
that the reports API takes, so each view works without JavaScript and can be bookmarked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import url_for
from sqlalchemy import select

from app.clock import utcnow
from app.extensions import db
from app.models.analytics import Event
from app.reporting.params import METRICS, DateRange, Filter
from app.sites.snapshot import SiteSnapshot

# The query parameters that choose what a report covers; everything else in a dashboard
# URL (site, metric) is the page's own.
RANGE_PARAMS = ("period", "date", "from", "to")
REPORT_PARAMS = (*RANGE_PARAMS, "filters")
DEFAULT_PERIOD = "30d"
PANEL_ROWS = 10
# Enough for any "details" list or CSV a person reads; the engine caps it anyway.
DETAIL_ROWS = 1000
PAGE = "admin.dashboard.page"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    heading: str
    kind: str  # count | percent | duration | decimal


@dataclass(frozen=True, slots=True)
class Table:
    dimension: str
    title: str
    label: str  # heading of the value column


@dataclass(frozen=True, slots=True)
class Panel:
    key: str
    title: str
    tables: tuple[Table, ...]


PANELS = (
    Panel(
        "pages",
        "Pages",
        (
            Table("page", "Top pages", "Page"),
            Table("entry_page", "Entry pages", "Page"),
            Table("exit_page", "Exit pages", "Page"),
        ),
    ),
    Panel(
        "sources",
        "Sources",
        (
            Table("channel", "Channels", "Channel"),
            Table("referrer", "Referrers", "Referrer"),
            Table("search_engine", "Search engines", "Search engine"),
            Table("campaign", "Campaigns", "Campaign"),
        ),
    ),
    Panel("search_terms", "Search terms", (Table("search_term", "Search terms", "Term"),)),
    Panel(
        "locations",
        "Locations",
        (
            Table("country", "Countries", "Country"),
            Table("region", "Regions", "Region"),
            Table("city", "Cities", "City"),
        ),
    ),
    Panel("networks", "Networks", (Table("network", "Networks", "Network"),)),
    Panel(
        "devices",
        "Devices",
        (
            Table("browser", "Browsers", "Browser"),
            Table("os", "Operating systems", "Operating system"),
            Table("device", "Device types", "Device"),
        ),
    ),
    Panel("downloads", "Downloads", (Table("download", "Downloads", "File"),)),
    Panel("outbound", "Outbound links", (Table("outbound", "Outbound links", "Link"),)),
)
TABLES: dict[str, Table] = {table.dimension: table for panel in PANELS for table in panel.tables}

METRIC_LABELS = {
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Page views",
    "views_per_visit": "Views per visit",
    "bounce_rate": "Bounce rate",
    "visit_duration_s": "Visit duration",
}
METRIC_KINDS = {
    "visitors": "count",
    "visits": "count",
    "pageviews": "count",
    "views_per_visit": "decimal",
    "bounce_rate": "percent",
    "visit_duration_s": "duration",
}
assert set(METRIC_LABELS) == set(METRICS), "every metric the engine offers has a label"

_VISITORS = Column("visitors", "Visitors", "count")
# The one figure each kind of table adds beside visitors in its panel.
_PANEL_EXTRA = {
    "page": (
        Column("pageviews", "Views", "count"),
        Column("time_on_page_s", "Time on page", "duration"),
    ),
    "entry_page": (Column("entries", "Entries", "count"),),
    "exit_page": (Column("exits", "Exits", "count"),),
    "search_term": (Column("events", "Searches", "count"),),
    "download": (Column("events", "Downloads", "count"),),
    "outbound": (Column("events", "Clicks", "count"),),
}
_DETAIL_COLUMNS = (
    _VISITORS,
    Column("visits", "Visits", "count"),
    Column("pageviews", "Page views", "count"),
    Column("bounce_rate", "Bounce rate", "percent"),
    Column("visit_duration_s", "Visit duration", "duration"),
)


def panel_columns(dimension: str) -> tuple[Column, ...]:
    return (_VISITORS, *_PANEL_EXTRA.get(dimension, ()))


def detail_columns(dimension: str) -> tuple[Column, ...]:
    extra = tuple(c for c in _PANEL_EXTRA.get(dimension, ()) if c.key != "pageviews")
    return (*_DETAIL_COLUMNS, *extra)


# --- the URL: presets, filters, links ----------------------------------------------------


def report_args(args: Mapping[str, str]) -> dict[str, str]:
    """The report parameters of a dashboard URL, with the default period when none is set."""
    chosen = {name: args[name] for name in REPORT_PARAMS if args.get(name)}
    if not any(name in chosen for name in ("period", "from", "to")):
        chosen["period"] = DEFAULT_PERIOD
    return chosen


def site_today(site: SiteSnapshot) -> date:
    return utcnow().astimezone(ZoneInfo(site.timezone)).date()


def presets(today: date) -> list[tuple[str, dict[str, str]]]:
    """The date presets as (label, range parameters), in the order the page lists them."""
    last_month = today.replace(day=1) - timedelta(days=1)
    return [
        ("Today", {"period": "day"}),
        ("Yesterday", {"period": "day", "date": (today - timedelta(days=1)).isoformat()}),
        ("7 days", {"period": "7d"}),
        ("30 days", {"period": "30d"}),
        ("This month", {"period": "month"}),
        ("Last month", {"period": "month", "date": last_month.replace(day=1).isoformat()}),
        ("This year", {"period": "year"}),
        ("12 months", {"period": "12mo"}),
        ("All time", {"period": "all"}),
    ]


def encode_filters(filters: tuple[Filter, ...]) -> str:
    return ";".join(f"{f.dimension}=={f.value}" for f in filters)


def filterable(value: Any) -> bool:
    """Whether a row's value can go into ``filters`` (``;`` separates filters there)."""
    return isinstance(value, str) and value != "" and ";" not in value


class Links:
    """Dashboard URLs that keep the current site, range, filters and metric unless told."""

    def __init__(self, site_key: str, args: Mapping[str, str], filters: tuple[Filter, ...]):
        self.site_key = site_key
        self.filters = filters
        self.base = {name: args[name] for name in (*RANGE_PARAMS, "metric") if args.get(name)}

    def _url(self, endpoint: str, params: dict[str, str], **values: Any) -> str:
        clean = {name: value for name, value in params.items() if value}
        return url_for(endpoint, site=self.site_key, **values, **clean)

    def _with_filters(self, filters: tuple[Filter, ...]) -> dict[str, str]:
        return {**self.base, "filters": encode_filters(filters)}

    def here(self, **changes: str) -> str:
        return self._url(PAGE, {**self._with_filters(self.filters), **changes})

    def preset(self, range_params: dict[str, str]) -> str:
        kept = {name: value for name, value in self.base.items() if name not in RANGE_PARAMS}
        return self._url(PAGE, {**kept, **range_params, "filters": encode_filters(self.filters)})

    def add_filter(self, dimension: str, value: str) -> str:
        others = tuple(f for f in self.filters if f.dimension != dimension)
        return self._url(PAGE, self._with_filters((*others, Filter(dimension, value))))

    def remove_filter(self, dimension: str) -> str:
        kept = tuple(f for f in self.filters if f.dimension != dimension)
        return self._url(PAGE, self._with_filters(kept))

    def details(self, dimension: str) -> str:
        return self._url(
            "admin.dashboard.details", self._with_filters(self.filters), dimension=dimension
        )

    def csv(self, table: str) -> str:
        return self._url(
            "admin.dashboard.csv_download", self._with_filters(self.filters), table=table
        )

    def hidden_fields(self, *names: str) -> Iterator[tuple[str, str]]:
        """(name, value) of the current parameters among ``names``, for a GET form."""
        values = self._with_filters(self.filters)
        for name in names:
            if values.get(name):
                yield name, values[name]


def is_current_preset(args: Mapping[str, str], range_params: dict[str, str]) -> bool:
    chosen = {name: args[name] for name in RANGE_PARAMS if args.get(name)}
    return chosen == range_params


def interval_for(date_range: DateRange) -> str:
    """Hourly for one or two days, monthly beyond about half a year, daily between."""
    if date_range.days <= 2:
        return "hour"
    return "month" if date_range.days > 190 else "day"


# --- figures -----------------------------------------------------------------------------


def format_figure(value: Any, kind: str = "count") -> str:
    """A figure as plain text: grouped integers, ISO dates; the browser reformats it."""
    if value is None:
        return "—"
    if kind == "percent":
        return f"{float(value) * 100:.1f} %"
    if kind == "decimal":
        return f"{float(value):,.2f}"
    if kind == "duration":
        seconds = round(float(value))
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        if hours:
            return f"{hours} h {minutes:02d} min"
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


ARROWS = {"up": "▲", "down": "▼", "same": "=", "new": "★"}


@dataclass(frozen=True, slots=True)
class Change:
    """A figure against the previous period, as shown and as a screen reader says it."""

    direction: str  # up | down | same | new
    shown: str  # the visible amount: "12 %", or "3.1 pts" for a rate
    text: str

    @property
    def arrow(self) -> str:
        return ARROWS[self.direction]


def change(metric: str, current: Any, previous: Any) -> Change | None:
    if previous is None or current is None:
        return None
    if metric == "bounce_rate":
        # A rate moves in percentage points; a relative change of a rate misleads.
        points = (float(current) - float(previous)) * 100
        direction = "up" if points >= 0.05 else "down" if points <= -0.05 else "same"
        amount = f"{abs(points):.1f}"
        return Change(direction, f"{amount} pts", _change_text(direction, f"{amount} points"))
    if float(previous) == 0:
        if not current:
            return Change("same", "", _change_text("same", ""))
        return Change("new", "new", "none in the previous period")
    ratio = (float(current) - float(previous)) / float(previous)
    direction = "up" if ratio >= 0.005 else "down" if ratio <= -0.005 else "same"
    amount = f"{abs(ratio) * 100:.0f} %"
    return Change(direction, amount, _change_text(direction, amount))


def _change_text(direction: str, amount: str) -> str:
    if direction == "same":
        return "unchanged from the previous period"
    return f"{direction} {amount} from the previous period"


def flag(country: Any) -> str:
    """The flag emoji of a two-letter country code (regional indicator letters)."""
    if not isinstance(country, str) or len(country) != 2 or not country.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in country.upper())


def open_rate_with_machine(campaign: Mapping[str, Any]) -> float | None:
    """The open rate as most tools report it, machine opens included: recipients seen only
    through Apple Mail Privacy Protection (whose mail app fetches every image on delivery)
    count as openers. The email report leaves them out of its own rate; it knows them as
    tracked sends that are not human-eligible."""
    if "open_rate_with_machine" in campaign:
        return campaign["open_rate_with_machine"]
    tracked = campaign.get("tracked_sends") or 0
    if not tracked:
        return None
    machine_only = tracked - (campaign.get("human_eligible") or 0)
    return round(((campaign.get("unique_human_opens") or 0) + machine_only) / tracked, 4)


def site_has_events(site_id: int) -> bool:
    """Whether anything was ever collected for the site (the empty state's question)."""
    found = db.session.scalar(select(Event.id).where(Event.site_id == site_id).limit(1))
    return found is not None
