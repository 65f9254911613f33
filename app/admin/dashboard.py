"""The marketing dashboard under /admin/dashboard: a site's figures, chart, panels, email
and consent coverage for a date range and filters, each table also as CSV.

The routes parse the URL, check the role and lay out what ``app.reporting.service``
answers; every figure comes from there, so the page and the reports API agree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from sqlalchemy import select

from app.accounts.auth import require_role
from app.admin import dashboard_view as view
from app.errors import ApiError, bad_request
from app.extensions import db
from app.models import Site
from app.reporting import service
from app.reporting.params import METRICS, ReportQuery, parse_report_query
from app.sites.snapshot import SiteSnapshot, site_snapshot

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# The dashboard is for the people who read reports: the roles the reports API admits.
READERS = ("marketing", "finance")
# The consent report's per-day decisions by method, and its figures besides decisions
# and grants, in CSV order.
DECISIONS = ("accept_all", "reject_all", "custom")
CONSENT_SHARES = ("gpc_share", "withdrawals", "dropped_events", "unseen_share")
CSV_REPORTS = ("overview", "timeseries", "consent", "email")


def _sites() -> list[tuple[str, str]]:
    return [
        tuple(row) for row in db.session.execute(select(Site.key, Site.name).order_by(Site.name))
    ]


def _chosen_site(sites: list[tuple[str, str]]) -> SiteSnapshot | None:
    """The site in ``?site=``, else the first by name; None only when there is no site."""
    key = request.args.get("site") or (sites[0][0] if sites else None)
    if key is None:
        return None
    site = site_snapshot(key)
    if site is None:
        abort(404)
    return site


def _query(
    site: SiteSnapshot, args: Mapping[str, str], limit: int, *, compare: bool = False
) -> ReportQuery:
    parsed = parse_report_query({**view.report_args(args), "compare": "previous"}, site)
    return ReportQuery(range=parsed.range, filters=parsed.filters, compare=compare, limit=limit)


def _metric(args: Mapping[str, str]) -> str:
    metric = args.get("metric") or "visitors"
    if metric not in METRICS:
        raise bad_request("metric must be one of " + ", ".join(METRICS))
    return metric


def _categories(site: SiteSnapshot, coverage: dict[str, Any]) -> list[str]:
    """The categories the consent report shares out, in the policy's order."""
    seen = set(coverage.get("totals", {}).get("granted", {}))
    for day in coverage.get("days", []):
        seen.update(day.get("granted", {}))
    ordered = [key for key in site.category_keys if key in seen]
    return ordered + sorted(seen - set(ordered))


def _report(site: SiteSnapshot, query: ReportQuery, metric: str) -> dict[str, Any]:
    panel_query = ReportQuery(
        range=query.range, filters=query.filters, compare=False, limit=view.PANEL_ROWS
    )
    overview = service.overview(site, query)
    previous = overview.get("previous") or {}
    coverage = service.consent_coverage(site, panel_query)
    return {
        "overview": overview,
        "previous": previous,
        "changes": {m: view.change(m, overview.get(m), previous.get(m)) for m in METRICS},
        "series": service.timeseries(site, panel_query, metric, view.interval_for(query.range)),
        "breakdowns": {
            dimension: service.breakdown(site, panel_query, dimension) for dimension in view.TABLES
        },
        "email": service.email(site, panel_query),
        "consent": coverage,
        "categories": _categories(site, coverage),
    }


def _page_context(sites: list[tuple[str, str]], site: SiteSnapshot) -> dict[str, Any]:
    return {
        "sites": sites,
        "site": site,
        "fmt": view.format_figure,
        "flag": view.flag,
        "filterable": view.filterable,
        "panels": view.PANELS,
        "tables": view.TABLES,
        "metric_labels": view.METRIC_LABELS,
        "metric_kinds": view.METRIC_KINDS,
        "panel_columns": view.panel_columns,
        "detail_columns": view.detail_columns,
        "open_rate_with_machine": view.open_rate_with_machine,
        "snippet_url": url_for("assets.banner_asset", name="heedful.js", _external=True),
    }


