"""Rate limits, in one process: who is counted under which key, and what a refusal looks
like. (Across worker processes and hosts: ``test_ratelimit_workers.py``.)

The suite runs with limits off (``tests/conftest.py``); these tests build an app with
them on, counting in a file of their own.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.clock import utcnow
from app.email.pixel import PIXEL_GIF
from app.extensions import db
from app.models.analytics import Event
from app.models.email import EmailOpen
from tests.collection.helpers import collect
from tests.conftest import SITE_KEY, SITE_ORIGIN, give_consent
from tests.email.conftest import GMAIL_PROXY, THUNDERBIRD, Email, path_of, role_headers
from tests.helpers import add_user, extra_app, login


@pytest.fixture
def limited(app: Flask, database_url: str, tmp_path: Path) -> Iterator[Any]:
    """A factory of apps with limits on, on the suite's database (``app`` empties it)."""
    apps = []

    def build(**config: Any) -> Flask:
        config.setdefault(
            "RATELIMIT_STORAGE_URI", f"heedful-file://{tmp_path}/limits{len(apps)}.bin"
        )
        context = extra_app(
            database_url, tmp_path / f"instance{len(apps)}", RATELIMIT_ENABLED=True, **config
        )
        apps.append(context)
        return context.__enter__()

    yield build
    for context in apps:
        context.__exit__(None, None, None)


