"""Hostile input (issue 16, finding 4) and storage failures (finding 5), on both databases.

Every input here once answered 5xx, or is a variant of one that did. Each must answer
4xx (the email pixels: their constant 200), store no row in any table, and never 5xx.
A storage failure must answer 503 with Retry-After on every endpoint; a 201 never
carries Retry-After.

``HEEDFUL_HOSTILE_REPORT=FILE`` writes every input tried and the status it got, for the
issue's closing note.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter

from app.email.pixel import PIXEL_GIF
from app.extensions import db
from tests.conftest import BACKEND, SITE_KEY, SITE_ORIGIN, TEST_SECRET, give_consent
from tests.email.conftest import role_headers
from tests.helpers import csrf_token_from, extra_app, fast_argon2, login  # noqa: F401

CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
)
SURROGATE = "\ud800"
LONG = "x" * 3000
PASSWORD = "correct horse 1"

TRIED: list[tuple[str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    target = os.environ.get("HEEDFUL_HOSTILE_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            for label, status in TRIED:
                out.write(f"{BACKEND}\t{status}\t{label}\n")


@pytest.fixture(autouse=True)
def _real_error_handling(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    # TESTING propagates exceptions to the test client; here a 500 must be seen as a 500.
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        counts = {
            table.name: db.session.scalar(select(func.count()).select_from(table)) or 0
            for table in db.metadata.sorted_tables
        }
        db.session.remove()
    return counts


@dataclass
class World:
    """A site, a granted consent, a campaign and staff credentials: hostile input then
    has every chance to reach the storage."""

    app: Flask
    client: FlaskClient
    consent_id: str
    auth: dict[str, str]
    campaign_id: int

    def send(self, label: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.open(path, method=method, **kwargs)
        TRIED.append((label, str(response.status_code)))
        return response


@pytest.fixture
def world(app: Flask, client: FlaskClient, site: str) -> World:
    consent_id = give_consent(client, site)["consent_id"]
    auth = role_headers(app, "admin")
    response = client.post(
        "/api/v1/email/campaigns", json={"site": site, "name": "Autumn"}, headers=auth
    )
    assert response.status_code == 201
    return World(app, client, consent_id, auth, response.get_json()["campaign_id"])


def assert_refused(world: World, response: Any, before: dict[str, int], label: str) -> None:
    assert 400 <= response.status_code < 500, (label, response.status_code, response.data[:200])
    assert "Retry-After" not in response.headers, label
    if response.mimetype == "application/json":
        assert isinstance(response.get_json()["error"], str)
    assert row_counts(world.app) == before, f"{label} stored a row"


# --- JSON bodies: NUL and lone surrogates in every string field -------------------------


def consent_body(**overrides: Any) -> dict[str, Any]:
    body = {"site": SITE_KEY, "policy_version": 1, "choices": {}, "method": "custom", "lang": "en"}
    body.update(overrides)
    return body


def collect_body(world: World, event: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    base_event = {"type": "pageview", "url": SITE_ORIGIN + "/shop", "title": "Shop"}
    body: dict[str, Any] = {"site": SITE_KEY, "consent_id": world.consent_id}
    body["events"] = [{**base_event, **(event or {})}]
    body.update(top)
    return body


def _hostile_strings() -> list[tuple[str, str]]:
    return [("lone surrogate", SURROGATE), ("low surrogate", "a\udfffb"), ("NUL", "a\x00b")]


def _json_cases() -> list[tuple[str, str, Callable[[World], dict[str, Any]]]]:
    cases: list[tuple[str, str, Callable[[World], dict[str, Any]]]] = []
    for name, bad in _hostile_strings():
        for field in ("site", "consent_id", "method", "lang"):
            cases.append(
                (
                    f"consent {field}: {name}",
                    "/api/v1/consent",
                    lambda w, f=field, b=bad: consent_body(**{f: b}),
                )
            )
        cases.append(
            (
                f"consent choices key: {name}",
                "/api/v1/consent",
                lambda w, b=bad: consent_body(choices={"analytics" + b: True}),
            )
        )
        cases.append(
            (
                f"consent unknown key: {name}",
                "/api/v1/consent",
                lambda w, b=bad: {**consent_body(), b: 1},
            )
        )
        for field in ("site", "consent_id"):
            cases.append(
                (
                    f"collect {field}: {name}",
                    "/api/v1/collect",
                    lambda w, f=field, b=bad: collect_body(w, **{f: b}),
                )
            )
        for field, kind in (
            ("url", "pageview"),
            ("title", "pageview"),
            ("referrer", "pageview"),
            ("target", "outbound"),
            ("query", "search"),
        ):
            cases.append(
                (
                    f"collect event {field}: {name}",
                    "/api/v1/collect",
                    lambda w, f=field, k=kind, b=bad: collect_body(
                        w,
                        {
                            "type": k,
                            "target": SITE_ORIGIN + "/x",
                            "query": "shoes",
                            f: (SITE_ORIGIN + "/p" + b)
                            if f in ("url", "target", "referrer")
                            else b,
                        },
                    ),
                )
            )
        cases.append(
            (
                f"collect event type: {name}",
                "/api/v1/collect",
                lambda w, b=bad: collect_body(w, {"type": "pageview" + b}),
            )
        )
        for field in ("site", "name", "sent_at"):
            cases.append(
                (
                    f"campaign {field}: {name}",
                    "/api/v1/email/campaigns",
                    lambda w, f=field, b=bad: {
                        "site": SITE_KEY,
                        "name": "N",
                        "sent_at": "2026-09-01T09:00:00Z",
                        f: b,
                    },
                )
            )
        for field in ("email", "source"):
            cases.append(
                (
                    f"recipient {field}: {name}",
                    "/api/v1/email/recipients",
                    lambda w, f=field, b=bad: {
                        "email": "ann@example.com",
                        "consent": {"email_tracking": True},
                        "source": "api",
                        f: b,
                    },
                )
            )
        cases.append(
            (
                f"recipient consent key: {name}",
                "/api/v1/email/recipients",
                lambda w, b=bad: {
                    "email": "ann@example.com",
                    "consent": {"email_tracking": True, b: True},
                },
            )
        )
    for value in (
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59.999999-00:01",
    ):
        cases.append(
            (
                f"campaign sent_at {value}",
                "/api/v1/email/campaigns",
                lambda w, v=value: {"site": SITE_KEY, "name": "N", "sent_at": v},
            )
        )
    return cases


JSON_CASES = _json_cases()


@pytest.mark.parametrize(("label", "path", "build"), JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_hostile_json_is_refused_and_stores_nothing(
    world: World, label: str, path: str, build: Callable[[World], dict[str, Any]]
) -> None:
    before = row_counts(world.app)
    # json.dumps writes a lone surrogate as the "\ud800" escape json.loads accepts.
    body = json.dumps(build(world))
    response = world.send(
        label,
        "POST",
        path,
        data=body,
        content_type="text/plain;charset=UTF-8",
        headers={"User-Agent": CHROME_UA, "Origin": SITE_ORIGIN, **world.auth},
    )
    assert_refused(world, response, before, label)


def _odd_cases() -> list[tuple[str, str, Callable[[World], dict[str, Any]]]]:
    big_title = {"type": "pageview", "url": SITE_ORIGIN + "/", "title": "t" * 1000}
    return [
        (
            "consent policy_version 2^31",
            "/api/v1/consent",
            lambda w: consent_body(policy_version=2**31),
        ),
        (
            "consent policy_version 2^63",
            "/api/v1/consent",
            lambda w: consent_body(policy_version=2**63),
        ),
        (
            "consent policy_version 10^30",
            "/api/v1/consent",
            lambda w: consent_body(policy_version=10**30),
        ),
        (
            "consent policy_version 1e400",
            "/api/v1/consent",
            lambda w: consent_body(policy_version=float("inf")),
        ),
        (
            "consent choices key of 7,000 characters",
            "/api/v1/consent",
            lambda w: consent_body(choices={"k" * 7000: True}),
        ),
        (
            "consent choices value not a boolean",
            "/api/v1/consent",
            lambda w: consent_body(choices={"analytics": "yes"}),
        ),
        (
            "consent consent_id of 64 characters, not issued",
            "/api/v1/consent",
            lambda w: consent_body(consent_id="c" * 64),
        ),
        ("consent lang of 35 characters", "/api/v1/consent", lambda w: consent_body(lang="x" * 35)),
        (
            "collect engaged_ms 2^63",
            "/api/v1/collect",
            lambda w: collect_body(w, {"type": "engagement", "engaged_ms": 2**63}),
        ),
        (
            "collect 50 events of 1,000-character titles (over 32 KiB)",
            "/api/v1/collect",
            lambda w: {**collect_body(w), "events": [big_title] * 50},
        ),
        (
            "collect title with U+FFFF, U+202E and U+FEFF",
            "/api/v1/collect",
            lambda w: collect_body(w, {"title": "\uffff\u202e\ufeffx"}),
        ),
        (
            "collect url without scheme",
            "/api/v1/collect",
            lambda w: collect_body(w, {"url": "//x"}),
        ),
        (
            "collect url javascript:",
            "/api/v1/collect",
            lambda w: collect_body(w, {"url": "javascript:alert(1)"}),
        ),
        (
            "collect url http://[::1",
            "/api/v1/collect",
            lambda w: collect_body(w, {"url": "http://[::1/x"}),
        ),
        (
            "collect url with port 99999",
            "/api/v1/collect",
            lambda w: collect_body(w, {"url": "https://www.example.com:99999/x"}),
        ),
        (
            "campaign name of spaces",
            "/api/v1/email/campaigns",
            lambda w: {"site": SITE_KEY, "name": "   "},
        ),
        (
            "campaign sent_at month 13",
            "/api/v1/email/campaigns",
            lambda w: {"site": SITE_KEY, "name": "N", "sent_at": "2026-13-01T00:00:00Z"},
        ),
        (
            "campaign sent_at offset +24:00",
            "/api/v1/email/campaigns",
            lambda w: {"site": SITE_KEY, "name": "N", "sent_at": "2026-01-01T00:00:00+24:00"},
        ),
        (
            "recipient email of 1,024 characters",
            "/api/v1/email/recipients",
            lambda w: {"email": "a" * 1000 + "@example.com", "consent": {"email_tracking": True}},
        ),
    ]


ODD_CASES = _odd_cases()


@pytest.mark.parametrize(("label", "path", "build"), ODD_CASES, ids=[c[0] for c in ODD_CASES])
def test_odd_json_never_gives_5xx(
    world: World, label: str, path: str, build: Callable[[World], dict[str, Any]]
) -> None:
    before = row_counts(world.app)
    response = world.send(
        label,
        "POST",
        path,
        data=json.dumps(build(world)),
        content_type="application/json",
        headers={"User-Agent": CHROME_UA, "Origin": SITE_ORIGIN, **world.auth},
    )
    assert response.status_code < 500, (label, response.status_code, response.data[:200])
    if response.status_code >= 400:
        assert_refused(world, response, before, label)


def test_raw_surrogate_bytes_and_escaped_backslashes(world: World) -> None:
    before = row_counts(world.app)
    # The UTF-8-like bytes of a surrogate are not UTF-8.
    raw = json.dumps(collect_body(world, {"title": "T"})).replace('"T"', '"\xed\xa0\x80"')
    response = world.send(
        "collect title: surrogate as raw bytes",
        "POST",
        "/api/v1/collect",
        data=raw.encode("latin-1"),
        content_type="application/json",
    )
    assert_refused(world, response, before, "raw surrogate bytes")
    # "\\ud800" is the six characters \ud800 (an escaped backslash), a storable title.
    body = json.dumps(collect_body(world, {"title": "T"})).replace('"T"', '"\\\\ud800 \\\\u0000"')
    response = world.send(
        "collect title: escaped backslash then ud800",
        "POST",
        "/api/v1/collect",
        data=body,
        content_type="application/json",
        headers={"User-Agent": CHROME_UA},
    )
    assert response.status_code == 202 and response.get_json()["accepted"] == 1


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=["\\", "u", "d", "8", "c", "0", "x", "\ud800", "\udc00", "\x00", "\U0001f45f"])
)
def test_the_byte_scan_never_misses_an_unstorable_string(text: str) -> None:
    from app.http import _RISKY_ESCAPE, _UNSTORABLE

    raw = json.dumps({"k": text}).encode()
    # json.loads joins an escaped high + low pair into one character: test what it builds.
    if _UNSTORABLE.search(json.loads(raw)["k"]):
        assert _RISKY_ESCAPE.search(raw)


def test_a_surrogate_pair_is_an_emoji_and_is_stored(world: World) -> None:
    from app.models.analytics import Event

    body = json.dumps(collect_body(world, {"title": "Shoes \U0001f45f"}))
    assert "\\ud83d\\udc5f" in body  # the escaped pair the fast scan sees
    response = world.send(
        "collect title: surrogate pair (emoji)",
        "POST",
        "/api/v1/collect",
        data=body,
        content_type="text/plain",
        headers={"User-Agent": CHROME_UA},
    )
    assert response.status_code == 202 and response.get_json()["accepted"] == 1
    with world.app.app_context():
        assert db.session.scalars(select(Event.title)).all() == ["Shoes \U0001f45f"]
        db.session.remove()


# --- path parameters, generically over the URL map ---------------------------------------

_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
PIXEL_ENDPOINTS = {"email_pixel.open_pixel", "email_pixel.read_pixel"}
# value as it travels in the URL; whether it must be refused outright.
PATH_VALUES = [
    ("NUL", "%00", True),
    ("NUL inside", "abc%00def", True),
    ("3,000 characters", LONG, True),
    ("surrogate as UTF-8 bytes", "%ED%A0%80", False),
    ("invalid UTF-8", "%FF%FE", False),
]


def _string_rules(app: Flask) -> list[Any]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if any(not isinstance(c, IntegerConverter) for c in rule._converters.values())
    ]


def _fill(rule: Any, value: str) -> str:
    def one(match: re.Match[str]) -> str:
        converter = rule._converters[match.group(2)]
        return "1" if isinstance(converter, IntegerConverter) else value

    return _ARGUMENT.sub(one, rule.rule)


def test_path_parameters_cover_the_endpoints_that_read_the_database(app: Flask) -> None:
    pairs = {
        (rule.endpoint, method) for rule in _string_rules(app) for method in rule.methods - {"HEAD"}
    }
    database_readers = {
        (e, m)
        for e, m in pairs
        if not e.startswith(("assets.", "demo")) and e not in PIXEL_ENDPOINTS
    }
    assert len(database_readers) >= 10, sorted(database_readers)


@pytest.mark.parametrize(("name", "value", "refused"), PATH_VALUES, ids=[v[0] for v in PATH_VALUES])
def test_hostile_path_parameters_never_give_5xx(
    world: World, name: str, value: str, refused: bool
) -> None:
    failures = []
    for rule in _string_rules(world.app):
        for method in sorted(rule.methods - {"HEAD"}):
            path = _fill(rule, value)
            before = row_counts(world.app)
            headers = {"Origin": SITE_ORIGIN, "User-Agent": CHROME_UA, **world.auth}
            if method == "OPTIONS":
                headers["Access-Control-Request-Method"] = "POST"
            label = f"{method} {rule.rule} with {name}"
            response = world.send(label, method, path, headers=headers)
            status = response.status_code
            if rule.endpoint in PIXEL_ENDPOINTS:
                # "Always 200 with the same bytes"; OPTIONS is Flask's automatic answer.
                ok = status == 200
                if method == "GET":
                    ok = ok and response.data.startswith(PIXEL_GIF[:13])
            elif refused:
                ok = 400 <= status < 500
            else:
                ok = status < 500
            if not ok or row_counts(world.app) != before:
                failures.append((label, status))
    assert not failures


@pytest.mark.parametrize(
    "name",
    [
        "%00",
        "heedful.js%00",
        "heedful%00.js",
        LONG + ".js",
        "..%2f..%2fpyproject.toml",
        "%ED%A0%80.js",
    ],
)
def test_hostile_banner_asset_names_are_404(world: World, name: str) -> None:
    response = world.send(
        f"GET /static/consent-banner/{name[:40]}", "GET", f"/static/consent-banner/{name}"
    )
    assert response.status_code == 404
    assert response.get_json()["error"]


# --- query strings, form fields and headers ----------------------------------------------


def test_nul_in_query_strings_is_refused(world: World) -> None:
    for label, path in (
        ("policy ?lang=NUL", f"/api/v1/sites/{SITE_KEY}/policy?lang=en%00"),
        ("status ?x=NUL", f"/api/v1/consent/{world.consent_id}?x%00=1"),
        (
            "pixel URL ?recipient=NUL",
            f"/api/v1/email/campaigns/{world.campaign_id}/pixel?recipient=1%00",
        ),
        ("email report ?campaign=NUL", f"/api/v1/reports/{SITE_KEY}/email?campaign=%00"),
        ("login ?next=NUL", "/admin/login?next=/admin/%00"),
    ):
        before = row_counts(world.app)
        response = world.send(label, "GET", path, headers=world.auth)
        assert_refused(world, response, before, label)


@pytest.mark.usefixtures("fast_argon2")
def test_nul_in_admin_forms_is_refused(world: World) -> None:
    from tests.helpers import add_user

    add_user(world.app, "staff@example.com", "admin", PASSWORD)
    client = world.app.test_client()
    before = row_counts(world.app)
    page = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login",
        data={
            "email": "staff@example.com\x00",
            "password": PASSWORD,
            "csrf_token": csrf_token_from(page),
        },
    )
    TRIED.append(("admin login form: NUL in email", str(response.status_code)))
    assert_refused(world, response, before, "login NUL")
    assert login(client, "staff@example.com", PASSWORD).status_code == 302
    before = row_counts(world.app)
    token = csrf_token_from(client.get("/admin/email/").get_data(as_text=True))
    for label, fields in (
        ("admin campaign form: NUL in name", {"campaign-name": "Autumn\x00"}),
        ("admin campaign form: NUL in site", {"campaign-site": SITE_KEY + "\x00"}),
    ):
        data = {
            "campaign-site": SITE_KEY,
            "campaign-name": "Autumn",
            "campaign-csrf_token": token,
            **fields,
        }
        response = client.post("/admin/email/campaigns", data=data)
        TRIED.append((label, str(response.status_code)))
        assert response.status_code < 500 and response.status_code != 302, label
        assert row_counts(world.app) == before, label
    response = client.post(
        "/admin/email/recipients/import",
        data={
            "import-csv_file": (
                io.BytesIO(b"email,email_tracking,source\nann\x00@example.com,true,cr\x00m\n"),
                "p.csv",
            ),
            "import-source": "crm_import",
            "import-csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    TRIED.append(("admin CSV import: NUL in cells", str(response.status_code)))
    assert response.status_code < 500
    assert row_counts(world.app) == before


def test_nul_in_headers_stores_nothing_raw(world: World) -> None:
    for label, headers in (
        ("collect User-Agent with NUL", {"User-Agent": "Foo\x00Bar/1.0 (\x00)"}),
        ("collect Origin with NUL", {"Origin": "https://www.example.com\x00.evil"}),
        ("collect Sec-GPC with NUL", {"Sec-GPC": "1\x00"}),
    ):
        response = world.send(
            label,
            "POST",
            "/api/v1/collect",
            data=json.dumps(collect_body(world)),
            content_type="text/plain",
            headers=headers,
        )
        assert response.status_code in (202, 403), label
    before = row_counts(world.app)
    response = world.send(
        "bearer token with NUL",
        "POST",
        "/api/v1/email/campaigns",
        json={"site": SITE_KEY, "name": "N"},
        headers={"Authorization": "Bearer abc\x00def"},
    )
    assert_refused(world, response, before, "bearer NUL")


# --- broken request bodies on a real server ----------------------------------------------

BROKEN_BODIES = {
    "chunk size not hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "negative chunk size": b"-5\r\n{}\r\n0\r\n\r\n",
    "chunk cut short": b'100\r\n{"site":',
    "no chunk terminator": b"2\r\n{}",
    "chunk size 2^64": b"ffffffffffffffff\r\n{}",
}


def raw_request(port: int, head: bytes, body: bytes) -> int:
    """Send ``head`` + ``body``, close our side, and return the status the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    assert match, answer[:200]
    return int(match.group(1))


