"""``heedful email ...`` verbs and the all-or-nothing CSV import."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models.email import EmailConsentRecord, EmailRecipient


def run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["heedful", "email", *args])


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        recipients = db.session.scalar(select(func.count()).select_from(EmailRecipient))
        records = db.session.scalar(select(func.count()).select_from(EmailConsentRecord))
        db.session.remove()
    return recipients, records


def test_import_a_good_file(app: Flask, tmp_path: Path):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,email_tracking,source\n"
        "a@example.com,true,signup_form\n"
        "B@Example.com,no,\n"
        "c@example.com,1,crm_import\n"
        "b@example.com,yes,crm_import\n",
        encoding="utf-8",
    )
    result = run(app, "recipients", "import", str(csv_file))
    assert result.exit_code == 0, result.output
    assert "Importing recipients" in result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary == {"rows": 4, "recipients_created": 3}
    assert counts(app) == (3, 4)
    with app.app_context():
        sources = db.session.scalars(
            select(EmailConsentRecord.source).order_by(EmailConsentRecord.id)
        ).all()
    assert sources == ["signup_form", "crm_import", "crm_import", "crm_import"]


def test_a_file_with_errors_imports_nothing_and_names_the_lines(app: Flask, tmp_path: Path):
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "email,email_tracking\n"
        "ok@example.com,true\n"
        "secret-person-at-example.com,true\n"
        "ok2@example.com,perhaps\n"
        ",false\n"
        "ok3@example.com,false\n",
        encoding="utf-8",
    )
    result = run(app, "recipients", "import", str(csv_file))
    assert result.exit_code != 0
    assert "line 3: email is not a plausible address" in result.output
    assert "line 4: email_tracking must be" in result.output
    assert "line 5: email is empty" in result.output
    assert "nothing was imported" in result.output
    assert "secret-person" not in result.output
    assert counts(app) == (0, 0)


def test_missing_columns_and_bad_source(app: Flask, tmp_path: Path):
    csv_file = tmp_path / "cols.csv"
    csv_file.write_text("address,consent\nx@example.com,true\n", encoding="utf-8")
    result = run(app, "recipients", "import", str(csv_file))
    assert result.exit_code != 0 and "line 1: missing column(s) email, email_tracking" in (
        result.output
    )
    csv_file.write_text("email,email_tracking,source\nx@example.com,true,preference_centre\n")
    result = run(app, "recipients", "import", str(csv_file))
    assert result.exit_code != 0 and "line 2: source must be one of" in result.output
    assert counts(app) == (0, 0)


def test_campaign_recipient_pixel_and_report_verbs(app: Flask, site: str):
    result = run(app, "campaign", "add", "--site", site, "--sent-at", "2026-09-01T09:00Z", "News")
    assert result.exit_code == 0, result.output
    campaign_id = json.loads(result.output)["campaign_id"]
    result = run(app, "recipients", "add", "cli@example.com", "--tracking")
    recipient_id = json.loads(result.output)["recipient_id"]
    pixel = json.loads(run(app, "campaign", "pixel", str(campaign_id), str(recipient_id)).output)
    assert pixel["url"] and "/api/v1/e/" in pixel["url"]
    report = json.loads(run(app, "campaign", "report", str(campaign_id)).output)
    assert report["sends_known"] == 1 and report["tracked_sends"] == 1
    assert run(app, "campaign", "add", "--site", "nope", "X").exit_code != 0
    assert run(app, "campaign", "add", "--site", site, "--sent-at", "noon", "X").exit_code != 0
    assert run(app, "campaign", "report", "9999").exit_code != 0
