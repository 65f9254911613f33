"""Consent records are append-only: ORM, database trigger and a static scan; erasure is
the one exception (self-service, through app/privacy/service.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.extensions import db
from app.models import AppendOnlyError, ConsentRecord
from tests.conftest import SITE_ORIGIN, give_consent

APP_DIR = Path(__file__).resolve().parent.parent / "app"
ERASURE_MODULE = APP_DIR / "consent" / "privacy.py"


def _methods(app: Flask, consent_id: str) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(ConsentRecord.seq, ConsentRecord.method)
            .where(ConsentRecord.consent_id == consent_id)
            .order_by(ConsentRecord.seq)
        ).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def test_orm_refuses_to_update_a_record(app: Flask, client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    with app.app_context():
        record = db.session.scalar(select(ConsentRecord))
        record.method = "reject_all"
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        record = db.session.scalar(select(ConsentRecord))
        record.choices = {"necessary": True}
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        db.session.remove()
    assert _methods(app, consent_id) == [(1, "accept_all")]


def test_orm_refuses_to_delete_a_record(app: Flask, client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    with app.app_context():
        db.session.delete(db.session.scalar(select(ConsentRecord)))
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        db.session.remove()
    assert _methods(app, consent_id) == [(1, "accept_all")]


@pytest.mark.parametrize(
    "statement",
    [
        sa.text("UPDATE consent_records SET method = 'reject_all'"),
        update(ConsentRecord).values(gpc=True),
    ],
    ids=["raw-sql", "bulk-orm"],
)
def test_database_trigger_refuses_updates(
    app: Flask, client: FlaskClient, site: str, statement
) -> None:
    consent_id = give_consent(client)["consent_id"]
    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(statement)
        db.session.rollback()
        # A connection outside the ORM session is refused as well.
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE consent_records SET seq = seq + 10"))
        db.session.remove()
    assert _methods(app, consent_id) == [(1, "accept_all")]


def test_a_change_appends_a_record(app: Flask, client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    give_consent(client, method="reject_all", consent_id=consent_id)
    client.post(f"/api/v1/consent/{consent_id}/withdraw")
    assert _methods(app, consent_id) == [(1, "accept_all"), (2, "reject_all"), (3, "withdraw")]


# --- static scan ------------------------------------------------------------------------------

_SQL_WRITE = re.compile(r"\b(UPDATE\s+consent_records|DELETE\s+FROM\s+consent_records)\b", re.I)


def _offences(path: Path) -> list[str]:
    """Places in ``path`` that could change or remove consent records."""
    source = path.read_text()
    tree = ast.parse(source)
    found: list[str] = []
    mentions_records = "ConsentRecord" in source
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0] if node.args else None
            first_name = getattr(first, "id", None) or getattr(first, "attr", None)
            if name in ("update", "delete") and first_name == "ConsentRecord":
                found.append(f"{path}:{node.lineno}: {name}(ConsentRecord")
            # session.delete(obj) / query(ConsentRecord).delete() in a module using records
            if name == "delete" and isinstance(func, ast.Attribute) and mentions_records:
                owner = ast.unparse(func.value)
                if "session" in owner or "ConsentRecord" in owner:
                    found.append(f"{path}:{node.lineno}: {ast.unparse(node)[:60]}")
            if (
                name == "update"
                and isinstance(func, ast.Attribute)
                and "ConsentRecord" in ast.unparse(func.value)
            ):
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)[:60]}")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _SQL_WRITE.search(node.value)
        ):
            found.append(f"{path}:{node.lineno}: SQL {node.value.strip()[:40]!r}")
    return found


def test_static_scan_finds_no_record_updates_or_deletes_outside_erasure() -> None:
    offences = []
    for path in sorted(APP_DIR.rglob("*.py")):
        if path == ERASURE_MODULE:
            continue
        offences += _offences(path)
    assert not offences, "consent records changed outside erasure:\n" + "\n".join(offences)


def test_static_scan_sees_the_erasure_delete() -> None:
    """The other side: the scanner does find the one permitted delete."""
    assert any("delete(ConsentRecord" in o for o in _offences(ERASURE_MODULE))


def test_static_scan_catches_the_usual_forms(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "from app.models import ConsentRecord\n"
        "def a(s, r):\n"
        "    s.execute(update(ConsentRecord).values(gpc=True))\n"
        "    db.session.execute(sa.delete(ConsentRecord))\n"
        "    db.session.delete(r)\n"
        "    db.session.query(ConsentRecord).filter_by(id=1).delete()\n"
        "    s.execute(text('UPDATE consent_records SET gpc = 1'))\n"
    )
    assert len(_offences(sample)) >= 5


# --- self-service access and erasure --------------------------------------------------------


def test_get_data_returns_the_history(app: Flask, client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    give_consent(client, method="reject_all", consent_id=consent_id)
    other = give_consent(client)["consent_id"]
    response = client.get(f"/api/v1/consent/{consent_id}/data", headers={"Origin": SITE_ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["consent_id"] == consent_id
    records = body["data"]["consent_records"]
    assert [r["seq"] for r in records] == [1, 2]
    assert [r["method"] for r in records] == ["accept_all", "reject_all"]
    assert all(r["consent_id"] == consent_id for r in records)
    assert other not in response.get_data(as_text=True)


def test_get_data_unknown_id_is_404(client: FlaskClient, site: str) -> None:
    response = client.get("/api/v1/consent/nope/data")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_delete_data_erases_everything_for_the_id_only(
    app: Flask, client: FlaskClient, site: str
) -> None:
    consent_id = give_consent(client)["consent_id"]
    give_consent(client, method="reject_all", consent_id=consent_id)
    client.post(f"/api/v1/consent/{consent_id}/withdraw")
    other = give_consent(client)["consent_id"]

    response = client.delete(f"/api/v1/consent/{consent_id}/data", headers={"Origin": SITE_ORIGIN})
    assert response.status_code == 200
    deleted = response.get_json()["deleted"]
    assert deleted["consent_records"] == 3
    assert all(isinstance(n, int) for n in deleted.values())

    assert _methods(app, consent_id) == []
    assert _methods(app, other) == [(1, "accept_all")]
    assert client.get(f"/api/v1/consent/{consent_id}").status_code == 404
    assert client.get(f"/api/v1/consent/{consent_id}/data").status_code == 404
    assert client.delete(f"/api/v1/consent/{consent_id}/data").status_code == 404


def test_delete_data_from_foreign_origin_is_refused(
    app: Flask, client: FlaskClient, site: str
) -> None:
    consent_id = give_consent(client)["consent_id"]
    response = client.delete(
        f"/api/v1/consent/{consent_id}/data", headers={"Origin": "https://evil.test"}
    )
    assert response.status_code == 403
    assert _methods(app, consent_id) == [(1, "accept_all")]


def test_erasure_is_one_transaction(app: Flask, client: FlaskClient, site: str) -> None:
    """A failing data holder leaves everything in place (nothing half-erased)."""
    from app.subjects import DataHolder, register_holder

    consent_id = give_consent(client)["consent_id"]

    def broken(_consent_id: str) -> int:
        raise RuntimeError("holder failed")

    holders = app.extensions["heedful_data_holders"]
    saved = list(holders)
    register_holder(app, DataHolder("broken", export=lambda _c: [], erase=broken, order=2000))
    try:
        response = client.delete(f"/api/v1/consent/{consent_id}/data")
    finally:
        holders[:] = saved
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error"}
    assert _methods(app, consent_id) == [(1, "accept_all")]
