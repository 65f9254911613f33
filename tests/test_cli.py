"""The ``heedful`` command line (CONTRACT.md, "CLI")."""

from __future__ import annotations

import json
import sys

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import ConsentRecord, PolicyVersion, Site


def _invoke(app: Flask, *args: str, **kwargs):
    return app.test_cli_runner().invoke(args=["heedful", *args], **kwargs)


def _count(app: Flask, model) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
    return count


def test_site_add_prints_json_with_site_key(app: Flask) -> None:
    result = _invoke(
        app, "site", "add", "Example Shop", "--domain", "example.com", "--domain", "WWW.Example.com"
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["site_key"].startswith("site_")
    assert body["name"] == "Example Shop"
    assert body["domains"] == ["example.com", "www.example.com"]
    assert body["policy_version"] == 1
    with app.app_context():
        site = db.session.scalar(select(Site).where(Site.key == body["site_key"]))
        assert site is not None
        assert [p.version for p in site.policies] == [1]
        db.session.remove()


def test_site_add_with_chosen_key(app: Flask) -> None:
    result = _invoke(app, "site", "add", "Shop", "--domain", "shop.example", "--key", "shop")
    assert json.loads(result.output)["site_key"] == "shop"
    again = _invoke(app, "site", "add", "Shop 2", "--domain", "shop.example", "--key", "shop")
    assert again.exit_code != 0
    assert "already exists" in again.output
    assert _count(app, Site) == 1


@pytest.mark.parametrize(
    "domain",
    ["https://example.com", "example.com/path", "exa mple.com", "-bad-.com", "", "a" * 300],
)
def test_bad_domain_is_a_clean_error(app: Flask, domain: str) -> None:
    result = _invoke(app, "site", "add", "Bad", "--domain", domain)
    assert result.exit_code != 0
    assert "Error" in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert _count(app, Site) == 0
    assert _count(app, PolicyVersion) == 0


def test_site_add_needs_a_domain_and_a_name(app: Flask) -> None:
    assert _invoke(app, "site", "add", "No domain").exit_code == 2
    blank = _invoke(app, "site", "add", "   ", "--domain", "example.com")
    assert blank.exit_code != 0
    assert "name" in blank.output
    assert _count(app, Site) == 0


def test_demo_generates_data_with_a_progress_bar(app: Flask) -> None:
    result = _invoke(app, "demo", "--events", "20", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert "Simulating" in result.output  # the progress bar's label (no tty: label only)
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["site"] == "demo"
    visitors = summary["visitors"]
    assert visitors >= 1
    assert sum(summary["consent"].values()) == visitors
    # Every visitor decided through the real consent service: one record each (+ withdrawals).
    assert _count(app, ConsentRecord) == visitors + summary["withdrawn"]
    with app.app_context():
        gpc_records = db.session.scalars(select(ConsentRecord).where(ConsentRecord.gpc)).all()
        assert all(not r.choices.get("marketing") for r in gpc_records)
        db.session.remove()
    # Running it again reuses the demo site.
    assert _invoke(app, "demo", "--events", "3").exit_code == 0
    assert _count(app, Site) == 1


def test_demo_rejects_a_non_number(app: Flask) -> None:
    assert _invoke(app, "demo", "--events", "lots").exit_code == 2


def test_seed_demo_is_idempotent(app: Flask) -> None:
    first = _invoke(app, "seed-demo")
    assert first.exit_code == 0, first.output
    assert "Admin login:" in first.output
    second = _invoke(app, "seed-demo")
    assert second.exit_code == 0
    assert first.output == second.output  # same password, same site
    assert _count(app, Site) == 1


def test_token_add_rejects_unknown_role(app: Flask) -> None:
    result = _invoke(app, "token", "add", "x", "--role", "owner")
    assert result.exit_code == 2


def test_console_script_reports_config_errors(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from app import main

    monkeypatch.delenv("HEEDFUL_SECRET_KEY", raising=False)
    monkeypatch.setenv("HEEDFUL_ENV", "production")
    monkeypatch.setattr(sys, "argv", ["heedful", "--help"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "HEEDFUL_SECRET_KEY" in capsys.readouterr().err
