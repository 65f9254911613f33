"""The ``heedful`` command line (also ``flask --app wsgi heedful ...``)."""

from __future__ import annotations

import json
import os
import random
import secrets
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from app.extensions import db

heedful = AppGroup("heedful", help="Manage Heedful sites, users, tokens and data.")
site_group = AppGroup("site", help="Sites that embed the banner.")
user_group = AppGroup("user", help="Staff accounts for /admin.")
token_group = AppGroup("token", help="Bearer tokens for the reports and email APIs.")
geoip_group = AppGroup("geoip", help="The free GeoIP databases in instance/geoip/.")
heedful.add_command(site_group)
heedful.add_command(user_group)
heedful.add_command(token_group)
heedful.add_command(geoip_group)

DEMO_SITE_KEY = "demo"
DEMO_ADMIN_EMAIL = "admin@heedful.test"


def init_app(app: Flask) -> None:
    from app.email.cli import campaign_group, email_group

    if email_group.name not in heedful.commands:
        heedful.add_command(email_group)
    # Reports sit above email (layer 5): the report command joins its group from here.
    if campaign_report_cmd.name not in campaign_group.commands:
        campaign_group.add_command(campaign_report_cmd)
    app.cli.add_command(heedful)


@click.command("report")
@click.argument("campaign_id", type=int)
@with_appcontext
def campaign_report_cmd(campaign_id: int) -> None:
    """Print a campaign's open and read-time figures as JSON."""
    from app.models.email import EmailCampaign
    from app.reporting.email import campaign_report

    campaign = db.session.get(EmailCampaign, campaign_id)
    if campaign is None:
        raise click.ClickException("unknown campaign")
    click.echo(json.dumps(campaign_report(campaign), indent=2))


def _fail(message: str) -> None:
    raise click.ClickException(message)


@site_group.command("add")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, required=True, help="Repeat for each host.")
@click.option("--key", default=None, help="Choose the site key (default: random).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of report days.")
@click.option("--k", "k", default=10, show_default=True, help="Fewest people a figure covers.")
def site_add(name: str, domains: tuple[str, ...], key: str | None, timezone: str, k: int) -> None:
    """Register a site and print its key as JSON."""
    from app.sites.registry import PolicyError, create_site, get_site

    if key and get_site(key) is not None:
        _fail(f"a site with key {key!r} already exists")
    try:
        site = create_site(name, list(domains), key=key, timezone=timezone, k=k, actor="cli")
    except PolicyError as exc:
        _fail(str(exc))
    click.echo(
        json.dumps(
            {
                "site_key": site.key,
                "name": site.name,
                "domains": site.domains,
                "policy_version": site.current_policy.version,
                "timezone": site.timezone,
                "k": site.k,
            }
        )
    )


def _password_from_env_or_prompt() -> str:
    password = os.environ.get("HEEDFUL_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        _fail("set HEEDFUL_PASSWORD or run in a terminal to be asked for the password")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "marketing", "finance"]), required=True)
@click.option("--name", default=None, help='Shown in the console (default: e.g. "Admin #3").')
def user_add(email: str, role: str, name: str | None) -> None:
    """Create a staff account (password from HEEDFUL_PASSWORD or a prompt)."""
    from app.accounts.service import AccountError, create_user

    try:
        user = create_user(
            email, role, _password_from_env_or_prompt(), display_name=name, actor="cli"
        )
    except AccountError as exc:
        _fail(str(exc))
    click.echo(json.dumps({"user_id": user.id, "role": user.role, "name": user.display_name}))


@token_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "marketing", "finance"]), required=True)
def token_add(name: str, role: str) -> None:
    """Create a bearer token and print it once; only its hash is stored."""
    from app.accounts.service import create_token

    token, plain = create_token(name, role, actor="cli")
    click.echo(json.dumps({"token_id": token.id, "name": token.name, "role": token.role}))
    click.echo(plain)


