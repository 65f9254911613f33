"""Public consent API: the policy, recording a choice, receipts, CORS (CONTRACT.md, "Consent")."""

from __future__ import annotations

import base64
import copy
import io
import json
import string
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.consent.policy import update_policy
from app.consent.receipt import verify_receipt
from app.extensions import db
from app.models import ConsentRecord, PolicyVersion
from app.sites.registry import PolicyError, get_site
from tests.conftest import SITE_KEY, SITE_ORIGIN, give_consent
from tests.helpers import extra_app

CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
CATEGORIES = ["necessary", "analytics", "marketing", "preferences"]


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "site": SITE_KEY,
        "policy_version": 1,
        "choices": {},
        "method": "accept_all",
        "lang": "en",
    }
    body.update(overrides)
    return body


def _records(app: Flask, consent_id: str | None = None) -> list[ConsentRecord]:
    with app.app_context():
        query = select(ConsentRecord).order_by(ConsentRecord.id)
        if consent_id:
            query = query.where(ConsentRecord.consent_id == consent_id)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        db.session.remove()
    return rows


# --- policy -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "fr", "es", "en"])
def test_policy_in_each_shipped_language(client: FlaskClient, site: str, lang: str) -> None:
    response = client.get(f"/api/v1/sites/{site}/policy?lang={lang}")
    assert response.status_code == 200
    policy = response.get_json()
    assert policy["site"] == site
    assert policy["lang"] == lang
    assert policy["policy_version"] == 1
    assert [c["key"] for c in policy["categories"]] == CATEGORIES
    required = {c["key"]: c["required"] for c in policy["categories"]}
    assert required == {
        "necessary": True,
        "analytics": False,
        "marketing": False,
        "preferences": False,
    }
    for category in policy["categories"]:
        assert category["label"] and category["description"]
    assert policy["consent_days"] == 182
    assert policy["refusal_days"] == 182
    assert policy["texts"]["title"]


def test_policy_texts_differ_by_language(client: FlaskClient, site: str) -> None:
    titles = {
        lang: client.get(f"/api/v1/sites/{site}/policy?lang={lang}").get_json()["texts"]["title"]
        for lang in ("en", "de", "fr", "es")
    }
    assert len(set(titles.values())) == 4


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("xx", "en"), ("de-AT", "de"), ("fr-CA", "fr"), ("es_MX", "es"), ("", "en"), (None, "en")],
)
def test_policy_language_fallback(
    client: FlaskClient, site: str, requested: str | None, expected: str
) -> None:
    url = f"/api/v1/sites/{site}/policy" + ("" if requested is None else f"?lang={requested}")
    assert client.get(url).get_json()["lang"] == expected


def test_policy_unknown_site_is_404(client: FlaskClient, site: str) -> None:
    response = client.get("/api/v1/sites/nope/policy")
    assert response.status_code == 404
    assert "error" in response.get_json()


def _site(app: Flask):
    return get_site(SITE_KEY)


def test_consent_days_capped_at_395(app: Flask, site: str) -> None:
    with app.app_context():
        with pytest.raises(PolicyError, match="395"):
            update_policy(_site(app), consent_days=396)
        with pytest.raises(PolicyError):
            update_policy(_site(app), refusal_days=0)
        assert update_policy(_site(app), consent_days=395).consent_days == 395
        db.session.remove()


def test_policy_changes_make_new_versions_and_no_change_makes_none(app: Flask, site: str) -> None:
    with app.app_context():
        current = _site(app).current_policy
        categories = copy.deepcopy(current.categories)
        texts = copy.deepcopy(current.texts)
        # Nothing changed: same version, no new row.
        assert update_policy(_site(app), categories=categories, texts=texts).version == 1
        # A new category (with its English label) is a new version.
        categories.append({"key": "email_tracking", "required": False})
        texts["en"]["categories"]["email_tracking"] = {"label": "Email", "description": "Opens"}
        assert update_policy(_site(app), categories=categories, texts=texts).version == 2
        # A changed text alone is a new version.
        texts = copy.deepcopy(texts)
        texts["de"]["title"] = "Datenschutz"
        assert update_policy(_site(app), texts=texts).version == 3
        # A changed duration is a new version; repeating it is not.
        assert update_policy(_site(app), refusal_days=30).version == 4
        assert update_policy(_site(app), refusal_days=30).version == 4
        versions = db.session.scalars(select(PolicyVersion.version).order_by(PolicyVersion.version))
        assert list(versions) == [1, 2, 3, 4]
        db.session.remove()


