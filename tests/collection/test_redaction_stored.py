"""Invariant 2 for page content: one batch carrying personal data in every free-text field
is stored, with its non-personal parts intact, and no column keeps any of it (issue 16)."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
import sqlalchemy as sa

from app.extensions import db
from tests.audit import decoded_forms, personal_data_findings
from tests.collection.helpers import CHROME_UA, collect, stored
from tests.conftest import SITE_ORIGIN, give_consent

# Every personal value the batch carries, as text that must be in no column, in no form.
PERSONAL = (
    "jane",
    "bob",
    "example.org",
    "203.0.113.77",
    "2001:db8",
    "4111",
    "7946",
    "0958",
    "555-123",
    "Mozilla",
    "AppleWebKit",
    "Chrome/",
)

EVENTS = [
    {
        "type": "pageview",
        "url": SITE_ORIGIN + "/profile/jane.doe@example.com"
        "?q=mail+me+at+bob%40example.org&utm_campaign=spring+jane%40example.com"
        "&utm_source=news&session=secret",
        "title": "Hello jane.doe@example.com from 203.0.113.77",
        "referrer": "https://www.bing.com/search?q=call+%2B44+20+7946+0958&form=QBLH",
    },
    {"type": "pageview", "url": SITE_ORIGIN + "/shop", "title": CHROME_UA},
    {
        "type": "outbound",
        "url": SITE_ORIGIN + "/shop",
        "target": "https://evil.example/u/jane@example.com?utm_term=bob%2540example.org",
    },
    {
        "type": "pageview",
        "url": SITE_ORIGIN + "/u/%6A%61ne%40example.com/orders/4111111111111111"
        "?utm_content=%2B44%2020%207946%200958",
        "title": "Card 4111 1111 1111 1111, phone +44 20 7946 0958",
    },
    {
        "type": "pageview",
        "url": SITE_ORIGIN + "/ip/2001:db8::1/details?utm_medium=203.0.113.77",
        "title": "Node 2001:db8::1 up",
    },
    {
        # Double encoding: each layer decoded is another chance to slip through.
        "type": "pageview",
        "url": SITE_ORIGIN + "/u/jane%252540example.com?q=bob%252540example.org",
        "title": "Caf%C3%A9 for jane%2540example.com",
    },
    {
        "type": "download",
        "url": SITE_ORIGIN + "/shop",
        "target": SITE_ORIGIN + "/files/invoice-555-123-4567.pdf?q=jane%40example.com",
    },
    {"type": "search", "url": SITE_ORIGIN + "/search", "query": "bob%40example.org"},
]


def _all_rows() -> dict[str, list[dict[str, object]]]:
    rows: dict[str, list[dict[str, object]]] = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in ("events", "search_terms", "visits"):
                rows[table.name] = [dict(r) for r in conn.execute(table.select()).mappings()]
    return rows


@pytest.fixture
def granted(client, site) -> str:
    return give_consent(client, site)["consent_id"]


def test_personal_data_in_page_content_is_redacted_and_the_event_kept(app, client, granted):
    response = collect(client, granted, EVENTS)
    assert response.status_code == 202
    assert response.get_json() == {"accepted": len(EVENTS), "dropped": 0}

    # What must be stored is: every event, with its non-personal parts as sent.
    events = stored(app)["events"]
    assert len(events) == len(EVENTS)
    by_title = {event.title: event for event in events}
    first = by_title["Hello [email] from [ip]"]
    assert (first.type, first.host, first.path) == (
        "pageview",
        "www.example.com",
        "/profile/[email]",
    )
    assert first.query == (
        "q=mail+me+at+%5Bemail%5D&utm_campaign=spring+%5Bemail%5D&utm_source=news"
    )
    assert first.referrer == "https://www.bing.com/?q=call+%5Bphone%5D"
    assert by_title["[user-agent]"].path == "/shop"
    (outbound,) = [event for event in events if event.type == "outbound"]
    assert outbound.target == "https://evil.example/u/[email]?utm_term=%5Bemail%5D"
    cards = by_title["Card [card], phone [phone]"]
    assert cards.path == "/u/[email]/orders/[card]"
    assert cards.query == "utm_content=%5Bphone%5D"
    node = by_title["Node [ip] up"]
    assert (node.path, node.query) == ("/ip/[ip]/details", "utm_medium=%5Bip%5D")
    double = by_title["Café for [email]"]
    assert (double.path, double.query) == ("/u/[email]", "q=%5Bemail%5D")
    (download,) = [event for event in events if event.type == "download"]
    assert download.target == SITE_ORIGIN + "/files/invoice-[phone].pdf?q=%5Bemail%5D"

    terms = sorted((t.source, t.term, t.engine) for t in stored(app)["terms"])
    assert terms == [
        ("referrer", "call [phone]", "Bing"),
        ("site", "[email]", None),
        ("site", "[email]", None),
        ("site", "mail me at [email]", None),
    ]
    # The query column agrees with the term beside it: nothing one redacted, the other kept.
    assert unquote_plus(first.query.split("&")[0].partition("=")[2]) == "mail me at [email]"

    # What must not be stored is not: no personal value in any column, in any decoded form.
    with app.app_context():
        rows = _all_rows()
    assert rows["events"] and rows["search_terms"] and rows["visits"]
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                if not isinstance(value, str):
                    continue
                for form in decoded_forms(value):
                    leaked = [p for p in PERSONAL if p.casefold() in form.casefold()]
                    assert not leaked, f"{table}.{column} = {value!r} keeps {leaked}"
                assert personal_data_findings(value) == [], f"{table}.{column} = {value!r}"


def test_ordinary_page_content_is_stored_exactly_as_sent(app, client, granted):
    """The other side: dates, short ids, versions, years and words are not redacted."""
    url = SITE_ORIGIN + "/blog/2026/12/01/post-title?q=iphone+15+pro+2026&utm_campaign=v1.2.3"
    events = [
        {"type": "pageview", "url": url, "title": "Release notes v1.2.3 (2026-12-01)"},
        {"type": "pageview", "url": SITE_ORIGIN + "/products/12345", "title": "Size 42 – 50% off"},
        {"type": "pageview", "url": SITE_ORIGIN + "/caf%C3%A9/menu", "title": "Café"},
    ]
    assert collect(client, granted, events).status_code == 202
    rows = sorted(stored(app)["events"], key=lambda event: event.path)
    assert [(e.path, e.query, e.title) for e in rows] == [
        (
            "/blog/2026/12/01/post-title",
            "q=iphone+15+pro+2026&utm_campaign=v1.2.3",
            "Release notes v1.2.3 (2026-12-01)",
        ),
        ("/caf%C3%A9/menu", None, "Café"),
        ("/products/12345", None, "Size 42 – 50% off"),
    ]
    assert [t.term for t in stored(app)["terms"]] == ["iphone 15 pro 2026"]


def test_a_referrer_or_target_host_that_spells_an_address_is_not_kept(app, client, granted):
    events = [
        {"type": "pageview", "url": SITE_ORIGIN + "/a", "referrer": "https://10.0.0.1.nip.io/x"},
        {"type": "outbound", "url": SITE_ORIGIN + "/a", "target": "https://10.0.0.1.nip.io/"},
    ]
    # The other side: a host with digits that are no address is kept.
    events.append(
        {
            "type": "pageview",
            "url": SITE_ORIGIN + "/b",
            "referrer": "https://cdn1234567.example.net/",
        }
    )
    assert collect(client, granted, events).get_json() == {"accepted": 3, "dropped": 0}
    with app.app_context():
        values = db.session.execute(sa.text("SELECT path, referrer, target FROM events")).all()
    assert sorted(values) == [
        ("/a", None, None),
        ("/a", None, None),
        ("/b", "https://cdn1234567.example.net", None),
    ]


def test_placeholders_longer_than_what_they_replace_stay_within_the_columns(app, client, granted):
    """Six digits become "[number]", or "%5Bnumber%5D" in a query: a URL at the size limit
    grows past its column unless it is cut (after a whole part) once redacted."""
    runs = "/".join(["123456"] * 290)
    events = [
        {
            "type": "download",
            "url": SITE_ORIGIN + "/" + runs[:1900],
            "target": (SITE_ORIGIN + "/d/" + runs)[:2040],
            "title": " ".join(["a123456"] * 100),
        },
        {"type": "pageview", "url": SITE_ORIGIN + "/s?q=" + "+".join(["a123456"] * 250)},
    ]
    assert collect(client, granted, events).get_json() == {"accepted": 2, "dropped": 0}
    rows = stored(app)["events"]
    for event in rows:
        assert len(event.path) <= 1024 and len(event.query or "") <= 1024
        assert len(event.target or "") <= 2048 and len(event.title or "") <= 300
        assert "123456" not in (event.path + (event.query or "") + (event.target or ""))
    (download,) = [event for event in rows if event.type == "download"]
    assert download.target.startswith(SITE_ORIGIN + "/d/[number]/[number]/")
    assert download.title.startswith("a[number] a[number]")
    assert stored(app)["terms"][0].term.startswith("a[number] a[number]")
