"""The marketing dashboard's pages without a browser: who may open them, what they show
for traffic collected through the real collect endpoint, filters kept in the URL, the CSV
downloads and the empty state."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.admin.dashboard import _cell
from app.admin.dashboard_view import change, format_figure
from tests.collection.helpers import collect, pageview
from tests.conftest import SITE_ORIGIN, give_consent
from tests.fixtures_geo import build_asn_db, build_city_db
from tests.helpers import add_user, fast_argon2, login  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_argon2")

DASHBOARD = "/admin/dashboard/"
# One visitor per address, each located by the fixture GeoIP databases.
VISITORS = {
    "203.0.113.9": ("DE", ["/", "/pricing"]),
    "81.2.69.160": ("GB", ["/blog"]),
    "198.51.100.7": ("FR", ["/blog", "/"]),
}


@pytest.fixture(scope="module")
def geo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("dashboard-geo")
    return build_city_db(folder / "city.mmdb"), build_asn_db(folder / "asn.mmdb")


@pytest.fixture
def located(
    app: Flask, geo_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """The app, locating addresses with the fixture GeoIP databases for the test."""
    from app.enrichment.geo import GeoReaders

    readers = GeoReaders(*(str(path) for path in geo_files))
    monkeypatch.setitem(app.extensions, "heedful_geo", readers)
    yield app
    readers.close()


def seed_traffic(app: Flask, site: str) -> None:
    """Page views of VISITORS, through the real consent and collect endpoints."""
    client = app.test_client()
    for address, (_, paths) in VISITORS.items():
        consent_id = give_consent(client, site)["consent_id"]
        events = [pageview(SITE_ORIGIN + path) for path in paths]
        answer = collect(client, consent_id, events, environ_base={"REMOTE_ADDR": address})
        assert answer.status_code == 202
        assert answer.get_json()["accepted"] == len(paths)


@pytest.fixture
def traffic(located: Flask, site: str) -> str:
    seed_traffic(located, site)
    return site


@pytest.fixture
def marketer(app: Flask, client: FlaskClient) -> Iterator[FlaskClient]:
    add_user(app, "marketer@example.com", "marketing")
    assert login(client, "marketer@example.com").status_code == 302
    yield client


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def table_values(html: str, dimension: str) -> list[str]:
    """The value column of a panel's table, as the page shows it."""
    start = html.index(f'data-dimension="{dimension}"')
    table = html[start : html.index("</table>", start)]
    body = table[table.index("<tbody>") :]
    cells = re.findall(r"<th scope=\"row\">(.*?)</th>", body, flags=re.S)
    # Without the flag a country carries for sighted readers only.
    cells = [re.sub(r'<span aria-hidden="true">.*?</span>', "", cell) for cell in cells]
    return [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]


@pytest.mark.parametrize("role", ["admin", "marketing", "finance"])
def test_every_staff_role_that_reads_reports_opens_the_pages(
    app: Flask, client: FlaskClient, site: str, role: str
) -> None:
    add_user(app, f"{role}@example.com", role)
    assert login(client, f"{role}@example.com").status_code == 302
    for path in (DASHBOARD, f"{DASHBOARD}details/page", f"{DASHBOARD}page.csv"):
        assert client.get(path, query_string={"site": site}).status_code == 200, path
    assert 'href="/admin/dashboard/"' in client.get("/admin/").get_data(as_text=True)


def test_nobody_signed_in_is_sent_to_the_login_page(client: FlaskClient, site: str) -> None:
    for path in (DASHBOARD, f"{DASHBOARD}details/country", f"{DASHBOARD}country.csv"):
        answer = client.get(path, query_string={"site": site})
        assert answer.status_code == 302
        assert "/admin/login" in answer.headers["Location"]