def test_invalid_policies_are_refused(app: Flask, site: str) -> None:
    with app.app_context():
        current = _site(app).current_policy
        without_analytics = [c for c in current.categories if c["key"] != "analytics"]
        with pytest.raises(PolicyError):
            update_policy(_site(app), categories=without_analytics)
        optional_necessary = copy.deepcopy(current.categories)
        optional_necessary[0]["required"] = False
        with pytest.raises(PolicyError):
            update_policy(_site(app), categories=optional_necessary)
        texts = copy.deepcopy(current.texts)
        texts["not a tag"] = {}
        with pytest.raises(PolicyError):
            update_policy(_site(app), texts=texts)
        # Longer than the record's lang column: refused here rather than failing at insert.
        texts = copy.deepcopy(current.texts)
        texts["zh-Hant-TW-x1234567"] = {"title": "x"}
        with pytest.raises(PolicyError):
            update_policy(_site(app), texts=texts)
        assert _site(app).current_policy.version == 1
        db.session.remove()


def test_site_adding_arabic_serves_it_right_to_left(
    app: Flask, client: FlaskClient, site: str
) -> None:
    with app.app_context():
        texts = copy.deepcopy(_site(app).current_policy.texts)
        texts["ar"] = {
            "dir": "rtl",
            "title": "خيارات الخصوصية",
            "categories": {"analytics": {"label": "التحليلات"}},
        }
        update_policy(_site(app), texts=texts)
        db.session.remove()
    policy = client.get(f"/api/v1/sites/{site}/policy?lang=ar").get_json()
    assert policy["policy_version"] == 2
    assert policy["lang"] == "ar"
    assert policy["texts"]["dir"] == "rtl"
    assert policy["texts"]["title"] == "خيارات الخصوصية"
    labels = {c["key"]: c["label"] for c in policy["categories"]}
    assert labels["analytics"] == "التحليلات"
    assert labels["marketing"] == "Marketing"  # English fills the gaps
    # Other languages are unaffected.
    assert client.get(f"/api/v1/sites/{site}/policy?lang=de").get_json()["texts"]["dir"] == "ltr"


# --- recording choices -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "choices", "expected"),
    [
        ("accept_all", {}, dict.fromkeys(CATEGORIES, True)),
        (
            "reject_all",
            {"analytics": True},
            {"necessary": True, "analytics": False, "marketing": False, "preferences": False},
        ),
        (
            "custom",
            {"analytics": True},
            {"necessary": True, "analytics": True, "marketing": False, "preferences": False},
        ),
        (
            "custom",
            {"necessary": False, "preferences": True},
            {"necessary": True, "analytics": False, "marketing": False, "preferences": True},
        ),
    ],
)
def test_effective_choices(
    app: Flask, client: FlaskClient, site: str, method: str, choices: dict, expected: dict
) -> None:
    given = give_consent(client, method=method, choices=choices)
    assert given["choices"] == expected
    [record] = _records(app, given["consent_id"])
    assert record.choices == expected
    assert record.method == method
    assert record.seq == 1
    assert record.kind == "choice"


def test_unknown_category_is_400_and_nothing_stored(
    app: Flask, client: FlaskClient, site: str
) -> None:
    response = client.post(
        "/api/v1/consent", json=_body(method="custom", choices={"telemetry": True})
    )
    assert response.status_code == 400
    assert "telemetry" in response.get_json()["error"]
    assert _records(app) == []


def test_consent_id_is_server_made_with_at_least_128_random_bits(
    client: FlaskClient, site: str
) -> None:
    ids = {give_consent(client)["consent_id"] for _ in range(40)}
    assert len(ids) == 40
    alphabet = set(string.ascii_letters + string.digits + "-_")
    for consent_id in ids:
        assert set(consent_id) <= alphabet
        raw = base64.urlsafe_b64decode(consent_id + "=" * (-len(consent_id) % 4))
        assert len(raw) * 8 >= 128
    # Across 40 ids every position varies: no fixed prefix or counter.
    assert all(len({cid[i] for cid in ids}) > 1 for i in range(22))


