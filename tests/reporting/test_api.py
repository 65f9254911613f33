"""The reports API: parameters, roles, filters, free-text thresholds and consent coverage."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from app.errors import ApiError
from app.extensions import db
from app.models.analytics import DailyCount
from app.reporting import rollup
from app.reporting.params import DateRange, Filter, parse_report_query
from tests.conftest import give_consent
from tests.email.conftest import role_headers
from tests.reporting.helpers import DAY, at, event, snapshot, store

NOW = at(DAY + timedelta(days=1), 12)
BASE = "/api/v1/reports/testsite"


@pytest.fixture
def marketing(app: Flask) -> dict[str, str]:
    return role_headers(app, "marketing")


@pytest.fixture
def traffic(app: Flask, site: str) -> int:
    with app.app_context():
        site_id = snapshot(site).id
    rows = []
    for n in range(12):
        country = "DE" if n < 8 else "FR"
        rows.append(event(at(DAY, 9, n), f"p{n}", f"s{n}", path="/", country=country))
        if n % 2:
            rows.append(event(at(DAY, 9, n, 30), f"p{n}", f"s{n}", path="/shop", country=country))
    terms = [
        {
            "received_at": at(DAY, 9, n),
            "consent_id": f"p{n}",
            "session_id": f"s{n}",
            "term": "shoes",
        }
        for n in range(10)
    ]
    terms.append(
        {
            "received_at": at(DAY, 9, 11),
            "consent_id": "p11",
            "session_id": "s11",
            "term": "my rare query",
        }
    )
    store(app, site_id, rows, terms)
    return site_id


@time_machine.travel(NOW, tick=False)
def test_reports_answer_and_agree_before_and_after_a_rollup(
    app: Flask, client: FlaskClient, site: str, traffic: int, marketing: dict[str, str]
):
    def fetch() -> dict:
        args = f"from={DAY}&to={DAY}"
        return {
            "overview": client.get(
                f"{BASE}/overview?{args}&compare=previous", headers=marketing
            ).get_json(),
            "series": client.get(
                f"{BASE}/timeseries?{args}&metric=pageviews&interval=hour", headers=marketing
            ).get_json(),
            "days": client.get(
                f"{BASE}/timeseries?period=7d&metric=visitors", headers=marketing
            ).get_json(),
            "months": client.get(
                f"{BASE}/timeseries?period=12mo&interval=month", headers=marketing
            ).get_json(),
            "terms": client.get(
                f"{BASE}/breakdown/search_term?{args}", headers=marketing
            ).get_json(),
            "de": client.get(
                f"{BASE}/overview?{args}&filters=country==DE", headers=marketing
            ).get_json(),
            "pages_de": client.get(
                f"{BASE}/breakdown/page?{args}&filters=country==DE;page==/shop", headers=marketing
            ).get_json(),
        }

    raw = fetch()
    with app.app_context():
        rollup.bring_up_to_date()
    assert fetch() == raw
    overview = raw["overview"]
    assert (overview["visitors"], overview["pageviews"], overview["live_visitors"]) == (12, 18, 0)
    assert overview["previous"]["visitors"] == 0
    assert overview["from"] == overview["to"] == DAY.isoformat()
    hours = {p["t"]: p["value"] for p in raw["series"]["points"]}
    assert len(hours) == 24 and hours[f"{DAY}T09:00"] == 18
    assert [p["value"] for p in raw["days"]["points"]][-2:] == [12, 0]
    assert raw["months"]["points"][-1] == {"t": NOW.date().replace(day=1).isoformat(), "value": 12}
    # Ten visitors searched "shoes"; one person's query stays hidden (k = 10).
    assert raw["terms"]["rows"] == [
        {
            "value": "shoes",
            "visitors": 10,
            "visits": 10,
            "pageviews": 15,
            "views_per_visit": 1.5,
            "bounce_rate": 0.5,
            "visit_duration_s": 15.0,
            "events": 10,
        }
    ]
    assert raw["terms"]["hidden"] == 1
    assert (raw["de"]["visitors"], raw["de"]["pageviews"]) == (8, 12)
    assert [r["value"] for r in raw["pages_de"]["rows"]] == ["/", "/shop"]
    assert raw["pages_de"]["rows"][0]["visitors"] == 4  # DE visitors who saw /shop


@time_machine.travel(NOW, tick=False)
def test_consent_coverage(app: Flask, client: FlaskClient, site: str, marketing: dict[str, str]):
    give_consent(client, method="accept_all", choices={"analytics": True, "marketing": True})
    give_consent(client, method="reject_all")
    custom = give_consent(
        client, method="custom", choices={"analytics": True}, headers={"Sec-GPC": "1"}
    )
    client.post(f"/api/v1/consent/{custom['consent_id']}/withdraw")
    with app.app_context():
        site_id = snapshot(site).id
        db.session.add(DailyCount(site_id=site_id, day=NOW.date(), reason="consent", count=3))
        db.session.commit()
    store(app, site_id, [event(NOW - timedelta(hours=1), custom["consent_id"], "v")])
    report = client.get(f"{BASE}/consent?period=day", headers=marketing).get_json()
    (day,) = report["days"]
    assert day["decisions"] == {"accept_all": 1, "reject_all": 1, "custom": 1}
    assert day["granted"]["analytics"] == round(2 / 3, 4)
    assert day["granted"]["marketing"] == round(1 / 3, 4)
    assert day["gpc_share"] == round(1 / 3, 4)
    assert (day["withdrawals"], day["dropped_events"]) == (1, 3)
    assert day["unseen_share"] == 0.75
    assert report["totals"]["decisions"] == day["decisions"]


def test_roles(app: Flask, client: FlaskClient, site: str):
    finance = role_headers(app, "finance")
    for path in ("overview", "timeseries", "breakdown/country", "consent", "email"):
        assert client.get(f"{BASE}/{path}").status_code == 401
        assert client.get(f"{BASE}/{path}", headers=finance).status_code == 200, path
    assert client.get("/api/v1/reports/nosuchsite/overview", headers=finance).status_code == 404


@pytest.mark.parametrize(
    ("query_string", "named"),
    [
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("from=2010-01-01&to=2026-03-01", "10 years"),
        ("from=2026-3-1", "from"),
        ("period=fortnight", "period"),
        ("filters=country=DE", "filters"),
        ("filters=colour==red", "filters"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("compare=next", "compare"),
    ],
)
def test_bad_parameters_answer_400_naming_them(
    client: FlaskClient, site: str, marketing: dict[str, str], query_string: str, named: str
):
    response = client.get(f"{BASE}/overview?{query_string}", headers=marketing)
    assert response.status_code == 400
    assert named in response.get_json()["error"]


def test_bad_dimension_metric_and_interval(
    client: FlaskClient, site: str, marketing: dict[str, str]
):
    for path, named in (
        ("breakdown/colour", "dimension"),
        ("timeseries?metric=money", "metric"),
        ("timeseries?interval=week", "interval"),
        ("timeseries?interval=hour&period=7d", "interval"),
    ):
        response = client.get(f"{BASE}/{path}", headers=marketing)
        assert response.status_code == 400 and named in response.get_json()["error"], path


def test_parse_report_query(app: Flask, site: str):
    with app.app_context():
        found = snapshot(site)
    today = date(2026, 5, 20)
    parsed = parse_report_query(
        {"period": "month", "filters": "country==DE;page==/a"}, found, today
    )
    assert parsed.range == DateRange(date(2026, 5, 1), date(2026, 5, 31))
    assert parsed.filters == (Filter("country", "DE"), Filter("page", "/a"))
    assert (parsed.compare, parsed.limit) == (False, 10)
    assert parse_report_query({}, found, today).range == DateRange(date(2026, 4, 21), today)
    assert parse_report_query({"period": "12mo"}, found, today).range.first == date(2025, 6, 1)
    assert parse_report_query({"period": "day", "date": "2026-01-02"}, found, today).range.days == 1
    assert DateRange(date(2026, 5, 1), date(2026, 5, 31)).previous() == DateRange(
        date(2026, 3, 31), date(2026, 4, 30)
    )
    with pytest.raises(ApiError):
        parse_report_query({"to": "2026-01-01"}, found, today)


def test_consent_coverage_reads_the_same_from_the_rollups(
    app: Flask, client: FlaskClient, site: str, marketing: dict[str, str]
):
    """Rolled-up days answer as counting every consent record did; a day with refusals
    only (no event stored) is rolled up by its consent records."""
    first, second = DAY - timedelta(days=2), DAY - timedelta(days=1)
    with time_machine.travel(at(first, 10), tick=False):
        give_consent(client, method="reject_all")  # no event: dirty by its record alone
        give_consent(client, method="reject_all", headers={"Sec-GPC": "1"})
    with time_machine.travel(at(second, 9), tick=False):
        kept = give_consent(client, method="custom", choices={"analytics": True})
        give_consent(client, method="accept_all")
        client.post(f"/api/v1/consent/{kept['consent_id']}/withdraw")
    with app.app_context():
        site_id = snapshot(site).id
    store(app, site_id, [event(at(second, 9, 5), kept["consent_id"], "v")])
    path = f"{BASE}/consent?from={first.isoformat()}&to={DAY.isoformat()}"
    with time_machine.travel(NOW, tick=False):
        counted = client.get(path, headers=marketing).get_json()
        with app.app_context():
            rollup.bring_up_to_date()
            assert rollup.final_through(snapshot(site)) >= second
        rolled = client.get(path, headers=marketing).get_json()
    assert rolled == counted
    days = {day["day"]: day for day in rolled["days"]}
    assert days[first.isoformat()]["decisions"] == {"accept_all": 0, "reject_all": 2, "custom": 0}
    assert days[first.isoformat()]["gpc_share"] == 0.5
    assert days[second.isoformat()]["withdrawals"] == 1
    assert rolled["totals"]["decisions"] == {"accept_all": 1, "reject_all": 2, "custom": 1}
    with app.app_context():
        from app.models.reporting import ConsentDay

        stored_days = {row.day for row in db.session.query(ConsentDay).all()}
    assert {first, second} <= stored_days
