"""A WSGI app for ``test_ratelimit_workers.py``: the real app, tagging each answer with
the worker process that gave it, so a test knows its requests reached several workers."""

from __future__ import annotations

import os

from flask import Response

from app import create_app

app = create_app(
    {
        "SECRET_KEY": os.environ["HEEDFUL_SECRET_KEY"],
        "RATELIMIT_KEY_PREFIX": os.environ.get("TEST_RATELIMIT_PREFIX", ""),
        "WTF_CSRF_ENABLED": False,
        # A control run can count per process (memory://) to see the limits multiply.
        **({"RATELIMIT_STORAGE_URI": uri} if (uri := os.environ.get("TEST_RATELIMIT_URI")) else {}),
    },
    instance_path=os.environ["TEST_INSTANCE_PATH"],
)


@app.after_request
def tag_worker(response: Response) -> Response:
    response.headers["X-Test-Worker"] = str(os.getpid())
    return response