def test_existing_consent_id_appends_to_its_history(
    app: Flask, client: FlaskClient, site: str
) -> None:
    first = give_consent(client)
    second = give_consent(client, method="reject_all", consent_id=first["consent_id"])
    assert second["consent_id"] == first["consent_id"]
    records = _records(app, first["consent_id"])
    assert [r.seq for r in records] == [1, 2]
    assert [r.method for r in records] == ["accept_all", "reject_all"]
    assert records[0].record_uid != records[1].record_uid


def test_unknown_consent_id_mints_a_new_one(app: Flask, client: FlaskClient, site: str) -> None:
    chosen = "A" * 32
    given = give_consent(client, consent_id=chosen)
    assert given["consent_id"] != chosen
    assert _records(app, chosen) == []


def test_other_sites_consent_id_mints_a_new_one(app: Flask, client: FlaskClient, site: str) -> None:
    from app.sites.registry import create_site

    with app.app_context():
        create_site("Other", ["other.org"], key="othersite")
        db.session.remove()
    theirs = give_consent(client, "othersite")["consent_id"]
    ours = give_consent(client, consent_id=theirs)["consent_id"]
    assert ours != theirs
    assert [r.site_id for r in _records(app, theirs)] == [_records(app, theirs)[0].site_id]
    assert len(_records(app, theirs)) == 1


def test_stale_policy_version_is_409_with_current_version(
    app: Flask, client: FlaskClient, site: str
) -> None:
    with app.app_context():
        update_policy(_site(app), consent_days=100)
        db.session.remove()
    response = client.post("/api/v1/consent", json=_body(policy_version=1))
    assert response.status_code == 409
    body = response.get_json()
    assert body["policy_version"] == 2
    assert body["error"]
    assert _records(app) == []
    assert client.post("/api/v1/consent", json=_body(policy_version=2)).status_code == 201


def test_stale_policy_409_is_readable_by_the_banner(
    app: Flask, client: FlaskClient, site: str
) -> None:
    """A browser only shows the 409 (and its current version) to the page with CORS headers."""
    with app.app_context():
        update_policy(_site(app), consent_days=100)
        db.session.remove()
    response = client.post(
        "/api/v1/consent", json=_body(policy_version=1), headers={"Origin": SITE_ORIGIN}
    )
    assert response.status_code == 409
    assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    foreign = client.post(
        "/api/v1/consent", json=_body(policy_version=1), headers={"Origin": "https://evil.test"}
    )
    assert foreign.status_code == 403
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_future_policy_version_is_409(client: FlaskClient, site: str) -> None:
    assert client.post("/api/v1/consent", json=_body(policy_version=7)).status_code == 409


BAD_BODIES: list[tuple[str, Any, int]] = [
    ("invalid json", b"{not json", 400),
    ("truncated json", b'{"site": "testsite"', 400),
    ("not utf-8", b'{"site": "\xff\xfe"}', 400),
    ("array", b"[1, 2]", 400),
    ("string", b'"hello"', 400),
    ("null", b"null", 400),
    ("empty", b"", 400),
    ("deeply nested", b"[" * 4000 + b"]" * 4000, 400),
    ("policy_version as string", json.dumps(_body(policy_version="1")).encode(), 400),
    ("policy_version as bool", json.dumps(_body(policy_version=True)).encode(), 400),
    ("policy_version as float", json.dumps(_body(policy_version=1.0)).encode(), 400),
    ("policy_version zero", json.dumps(_body(policy_version=0)).encode(), 400),
    (
        "policy_version missing",
        json.dumps({"site": SITE_KEY, "method": "accept_all"}).encode(),
        400,
    ),
    ("choices list", json.dumps(_body(choices=["analytics"])).encode(), 400),
    ("choices null", json.dumps(_body(choices=None)).encode(), 400),
    (
        "choice as string",
        json.dumps(_body(method="custom", choices={"analytics": "true"})).encode(),
        400,
    ),
    (
        "choice as number",
        json.dumps(_body(method="custom", choices={"analytics": 1})).encode(),
        400,
    ),
    ("method unknown", json.dumps(_body(method="accept_some")).encode(), 400),
    (
        "method missing",
        json.dumps({k: v for k, v in _body().items() if k != "method"}).encode(),
        400,
    ),
    ("method number", json.dumps(_body(method=3)).encode(), 400),
    ("site missing", json.dumps({k: v for k, v in _body().items() if k != "site"}).encode(), 400),
    ("site as object", json.dumps(_body(site={"key": SITE_KEY})).encode(), 400),
    ("control char in site", json.dumps(_body(site="test\x00site")).encode(), 400),
    ("control char in lang", json.dumps(_body(lang="en\n")).encode(), 400),
    ("control char in consent_id", json.dumps(_body(consent_id="abc\x1b")).encode(), 400),
    ("consent_id as number", json.dumps(_body(consent_id=12345)).encode(), 400),
    ("consent_id too long", json.dumps(_body(consent_id="a" * 65)).encode(), 400),
    ("gpc as string", json.dumps(_body(gpc="1")).encode(), 400),
    ("lang as list", json.dumps(_body(lang=["en"])).encode(), 400),
    (
        "too many choices",
        json.dumps(_body(method="custom", choices={f"c{i}": True for i in range(40)})).encode(),
        400,
    ),
    ("unknown site", json.dumps(_body(site="nosuchsite")).encode(), 404),
]


