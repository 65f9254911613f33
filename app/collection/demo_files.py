"""A real file on the demo page, so a download can be shown (and tested) end to end."""

from __future__ import annotations

from flask import Blueprint, Response, abort

bp = Blueprint("demo_files", __name__)

# A minimal, valid one-page PDF; small enough to live in the source.
_PDF = (
    b"%PDF-1.4\n"
    b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R"
    b"/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    b"4 0 obj<</Length 56>>stream\n"
    b"BT /F1 18 Tf 24 72 Td (Heedful demo price list) Tj ET\n"
    b"endstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
FILES = {"price-list.pdf": ("application/pdf", _PDF)}


@bp.get("/demo/files/<name>")
def demo_file(name: str) -> Response:
    if name not in FILES:
        abort(404)
    mimetype, body = FILES[name]
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