def at(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def assert_too_many(response) -> None:
    assert response.status_code == 429
    assert response.is_json and set(response.get_json()) == {"error"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def event_count(application: Flask) -> int:
    with application.app_context():
        count = db.session.scalar(select(func.count()).select_from(Event))
        db.session.remove()
    return count


# -- collect (the WSGI layer) ---------------------------------------------------------------


def test_collect_is_limited_per_address(limited, site: str) -> None:
    application = limited(HEEDFUL_COLLECT_RATE_PER_ADDRESS="5/minute")
    client = application.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    answers = [collect(client, consent_id, **at("203.0.113.5")).status_code for _ in range(8)]
    assert answers == [202] * 5 + [429] * 3
    refused = collect(client, consent_id, **at("203.0.113.5"))
    assert_too_many(refused)
    assert event_count(application) == 5  # a refused batch stores nothing
    # Another address has its own count.
    assert collect(client, consent_id, **at("198.51.100.9")).status_code == 202
    assert event_count(application) == 6


def test_collect_counts_an_ipv6_subscriber_by_its_64(limited, site: str) -> None:
    application = limited(HEEDFUL_COLLECT_RATE_PER_ADDRESS="3/minute")
    client = application.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    hosts = [f"2001:db8:1:2::{index:x}" for index in range(1, 6)]
    answers = [collect(client, consent_id, **at(host)).status_code for host in hosts]
    assert answers == [202] * 3 + [429] * 2
    assert collect(client, consent_id, **at("2001:db8:1:3::1")).status_code == 202


def test_collect_is_limited_per_site_across_addresses(limited, site: str) -> None:
    application = limited(HEEDFUL_COLLECT_RATE_PER_SITE="6/minute")
    client = application.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    answers = [
        collect(client, consent_id, headers={"Origin": SITE_ORIGIN}, **at(f"192.0.2.{index}"))
        for index in range(1, 11)
    ]
    assert [answer.status_code for answer in answers] == [202] * 6 + [429] * 4
    assert_too_many(answers[-1])
    # Past the origin check, the page may read the refusal and back off.
    assert answers[-1].headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert event_count(application) == 6


def test_unknown_sites_do_not_use_up_a_sites_budget(limited, site: str) -> None:
    application = limited(HEEDFUL_COLLECT_RATE_PER_SITE="2/minute")
    client = application.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    for index in range(5):
        assert collect(client, consent_id, site=f"nosuch{index}").status_code == 400
        foreign = collect(client, consent_id, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
    assert collect(client, consent_id).status_code == 202


def test_limits_off_never_refuse(app: Flask, client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client, site)["consent_id"]
    assert app.config["RATELIMIT_ENABLED"] is False
    answers = {collect(client, consent_id, **at("203.0.113.5")).status_code for _ in range(30)}
    assert answers == {202}


# -- logins ---------------------------------------------------------------------------------


def test_login_is_limited_per_account_across_addresses(limited) -> None:
    application = limited(HEEDFUL_LOGIN_ACCOUNT_RATE="3/minute", HEEDFUL_LOGIN_RATE="50/minute")
    add_user(application, "owner@example.com")
    client = application.test_client()
    answers = []
    for index in range(5):
        client.environ_base["REMOTE_ADDR"] = f"203.0.113.{index + 1}"
        answers.append(login(client, " Owner@Example.COM ", "wrong password!").status_code)
    assert answers == [200, 200, 200, 429, 429]
    # The account's own holder, from anywhere, must wait too; other accounts need not.
    client.environ_base["REMOTE_ADDR"] = "198.51.100.1"
    assert login(client, "owner@example.com").status_code == 429
    add_user(application, "other@example.com")
    assert login(client, "other@example.com").status_code == 302


def test_login_is_limited_per_address_across_accounts(limited) -> None:
    application = limited(HEEDFUL_LOGIN_RATE="4/minute")
    client = application.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    answers = [login(client, f"guess{index}@example.com", "x" * 12) for index in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 4 + [429] * 2
    page = answers[-1]
    assert page.mimetype == "text/html" and 1 <= int(page.headers["Retry-After"]) <= 60


def test_login_keys_hold_no_plain_email(limited, tmp_path: Path) -> None:
    application = limited()
    client = application.test_client()
    login(client, "jane.doe@example.com", "wrong password!")
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("limits*.bin"))
    assert raw and b"jane" not in raw


# -- consent endpoints ----------------------------------------------------------------------


def test_consent_writes_are_limited_per_address_and_per_id(limited, site: str) -> None:
    application = limited(HEEDFUL_CONSENT_RATE="4/minute", HEEDFUL_CONSENT_RATE_PER_ID="2/minute")
    client = application.test_client()
    first = give_consent(client, site, headers={"X-Test": "1"})["consent_id"]
    body = {"site": site, "policy_version": 1, "choices": {}, "method": "reject_all"}
    # Changes to one id, from ever-new addresses: the id's own budget runs out.
    changes = [
        client.post("/api/v1/consent", json={**body, "consent_id": first}, **at(f"192.0.2.{n}"))
        for n in range(1, 5)
    ]
    assert [answer.status_code for answer in changes] == [201, 201, 429, 429]
    assert_too_many(changes[-1])
    assert "Retry-After" not in changes[0].headers  # a 201 carries none
    # New records from one address: the address's budget (the first record counted too).
    fresh = [client.post("/api/v1/consent", json=body).status_code for _ in range(5)]
    assert fresh == [201, 201, 201, 429, 429]


def test_withdraw_status_and_policy_are_limited(limited, site: str) -> None:
    application = limited(
        HEEDFUL_WITHDRAW_RATE_PER_ID="2/minute",
        HEEDFUL_STATUS_RATE="3/minute",
        HEEDFUL_POLICY_RATE="3/minute",
    )
    client = application.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    withdrawals = [
        client.post(f"/api/v1/consent/{consent_id}/withdraw", **at(f"192.0.2.{n}")).status_code
        for n in range(1, 4)
    ]
    assert withdrawals == [200, 200, 429]
    statuses = [client.get(f"/api/v1/consent/{consent_id}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    policies = [client.get(f"/api/v1/sites/{SITE_KEY}/policy") for _ in range(4)]
    assert [answer.status_code for answer in policies] == [200, 200, 200, 429]
    assert_too_many(policies[-1])
    assert "Retry-After" not in policies[0].headers


def test_self_service_access_and_erasure_are_limited(limited, site: str) -> None:
    application = limited(HEEDFUL_DATA_RATE="2/minute")
    client = application.test_client()
    consent_id = give_consent(client, site)["consent_id"]
    path = f"/api/v1/consent/{consent_id}/data"
    answers = [client.get(path).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    deletions = [client.delete(path), client.delete(path), client.delete(path)]
    # Erased at the first: the id is then unknown (404), and the third is refused unread.
    assert [answer.status_code for answer in deletions] == [200, 404, 429]
    assert_too_many(deletions[-1])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_redis_keeps_limits_on_the_host_and_never_500(
    limited, site: str, tmp_path: Path
) -> None:
    application = limited(
        RATELIMIT_STORAGE_URI=f"heedful+redis://127.0.0.1:{_closed_port()}/0",
        RATELIMIT_STORAGE_OPTIONS={"fallback_path": str(tmp_path / "host.bin")},
        HEEDFUL_CONSENT_RATE="3/minute",
        HEEDFUL_COLLECT_RATE_PER_ADDRESS="2/minute",
    )
    client = application.test_client()
    body = {"site": site, "policy_version": 1, "choices": {}, "method": "accept_all"}
    answers = [client.post("/api/v1/consent", json=body) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    consent_id = answers[0].get_json()["consent_id"]
    collected = [collect(client, consent_id).status_code for _ in range(3)]
    assert collected == [202, 202, 429]


# -- pixels ---------------------------------------------------------------------------------


@pytest.fixture
def mail(limited, site: str):
    def build(**config: Any) -> tuple[Flask, FlaskClient, Email]:
        application = limited(**config)
        client = application.test_client()
        return application, client, Email(client, role_headers(application), site)

    return build


def open_rows(application: Flask) -> list[tuple[str, str]]:
    with application.app_context():
        rows = db.session.execute(
            select(EmailOpen.verdict, EmailOpen.reasons).order_by(EmailOpen.id)
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def same_answer(response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    return response.status_code, response.data, tuple(sorted(response.headers.items()))


def test_pixel_over_its_address_limit_answers_the_same_and_records_nothing(mail) -> None:
    application, client, email = mail(HEEDFUL_PIXEL_RATE_PER_ADDRESS="3/minute")
    campaign = email.campaign()
    urls = [
        path_of(email.links(campaign, email.recipient(f"r{n}@example.com", True))["url"])
        for n in range(5)
    ]
    answers = [client.get(url, headers={"User-Agent": THUNDERBIRD}) for url in urls]
    assert {same_answer(answer) for answer in answers} == {same_answer(answers[0])}
    assert answers[0].data == PIXEL_GIF
    assert len(open_rows(application)) == 3


def test_pixel_is_limited_per_site(mail) -> None:
    application, client, email = mail(HEEDFUL_PIXEL_RATE_PER_SITE="2/minute")
    campaign = email.campaign()
    for n in range(4):
        url = path_of(email.links(campaign, email.recipient(f"s{n}@example.com", True))["url"])
        answer = client.get(url, headers={"User-Agent": THUNDERBIRD}, **at(f"192.0.2.{n + 1}"))
        assert answer.status_code == 200 and answer.data == PIXEL_GIF
    assert len(open_rows(application)) == 2


def test_repeated_opens_are_stored_once_per_window(mail) -> None:
    application, client, email = mail()
    campaign = email.campaign()
    url = path_of(email.links(campaign, email.recipient("loop@example.com", True))["url"])
    with time_machine.travel(utcnow(), tick=False) as clock:
        first = client.get(url, headers={"User-Agent": THUNDERBIRD})
        assert open_rows(application) == [("human", "client")]
        repeats = []
        for _ in range(5):
            clock.shift(timedelta(minutes=5))
            repeats.append(client.get(url, headers={"User-Agent": THUNDERBIRD}))
        # Within 30 minutes of the first: answered alike, not stored.
        assert {same_answer(answer) for answer in repeats} == {same_answer(first)}
        assert len(open_rows(application)) == 1
        clock.shift(timedelta(minutes=6))  # 31 minutes after the first
        client.get(url, headers={"User-Agent": THUNDERBIRD})
        assert open_rows(application) == [("human", "client")] * 2


def test_a_delivery_time_fetch_does_not_hide_the_persons_open(mail) -> None:
    application, client, email = mail()
    campaign = email.campaign(sent_at=utcnow())
    url = path_of(email.links(campaign, email.recipient("gm@example.com", True))["url"])
    client.get(url, headers={"User-Agent": GMAIL_PROXY})  # Gmail's prefetch on delivery
    with time_machine.travel(utcnow() + timedelta(minutes=2), tick=False):
        client.get(url, headers={"User-Agent": GMAIL_PROXY})  # the reader, via the proxy
        client.get(url, headers={"User-Agent": GMAIL_PROXY})  # and a reload
    assert open_rows(application) == [
        ("machine", "gmail_prefetch"),
        ("human", "gmail_proxy"),
    ]


# -- leases (high limits, spent locally) ----------------------------------------------------


def _guards(tmp_path: Path, count: int, **rates: str) -> list[Any]:
    from app.config import load_config
    from app.ratelimit import RateGuard
    from app.ratelimit_storage import HostFileStorage

    config = {**load_config(str(tmp_path), env={"HEEDFUL_ENV": "development"}), **rates}
    # Each guard opens the file on its own, as each worker process does.
    return [
        RateGuard(HostFileStorage(f"heedful-file://{tmp_path}/shared.bin"), config)
        for _ in range(count)
    ]


def test_leased_limits_never_admit_more_than_the_limit(tmp_path: Path) -> None:
    workers = _guards(tmp_path, 2, HEEDFUL_COLLECT_RATE_PER_SITE="1000/minute")  # lease 5
    with time_machine.travel(utcnow(), tick=False) as clock:
        admitted = [
            workers[index % 2].wait("collect.site", "shop") is None for index in range(1100)
        ]
        assert 1000 - 2 * 4 <= admitted.count(True) <= 1000
        assert not any(admitted[1000:])
        clock.shift(timedelta(seconds=61))  # a new window: old leases are not spent in it
        again = [workers[index % 2].wait("collect.site", "shop") is None for index in range(20)]
        assert all(again)


def test_an_address_is_counted_locally_then_shared_within_its_bound(tmp_path: Path) -> None:
    # 400/minute: each worker counts an address's first 20 itself, then adds them to the
    # shared count; the limit holds across the two within one allowance of the other's.
    workers = _guards(tmp_path, 2, HEEDFUL_COLLECT_RATE_PER_ADDRESS="400/minute")
    with time_machine.travel(utcnow(), tick=False) as clock:
        key = workers[0].address_key("198.51.100.7")
        admitted = [workers[index % 2].wait("collect.address", key) is None for index in range(600)]
        assert 400 <= admitted.count(True) <= 400 + 20
        assert not any(admitted[440:])
        # A light visitor never reaches the shared count: its file entry stays empty.
        light = workers[0].address_key("203.0.113.9")
        assert all(workers[0].wait("collect.address", light) is None for _ in range(19))
        assert workers[0].storage.get(workers[0]._keys("collect.address", light)[0][1]) == 0
        clock.shift(timedelta(seconds=61))
        assert workers[1].wait("collect.address", key) is None


def test_small_limits_are_counted_exactly_across_workers(tmp_path: Path) -> None:
    workers = _guards(tmp_path, 2, HEEDFUL_COLLECT_RATE_PER_ADDRESS="30/minute")
    with time_machine.travel(utcnow(), tick=False):
        admitted = [workers[i % 2].wait("collect.address", "k") is None for i in range(40)]
        assert admitted.count(True) == 30 and all(admitted[:30])