@pytest.mark.parametrize(("name", "raw", "status"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_malformed_bodies_get_a_clear_4xx(
    app: Flask, client: FlaskClient, site: str, name: str, raw: bytes, status: int
) -> None:
    response = client.post("/api/v1/consent", data=raw, content_type="application/json")
    assert response.status_code == status, response.get_data(as_text=True)
    assert isinstance(response.get_json()["error"], str)
    assert _records(app) == []


def test_oversized_body_is_413(app: Flask, client: FlaskClient, site: str) -> None:
    body = _body(lang="en", padding="x" * (8 * 1024))
    response = client.post("/api/v1/consent", json=body)
    assert response.status_code == 413
    assert "error" in response.get_json()
    # Also when the client does not announce the length up front (chunked upload).
    raw = json.dumps(body).encode()
    response = client.post(
        "/api/v1/consent",
        input_stream=io.BytesIO(raw),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_base={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert _records(app) == []


def test_body_just_under_the_limit_is_accepted(client: FlaskClient, site: str) -> None:
    body = _body()
    body["padding"] = ""
    base = len(json.dumps(body).encode())
    body["padding"] = "x" * (8 * 1024 - base)
    raw = json.dumps(body).encode()
    assert len(raw) == 8 * 1024
    response = client.post("/api/v1/consent", data=raw, content_type="application/json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "application/xml"]
)
def test_wrong_content_type_is_415(
    app: Flask, client: FlaskClient, site: str, content_type: str
) -> None:
    response = client.post("/api/v1/consent", data=json.dumps(_body()), content_type=content_type)
    assert response.status_code == 415
    assert "error" in response.get_json()
    assert _records(app) == []


def test_missing_content_type_is_415(client: FlaskClient, site: str) -> None:
    response = client.post("/api/v1/consent", data=json.dumps(_body()))
    assert response.status_code == 415


def test_text_plain_is_accepted(client: FlaskClient, site: str) -> None:
    response = client.post(
        "/api/v1/consent", data=json.dumps(_body()), content_type="text/plain;charset=UTF-8"
    )
    assert response.status_code == 201
    assert response.get_json()["consent_id"]


def test_random_json_never_causes_a_5xx(client: FlaskClient, site: str) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    values = st.recursive(
        scalars, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=10
    )
    fields = st.fixed_dictionaries(
        {},
        optional={
            "site": st.sampled_from([SITE_KEY, "x"]) | values,
            "policy_version": st.sampled_from([1, 2]) | values,
            "choices": st.dictionaries(st.sampled_from(CATEGORIES + ["x"]), values) | values,
            "method": st.sampled_from(["accept_all", "reject_all", "custom"]) | values,
            "lang": values,
            "consent_id": values,
            "gpc": values,
        },
    )

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fields | values)
    def check(body: Any) -> None:
        response = client.post("/api/v1/consent", json=body)
        assert response.status_code < 500, (body, response.get_data(as_text=True))
        if response.status_code >= 400:
            assert "error" in response.get_json()

    check()


# --- Global Privacy Control ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "choices"),
    [("accept_all", {}), ("custom", {"marketing": True, "analytics": True})],
)
def test_sec_gpc_header_never_records_marketing(
    app: Flask, client: FlaskClient, site: str, method: str, choices: dict
) -> None:
    given = give_consent(client, method=method, choices=choices, headers={"Sec-GPC": "1"})
    assert given["choices"]["marketing"] is False
    assert given["choices"]["analytics"] is True  # GPC leaves other categories alone
    assert given["receipt"]["gpc"] is True
    [record] = _records(app, given["consent_id"])
    assert record.choices["marketing"] is False
    assert record.gpc is True


def test_gpc_in_body_never_records_marketing(app: Flask, client: FlaskClient, site: str) -> None:
    response = client.post("/api/v1/consent", json=_body(gpc=True))
    assert response.status_code == 201
    [record] = _records(app, response.get_json()["consent_id"])
    assert record.choices["marketing"] is False
    assert record.gpc is True


def test_without_gpc_marketing_is_recorded(app: Flask, client: FlaskClient, site: str) -> None:
    given = give_consent(client, headers={"Sec-GPC": "0"})
    [record] = _records(app, given["consent_id"])
    assert record.choices["marketing"] is True
    assert record.gpc is False


# --- what the record keeps, and what it does not -----------------------------------------


def test_record_keeps_texts_hash_lang_method_and_browser_family(
    app: Flask, client: FlaskClient, site: str
) -> None:
    policy = client.get(f"/api/v1/sites/{site}/policy?lang=de-AT").get_json()
    response = client.post(
        "/api/v1/consent",
        json=_body(method="custom", choices={"analytics": True}, lang="de-AT"),
        headers={"User-Agent": CHROME_UA},
    )
    assert response.status_code == 201
    [record] = _records(app, response.get_json()["consent_id"])
    assert record.lang == "de"
    assert record.texts_hash == policy["texts_hash"]
    assert (
        record.texts_hash
        != client.get(f"/api/v1/sites/{site}/policy?lang=en").get_json()["texts_hash"]
    )
    assert record.method == "custom"
    assert record.browser_family == "Chrome"
    assert record.country is None  # no GeoIP database configured
    assert record.policy_version == 1


def test_row_holds_no_ip_address_and_no_user_agent(
    app: Flask, client: FlaskClient, site: str
) -> None:
    response = client.post(
        "/api/v1/consent",
        json=_body(),
        headers={"User-Agent": CHROME_UA, "X-Forwarded-For": "198.51.100.23"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
    )
    assert response.status_code == 201
    with app.app_context():
        table = ConsentRecord.__table__
        assert not {c.name for c in table.columns} & {"ip", "ip_address", "user_agent", "ua"}
        row = db.session.execute(table.select()).mappings().one()
        values = [str(v) for v in row.values() if v is not None]
        db.session.remove()
    joined = " ".join(values)
    for forbidden in (
        "203.0.113.77",
        "198.51.100.23",
        "127.0.0.1",
        "Mozilla",
        "AppleWebKit",
        "X11",
        "Linux x86_64",
        "120.0.0.0",
        CHROME_UA,
    ):
        assert forbidden not in joined
    assert row["browser_family"] == "Chrome"


def _city_db(path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["127.0.0.0/8"]),
        {
            "country": {"iso_code": "DE", "names": {"en": "Germany"}},
            "city": {"names": {"en": "Berlin"}},
            "subdivisions": [{"iso_code": "BE", "names": {"en": "Berlin"}}],
        },
    )
    writer.insert_network(
        IPSet(["198.51.100.0/24"]),  # TEST-NET-2 (RFC 5737)
        {"country": {"iso_code": "FR", "names": {"en": "France"}}},
    )
    writer.to_db_file(str(path))
    return path


def test_country_from_geoip_lands_on_the_record(
    app: Flask, database_url: str, site: str, tmp_path: Path
) -> None:
    city = _city_db(tmp_path / "city.mmdb")
    with extra_app(database_url, tmp_path, HEEDFUL_GEOIP_CITY_DB=str(city)) as geo_app:
        geo_client = geo_app.test_client()
        local = give_consent(geo_client)
        remote = geo_client.post(
            "/api/v1/consent", json=_body(), environ_base={"REMOTE_ADDR": "198.51.100.8"}
        ).get_json()
        unknown = geo_client.post(
            "/api/v1/consent", json=_body(), environ_base={"REMOTE_ADDR": "192.0.2.1"}
        ).get_json()
    assert _records(app, local["consent_id"])[0].country == "DE"
    assert _records(app, remote["consent_id"])[0].country == "FR"
    assert _records(app, unknown["consent_id"])[0].country is None


# --- receipts ------------------------------------------------------------------------------


def test_receipt_follows_iso_27560_and_verifies(app: Flask, client: FlaskClient, site: str) -> None:
    given = give_consent(
        client, method="custom", choices={"analytics": True}, headers={"Sec-GPC": "1"}
    )
    receipt = given["receipt"]
    [record] = _records(app, given["consent_id"])
    assert receipt["schema"].startswith("ISO/IEC TS 27560")
    assert receipt["record_id"] == record.record_uid
    assert receipt["consent_id"] == given["consent_id"]
    assert receipt["controller"]["name"]
    assert receipt["site"]["key"] == site
    assert receipt["notice"] == {
        "policy_version": 1,
        "texts_hash": "sha256:" + record.texts_hash,
        "language": "en",
    }
    assert {p["category"]: p["granted"] for p in receipt["purposes"]} == record.choices
    assert receipt["method"] == "custom"
    assert receipt["recorded_at"] == record.recorded_at.isoformat()
    assert receipt["expires_at"] == record.expires_at.isoformat()
    assert receipt["gpc"] is True
    assert receipt["event"] == "given"
    with app.app_context():
        assert verify_receipt(receipt)
        altered = copy.deepcopy(receipt)
        altered["purposes"][2]["granted"] = not altered["purposes"][2]["granted"]
        assert not verify_receipt(altered)
        assert not verify_receipt({**receipt, "expires_at": "2099-01-01T00:00:00+00:00"})
        # Change the first character: every bit of it is signature (the last one's low bits
        # are base64 padding, so rewriting the tail can leave the same bytes).
        signature = receipt["signature"]
        forged = ("B" if signature[0] == "A" else "A") + signature[1:]
        assert not verify_receipt({**receipt, "signature": forged})
        assert not verify_receipt({k: v for k, v in receipt.items() if k != "signature"})
        assert not verify_receipt({**receipt, "signature": None})


def test_receipt_signed_with_another_key_does_not_verify(
    app: Flask, client: FlaskClient, site: str, database_url: str, tmp_path: Path
) -> None:
    receipt = give_consent(client)["receipt"]
    other_key = "another-secret-" + "y" * 40
    with extra_app(database_url, tmp_path, SECRET_KEY=other_key) as other, other.app_context():
        assert not verify_receipt(receipt)


# --- CORS -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin", [SITE_ORIGIN, "https://example.com", "http://shop.example.com:8080"]
)
def test_registered_origin_is_echoed(client: FlaskClient, site: str, origin: str) -> None:
    response = client.get(f"/api/v1/sites/{site}/policy", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response.headers["Vary"]
    response = client.post("/api/v1/consent", json=_body(), headers={"Origin": origin})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.test",
        "https://badexample.com",
        "https://example.com.evil.test",
        "null",
        "not a url",
    ],
)
def test_foreign_origin_is_403_and_nothing_stored(
    app: Flask, client: FlaskClient, site: str, origin: str
) -> None:
    response = client.get(f"/api/v1/sites/{site}/policy", headers={"Origin": origin})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    response = client.post("/api/v1/consent", json=_body(), headers={"Origin": origin})
    assert response.status_code == 403
    assert "error" in response.get_json()
    assert _records(app) == []


