"""Security headers, read from every GET route of ``app.url_map`` (issue 16, finding 7).

Each route is fetched signed in as an admin, with real arguments where it needs them (a
campaign, a preference-centre token), so the pages answer as a person would see them.
Every answer carries ``nosniff``; every HTML page carries the strict policy, and its markup
holds nothing that policy would block (no inline script, style or event handler).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from app.security_headers import API_POLICY, HSTS, PAGE_POLICY
from tests.conftest import give_consent
from tests.helpers import add_user, extra_app, fast_argon2, login  # noqa: F401

pytestmark = pytest.mark.usefixtures("fast_argon2")

ADMIN = "headers-admin@example.com"
# Every page a person reaches. The walk below must find each of them as HTML, so a page
# that stopped rendering (and so stopped being checked) fails here too.
HTML_ENDPOINTS = {
    "admin.index",
    "admin.login",
    "demo.demo_page",
    "demo.home",
    "email_admin.index",
    "reports_admin.campaign",
    "email_prefs.preference_centre",
}
# Embedded by other sites and by mail clients: nosniff, but no page policy.
EMBEDDED_ENDPOINTS = {"assets.banner_asset", "email_pixel.open_pixel", "email_pixel.read_pixel"}
TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "templates"


class InlineCode(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.found.append("<style>")
        if "style" in names:
            self.found.append(f"<{tag} style=…>")
        self.found.extend(f"<{tag} {name}=…>" for name in names if name.startswith("on"))
        if tag == "script" and "src" not in names:
            self._in_script = True
        for name, value in attrs:
            if name in ("href", "src", "action") and (value or "").lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:…>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:40]!r}")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient, site: str) -> dict[str, str]:
    """An admin session, one campaign and one recipient; returns the route arguments."""
    from tests.email.conftest import Email, role_headers

    add_user(app, ADMIN, "admin")
    assert login(client, ADMIN).status_code == 302
    email = Email(client, role_headers(app, "marketing"), site)
    campaign = email.campaign("Headers", sent_at=None)
    recipient = email.recipient("h@example.com", tracking=True)
    links = email.links(campaign, recipient)
    return {
        "campaign_id": str(campaign),
        "recipient_id": str(recipient),
        "site_key": site,
        "consent_id": give_consent(client, site)["consent_id"],
        "pixel_token": urlsplit(links["url"]).path.split("/")[-1].removesuffix(".gif"),
        "preference_token": urlsplit(links["preference_url"]).path.split("/")[-1],
        "page": "spa/details",
    }


def _path(rule: Rule, values: dict[str, str]) -> str:
    names = {
        "assets.banner_asset": "heedful.js",
        "page_assets.page_asset": "console.css",
        "demo_files.demo_file": "price-list.pdf",
    }
    arguments = {}
    for argument in rule.arguments:
        if argument == "token":
            key = "preference_token" if rule.endpoint.startswith("email_prefs") else "pixel_token"
            arguments[argument] = values[key]
        elif argument == "name":
            arguments[argument] = names.get(rule.endpoint, "x")
        else:
            arguments[argument] = values.get(argument, "1")
    path = rule.build(arguments, append_unknown=False)[1]
    return path + ("?campaign=" + values["campaign_id"] if "reports" in rule.rule else "")


def _get_routes(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())]


def assert_page_headers(headers) -> None:
    policy = headers["Content-Security-Policy"]
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip()
    )
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert re.fullmatch(r"'self'( 'sha256-[A-Za-z0-9+/]+=*')?", directives["style-src"])
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "Strict-Transport-Security" not in headers  # plain http


def test_every_get_route_answers_with_the_headers(
    app: Flask, client: FlaskClient, signed_in: dict[str, str]
) -> None:
    html_seen: set[str] = set()
    # Signed in, and not: the login page answers only the latter, the console the former.
    for browser in (client, app.test_client()):
        for rule in _get_routes(app):
            path = _path(rule, signed_in)
            response = browser.get(path)
            response.close()  # the read pixel streams
            headers = response.headers
            assert headers.get("X-Content-Type-Options") == "nosniff", path
            if rule.endpoint in EMBEDDED_ENDPOINTS:
                assert "Content-Security-Policy" not in headers, path
                assert "X-Frame-Options" not in headers, path
            elif response.mimetype == "text/html":
                assert_page_headers(headers)
                assert inline_code(response.get_data(as_text=True)) == [], path
                if response.status_code == 200:
                    html_seen.add(rule.endpoint)
            else:
                assert headers["Content-Security-Policy"] == API_POLICY, path
                assert headers["X-Frame-Options"] == "DENY", path
    assert html_seen >= HTML_ENDPOINTS


def test_only_the_demo_allows_the_banner_style_and_by_its_hash(
    app: Flask, client: FlaskClient, site: str
) -> None:
    import base64
    import hashlib

    from app.assets import asset_bytes

    css = asset_bytes("heedful.css").minified
    script = asset_bytes("heedful.js").minified
    assert b"__HEEDFUL_CSS__" not in script  # the banner inserts exactly this CSS
    digest = base64.b64encode(hashlib.sha256(css).digest()).decode()
    assert f"'sha256-{digest}'" in client.get("/demo").headers["Content-Security-Policy"]
    for path in ("/", "/admin/login"):
        assert client.get(path).headers["Content-Security-Policy"] == PAGE_POLICY


def test_posted_pages_and_error_pages_carry_the_page_policy(
    client: FlaskClient, signed_in: dict[str, str]
) -> None:
    saved = client.post(f"/p/{signed_in['preference_token']}", data={"email_tracking": "off"})
    assert saved.status_code == 200
    assert_page_headers(saved.headers)
    assert saved.headers["Referrer-Policy"] == "no-referrer"  # the token stays in the page
    for path in ("/no-such-page", "/p/not-a-token"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.mimetype == "text/html"
        assert_page_headers(missing.headers)


def test_the_wsgi_collect_endpoint_and_the_pixel_send_nosniff(
    client: FlaskClient, signed_in: dict[str, str]
) -> None:
    for body in ("{}", "not json"):
        answer = client.post("/api/v1/collect", data=body, content_type="application/json")
        assert answer.status_code == 400
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    pixel = client.get(f"/api/v1/e/{signed_in['pixel_token']}.gif")
    forged = client.get("/api/v1/e/forged.gif")
    assert pixel.headers["X-Content-Type-Options"] == "nosniff"
    # The pixel's headers stay one constant, whether or not the open counted.
    assert sorted(pixel.headers.items()) == sorted(forged.headers.items())


def test_banner_files_can_be_embedded_anywhere(client: FlaskClient) -> None:
    for name in ("heedful.js", "tracker.js"):
        answer = client.get(f"/static/consent-banner/{name}")
        assert answer.status_code == 200
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        for absent in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
            assert absent not in answer.headers


@pytest.mark.parametrize("path", ["/", "/admin/login", "/api/v1/openapi.json"])
def test_hsts_only_over_https(client: FlaskClient, path: str) -> None:
    assert "Strict-Transport-Security" not in client.get(path).headers
    secure = client.get(path, base_url="https://heedful.example")
    assert secure.headers["Strict-Transport-Security"] == HSTS
    assert (
        "Strict-Transport-Security"
        in client.get(
            "/static/consent-banner/heedful.js", base_url="https://heedful.example"
        ).headers
    )


def test_hsts_follows_the_trusted_proxy_scheme(app: Flask, database_url: str) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    with extra_app(database_url, app.instance_path, HEEDFUL_TRUSTED_PROXIES=1) as proxied:
        assert (
            proxied.test_client().get("/", headers=forwarded).headers["Strict-Transport-Security"]
            == HSTS
        )
    # Without trusted proxies a client cannot claim https for itself.
    assert "Strict-Transport-Security" not in app.test_client().get("/", headers=forwarded).headers


def test_no_template_holds_inline_script_or_style() -> None:
    for template in TEMPLATES.rglob("*.html"):
        source = re.sub(r"\{[{%#].*?[}%#]\}", "", template.read_text(), flags=re.S)
        assert inline_code(source) == [], template.name


def test_the_inline_check_catches_what_the_policy_blocks() -> None:
    assert inline_code('<div style="margin:0">') == ["<div style=…>"]
    assert inline_code('<button onclick="go()">') == ["<button onclick=…>"]
    assert inline_code("<script>go()</script>") == ["inline <script>: 'go()'"]
    assert inline_code("<style>p{}</style>") == ["<style>"]
    assert inline_code('<a href="javascript:go()">') == ["<a href=javascript:…>"]
    assert inline_code('<script src="/x.js"></script><link rel="stylesheet" href="/a.css">') == []
