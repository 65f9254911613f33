"""Serves the embeddable scripts minified and gzip-compressed, built once per process.

The banner's size budget counts the bytes a browser downloads, so what is
served is exactly what ``make bench`` measures: ``asset_bytes`` is shared.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import rcssmin
import rjsmin
from flask import Blueprint, Response, abort, current_app, request

ROOT = Path(__file__).resolve().parent.parent
BANNER_DIR = ROOT / "static" / "consent-banner"
SERVED = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The banner's styles travel inside its script (one request, one gzip stream): the
# minified CSS replaces the quoted token in the JS.
INLINE_CSS = {"heedful.js": ("heedful.css", "'__HEEDFUL_CSS__'")}
# What a served file's name can look like; anything else (NUL, a 3,000-character name
# the file system refuses with ENAMETOOLONG) is unknown before the disk is asked.
ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

bp = Blueprint("assets", __name__)
_lock = threading.Lock()
_built: dict[str, Asset] = {}


@dataclass(frozen=True)
class Asset:
    minified: bytes
    gzipped: bytes
    etag: str
    mimetype: str
    mtime: float


def minify(name: str, source: str) -> bytes:
    if name.endswith(".js"):
        return rjsmin.jsmin(source).encode()
    return rcssmin.cssmin(source).encode()


def asset_bytes(name: str) -> Asset:
    """The minified and gzip -9 bytes of ``static/consent-banner/name``."""
    if not ASSET_NAME.fullmatch(name):
        raise FileNotFoundError(name)
    path = (BANNER_DIR / name).resolve()
    if path.parent != BANNER_DIR or path.suffix not in SERVED or not path.is_file():
        raise FileNotFoundError(name)
    inlined = INLINE_CSS.get(name)
    css_path = BANNER_DIR / inlined[0] if inlined else None
    mtime = max(p.stat().st_mtime for p in (path, css_path) if p is not None)
    with _lock:
        cached = _built.get(name)
        if cached is not None and cached.mtime == mtime:
            return cached
    minified = minify(name, path.read_text(encoding="utf-8"))
    if inlined and css_path is not None:
        css = minify(inlined[0], css_path.read_text(encoding="utf-8")).decode()
        minified = minified.replace(inlined[1].encode(), json.dumps(css).encode())
    asset = Asset(
        minified=minified,
        gzipped=gzip.compress(minified, compresslevel=9, mtime=0),
        etag=hashlib.sha256(minified).hexdigest()[:20],
        mimetype=SERVED[path.suffix],
        mtime=mtime,
    )
    with _lock:
        _built[name] = asset
    return asset


@bp.get("/static/consent-banner/<name>")
def banner_asset(name: str) -> Response:
    try:
        asset = asset_bytes(name)
    except FileNotFoundError:
        abort(404)
    if request.if_none_match.contains(asset.etag):
        response = current_app.response_class(status=304)
    else:
        use_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
        body = asset.gzipped if use_gzip else asset.minified
        response = current_app.response_class(body, mimetype=asset.mimetype)
        if use_gzip:
            response.headers["Content-Encoding"] = "gzip"
    response.set_etag(asset.etag)
    response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = "public, max-age=300"
    # Sites load these cross-origin; they hold no secrets.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
