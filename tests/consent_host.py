"""One app "host" in a process of its own, for the multi-host consent tests.

``python -m tests.consent_host DATABASE_URL INSTANCE_DIR [REDIS_URL]`` serves the app on a
free port of 127.0.0.1 (threaded werkzeug) and prints ``port N`` once it listens.
"""

from __future__ import annotations

import logging
import os
import sys


def main() -> None:
    database_url, instance = sys.argv[1], sys.argv[2]
    redis_url = sys.argv[3] if len(sys.argv) > 3 else None
    os.environ.setdefault("HEEDFUL_ENV", "development")
    from werkzeug.serving import make_server

    from app import create_app
    from tests.conftest import test_config

    application = create_app(
        test_config(database_url, HEEDFUL_REDIS_URL=redis_url), instance_path=instance
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, application, threaded=True)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
