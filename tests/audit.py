"""Invariant 2, checked against the database: no raw IP address, full user-agent string
or plain email address in any column of any table, as stored or percent-decoded."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import unquote, unquote_plus

import sqlalchemy as sa
from flask import Flask

from app.extensions import db

EMAIL = re.compile(r"[^\s@\"',;<>]+@[^\s@\"',;<>]+\.[A-Za-z]{2,}")
IP_CANDIDATE = re.compile(r"[0-9A-Fa-f:.]{3,45}")
USER_AGENT_MARKERS = ("Mozilla/", "AppleWebKit/", "Gecko/", "Chrome/", "Safari/", "MSOffice")

# Configuration, not data about a person: a site registers the hosts it runs on, and the
# demo site runs on 127.0.0.1.
EXEMPT = {("sites", "domains")}


def _ips_in(text: str) -> list[str]:
    found = []
    for token in IP_CANDIDATE.findall(text):
        token = token.strip(".:")
        if token.count(".") == 3 or token.count(":") >= 2:
            try:
                ipaddress.ip_address(token)
            except ValueError:
                continue
            found.append(token)
    return found


def decoded_forms(text: str) -> list[str]:
    """``text`` and its percent-decoded forms (decoded until stable, "+" as it is and as a
    space): "bob%40example.org" and "bob%2540example.org" hold an email too."""
    forms = [text]
    if "%" not in text and "+" not in text:
        return forms
    for decode in (unquote, unquote_plus):
        current = text
        while (decoded := decode(current, errors="replace")) != current:
            current = decoded
        if current not in forms:
            forms.append(current)
    return forms


def _findings_in(text: str) -> list[str]:
    findings = [f"email {m!r}" for m in EMAIL.findall(text)]
    findings += [f"ip {ip!r}" for ip in _ips_in(text)]
    findings += [f"user agent {text[:60]!r}" for m in USER_AGENT_MARKERS if m in text][:1]
    return findings


def personal_data_findings(value: Any) -> list[str]:
    if value is None or isinstance(value, bool | int | float):
        return []
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    findings: list[str] = []
    for form in decoded_forms(text):
        findings += [found for found in _findings_in(form) if found not in findings]
    return findings


def audit_database(app: Flask) -> list[str]:
    problems: list[str] = []
    with app.app_context():
        inspector = sa.inspect(db.engine)
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                if not inspector.has_table(table.name):
                    continue
                for row in conn.execute(table.select()).mappings():
                    for column, value in row.items():
                        if (table.name, column) in EXEMPT:
                            continue
                        for finding in personal_data_findings(value):
                            problems.append(f"{table.name}.{column}: {finding}")
    return problems