def chunked_head(path: str, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()


def short_head(path: str, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 400\r\nConnection: close\r\n\r\n"
    ).encode()


FORM = "application/x-www-form-urlencoded"
BODY_POSTS = (
    ("/api/v1/consent", "application/json"),
    ("/api/v1/collect", "text/plain;charset=UTF-8"),
    ("/admin/login", FORM),
    ("/p/not-a-token", FORM),
    ("/admin/login", "multipart/form-data; boundary=b"),
)


def _replay_broken_bodies(app: Flask, port: int, server: str) -> None:
    failures = []
    before = row_counts(app)
    for path, kind in BODY_POSTS:
        sent = [
            (f"chunked, {name}", chunked_head(path, kind), body)
            for name, body in BROKEN_BODIES.items()
        ]
        sent.append(("body shorter than Content-Length", short_head(path, kind), b'{"site": "'))
        for name, head, body in sent:
            status = raw_request(port, head, body)
            TRIED.append((f"{server}: POST {path} ({kind.split(';')[0]}), {name}", str(status)))
            if not 400 <= status < 500:
                failures.append((path, name, status))
    assert not failures, server
    assert row_counts(app) == before


def test_broken_bodies_on_werkzeug(app: Flask, site: str) -> None:
    from tests.conftest import LiveServer

    with LiveServer(app) as server:
        _replay_broken_bodies(app, server.server.server_port, "werkzeug")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_broken_bodies_on_gunicorn(app: Flask, database_url: str, site: str) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "HEEDFUL_ENV": "development",
        "HEEDFUL_SECRET_KEY": TEST_SECRET,
        "HEEDFUL_DATABASE_URL": database_url,
        "HEEDFUL_GEOIP_CITY_DB": "",
        "HEEDFUL_GEOIP_ASN_DB": "",
    }
    env.pop("HEEDFUL_REDIS_URL", None)
    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "1",
        "-k",
        "gthread",
        "--threads",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(root),
        "wsgi:app",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        _replay_broken_bodies(app, port, "gunicorn")
    finally:
        process.terminate()
        process.wait(timeout=15)
        process.stderr.close()