def ensure_demo_site() -> Any:
    from app.sites.registry import create_site, get_site

    site_key = current_app.config.get("HEEDFUL_DEMO_SITE_KEY", DEMO_SITE_KEY)
    site = get_site(site_key)
    if site is None:
        site = create_site(
            "Heedful demo shop", ["127.0.0.1", "localhost"], key=site_key, actor="cli"
        )
    return site


@heedful.command("seed-demo")
def seed_demo() -> None:
    """Create the demo site and an admin once; print the admin login (used by make run)."""
    from app.accounts.service import create_user, set_password
    from app.identity import email_hmac
    from app.models import User

    site = ensure_demo_site()
    secret_file = Path(current_app.instance_path) / "demo-admin.txt"
    key = email_hmac(current_app.config["SECRET_KEY"], DEMO_ADMIN_EMAIL)
    user = db.session.scalar(select(User).where(User.email_hmac == key))
    if user is None or not secret_file.exists():
        password = secrets.token_urlsafe(12)
        if user is None:
            create_user(DEMO_ADMIN_EMAIL, "admin", password, actor="cli")
        else:
            set_password(user, password)
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(password)
        secret_file.chmod(0o600)
    password = secret_file.read_text().strip()
    click.echo(f"Demo site key: {site.key}  (domains: {', '.join(site.domains)})")
    click.echo(f"Admin login:   {DEMO_ADMIN_EMAIL} / {password}")


@heedful.command("demo")
@click.option("--events", default=2000, show_default=True, help="How many events to send.")
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3660),
    help="Spread them over the past DAYS days (today included).",
)
@click.option("--seed", default=None, type=int, help="Random seed for repeatable data.")
def demo(events: int, days: int, seed: int | None) -> None:
    """Generate realistic synthetic traffic over the past days, stored in bulk under the
    collect endpoint's rules (consent gate, cleaning, visits)."""
    from app.demo.synthetic import generate

    rng = random.Random(seed)
    site = ensure_demo_site()
    with click.progressbar(length=events, label="Simulating visits") as bar:
        summary = generate(site, events, rng, progress=bar.update, days=days)
    click.echo(json.dumps(summary, sort_keys=True))


@heedful.command("rollup")
@click.option("--rebuild", is_flag=True, help="Recompute every day from the raw events.")
@click.option("--site", "site_key", default=None, help="Only this site (with --rebuild).")
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="First day to rebuild."
)
def rollup(rebuild: bool, site_key: str | None, since: Any) -> None:
    """Bring the report rollups up to date (safe from cron every minute)."""
    from app.reporting import rollup as rollups

    if not rebuild:
        if site_key or since:
            _fail("--site and --since go with --rebuild")
        click.echo(json.dumps({"days": rollups.bring_up_to_date()}, sort_keys=True))
        return
    try:
        plan = rollups.rebuild_plan(site_key, since.date() if since else None)
    except LookupError as exc:
        _fail(str(exc))
    total = sum(len(days) for _, days in plan)
    with click.progressbar(length=total, label="Rebuilding rollups") as bar:
        done = rollups.rebuild(plan, progress=bar.update)
    click.echo(json.dumps({"rebuilt_days": done, "sites": len(plan)}))


@geoip_group.command("update")
@click.option("--npm", default="npm", show_default=True, help="The npm executable to fetch with.")
def geoip_update(npm: str) -> None:
    """Fetch the free GeoIP databases from the npm registry into instance/geoip/."""
    from app.geoip_update import GeoipUpdateError, geoip_dir, update

    target = geoip_dir(current_app.instance_path)
    try:
        sources = update(target, npm=npm)
    except GeoipUpdateError as exc:
        _fail(str(exc))
    for source in sources:
        click.echo(
            f"{source['kind']}: {source['package']} {source['version']} ({source['licence']})"
            f" -> {target / source['file']} ({source['bytes'] / 1e6:.1f} MB)"
        )
    click.echo("Running workers keep the files they opened: restart them to read these.")
