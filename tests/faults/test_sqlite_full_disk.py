"""SQLite on a full disk under load: collect answers 503 with Retry-After, nothing is
half-written, no acknowledged event is lost, and the service recovers once space is freed,
without a restart. The database lives on a small tmpfs the test mounts (root, as in CI)."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app
from app.extensions import db
from app.sites.registry import create_site
from tests.audit import audit_database
from tests.conftest import SITE_KEY, test_config
from tests.faults.conftest import BOUND
from tests.faults.harness import AppServer, Load, check_promises, request


@pytest.fixture
def small_disk() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="heedful-full-"))
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(root)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        mounted = None
    if mounted is None or mounted.returncode != 0:
        root.rmdir()
        reason = mounted.stderr.strip() if mounted else "no mount command"
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {reason}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def _first_refusal_after(load: Load, moment: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r.status == 503 for r in load.of("collect") if r.ended >= moment):
            return time.monotonic()
        time.sleep(0.05)
    return None


def test_sqlite_disk_full_mid_load(small_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{small_disk / 'heedful.db'}"
    instance = tmp_path / "instance"  # off the small disk: only the database fills up
    instance.mkdir()
    application = create_app(test_config(url), instance_path=str(instance))
    with application.app_context():
        db.create_all()
        create_site("Example", ["example.com"], key=SITE_KEY)
        db.session.remove()
    server = AppServer(url, instance)
    try:
        body = {"site": SITE_KEY, "policy_version": 1, "choices": {}, "method": "accept_all",
                "lang": "en"}  # fmt: skip
        status, _headers, data = request(server.port, "POST", "/api/v1/consent", body)
        assert status == 201, data
        with Load(server.port, json.loads(data)["consent_id"], tag="d") as load:
            time.sleep(1.0)
            filler = _fill(small_disk)
            full_at = time.monotonic()
            # Writes go on into space the log already holds, until it must grow.
            refused = _first_refusal_after(load, full_at, timeout=15.0)
            assert refused is not None, "no collect request was refused on a full disk"
            time.sleep(2.0)
            filler.unlink()
            freed_at = time.monotonic()
            recovery = load.first_success_after(freed_at, timeout=20.0)
            time.sleep(1.0)
        assert recovery is not None, "collection did not recover once space was freed"
        assert server.worker_pids() == server.workers, "the app was restarted"
    finally:
        server.close()
    with application.app_context():
        # The outage runs from the first refusal: the disk was full before that, but the
        # log still had room.
        outage_from = min(r.started for r in load.of("collect") if r.status == 503)
        figures = check_promises(
            load,
            db.engine,
            fault_at=outage_from,
            restored_at=freed_at,
            bound=BOUND,
            refuses_all=False,
        )
        assert not audit_database(application)
        db.session.remove()
        db.engine.dispose()
    figures["first_503_after_full_s"] = round(refused - full_at, 2)
    figures["recovery_s"] = round(recovery, 2)
    print("\nSQLite disk full:", json.dumps(figures))
