"""The console's and the demo's own stylesheets and scripts, served from ``static/pages/``,
and the libraries they use, vendored with their licences in ``static/vendor/``.

They live in files rather than in the templates so that the pages' Content-Security-Policy
can forbid inline script and style (see ``app/security_headers.py``).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_from_directory

from app.assets import ROOT

PAGES_DIR = ROOT / "static" / "pages"
NAMES = frozenset(
    {"console.css", "demo.css", "demo.js", "demo-gate.js", "dashboard.css", "dashboard.js"}
)
VENDOR_DIR = ROOT / "static" / "vendor"
# Chart.js (MIT, static/vendor/chartjs/LICENSE.md): the dashboard's charts.
VENDOR_NAMES = frozenset({"chartjs/chart.umd.min.js"})

bp = Blueprint("page_assets", __name__)


@bp.get("/static/pages/<name>")
def page_asset(name: str) -> Response:
    # A fixed list: nothing else in the folder, and no odd name, reaches the file system.
    if name not in NAMES:
        abort(404)
    return send_from_directory(PAGES_DIR, name, max_age=300)


@bp.get("/static/vendor/<path:name>")
def vendor_asset(name: str) -> Response:
    if name not in VENDOR_NAMES:
        abort(404)
    return send_from_directory(VENDOR_DIR, name, max_age=300)
