"""Reading a recipients CSV: every row is checked before anything is written.

Columns: ``email``, ``email_tracking`` (true/false/yes/no/1/0) and optionally ``source``.
Errors name the file's line number (the header is line 1) and never echo an address.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from app.email.service import EmailError, RecipientChoice, check_source, recipient_key

TRUE_WORDS = frozenset({"true", "yes", "1", "y", "granted"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", "denied"})
REQUIRED_COLUMNS = ("email", "email_tracking")
MAX_ROWS = 1_000_000


@dataclass
class ParsedCsv:
    choices: list[RecipientChoice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_bool(value: str) -> bool | None:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_recipients_csv(text: str, default_source: str = "crm_import") -> ParsedCsv:
    """Check every row; ``errors`` is empty only when the whole file can be imported."""
    parsed = ParsedCsv()
    try:
        check_source(default_source)
    except EmailError as exc:
        parsed.errors.append(str(exc))
        return parsed
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        parsed.errors.append(f"line 1: missing column(s) {', '.join(missing)}")
        return parsed
    reader.fieldnames = header
    try:
        for row in reader:
            line = reader.line_num
            if len(parsed.choices) + len(parsed.errors) >= MAX_ROWS:
                parsed.errors.append(f"line {line}: more than {MAX_ROWS} rows; split the file")
                break
            problem = _check_row(row, line, default_source, parsed)
            if problem:
                parsed.errors.append(problem)
    except csv.Error as exc:
        parsed.errors.append(f"line {reader.line_num}: not valid CSV ({exc})")
    return parsed


def _check_row(row: dict[str, str | None], line: int, default_source: str, out: ParsedCsv) -> str:
    if None in row:
        return f"line {line}: more fields than columns"
    email = (row.get("email") or "").strip()
    if not email:
        return f"line {line}: email is empty"
    try:
        recipient_key(email)
    except EmailError:
        return f"line {line}: email is not a plausible address"
    tracking = parse_bool(row.get("email_tracking") or "")
    if tracking is None:
        return f"line {line}: email_tracking must be true/false/yes/no/1/0"
    source = (row.get("source") or "").strip() or default_source
    try:
        check_source(source)
    except EmailError as exc:
        return f"line {line}: {exc}"
    out.choices.append(RecipientChoice(email=email, email_tracking=tracking, source=source))
    return ""
