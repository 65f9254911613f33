"""The banner's download size (the served bytes, gzip -9) and how soon it shows.

Sizes come from ``app.assets.asset_bytes``, i.e. exactly what the server sends; the
banner's CSS is inlined into heedful.js at serve time, so heedful.js is the whole banner.
The render figure loads /demo in real Chromium: the banner's first frame after
DOMContentLoaded, next to the moment the policy answer arrives (when a banner that waits
for the API could first show).
"""

from __future__ import annotations

import gzip
import os
import statistics
import threading
from typing import Any

from bench.common import bench_app, row

BANNER_BUDGET = 5_000
TRACKER_BUDGET = 1_500
RENDER_TARGET_MS = 100.0
# Published gzip sizes (JS + CSS) of the banners a site could pick instead.
ALTERNATIVES = {
    "vanilla-cookieconsent 3.1.0": 15_513,
    "Osano": 8_113,
    "Klaro!": 68_892,
}
RENDER_RUNS = 5

PROBE = """
window.HEEDFUL_ALLOW_AUTOMATION = true;
window.__hf = {shift: 0};
new PerformanceObserver(l => { for (const e of l.getEntries()) __hf.shift += e.value; })
  .observe({type: 'layout-shift', buffered: true});
new MutationObserver((records, observer) => {
  if (document.querySelector('.hf-b')) {
    observer.disconnect();
    requestAnimationFrame(() => { __hf.frameAt = performance.now(); });
  }
}).observe(document, {childList: true, subtree: true});
document.addEventListener('DOMContentLoaded', () => { __hf.dclAt = performance.now(); });
"""


def sizes() -> tuple[int, int, int | None]:
    """(banner gzip bytes, banner gzip of the unminified sources, tracker gzip bytes)."""
    from app.assets import BANNER_DIR, asset_bytes

    banner = asset_bytes("heedful.js")
    raw = (BANNER_DIR / "heedful.js").read_bytes() + (BANNER_DIR / "heedful.css").read_bytes()
    unminified = len(gzip.compress(raw, compresslevel=9, mtime=0))
    try:
        tracker: int | None = len(asset_bytes("tracker.js").gzipped)
    except FileNotFoundError:
        tracker = None
    return len(banner.gzipped), unminified, tracker


def render_times() -> dict[str, Any] | None:
    """Median ms from DOMContentLoaded to the banner's first frame, and to the policy."""
    chromium = os.environ.get("HEEDFUL_CHROMIUM", "/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not os.path.exists(chromium):
        return None
    from werkzeug.serving import WSGIRequestHandler, make_server

    from app.cli import ensure_demo_site

    class _Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # keep the bench output to its figures

    app, _ = bench_app(HEEDFUL_ALLOW_HEADLESS=True)
    with app.app_context():
        ensure_demo_site()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/demo"
    frames, policies, shifts = [], [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for _ in range(RENDER_RUNS):
                context = browser.new_context()  # a first visit: nothing cached
                page = context.new_page()
                page.add_init_script(PROBE)
                page.goto(url)
                page.wait_for_function("() => window.__hf.frameAt && window.Heedful.tracker")
                probe = page.evaluate(
                    """() => ({...window.__hf, policyAt: performance.getEntriesByType('resource')
                         .find(e => e.name.includes('/policy')).responseEnd})"""
                )
                frames.append(max(0.0, probe["frameAt"] - probe["dclAt"]))
                policies.append(probe["policyAt"] - probe["dclAt"])
                shifts.append(probe["shift"])
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return {
        "frame_ms": statistics.median(frames),
        "policy_ms": statistics.median(policies),
        "shift": max(shifts),
    }


def main() -> bool:
    banner, unminified, tracker = sizes()
    baseline = ALTERNATIVES["vanilla-cookieconsent 3.1.0"]
    banner_ok = banner <= BANNER_BUDGET
    row(
        "heedful.js + heedful.css (gzip -9, served)",
        f"{banner:,} B",
        f"vanilla-cookieconsent {baseline:,} B",
        f"{banner / baseline:.0%} ({'met' if banner_ok else 'MISSED'}: <= {BANNER_BUDGET:,} B)",
    )
    row("  same sources gzip -9, not minified", f"{unminified:,} B", "(what minifying saves)")
    for name, size in list(ALTERNATIVES.items())[1:]:
        row(f"  {name}", f"{size:,} B", "(published figure)")
    if tracker is None:
        tracker_ok = True
        row("tracker.js (gzip -9, served)", "not built", f"vanilla-cookieconsent {baseline:,} B")
    else:
        tracker_ok = tracker <= TRACKER_BUDGET
        row(
            "tracker.js (gzip -9, served)",
            f"{tracker:,} B",
            f"vanilla-cookieconsent {baseline:,} B",
            f"{'met' if tracker_ok else 'MISSED'}: <= {TRACKER_BUDGET:,} B",
        )
    timing = render_times()
    if timing is None:
        print("   banner render: skipped (Playwright or Chromium missing; `make chromium`)")
        return banner_ok and tracker_ok
    render_ok = timing["frame_ms"] <= RENDER_TARGET_MS and timing["shift"] == 0
    row(
        "banner first frame after DOMContentLoaded",
        f"{timing['frame_ms']:.1f} ms",
        f"policy answer at {timing['policy_ms']:.1f} ms",
        f"{'met' if timing['frame_ms'] <= RENDER_TARGET_MS else 'MISSED'}: "
        f"<= {RENDER_TARGET_MS:.0f} ms",
    )
    row(
        "layout shift (worst of the runs)",
        f"{timing['shift']:.3f}",
        "target 0",
        "met" if timing["shift"] == 0 else "MISSED",
    )
    return banner_ok and tracker_ok and render_ok
