"""The embeddable scripts are served without the database: no hook on their path (session,
login manager, limiter, CORS, error handling) checks out a connection or takes a lock."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app import create_app
from app.extensions import db
from tests.conftest import test_config


@pytest.mark.parametrize("name", ["heedful.js", "tracker.js", "no-such-file.js"])
def test_banner_assets_are_served_with_the_database_gone(tmp_path, name) -> None:
    gone = f"sqlite:///{tmp_path}/no/such/folder/heedful.db"  # every connect fails
    application = create_app(test_config(gone), instance_path=str(tmp_path / "instance"))
    checkouts: list[object] = []
    with application.app_context():
        event.listen(db.engine, "checkout", lambda *args: checkouts.append(args))
        event.listen(db.engine, "do_connect", lambda *args: checkouts.append(args))
    client = application.test_client()
    response = client.get(f"/static/consent-banner/{name}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == (404 if name.startswith("no-such") else 200)
    assert checkouts == []
    with application.app_context():
        db.engine.dispose()
