"""tracker.js as served: within its byte budget, and free of anything that would identify."""

from __future__ import annotations

from app.assets import asset_bytes

BUDGET = 1500  # bytes after minification and gzip -9


def test_tracker_fits_its_budget():
    assert len(asset_bytes("tracker.js").gzipped) <= BUDGET


def test_tracker_uses_no_fingerprinting_apis_and_stores_only_its_queue():
    source = asset_bytes("tracker.js").minified.decode()
    for api in ("sessionStorage", "document.cookie", "indexedDB", "canvas"):
        assert api not in source
    # Its one use of storage: unsent events, under the site's queue key (loaded only after
    # analytics consent, cleared on withdrawal; see tests/browser/test_tracker_queue.py).
    assert source.count("localStorage") == 3 and source.count('"heedful_queue:"+H.site') == 1
    assert "keepalive" in source


def test_tracker_is_served_minified_and_compressed(client):
    response = client.get("/static/consent-banner/tracker.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(response.data) <= BUDGET


def test_demo_file_is_a_real_pdf(client):
    response = client.get("/demo/files/price-list.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert client.get("/demo/files/secrets.txt").status_code == 404
