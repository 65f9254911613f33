"""Report speed on a year of demo data: what one dashboard page asks the report service for
(top figures compared with the previous period, the time series, every panel's table and
consent coverage), each figure beside a baseline measured in the same run.

Data: ``heedful demo``'s generator (``app.demo.synthetic.generate``) fills the demo site
with HEEDFUL_BENCH_REPORT_EVENTS events (default 2,000,000) over HEEDFUL_BENCH_REPORT_DAYS
days (default 365) in a database migrated as in production; the time the generation and
``heedful rollup --rebuild`` take is printed.
Targets:
1. 12 months from the rollups at least 50x faster than the same answer from raw events.
   The baseline is the same service calls before the first rollup run: with no watermark,
   ``ranges.split`` reads every day raw. The two answers must agree first: every figure
   exactly, except per-dimension visitors over several days, which come from merged HLL
   sketches (README: relative standard error 1.6 %, 95 % of figures within 3.3 %).
2. 12 months no more than 5x the time of one day (yesterday: a finished day).
3. 30 days filtered to one country under 10x the same 30 days unfiltered.
4. The rollup timer costs the collect endpoint no more than 10 % (``bench.rollup_upkeep``).
Each timed view is one request context, as a dashboard page is one request (the service
keeps a range's raw visits in ``flask.g`` for the request). Timings are medians of several
runs, interleaved so that a busy shared host slows every view alike. The same figures are
printed for PostgreSQL when ``HEEDFUL_BENCH_DATABASE_URL`` (or
``HEEDFUL_TEST_DATABASE_URL``) names a server.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from bench import rollup_upkeep
from bench.collect_load import app_in, collect_bodies, postgres_url, prepare_database
from bench.common import load_average, postgres_schema, row

EVENTS = int(os.environ.get("HEEDFUL_BENCH_REPORT_EVENTS", "2000000"))
DAYS = int(os.environ.get("HEEDFUL_BENCH_REPORT_DAYS", "365"))
RUNS = 5
RAW_RUNS = int(os.environ.get("HEEDFUL_BENCH_REPORT_RAW_RUNS", "3"))
# 0 measures the report views only (the upkeep part loads the machine for a few minutes).
WITH_UPKEEP = os.environ.get("HEEDFUL_BENCH_REPORT_UPKEEP", "1") != "0"
SEED = 18
COUNTRY = "DE"
ROLLUP_SPEEDUP = 50.0  # 12 months from the rollups vs from raw events: at least
LONG_VS_DAY = 5.0  # 12 months vs one day: at most
FILTERED_VS_UNFILTERED = 10.0  # 30 days, one country vs unfiltered: under
# Merged HLL sketches (lg_k 12) have a relative standard error of 1.6 %: four of them is
# a figure no correct sketch strays to, so more means the rollups are wrong.
SKETCH_RSE = 0.016
SKETCH_LIMIT = 4 * SKETCH_RSE
DOCUMENTED_BOUND = 0.033  # 95 % of figures within this


@dataclass(frozen=True)
class View:
    label: str
    args: dict[str, str]


def dashboard_parts(site: Any, args: dict[str, str]) -> dict[str, Callable[[], Any]]:
    """What the dashboard page (``app.admin.dashboard._report``) asks the report service for,
    for the report parameters ``args``: each part of the page as a call to make."""
    from app.admin import dashboard_view as view
    from app.reporting import service
    from app.reporting.params import ReportQuery, parse_report_query

    query = parse_report_query({**args, "compare": "previous"}, site)
    panels = ReportQuery(range=query.range, filters=query.filters, limit=view.PANEL_ROWS)
    interval = view.interval_for(query.range)
    return {
        "overview": lambda: service.overview(site, query),
        "series": lambda: service.timeseries(site, panels, "visitors", interval),
        "panels": lambda: {
            dimension: service.breakdown(site, panels, dimension) for dimension in view.TABLES
        },
        "consent": lambda: service.consent_coverage(site, panels),
    }


@dataclass
class Timing:
    """One dashboard page: its seconds in all and per part, and its answer per part."""

    seconds: float
    parts: dict[str, float]
    answer: dict[str, Any]


def timed_answer(app: Flask, site_key: str, view: View) -> Timing:
    """One dashboard page in its own request context."""
    from app.sites.snapshot import site_snapshot

    with app.test_request_context("/admin/dashboard/"):
        site = site_snapshot(site_key)
        started = time.perf_counter()
        parts, answer = {}, {}
        for name, call in dashboard_parts(site, view.args).items():
            part_started = time.perf_counter()
            answer[name] = call()
            parts[name] = time.perf_counter() - part_started
        return Timing(time.perf_counter() - started, parts, answer)


def median_timing(timings: list[Timing]) -> Timing:
    """The median seconds, in all and of each part (the answer of the last run)."""
    parts = {name: statistics.median(t.parts[name] for t in timings) for name in timings[0].parts}
    return Timing(statistics.median(t.seconds for t in timings), parts, timings[-1].answer)


def median_times(app: Flask, site_key: str, views: list[View], runs: int) -> dict[str, Timing]:
    """The median timing of each view over ``runs`` rounds, the views interleaved."""
    found: dict[str, list[Timing]] = {view.label: [] for view in views}
    for _ in range(runs):
        for view in views:
            found[view.label].append(timed_answer(app, site_key, view))
    return {label: median_timing(timings) for label, timings in found.items()}


def parts_text(timing: Timing) -> str:
    return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in timing.parts.items())


# --- do the rollups answer what raw events answer? -----------------------------------------


@dataclass
class Agreement:
    mismatches: list[str]
    sketch_errors: list[float]

    @property
    def within_documented(self) -> float:
        errors = self.sketch_errors
        return sum(e <= DOCUMENTED_BOUND for e in errors) / len(errors) if errors else 1.0


def compare_answers(rolled: dict[str, Any], raw: dict[str, Any]) -> Agreement:
    """Every figure equal, except sketch-based visitors, which must be within SKETCH_LIMIT.
    A panel's top rows may differ only where the estimates reorder values about as large
    as its last row."""
    found = Agreement([], [])
    skip = {"live_visitors"}  # visitors of the last 5 minutes: the clock moved on
    for part in ("overview", "consent", "series"):
        left = {k: v for k, v in rolled[part].items() if k not in skip}
        right = {k: v for k, v in raw[part].items() if k not in skip}
        if left != right:
            found.mismatches.append(f"{part}: {_first_difference(left, right)}")
    for dimension, table in rolled["panels"].items():
        exact = {r["value"]: r for r in raw["panels"][dimension]["rows"]}
        estimated = {r["value"]: r for r in table["rows"]}
        for value in estimated.keys() & exact.keys():
            mine, truth = estimated[value], exact[value]
            others = {k for k in truth if k != "visitors"}
            if any(mine[k] != truth[k] for k in others):
                found.mismatches.append(f"{dimension}={value}: {mine} != {truth}")
            error = abs(mine["visitors"] - truth["visitors"]) / max(truth["visitors"], 1)
            found.sketch_errors.append(error)
            if error > SKETCH_LIMIT:
                found.mismatches.append(f"{dimension}={value}: visitors off by {error:.1%}")
        smallest = min((r["visitors"] for r in exact.values()), default=0)
        for value in exact.keys() ^ estimated.keys():
            visitors = (exact.get(value) or estimated[value])["visitors"]
            if visitors < smallest * (1 - 2 * SKETCH_LIMIT) or visitors > smallest * (
                1 + 2 * SKETCH_LIMIT
            ):
                found.mismatches.append(f"{dimension}: {value!r} in one top list only")
    return found


def _first_difference(left: Any, right: Any, path: str = "") -> str:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(left.keys() | right.keys(), key=str):
            if left.get(key) != right.get(key):
                return _first_difference(left.get(key), right.get(key), f"{path}.{key}")
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{index}]")
    return f"{path}: {left!r} != {right!r}"


# --- the run ---------------------------------------------------------------------------


def demo_database(url: str, folder: Path) -> tuple[dict[str, str], list[str], Flask, str]:
    """A migrated database with the bench's collect site and the demo site filled by the
    demo generator: (environment, the collect site's consent ids, app, demo site key)."""
    from app.cli import ensure_demo_site
    from app.demo.synthetic import generate

    env, consent_ids = prepare_database(url, folder)
    app = app_in(env)
    with app.app_context():
        site = ensure_demo_site()
        print(f"   generating {EVENTS:,} demo events over {DAYS} days ...", flush=True)
        started = time.perf_counter()
        summary = generate(site, EVENTS, random.Random(SEED), days=DAYS)
        print(
            f"   demo data: {summary['accepted']:,} events stored, {summary['visits']:,} "
            f"visits, in {time.perf_counter() - started:.0f} s ({load_average()})",
            flush=True,
        )
        return env, consent_ids, app, site.key


def rebuild_rollups(app: Flask) -> None:
    from app.reporting import rollup

    with app.app_context():
        started = time.perf_counter()
        days = rollup.rebuild(rollup.rebuild_plan())
        print(
            f"   rollup --rebuild: {days} days in {time.perf_counter() - started:.0f} s "
            f"({load_average()})",
            flush=True,
        )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def profile(app: Flask, site_key: str, view: View) -> None:
    """Where the time of a view that missed its target goes: its top calls."""
    profiler = cProfile.Profile()
    profiler.runcall(timed_answer, app, site_key, view)
    print(f"   profile of {view.label} (cumulative, top 15):")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(15)


def measure(url: str, folder: Path, label: str) -> bool:
    year = View("12 months", {"period": "12mo"})
    env, consent_ids, app, site_key = demo_database(url, folder)
    started = time.perf_counter()
    raw = median_timing([timed_answer(app, site_key, year) for _ in range(RAW_RUNS)])
    print(f"   12 months from raw events: {RAW_RUNS} runs in {time.perf_counter() - started:.0f} s")
    rebuild_rollups(app)

    from app.clock import utcnow

    yesterday = utcnow().date() - timedelta(days=1)  # the demo site's days are UTC days
    day = View("1 day (yesterday)", {"period": "day", "date": yesterday.isoformat()})
    today = View("1 day (today, read raw)", {"period": "day"})
    month = View("30 days", {"period": "30d"})
    filtered = View(
        f"30 days, country=={COUNTRY}", {**month.args, "filters": f"country=={COUNTRY}"}
    )
    agreement = compare_answers(timed_answer(app, site_key, year).answer, raw.answer)
    timings = median_times(app, site_key, [year, day, today, month, filtered], RUNS)
    times = {label: timing.seconds for label, timing in timings.items()}
    raw_year = raw.seconds
    print(f"   ({load_average()}; medians of {RUNS} runs, raw of {RAW_RUNS})")

    errors = agreement.sketch_errors
    print(
        f"   rollups vs raw, 12 months: {len(agreement.mismatches)} differences; "
        f"sketch visitors of {len(errors)} panel rows: max error "
        f"{max(errors, default=0):.2%}, {agreement.within_documented:.0%} within "
        f"{DOCUMENTED_BOUND:.1%} (documented: 95 %)"
    )
    for mismatch in agreement.mismatches[:10]:
        print(f"     differs: {mismatch}")
    speedup = raw_year / times[year.label]
    long_ratio = times[year.label] / times[day.label]
    filter_ratio = times[filtered.label] / times[month.label]
    ok_speedup = speedup >= ROLLUP_SPEEDUP and not agreement.mismatches
    ok_long = long_ratio <= LONG_VS_DAY
    ok_filter = filter_ratio < FILTERED_VS_UNFILTERED
    row(
        f"12 months from rollups ({label})",
        f"{times[year.label]:.3f} s",
        f"raw events {raw_year:.2f} s",
        f"{speedup:.0f}x faster (target >= {ROLLUP_SPEEDUP:.0f}x) {verdict(ok_speedup)}",
    )
    row(
        f"12 months vs one day ({label})",
        f"{times[year.label]:.3f} s",
        f"{day.label} {times[day.label]:.3f} s",
        f"{long_ratio:.1f}x (target <= {LONG_VS_DAY:.0f}x) {verdict(ok_long)}",
    )
    row(f"  for reference: {today.label}", f"{times[today.label]:.3f} s", "", "")
    row(
        f"{filtered.label} ({label})",
        f"{times[filtered.label]:.3f} s",
        f"unfiltered {times[month.label]:.3f} s",
        f"{filter_ratio:.1f}x (target < {FILTERED_VS_UNFILTERED:.0f}x) {verdict(ok_filter)}",
    )
    print("   where the time goes (median seconds per part of the page):")
    for view_label, timing in timings.items():
        print(f"     {view_label}: {parts_text(timing)}")
    print(f"     12 months from raw events: {parts_text(raw)}")
    for ok, view in ((ok_speedup and ok_long, year), (ok_filter, filtered)):
        if not ok:
            profile(app, site_key, view)
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()
    if not WITH_UPKEEP:
        print("   rollup upkeep's cost to collect: skipped (HEEDFUL_BENCH_REPORT_UPKEEP=0)")
        return ok_speedup and ok_long and ok_filter
    upkeep = rollup_upkeep.collect_with_upkeep(env, collect_bodies(consent_ids))
    print(f"   ({load_average()})")
    ok_upkeep = rollup_upkeep.report(upkeep, label)
    return ok_speedup and ok_long and ok_filter and ok_upkeep


def main() -> bool:
    print(f"   ({load_average()}, 2-core host shared with other work)")
    with tempfile.TemporaryDirectory(prefix="heedful-bench-report-") as tmp:
        folder = Path(tmp)
        ok = measure(f"sqlite:///{folder / 'report.db'}", folder, "SQLite")
        base = postgres_url()
        if base:
            url, drop = postgres_schema(base, "bench_report")
            try:
                ok = measure(url, folder / "pg", "PostgreSQL") and ok
            finally:
                drop()
        else:
            print("   PostgreSQL: set HEEDFUL_BENCH_DATABASE_URL to print its figures")
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