def test_origin_of_another_registered_site_is_refused(
    app: Flask, client: FlaskClient, site: str
) -> None:
    from app.sites.registry import create_site

    with app.app_context():
        create_site("Other", ["other.org"], key="othersite")
        db.session.remove()
    response = client.post("/api/v1/consent", json=_body(), headers={"Origin": "https://other.org"})
    assert response.status_code == 403
    consent_id = give_consent(client)["consent_id"]
    response = client.get(f"/api/v1/consent/{consent_id}", headers={"Origin": "https://other.org"})
    assert response.status_code == 403


def test_preflight_answers_registered_origins_only(client: FlaskClient, site: str) -> None:
    headers = {
        "Origin": SITE_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    response = client.options("/api/v1/consent", headers=headers)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]

    foreign = client.options("/api/v1/consent", headers={**headers, "Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    assert "Access-Control-Allow-Methods" not in foreign.headers


def test_preflight_for_withdraw_and_data(client: FlaskClient, site: str) -> None:
    consent_id = give_consent(client)["consent_id"]
    for path in (f"/api/v1/consent/{consent_id}/withdraw", f"/api/v1/consent/{consent_id}/data"):
        response = client.options(
            path, headers={"Origin": SITE_ORIGIN, "Access-Control-Request-Method": "DELETE"}
        )
        assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN


def test_requests_without_origin_need_no_cors(client: FlaskClient, site: str) -> None:
    response = client.get(f"/api/v1/sites/{site}/policy")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