# --- storage failures: 503 with Retry-After on every endpoint ------------------------------


def _storage_calls(consent_id: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        ("consent", "POST", "/api/v1/consent", {"json": consent_body(choices={"analytics": True})}),
        ("policy", "GET", f"/api/v1/sites/{SITE_KEY}/policy", {}),
        ("status", "GET", f"/api/v1/consent/{consent_id}", {}),
        ("withdraw", "POST", f"/api/v1/consent/{consent_id}/withdraw", {}),
        ("data", "GET", f"/api/v1/consent/{consent_id}/data", {}),
        ("erase", "DELETE", f"/api/v1/consent/{consent_id}/data", {}),
        ("campaign", "POST", "/api/v1/email/campaigns", {"json": {"site": SITE_KEY, "name": "N"}}),
    ]


def is_unavailable(response: Any) -> bool:
    """503, Retry-After in seconds, and the error shape of the page's kind."""
    if response.status_code != 503 or not response.headers.get("Retry-After", "").isdigit():
        return False
    if response.mimetype == "application/json":
        return bool(response.get_json()["error"])
    return response.mimetype == "text/html"


def test_a_failing_session_answers_503_and_keeps_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.storage.cache import shared_cache

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    before = row_counts(world.app)
    failures = []
    for label, method, path, kwargs in _storage_calls(world.consent_id):
        with world.app.app_context():
            shared_cache().clear()
        with monkeypatch.context() as patch:
            for name in ("execute", "scalar", "scalars", "get", "flush", "commit"):
                patch.setattr(Session, name, down)
            response = world.send(
                f"storage down (patched session): {label}",
                method,
                path,
                headers=world.auth,
                **kwargs,
            )
        if not is_unavailable(response):
            failures.append((label, response.status_code))
    assert not failures
    assert row_counts(world.app) == before