@bp.get("/")
@require_role(*READERS, page=True)
def page() -> str | tuple[str, int]:
    sites = _sites()
    site = _chosen_site(sites)
    if site is None:
        return render_template("admin/dashboard.html", sites=sites, site=None)
    context = _page_context(sites, site)
    args = request.args
    try:
        query = _query(site, args, view.PANEL_ROWS, compare=True)
        metric = _metric(args)
    except ApiError as error:
        links = view.Links(site.key, {}, ())
        return render_template(
            "admin/dashboard.html", **context, links=links, error=error.message, report=None
        ), 400
    links = view.Links(site.key, args, query.filters)
    report = _report(site, query, metric)
    empty = not report["overview"].get("pageviews") and not view.site_has_events(site.id)
    return render_template(
        "admin/dashboard.html",
        **context,
        links=links,
        query=query,
        metric=metric,
        report=report,
        empty=empty,
        presets=[
            (label, links.preset(params), view.is_current_preset(args, params))
            for label, params in view.presets(view.site_today(site))
        ],
        previous_range=query.range.previous(),
        custom={"from": args.get("from", ""), "to": args.get("to", "")},
    )


@bp.get("/details/<dimension>")
@require_role(*READERS, page=True)
def details(dimension: str) -> str | tuple[str, int]:
    table = view.TABLES.get(dimension)
    if table is None:
        abort(404)
    sites = _sites()
    site = _chosen_site(sites)
    if site is None:
        abort(404)
    context = _page_context(sites, site)
    try:
        query = _query(site, request.args, view.DETAIL_ROWS)
    except ApiError as error:
        return render_template(
            "admin/dashboard_details.html",
            **context,
            table=table,
            error=error.message,
            links=view.Links(site.key, {}, ()),
            breakdown=None,
        ), 400
    return render_template(
        "admin/dashboard_details.html",
        **context,
        table=table,
        links=view.Links(site.key, request.args, query.filters),
        query=query,
        breakdown=service.breakdown(site, query, dimension),
        error=None,
    )


# --- CSV ---------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell that starts with = + - @ as a formula; page paths, search
    # terms and referrers come from visitors, so such text is quoted with a leading '.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv_rows(site: SiteSnapshot, table: str, query: ReportQuery) -> Iterable[list[Any]]:
    if table == "overview":
        compared = ReportQuery(
            range=query.range, filters=query.filters, compare=True, limit=query.limit
        )
        overview = service.overview(site, compared)
        previous = overview.get("previous") or {}
        yield ["metric", "value", "previous"]
        for metric in METRICS:
            yield [metric, overview.get(metric), previous.get(metric)]
        yield ["live_visitors", overview.get("live_visitors"), None]
    elif table == "timeseries":
        metric = _metric(request.args)
        series = service.timeseries(site, query, metric, view.interval_for(query.range))
        yield ["t", metric]
        for point in series["points"]:
            yield [point["t"], point["value"]]
    elif table == "consent":
        coverage = service.consent_coverage(site, query)
        categories = _categories(site, coverage)
        yield ["day", *DECISIONS, *(f"granted_{c}" for c in categories), *CONSENT_SHARES]
        for day in coverage["days"]:
            decisions, granted = day.get("decisions", {}), day.get("granted", {})
            yield [
                day["day"],
                *(decisions.get(method) for method in DECISIONS),
                *(granted.get(c) for c in categories),
                *(day.get(key) for key in CONSENT_SHARES),
            ]
    elif table == "email":
        report = service.email(site, query)
        buckets = ("glanced", "skimmed", "read", "unsupported")
        fields = (
            "campaign_id", "name", "sent_at", "sends_known", "tracked_sends", "human_eligible",
            "unique_human_opens", "total_human_opens", "machine_opens", "unknown_opens",
            "open_rate",
        )  # fmt: skip
        yield [*fields, "open_rate_with_machine", *(f"read_time_{b}" for b in buckets)]
        for campaign in report.get("campaigns", []):
            read_time = campaign.get("read_time") or {}
            yield [
                *(campaign.get(f) for f in fields),
                view.open_rate_with_machine(campaign),
                *(read_time.get(b) for b in buckets),
            ]
    else:
        columns = view.detail_columns(table)
        breakdown = service.breakdown(site, query, table)
        yield ["value", *(c.key for c in columns)]
        for row in breakdown["rows"]:
            yield [row.get("value"), *(row.get(c.key) for c in columns)]


@bp.get("/<table>.csv")
@require_role(*READERS, page=True)
def csv_download(table: str) -> Response:
    if table not in view.TABLES and table not in CSV_REPORTS:
        abort(404)
    site = _chosen_site(_sites())
    if site is None:
        abort(404)
    query = _query(site, request.args, view.DETAIL_ROWS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in _csv_rows(site, table, query):
        writer.writerow([_cell(value) for value in row])
    name = f"{site.key}-{table}-{query.range.first}-{query.range.last}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
