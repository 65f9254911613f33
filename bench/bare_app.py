"""The baseline for ``bench.ingest``: a bare Flask endpoint that parses the same JSON body
and answers 204, served by gunicorn with the same settings as the real app."""

from __future__ import annotations

import json

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/api/v1/collect")
def collect() -> Response:
    json.loads(request.get_data())
    return Response(status=204)