def _stopped_database_url(tmp_path: Path) -> str:
    if BACKEND == "sqlite":
        return f"sqlite:///{tmp_path}/missing/dir/heedful.db"
    return "postgresql+psycopg://postgres@127.0.0.1:1/stopped?connect_timeout=2"


def test_a_stopped_database_answers_503_everywhere(tmp_path: Path) -> None:
    with extra_app(
        _stopped_database_url(tmp_path),
        tmp_path / "instance",
        TESTING=False,
        PROPAGATE_EXCEPTIONS=False,
    ) as stopped:
        client = stopped.test_client()
        headers = {"Authorization": "Bearer whatever"}
        failures = []
        for label, method, path, kwargs in _storage_calls("c" * 32):
            response = client.open(path, method=method, headers=headers, **kwargs)
            TRIED.append((f"stopped database: {label}", str(response.status_code)))
            if not is_unavailable(response):
                failures.append((label, response.status_code))
        page = client.get("/demo")
        TRIED.append(("stopped database: /demo (HTML)", str(page.status_code)))
        if not (is_unavailable(page) and b"503" in page.data):
            failures.append(("/demo", page.status_code))
        assert not failures
        asset = client.get("/static/consent-banner/heedful.js")
        assert asset.status_code == 200  # the banner needs no database