def test_the_dashboard_shows_figures_chart_and_every_panel(
    marketer: FlaskClient, traffic: str
) -> None:
    html = marketer.get(DASHBOARD, query_string={"site": traffic, "period": "7d"}).get_data(
        as_text=True
    )
    for heading in ("Visitors", "Visits", "Page views", "Views per visit", "Bounce rate",
                    "Visit duration", "Live visitors", "Pages", "Sources", "Search terms",
                    "Locations", "Networks", "Devices", "Downloads", "Outbound links",
                    "Email campaigns", "Consent coverage"):  # fmt: skip
        assert f">{heading}<" in html, heading
    assert 'data-chart="line"' in html and 'id="series-table"' in html
    assert sorted(table_values(html, "country")) == ["DE", "FR", "GB"]
    assert set(table_values(html, "page")) == {"/", "/pricing", "/blog"}
    assert 'aria-current="page">7 days<' in html
    # Consent coverage: a column per category the policy asks about, in every row.
    consent = html[html.index('id="consent-table"') :]
    consent = consent[: consent.index("</table>")]
    assert "Granting analytics" in consent
    header, *rows = re.findall(r"<tr>(.*?)</tr>", consent, flags=re.S)
    assert rows and all(row.count("<td") == header.count("<th") - 1 for row in rows)
    # Every figure is compared with the previous period, in words for screen readers.
    assert len(re.findall(r'class="visually-hidden">[^<]*previous period<', html)) == 6


def filter_link(html: str, value: str) -> str:
    """The filter link of the panel row showing ``value``."""
    pattern = r'<a href="([^"]*)" data-filter>(?:<span aria-hidden="true">[^<]*</span> )?'
    return unescape(re.search(pattern + re.escape(value) + "</a>", html).group(1))


def test_a_row_links_to_its_filter_and_the_filter_round_trips(
    marketer: FlaskClient, traffic: str
) -> None:
    html = marketer.get(DASHBOARD, query_string={"site": traffic, "period": "7d"}).get_data(
        as_text=True
    )
    de_link = filter_link(html, "DE")
    assert parse_qs(urlsplit(de_link).query) == {
        "site": [traffic],
        "period": ["7d"],
        "filters": ["country==DE"],
    }

    filtered = marketer.get(de_link).get_data(as_text=True)
    assert "Filtered by" in filtered and "Country = DE" in filtered
    assert table_values(filtered, "country") == ["DE"]
    assert set(table_values(filtered, "page")) == {"/", "/pricing"}
    # The filter stays in every link (presets, metrics, details, CSV) but the chip's own.
    removes = {
        unescape(href)
        for href in re.findall(r'<a href="([^"]*)"\s+aria-label="Remove filter', filtered)
    }
    assert len(removes) == 1
    assert "filters" not in parse_qs(urlsplit(next(iter(removes))).query)
    links = {unescape(h) for h in re.findall(r'href="(/admin/dashboard/[^"]*\?[^"]*)"', filtered)}
    assert len(links - removes) > 20
    for href in links - removes:
        assert "country==DE" in parse_qs(urlsplit(href).query)["filters"][0], href

    # A second filter joins the first; a filter on the same dimension replaces it.
    both = marketer.get(
        DASHBOARD,
        query_string={"site": traffic, "period": "7d", "filters": "country==DE;page==/pricing"},
    ).get_data(as_text=True)
    assert "Country = DE" in both and "Page = /pricing" in both
    assert table_values(both, "country") == ["DE"]
    assert parse_qs(urlsplit(filter_link(both, "DE")).query)["filters"] == [
        "page==/pricing;country==DE"
    ]


def test_csv_downloads_carry_the_same_rows_and_filters(marketer: FlaskClient, traffic: str) -> None:
    rows = csv_rows(marketer.get(f"{DASHBOARD}country.csv", query_string={"site": traffic}))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["value", "visitors"]
    assert sorted((row[0], row[1]) for row in body) == [("DE", "1"), ("FR", "1"), ("GB", "1")]

    filtered = csv_rows(
        marketer.get(
            f"{DASHBOARD}page.csv", query_string={"site": traffic, "filters": "country==DE"}
        )
    )
    assert sorted(row[0] for row in filtered[1:]) == ["/", "/pricing"]

    overview = dict((row[0], row[1]) for row in csv_rows(
        marketer.get(f"{DASHBOARD}overview.csv", query_string={"site": traffic})
    )[1:])  # fmt: skip
    assert overview["visitors"] == "3" and overview["pageviews"] == "5"
    series = csv_rows(
        marketer.get(f"{DASHBOARD}timeseries.csv", query_string={"site": traffic, "period": "7d"})
    )
    assert series[0] == ["t", "visitors"] and len(series) == 8
    assert sum(int(row[1]) for row in series[1:]) == 3
    for table in ("consent", "email"):
        assert csv_rows(marketer.get(f"{DASHBOARD}{table}.csv", query_string={"site": traffic}))
    missing = marketer.get(f"{DASHBOARD}nothing.csv", query_string={"site": traffic})
    assert missing.status_code == 404


