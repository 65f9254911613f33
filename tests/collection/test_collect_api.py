"""POST /api/v1/collect: what is stored after consent, and what never is."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy.exc import OperationalError

from app.clock import utcnow
from app.extensions import db
from tests.collection.helpers import CHROME_UA, PAGE, collect, pageview, stored
from tests.conftest import SITE_KEY, SITE_ORIGIN, give_consent


@pytest.fixture
def granted(client, site) -> str:
    return give_consent(client, site)["consent_id"]


def test_a_granted_pageview_is_stored_cleaned_and_reduced(app, client, granted):
    url = SITE_ORIGIN + "/shop?q=Red+Shoes&utm_source=news&token=secret&email=x#frag"
    response = collect(
        client,
        granted,
        [pageview(url, title="  Shop   deals ", referrer="https://news.example/a?b=c")],
    )
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 1, "dropped": 0}
    assert response.headers["Cache-Control"] == "no-store"
    (event,) = stored(app)["events"]
    assert (event.host, event.path) == ("www.example.com", "/shop")
    assert event.query == "q=Red+Shoes&utm_source=news"
    assert event.title == "Shop deals"
    assert event.referrer == "https://news.example"
    assert (event.browser, event.browser_version, event.os, event.device) == (
        "Chrome",
        "128",
        "Windows",
        "desktop",
    )
    assert event.consent_id == granted
    assert len(event.session_id) == 24
    # The full user agent and the address are nowhere in the row.
    values = [str(v) for v in event.as_dict().values()]
    assert not any("Mozilla" in v or "127.0.0.1" in v for v in values)


def test_application_json_is_accepted_too(app, client, granted):
    body = {"site": "testsite", "consent_id": granted, "events": [pageview()]}
    response = client.post("/api/v1/collect", json=body)
    assert response.status_code == 202
    assert stored(app)["event_count"] == 1


@pytest.mark.parametrize(
    ("method", "choices"),
    [("reject_all", {}), ("custom", {"analytics": False, "marketing": True})],
)
def test_refused_analytics_drops_events_and_keeps_only_a_count(app, client, site, method, choices):
    consent_id = give_consent(client, site, method=method, choices=choices)["consent_id"]
    response = collect(client, consent_id, [pageview(), pageview(PAGE + "/2")])
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 0, "dropped": 2}
    result = stored(app)
    assert result["events"] == [] and result["terms"] == []
    assert result["drops"] == {"consent": 2}


def test_custom_consent_with_analytics_is_stored(app, client, site):
    consent_id = give_consent(client, site, method="custom", choices={"analytics": True})[
        "consent_id"
    ]
    assert collect(client, consent_id).get_json() == {"accepted": 1, "dropped": 0}


def test_withdrawal_stops_collection_at_once(app, client, granted):
    assert collect(client, granted).get_json()["accepted"] == 1
    assert client.post(f"/api/v1/consent/{granted}/withdraw").status_code == 200
    assert collect(client, granted).get_json() == {"accepted": 0, "dropped": 1}
    assert stored(app)["event_count"] == 1


def test_unknown_consent_id_is_dropped(app, client, site):
    assert collect(client, "no-such-consent-id").get_json() == {"accepted": 0, "dropped": 1}
    assert stored(app)["events"] == []


def test_a_consent_id_from_another_site_is_dropped(app, client, site):
    from app.sites.registry import create_site

    with app.app_context():
        create_site("Other", ["other.example"], key="othersite")
    foreign = give_consent(client, "othersite")["consent_id"]
    assert collect(client, foreign).get_json() == {"accepted": 0, "dropped": 1}
    assert stored(app)["events"] == []


def test_expired_and_stale_consent_are_dropped(app, client, granted):
    with time_machine.travel(utcnow() + timedelta(days=400)):
        assert collect(client, granted).get_json() == {"accepted": 0, "dropped": 1}
    from app.consent.policy import update_policy
    from app.sites.registry import get_site

    with app.app_context():
        update_policy(get_site("testsite"), consent_days=30)
        db.session.remove()
    assert collect(client, granted).get_json() == {"accepted": 0, "dropped": 1}
    assert stored(app)["events"] == []


LONG = "x" * 3000


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ("[]", 400),
        ('"text"', 400),
        (json.dumps({"site": 5, "consent_id": "c", "events": [{"type": "pageview"}]}), 400),
        (json.dumps({"site": "testsite", "consent_id": "c", "events": {}}), 400),
        (json.dumps({"site": "testsite", "consent_id": "c", "events": []}), 400),
        (json.dumps({"site": "testsite", "consent_id": ["c"], "events": [{}]}), 400),
    ],
)
def test_malformed_bodies_are_refused(app, client, site, body, status):
    response = client.post("/api/v1/collect", data=body, content_type="text/plain")
    assert response.status_code == status
    assert "error" in response.get_json()
    assert stored(app)["drops"] == {}


def _bad_event_cases():
    ok = pageview()
    return {
        "wrong type": {**ok, "type": "click"},
        "url not a string": {**ok, "url": 42},
        "huge url": {**ok, "url": PAGE + "?" + LONG},
        "huge title": {**ok, "title": LONG},
        "control characters": {**ok, "title": "bad\x00title"},
        "newline in url": {**ok, "url": PAGE + "\n"},
        "foreign url": {**ok, "url": "https://evil.example/shop"},
        "look-alike domain": {**ok, "url": "https://badexample.com/"},
        "javascript url": {**ok, "url": "javascript:alert(1)"},
        "engagement without time": {"type": "engagement", "url": PAGE},
        "negative engagement": {"type": "engagement", "url": PAGE, "engaged_ms": -1},
        "absurd engagement": {"type": "engagement", "url": PAGE, "engaged_ms": 10**9},
        "boolean engagement": {"type": "engagement", "url": PAGE, "engaged_ms": True},
        "engagement on a pageview": {**ok, "engaged_ms": 5},
        "download without target": {"type": "download", "url": PAGE},
        "download to ftp": {"type": "download", "url": PAGE, "target": "ftp://x.example/a.pdf"},
        "search without query": {"type": "search", "url": PAGE},
        "unknown field": {**ok, "ip": "203.0.113.7"},
        "not an object": "pageview",
    }


@pytest.mark.parametrize("case", sorted(_bad_event_cases()))
def test_one_bad_event_refuses_the_whole_batch(app, client, granted, case):
    bad = _bad_event_cases()[case]
    response = collect(client, granted, [pageview(), bad])
    assert response.status_code == 400, response.get_json()
    assert stored(app)["events"] == [] and stored(app)["drops"] == {}


def test_unknown_site_is_refused(app, client, granted):
    response = collect(client, granted, site="nosuchsite")
    assert response.status_code == 400
    assert stored(app)["events"] == []


def test_fifty_events_pass_and_fifty_one_do_not(app, client, granted):
    fifty = [pageview(f"{PAGE}/{i}") for i in range(50)]
    assert collect(client, granted, fifty).get_json() == {"accepted": 50, "dropped": 0}
    response = collect(client, granted, [*fifty, pageview()])
    assert response.status_code == 400
    assert stored(app)["event_count"] == 50


def test_a_body_over_32_kib_is_refused(app, client, granted):
    events = [pageview(f"{PAGE}/{i}", title="t" * 700) for i in range(40)]
    body = json.dumps({"site": "testsite", "consent_id": granted, "events": events})
    assert len(body) < 32 * 1024
    # JSON allows trailing whitespace, so the same batch can be padded to any size.
    at_limit = body.ljust(32 * 1024)
    response = client.post("/api/v1/collect", data=at_limit, content_type="text/plain")
    assert response.status_code == 202
    over = body.ljust(33 * 1024)
    response = client.post("/api/v1/collect", data=over, content_type="text/plain")
    assert response.status_code == 413
    assert stored(app)["event_count"] == 40


def test_other_content_types_are_refused(client, granted):
    response = client.post("/api/v1/collect", data="x=1", content_type="application/x-www-form")
    assert response.status_code == 415


def test_unregistered_origin_is_refused_and_registered_one_is_echoed(app, client, granted):
    response = collect(client, granted, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    response = collect(client, granted, headers={"Origin": SITE_ORIGIN})
    assert response.status_code == 202
    assert response.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN
    assert stored(app)["event_count"] == 1


def test_storage_down_answers_503_with_retry_after(app, client, granted, monkeypatch):
    from app.storage.store import RowStore

    def broken_write(self, jobs) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(RowStore, "_write", broken_write)
    response = collect(client, granted)
    monkeypatch.undo()
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert stored(app)["events"] == []


def test_unreachable_database_answers_503(tmp_path):
    from app import create_app
    from tests.conftest import test_config

    url = f"sqlite:///{tmp_path}/missing/dir/heedful.db"
    broken = create_app(test_config(url), instance_path=str(tmp_path / "instance"))
    response = collect(broken.test_client(), "some-consent")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    with broken.app_context():
        db.engine.dispose()


def test_bots_are_counted_never_stored(app, client, granted):
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    response = collect(client, granted, headers={"User-Agent": bot})
    assert response.get_json() == {"accepted": 0, "dropped": 1}
    assert stored(app)["events"] == [] and stored(app)["drops"] == {"bot": 1}


def test_headless_browsers_are_bots_unless_allowed(app, client, granted, monkeypatch):
    headless = CHROME_UA.replace("Chrome/", "HeadlessChrome/")
    monkeypatch.setitem(app.config, "HEEDFUL_ALLOW_HEADLESS", False)
    assert collect(client, granted, headers={"User-Agent": headless}).get_json()["dropped"] == 1
    assert stored(app)["drops"] == {"bot": 1}
    assert stored(app)["events"] == []


def test_drop_counts_add_up_per_site_and_day(app, client, site):
    refused = give_consent(client, site, method="reject_all")["consent_id"]
    collect(client, refused, [pageview()] * 3)
    collect(client, "unknown", [pageview()] * 2)
    assert stored(app)["drops"] == {"consent": 5}


def test_downloads_and_outbound_links(app, client, granted):
    events = [
        {"type": "download", "url": PAGE, "target": SITE_ORIGIN + "/files/list.pdf?sid=1#p2"},
        {
            "type": "outbound",
            "url": PAGE,
            "target": "https://partner.example/offer?ref=abc&utm_source=shop",
        },
        {"type": "outbound", "url": PAGE, "target": "http://192.0.2.10/admin"},
    ]
    assert collect(client, granted, events).get_json()["accepted"] == 3
    targets = {e.type + ":" + str(e.target) for e in stored(app)["events"]}
    assert targets == {
        "download:" + SITE_ORIGIN + "/files/list.pdf",
        "outbound:https://partner.example/offer?utm_source=shop",
        "outbound:None",  # a bare-IP destination is not kept
    }


def test_sessions_end_after_thirty_idle_minutes(app, client, granted):
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        collect(client, granted)
        traveller.shift(timedelta(minutes=29))
        collect(client, granted)
        traveller.shift(timedelta(minutes=31))
        collect(client, granted)
    sessions = [e.session_id for e in stored(app)["events"]]
    assert sessions[0] == sessions[1] != sessions[2]


def test_sessions_are_not_shared_between_consent_ids(app, client, site):
    first = give_consent(client, site)["consent_id"]
    second = give_consent(client, site)["consent_id"]
    collect(client, first)
    collect(client, second)
    sessions = {e.consent_id: e.session_id for e in stored(app)["events"]}
    assert sessions[first] != sessions[second]


def test_time_on_page_is_the_sum_of_engagement(app, client, granted):
    from app.reporting import service
    from app.reporting.params import parse_report_query
    from app.sites.snapshot import site_snapshot

    events = [
        pageview(),
        {"type": "engagement", "url": PAGE, "engaged_ms": 15000},
        {"type": "engagement", "url": PAGE + "#reviews", "engaged_ms": 4200},
        pageview(PAGE + "/cart"),
        {"type": "engagement", "url": PAGE + "/cart", "engaged_ms": 800},
    ]
    collect(client, granted, events)
    with app.test_request_context():
        site = site_snapshot(SITE_KEY)
        pages = service.breakdown(site, parse_report_query({}, site), "page")["rows"]
        # One view each: time on page is the engagement summed over the path (fragments
        # are not part of it), per view.
        assert {row["value"]: row["time_on_page_s"] for row in pages} == {
            "/shop": 19.2,
            "/shop/cart": 0.8,
        }


def test_search_terms_from_each_source_are_stored_normalised_and_redacted(app, client, granted):
    own_search = PAGE + "?Q=%20Red%20%20SHOES%20&utm_term=Winter+Boots&utm_source=ads"
    engine = "https://www.bing.com/search?q=Shoes+for+ann%40mail.example&form=QBLH&cvid=77"
    events = [
        pageview(own_search, referrer=engine),
        pageview(PAGE, referrer="https://www.google.com/"),
        pageview(PAGE, referrer="https://news.example/story?q=kept+out"),
    ]
    assert collect(client, granted, events).status_code == 202
    rows = stored(app)
    terms = sorted((t.source, t.term, t.engine) for t in rows["terms"])
    assert terms == [
        ("referrer", "shoes for [email]", "Bing"),
        ("site", "red shoes", None),
        ("utm_term", "winter boots", None),
    ]
    # Referrers keep scheme and host, plus only the engine's query, redacted like the term.
    assert sorted(event.referrer for event in rows["events"]) == [
        "https://news.example",
        "https://www.bing.com/?q=shoes+for+%5Bemail%5D",
        "https://www.google.com",
    ]
    assert all("ann" not in (event.referrer or "") for event in rows["events"])


def test_access_and_erasure_cover_events_and_terms(app, client, granted):
    collect(client, granted, [pageview(PAGE + "?q=boots")])
    data = client.get(f"/api/v1/consent/{granted}/data").get_json()["data"]
    assert data["events"][0]["path"] == "/shop"
    assert data["search_terms"][0]["term"] == "boots"
    deleted = client.delete(f"/api/v1/consent/{granted}/data").get_json()["deleted"]
    assert deleted["events"] == 1 and deleted["search_terms"] == 1
    assert stored(app)["events"] == [] and stored(app)["terms"] == []


def test_openapi_documents_collect(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/collect"]["post"]
    assert {"202", "400", "503"} <= set(operation["responses"])
    assert "CollectBatch" in spec["components"]["schemas"]


def test_a_site_on_a_bare_ip_address_stores_no_address(app, client):
    """The demo site runs on 127.0.0.1: its pages are kept without the host (the audit after
    this test checks that no address reached any column)."""
    from app.sites.registry import create_site

    with app.app_context():
        create_site("On an address", ["127.0.0.1"], key="ipsite")
    consent_id = give_consent(client, "ipsite")["consent_id"]
    events = [
        pageview("http://127.0.0.1:5000/demo?q=tea", referrer="http://127.0.0.1:5000/"),
        {
            "type": "download",
            "url": "http://127.0.0.1:5000/demo",
            "target": "http://127.0.0.1:5000/demo/files/price-list.pdf",
        },
    ]
    assert collect(client, consent_id, events, site="ipsite").get_json()["accepted"] == 2
    by_type = {event.type: event for event in stored(app)["events"]}
    view, download = by_type["pageview"], by_type["download"]
    assert (view.host, view.path, view.query, view.referrer) == (None, "/demo", "q=tea", None)
    assert download.target == "/demo/files/price-list.pdf"