def test_unreachable_redis_never_gives_500(database_url: str, tmp_path: Path, site: str) -> None:
    with extra_app(
        database_url,
        tmp_path,
        TESTING=False,
        PROPAGATE_EXCEPTIONS=False,
        HEEDFUL_REDIS_URL="redis://127.0.0.1:1/0",
    ) as cut_off:
        client = cut_off.test_client()
        response = client.post("/api/v1/consent", json=consent_body(choices={"analytics": True}))
        consent_id = (response.get_json() or {}).get("consent_id", "c" * 32)
        calls = _storage_calls(consent_id)[1:4]
        responses = [response] + [
            client.open(path, method=method, **kwargs) for _, method, path, kwargs in calls
        ]
        for (label, *_), answer in zip(_storage_calls(consent_id)[:4], responses, strict=True):
            TRIED.append((f"Redis unreachable: {label}", str(answer.status_code)))
            assert answer.status_code < 500 or is_unavailable(answer), label


def test_a_201_never_carries_retry_after(database_url: str, tmp_path: Path, site: str) -> None:
    # Rate limits on, as in production: Flask-Limiter's headers put Retry-After on a 201.
    with extra_app(
        database_url, tmp_path, RATELIMIT_ENABLED=True, HEEDFUL_CONSENT_RATE="2/minute"
    ) as limited:
        client = limited.test_client()
        response = client.post("/api/v1/consent", json=consent_body())
        assert response.status_code == 201
        assert "Retry-After" not in response.headers
        # The limits were on: the third consent in the minute is refused, and says when.
        assert client.post("/api/v1/consent", json=consent_body()).status_code == 201
        refused = client.post("/api/v1/consent", json=consent_body())
        assert refused.status_code == 429 and refused.headers.get("Retry-After")
        auth = role_headers(limited, "marketing")
        response = client.post(
            "/api/v1/email/campaigns", json={"site": SITE_KEY, "name": "N"}, headers=auth
        )
        assert response.status_code == 201 and "Retry-After" not in response.headers


@pytest.mark.parametrize("value", ["\ud800", "x\udfff", "a\x00", "\x7f"])
def test_require_str_refuses_what_cannot_be_stored(value: str) -> None:
    # The one string check of every field, also for data that did not come through
    # parse_json_body (a dict built by a caller).
    from app.errors import ApiError
    from app.http import require_str

    with pytest.raises(ApiError) as refused:
        require_str({"title": value}, "title", max_len=100)
    assert refused.value.status == 400 and "title" in refused.value.message
    assert require_str({"title": "Shoes \U0001f45f"}, "title", max_len=100) == "Shoes \U0001f45f"
