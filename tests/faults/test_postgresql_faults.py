"""PostgreSQL stopped, and frozen with SIGSTOP, under load: the app (gunicorn, gthread)
answers collect with 503 and Retry-After within the bound, keeps serving the banner,
stores every batch whole, loses no acknowledged event, and recovers without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.extensions import db
from app.sites.registry import create_site
from tests.audit import audit_database
from tests.conftest import SITE_KEY, test_config
from tests.faults.conftest import BOUND
from tests.faults.harness import AppServer, Load, check_promises, request
from tests.faults.postgres import TempCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[TempCluster]:
    temp = TempCluster()
    try:
        temp.init()
        temp.start()
        yield temp
    finally:
        temp.destroy()


@pytest.fixture(scope="module")
def served(
    cluster: TempCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, AppServer, str]]:
    instance = tmp_path_factory.mktemp("faults-pg")
    application = create_app(test_config(cluster.url), instance_path=str(instance))
    with application.app_context():
        db.create_all()
        create_site("Example", ["example.com"], key=SITE_KEY)
        db.session.remove()
    server = AppServer(cluster.url, instance)
    try:
        body = {"site": SITE_KEY, "policy_version": 1, "choices": {}, "method": "accept_all",
                "lang": "en"}  # fmt: skip
        status, _headers, data = request(server.port, "POST", "/api/v1/consent", body)
        assert status == 201, data
        yield application, server, json.loads(data)["consent_id"]
    finally:
        server.close()
        with application.app_context():
            db.engine.dispose()


def _outcome(
    application: Flask, server: AppServer, load: Load, fault_at: float, restored_at: float
) -> dict[str, Any]:
    with application.app_context():
        try:
            figures = check_promises(
                load, db.engine, fault_at=fault_at, restored_at=restored_at, bound=BOUND
            )
        except AssertionError as failed:
            # A 500 or a hang is explained by the server's log, which the test folder keeps.
            raise AssertionError(f"{failed}\n--- server log ---\n{server.log_tail()}") from None
        assert not audit_database(application)
        db.session.remove()
    assert server.worker_pids() == server.workers, "the app was restarted"
    return figures


def test_postgresql_stopped_mid_load(cluster: TempCluster, served: Any) -> None:
    application, server, consent_id = served
    with Load(server.port, consent_id, tag="s") as load:
        time.sleep(1.0)
        cluster.stop()  # -m immediate: as a crash, committed work survives in the log
        fault_at = time.monotonic()
        time.sleep(4.0)
        restored_at = time.monotonic()  # it answers before pg_ctl returns
        cluster.start()
        recovery = load.first_success_after(restored_at, timeout=20.0)
        time.sleep(1.0)
    assert recovery is not None, "collection did not recover after PostgreSQL restarted"
    figures = _outcome(application, server, load, fault_at, restored_at)
    print("\nPostgreSQL stopped 4 s:", json.dumps({**figures, "recovery_s": round(recovery, 2)}))


def test_postgresql_frozen_mid_load(cluster: TempCluster, served: Any) -> None:
    application, server, consent_id = served
    with Load(server.port, consent_id, tag="f") as load:
        time.sleep(1.0)
        cluster.freeze()  # SIGSTOP: connections stay open, nothing answers
        fault_at = time.monotonic()
        try:
            time.sleep(8.0)
        finally:
            restored_at = time.monotonic()
            cluster.thaw()
        recovery = load.first_success_after(restored_at, timeout=20.0)
        time.sleep(1.0)
    assert recovery is not None, "collection did not recover after SIGCONT"
    figures = _outcome(application, server, load, fault_at, restored_at)
    print("\nPostgreSQL frozen 8 s:", json.dumps({**figures, "recovery_s": round(recovery, 2)}))
