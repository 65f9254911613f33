"""Concurrent writers for one consent id leave one consistent, gapless history."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.consent.service import ConsentRequest, record_consent, withdraw_consent
from app.extensions import db
from app.models import ConsentRecord
from tests.conftest import SITE_KEY, give_consent

THREADS = 16


def _run_together(workers: list[Callable[[], None]]) -> list[BaseException]:
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def _history(app: Flask, consent_id: str) -> list[ConsentRecord]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.consent_id == consent_id)
                .order_by(ConsentRecord.seq)
            )
        )
        db.session.expunge_all()
        db.session.remove()
    return rows


def _check_history(app: Flask, client: FlaskClient, consent_id: str, expected: int) -> None:
    history = _history(app, consent_id)
    assert [r.seq for r in history] == list(range(1, expected + 1))
    assert len({r.record_uid for r in history}) == expected
    last = history[-1]
    status = client.get(f"/api/v1/consent/{consent_id}").get_json()
    assert status["choices"] == last.choices
    assert status["method"] == last.method
    assert status["recorded_at"] == last.recorded_at.isoformat()


def _choices(i: int) -> dict[str, bool]:
    return {"analytics": bool(i & 1), "marketing": bool(i & 2), "preferences": bool(i & 4)}


def test_concurrent_http_posts_for_one_consent_id(
    app: Flask, client: FlaskClient, site: str
) -> None:
    consent_id = give_consent(client)["consent_id"]

    def post(i: int) -> Callable[[], None]:
        def work() -> None:
            response = app.test_client().post(
                "/api/v1/consent",
                json={
                    "site": SITE_KEY,
                    "consent_id": consent_id,
                    "policy_version": 1,
                    "method": "custom",
                    "choices": _choices(i),
                    "lang": "en",
                },
            )
            assert response.status_code == 201, response.get_json()
            assert response.get_json()["consent_id"] == consent_id

        return work

    errors = _run_together([post(i) for i in range(THREADS)])
    assert not errors, errors
    _check_history(app, client, consent_id, THREADS + 1)


def test_concurrent_service_calls_with_withdrawals(
    app: Flask, client: FlaskClient, site: str
) -> None:
    consent_id = give_consent(client)["consent_id"]

    def work(i: int) -> Callable[[], None]:
        def run() -> None:
            with app.app_context():
                try:
                    if i % 3 == 0:
                        withdraw_consent(consent_id)
                    else:
                        record_consent(
                            ConsentRequest(
                                site_key=SITE_KEY,
                                consent_id=consent_id,
                                policy_version=1,
                                choices=_choices(i),
                                method="custom",
                                lang="en",
                            )
                        )
                finally:
                    db.session.remove()

        return run

    errors = _run_together([work(i) for i in range(THREADS)])
    assert not errors, errors
    # Every choice is kept; a withdrawal of an id already withdrawn appends nothing (a
    # retried withdrawal is stored once), so withdrawals never follow one another.
    kinds = [r.kind for r in _history(app, consent_id)]
    withdrawers = len(range(0, THREADS, 3))
    assert kinds.count("choice") == 1 + THREADS - withdrawers
    assert 1 <= kinds.count("withdrawal") <= withdrawers
    assert ("withdrawal", "withdrawal") not in set(zip(kinds, kinds[1:], strict=False))
    _check_history(app, client, consent_id, len(kinds))


def test_concurrent_first_consents_get_distinct_ids(
    app: Flask, client: FlaskClient, site: str
) -> None:
    ids: list[str] = []

    def work() -> None:
        ids.append(give_consent(app.test_client())["consent_id"])

    errors = _run_together([work for _ in range(THREADS)])
    assert not errors, errors
    assert len(set(ids)) == THREADS
    for consent_id in ids:
        assert [r.seq for r in _history(app, consent_id)] == [1]
