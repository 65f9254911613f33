"""OpenAPI paths of the reports API (``app.reporting.routes``); the email report's path is
described by ``app.email.openapi``."""

from __future__ import annotations

from typing import Any

from app.openapi import (
    STAFF_SECURITY,
    error_response,
    json_response,
    staff_errors,
    text,
    unavailable,
)
from app.reporting.params import DIMENSIONS, INTERVALS, MAX_LIMIT, METRICS, PERIODS

SITE_KEY_MAX = 64
_DATE = {"type": "string", "format": "date"}
_NUMBER = {"type": "number", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_SITE = {
    "name": "site_key",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": SITE_KEY_MAX},
}
_RANGE = [
    _SITE,
    _query("from", _DATE, "First day (site time zone), inclusive; with `to`."),
    _query("to", _DATE, "Last day, inclusive (default today); not before `from`."),
    _query("period", {"type": "string", "enum": list(PERIODS)}, "A preset range (default 30d)."),
    _query("date", _DATE, "The day the period ends on or contains (default today)."),
    _query("filters", text(20_000), "`dimension==value`, several joined by `;`."),
    _query("compare", {"type": "string", "enum": ["previous"]}, "Add the previous period."),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Rows (default 10)."),
]
_METRICS = {
    "visitors": _COUNT,
    "visits": _COUNT,
    "pageviews": _COUNT,
    "views_per_visit": _NUMBER,
    "bounce_rate": _SHARE,
    "visit_duration_s": _NUMBER,
}
_PERIOD_FIGURES = {
    "type": "object",
    "required": [*_METRICS, "from", "to"],
    "properties": {
        **_METRICS,
        "downloads": _COUNT,
        "outbound_clicks": _COUNT,
        "searches": _COUNT,
        "from": _DATE,
        "to": _DATE,
    },
}
_CONSENT_DAY = {
    "type": "object",
    "required": [
        "decisions",
        "granted",
        "gpc_share",
        "withdrawals",
        "dropped_events",
        "unseen_share",
    ],
    "properties": {
        "day": _DATE,
        "decisions": {
            "type": "object",
            "properties": {m: _COUNT for m in ("accept_all", "reject_all", "custom")},
            "additionalProperties": _COUNT,
        },
        "granted": {"type": "object", "additionalProperties": _SHARE},
        "gpc_share": _SHARE,
        "withdrawals": _COUNT,
        "dropped_events": _COUNT,
        "stored_events": _COUNT,
        "unseen_share": _SHARE,
    },
}

SCHEMAS: dict[str, Any] = {
    "ReportOverview": {
        **_PERIOD_FIGURES,
        "required": [*_PERIOD_FIGURES["required"], "live_visitors"],
        "properties": {
            **_PERIOD_FIGURES["properties"],
            "live_visitors": _COUNT,
            "previous": _PERIOD_FIGURES,
        },
    },
    "ReportTimeseries": {
        "type": "object",
        "required": ["metric", "interval", "points"],
        "properties": {
            "metric": {"type": "string", "enum": list(METRICS)},
            "interval": {"type": "string", "enum": list(INTERVALS)},
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["t", "value"],
                    "properties": {"t": {"type": "string"}, "value": _NUMBER},
                },
            },
        },
    },
    "ReportBreakdown": {
        "type": "object",
        "required": ["dimension", "rows", "hidden"],
        "properties": {
            "dimension": {"type": "string", "enum": list(DIMENSIONS)},
            "hidden": {**_COUNT, "description": "Free-text values seen by fewer than k visitors"},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["value", *_METRICS],
                    "properties": {
                        "value": {"type": "string"},
                        **_METRICS,
                        "time_on_page_s": _NUMBER,
                        "entries": _COUNT,
                        "exits": _COUNT,
                        "events": _COUNT,
                    },
                },
            },
        },
    },
    "ReportConsentCoverage": {
        "type": "object",
        "required": ["days", "totals"],
        "properties": {"days": {"type": "array", "items": _CONSENT_DAY}, "totals": _CONSENT_DAY},
    },
}


def _report(summary: str, schema: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": ["reports"],
            "security": STAFF_SECURITY,
            "parameters": [*_RANGE, *(extra or [])],
            "responses": {
                "200": json_response(summary, {"$ref": f"#/components/schemas/{schema}"}),
                "400": error_response(
                    "A parameter is malformed (the message names it): an unknown dimension, "
                    "`to` before `from`, a malformed filter, a range over 10 years, an hourly "
                    "series over more than 2 days, or a query value holding NUL"
                ),
                **staff_errors("marketing or finance"),
                "404": error_response("Unknown site"),
                "503": unavailable(),
            },
        }
    }


PATHS: dict[str, Any] = {
    "/api/v1/reports/{site_key}/overview": _report("Top figures of a site", "ReportOverview"),
    "/api/v1/reports/{site_key}/timeseries": _report(
        "One metric over time",
        "ReportTimeseries",
        [
            _query("metric", {"type": "string", "enum": list(METRICS)}, "Default visitors."),
            _query(
                "interval",
                {"type": "string", "enum": list(INTERVALS)},
                "hour (ranges up to 2 days), day or month; default hour for 2 days, else day.",
            ),
        ],
    ),
    "/api/v1/reports/{site_key}/breakdown/{dimension}": _report(
        "A dimension's top values",
        "ReportBreakdown",
        [
            {
                "name": "dimension",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": list(DIMENSIONS)},
            }
        ],
    ),
    "/api/v1/reports/{site_key}/consent": _report(
        "Consent coverage per day", "ReportConsentCoverage"
    ),
}
