"""GET /api/v1/consent/{id}: every status transition, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from app.consent.policy import update_policy
from app.extensions import db
from app.sites.registry import get_site
from tests.conftest import SITE_ORIGIN, give_consent

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIELDS = {"site", "policy_version", "choices", "method", "recorded_at", "expires_at", "status"}


def _status(client: FlaskClient, consent_id: str) -> dict:
    response = client.get(f"/api/v1/consent/{consent_id}")
    assert response.status_code == 200
    return response.get_json()


def _bump_policy(app: Flask, site_key: str, **changes: int) -> int:
    with app.app_context():
        version = update_policy(get_site(site_key), **changes).version
        db.session.remove()
    return version


def test_status_body_has_the_contract_fields(client: FlaskClient, site: str) -> None:
    with time_machine.travel(START, tick=False):
        consent_id = give_consent(client)["consent_id"]
        body = _status(client, consent_id)
    assert set(body) >= FIELDS
    assert body["site"] == site
    assert body["policy_version"] == 1
    assert body["method"] == "accept_all"
    assert datetime.fromisoformat(body["recorded_at"]) == START
    assert datetime.fromisoformat(body["expires_at"]) == START + timedelta(days=182)
    assert body["status"] == "active"


def test_accept_is_active_with_everything_granted(client: FlaskClient, site: str) -> None:
    body = _status(client, give_consent(client)["consent_id"])
    assert body["status"] == "active"
    assert body["choices"] == {
        "necessary": True,
        "analytics": True,
        "marketing": True,
        "preferences": True,
    }


def test_reject_is_active_but_grants_nothing_optional(client: FlaskClient, site: str) -> None:
    body = _status(client, give_consent(client, method="reject_all")["consent_id"])
    assert body["status"] == "active"
    assert body["method"] == "reject_all"
    assert body["choices"] == {
        "necessary": True,
        "analytics": False,
        "marketing": False,
        "preferences": False,
    }


def test_custom_is_active_with_the_selection(client: FlaskClient, site: str) -> None:
    given = give_consent(client, method="custom", choices={"preferences": True})
    body = _status(client, given["consent_id"])
    assert body["status"] == "active"
    assert body["method"] == "custom"
    assert body["choices"]["preferences"] is True
    assert body["choices"]["analytics"] is False


def test_a_later_choice_replaces_the_earlier(client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    give_consent(client, method="reject_all", consent_id=consent_id)
    body = _status(client, consent_id)
    assert body["method"] == "reject_all"
    assert body["choices"]["analytics"] is False


def test_withdraw_makes_it_withdrawn(client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    response = client.post(
        f"/api/v1/consent/{consent_id}/withdraw", headers={"Origin": SITE_ORIGIN}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    withdrawn = response.get_json()
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["receipt"]["event"] == "withdrawn"
    body = _status(client, consent_id)
    assert body["status"] == "withdrawn"
    assert body["method"] == "withdraw"
    assert body["choices"] == {
        "necessary": True,
        "analytics": False,
        "marketing": False,
        "preferences": False,
    }


def test_consent_after_withdrawal_is_active_again(client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    client.post(f"/api/v1/consent/{consent_id}/withdraw")
    give_consent(client, consent_id=consent_id)
    assert _status(client, consent_id)["status"] == "active"


def test_withdraw_unknown_id_is_404(client: FlaskClient, site: str) -> None:
    response = client.post("/api/v1/consent/doesnotexist/withdraw")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_withdraw_from_foreign_origin_is_403(client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    response = client.post(
        f"/api/v1/consent/{consent_id}/withdraw", headers={"Origin": "https://evil.test"}
    )
    assert response.status_code == 403
    assert _status(client, consent_id)["status"] == "active"


def test_status_of_unknown_id_is_404(client: FlaskClient, site: str) -> None:
    response = client.get("/api/v1/consent/doesnotexist")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_consent_expires_after_consent_days(app: Flask, client: FlaskClient, site: str) -> None:
    _bump_policy(app, site, consent_days=90, refusal_days=30)
    with time_machine.travel(START, tick=False) as clock:
        consent_id = give_consent(client, policy_version=2)["consent_id"]
        assert datetime.fromisoformat(
            _status(client, consent_id)["expires_at"]
        ) == START + timedelta(days=90)
        clock.move_to(START + timedelta(days=90) - timedelta(seconds=1))
        assert _status(client, consent_id)["status"] == "active"
        clock.move_to(START + timedelta(days=90))
        assert _status(client, consent_id)["status"] == "expired"


def test_refusal_expires_after_refusal_days(app: Flask, client: FlaskClient, site: str) -> None:
    _bump_policy(app, site, consent_days=90, refusal_days=30)
    with time_machine.travel(START, tick=False) as clock:
        consent_id = give_consent(client, method="reject_all", policy_version=2)["consent_id"]
        clock.move_to(START + timedelta(days=30) - timedelta(seconds=1))
        assert _status(client, consent_id)["status"] == "active"
        clock.move_to(START + timedelta(days=30))
        assert _status(client, consent_id)["status"] == "expired"


def test_custom_with_only_necessary_counts_as_refusal(
    app: Flask, client: FlaskClient, site: str
) -> None:
    _bump_policy(app, site, consent_days=90, refusal_days=30)
    with time_machine.travel(START, tick=False):
        given = give_consent(client, method="custom", choices={"necessary": True}, policy_version=2)
        body = _status(client, given["consent_id"])
    assert datetime.fromisoformat(body["expires_at"]) == START + timedelta(days=30)


def test_default_durations_are_182_days(client: FlaskClient, site: str) -> None:
    with time_machine.travel(START, tick=False) as clock:
        accepted = give_consent(client)["consent_id"]
        refused = give_consent(client, method="reject_all")["consent_id"]
        clock.move_to(START + timedelta(days=181))
        assert _status(client, accepted)["status"] == "active"
        assert _status(client, refused)["status"] == "active"
        clock.move_to(START + timedelta(days=182))
        assert _status(client, accepted)["status"] == "expired"
        assert _status(client, refused)["status"] == "expired"


def test_maximum_consent_days_395(app: Flask, client: FlaskClient, site: str) -> None:
    _bump_policy(app, site, consent_days=395)
    with time_machine.travel(START, tick=False) as clock:
        consent_id = give_consent(client, policy_version=2)["consent_id"]
        clock.move_to(START + timedelta(days=394))
        assert _status(client, consent_id)["status"] == "active"
        clock.move_to(START + timedelta(days=395))
        assert _status(client, consent_id)["status"] == "expired"


def test_policy_bump_makes_it_stale_until_asked_anew(
    app: Flask, client: FlaskClient, site: str
) -> None:
    consent_id = give_consent(client)["consent_id"]
    assert _status(client, consent_id)["status"] == "active"
    version = _bump_policy(app, site, consent_days=100)
    body = _status(client, consent_id)
    assert body["status"] == "stale"
    assert body["policy_version"] == 1
    assert body["current_policy_version"] == version
    give_consent(client, consent_id=consent_id, policy_version=version)
    assert _status(client, consent_id)["status"] == "active"


def test_withdrawn_stays_withdrawn_after_expiry_and_bump(
    app: Flask, client: FlaskClient, site: str
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        consent_id = give_consent(client)["consent_id"]
        client.post(f"/api/v1/consent/{consent_id}/withdraw")
        _bump_policy(app, site, consent_days=100)
        clock.move_to(START + timedelta(days=400))
        assert _status(client, consent_id)["status"] == "withdrawn"


@pytest.mark.parametrize("later_days", [10, 200])
def test_expired_beats_stale(app: Flask, client: FlaskClient, site: str, later_days: int) -> None:
    with time_machine.travel(START, tick=False) as clock:
        consent_id = give_consent(client)["consent_id"]
        _bump_policy(app, site, consent_days=100)
        clock.move_to(START + timedelta(days=later_days))
        expected = "stale" if later_days < 182 else "expired"
        assert _status(client, consent_id)["status"] == expected