def test_details_list_every_row(marketer: FlaskClient, traffic: str) -> None:
    answer = marketer.get(f"{DASHBOARD}details/page", query_string={"site": traffic})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert set(table_values(html, "page")) == {"/", "/pricing", "/blog"}
    assert ">Bounce rate<" in html and ">Visit duration<" in html
    assert marketer.get(f"{DASHBOARD}details/nothing").status_code == 404


def test_a_site_without_data_shows_the_embed_snippet(marketer: FlaskClient, site: str) -> None:
    html = marketer.get(DASHBOARD, query_string={"site": site}).get_data(as_text=True)
    assert "No data yet" in html
    snippet = unescape(re.search(r'<code id="embed-snippet">(.*?)</code>', html).group(1))
    assert snippet == (
        '<script src="http://localhost/static/consent-banner/heedful.js" '
        f'data-site="{site}" defer></script>'
    )


def test_no_site_and_unknown_site(marketer: FlaskClient) -> None:
    assert "No sites yet" in marketer.get(DASHBOARD).get_data(as_text=True)
    assert marketer.get(DASHBOARD, query_string={"site": "nope"}).status_code == 404


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"from": "2026-12-05", "to": "2026-12-01"}, "to"),
        ({"period": "fortnight"}, "period"),
        ({"filters": "colour==red"}, "filters"),
        ({"metric": "revenue"}, "metric"),
    ],
)
def test_bad_parameters_explain_themselves(
    marketer: FlaskClient, site: str, args: dict[str, str], named: str
) -> None:
    answer = marketer.get(DASHBOARD, query_string={"site": site, **args})
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert "cannot be shown" in html and named in html


def test_spreadsheet_formulas_are_quoted_in_csv() -> None:
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("/page") == "/page" and _cell(3) == 3 and _cell(None) == ""


def test_figures_and_changes_read_plainly() -> None:
    assert format_figure(1234567) == "1,234,567"
    assert format_figure(0.4567, "percent") == "45.7 %"
    assert format_figure(83, "duration") == "1 min 23 s"
    assert format_figure(None) == "—"
    assert change("visitors", 120, 100).text == "up 20 % from the previous period"
    assert change("bounce_rate", 0.4, 0.5).text == "down 10.0 points from the previous period"
    assert change("visits", 5, 0).direction == "new"


def test_the_email_panel_shows_sends_opens_and_both_rates(
    app: Flask, marketer: FlaskClient, traffic: str
) -> None:
    from tests.email.conftest import THUNDERBIRD, Email, role_headers

    email = Email(app.test_client(), role_headers(app, "marketing"), traffic)
    campaign = email.campaign("Winter sale")
    links = [
        email.links(campaign, email.recipient(f"r{n}@example.com", tracking=True)) for n in range(2)
    ]
    opened = app.test_client().get(
        urlsplit(links[0]["url"]).path, headers={"User-Agent": THUNDERBIRD}
    )
    assert opened.status_code == 200

    html = marketer.get(DASHBOARD, query_string={"site": traffic}).get_data(as_text=True)
    panel = html[html.index('id="panel-email"') :]
    assert "Winter sale" in panel[: panel.index("</table>")]
    rows = csv_rows(marketer.get(f"{DASHBOARD}email.csv", query_string={"site": traffic}))
    (row,) = [dict(zip(rows[0], values, strict=True)) for values in rows[1:]]
    assert row["name"] == "Winter sale" and row["tracked_sends"] == "2"
    assert row["unique_human_opens"] == "1" and row["open_rate"] == "0.5"
    assert row["open_rate_with_machine"] == "0.5"  # no Apple Mail Privacy Protection here


def test_the_rate_with_machine_opens_counts_apple_privacy_recipients() -> None:
    from app.admin.dashboard_view import open_rate_with_machine

    campaign = {"tracked_sends": 10, "human_eligible": 6, "unique_human_opens": 3}
    assert open_rate_with_machine(campaign) == 0.7  # 3 people and 4 Apple-only recipients
    assert open_rate_with_machine({"tracked_sends": 0}) is None
    assert open_rate_with_machine({"open_rate_with_machine": 0.25}) == 0.25
