"""``heedful email ...``: campaigns, recipients (with a CSV import), pixel URLs.

``heedful email campaign report`` prints a report, so it lives at the top (``app/cli.py``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import click
from flask.cli import AppGroup

from app.email.service import STAFF_SOURCES, EmailError, parse_sent_at

email_group = AppGroup("email", help="Email campaigns, recipients and open tracking.")
campaign_group = AppGroup("campaign", help="Email campaigns.")
recipients_group = AppGroup("recipients", help="Email recipients and their tracking consent.")
email_group.add_command(campaign_group)
email_group.add_command(recipients_group)


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def _sent_at(value: str | None) -> datetime | None:
    try:
        return None if value is None else parse_sent_at(value, "--sent-at")
    except EmailError as exc:
        _fail(str(exc))


@campaign_group.command("add")
@click.argument("name")
@click.option("--site", "site_key", required=True, help="The site key the campaign belongs to.")
@click.option("--sent-at", default=None, help="When it was sent (ISO 8601 with a zone).")
def campaign_add(name: str, site_key: str, sent_at: str | None) -> None:
    """Create a campaign and print its id as JSON."""
    from app.email.service import create_campaign

    try:
        campaign = create_campaign(site_key, name, _sent_at(sent_at))
    except EmailError as exc:
        _fail(str(exc))
    click.echo(json.dumps({"campaign_id": campaign.id, "site": site_key, "name": campaign.name}))


@campaign_group.command("pixel")
@click.argument("campaign_id", type=int)
@click.argument("recipient_id", type=int)
def campaign_pixel(campaign_id: int, recipient_id: int) -> None:
    """Record the send and print its pixel URLs (url is null without tracking consent)."""
    from app.email.links import pixel_links

    try:
        links = pixel_links(campaign_id, recipient_id)
    except EmailError as exc:
        _fail(str(exc))
    click.echo(json.dumps(links.__dict__))


@recipients_group.command("add")
@click.argument("email")
@click.option("--tracking/--no-tracking", required=True, help="The email_tracking choice.")
@click.option("--source", type=click.Choice(STAFF_SOURCES), default="signup_form")
def recipient_add(email: str, tracking: bool, source: str) -> None:
    """Record one recipient's choice (appended to its history) and print its id."""
    from app.email.service import RecipientChoice, record_recipient

    try:
        recipient, created = record_recipient(RecipientChoice(email, tracking, source))
    except EmailError as exc:
        _fail(str(exc))
    click.echo(json.dumps({"recipient_id": recipient.id, "created": created}))


@recipients_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--source",
    type=click.Choice(STAFF_SOURCES),
    default="crm_import",
    show_default=True,
    help="Source for rows without a source column.",
)
def recipients_import(csv_file: Path, source: str) -> None:
    """Import recipients with their consent; a file with any bad row imports nothing."""
    from app.email.importer import parse_recipients_csv
    from app.email.service import import_recipients

    try:
        text = csv_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        _fail("the file is not UTF-8 text")
    parsed = parse_recipients_csv(text, source)
    if parsed.errors:
        for error in parsed.errors:
            click.echo(error, err=True)
        _fail(f"{len(parsed.errors)} bad row(s); nothing was imported")
    with click.progressbar(length=len(parsed.choices), label="Importing recipients") as bar:
        try:
            summary = import_recipients(parsed.choices, progress=bar.update)
        except EmailError as exc:
            _fail(f"nothing was imported: {exc}")
    click.echo(json.dumps(summary))
