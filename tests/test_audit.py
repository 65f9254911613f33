"""The audit log (app/audit.py): changes are recorded with them, in one hash chain that a
gap, an edit or a wrong link breaks; and the site settings reporting needs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import select

from app.accounts.service import create_token, create_user
from app.audit import record_change, verify_chain
from app.consent.policy import update_policy
from app.extensions import db
from app.models import AppendOnlyError, AuditEntry
from app.sites.registry import PolicyError, create_site, get_site
from app.sites.snapshot import site_snapshot
from tests.helpers import fast_argon2  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("fast_argon2")


def _entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_changes_are_recorded_with_them_in_one_chain(app: Flask) -> None:
    with app.app_context():
        site = create_site("Audited", ["audited.example"], actor="cli")
        texts = json.loads(json.dumps(site.current_policy.texts))
        texts["en"]["title"] = "Cookies, plainly"
        update_policy(site, texts=texts, actor="user:1")
        user = create_user("audit.person@example.com", "marketing", "correct horse 1")
        token, _plain = create_token("reports", "finance", actor="cli")

        entries = _entries()
        assert [(e.seq, e.action, e.actor, e.target) for e in entries] == [
            (1, "site.create", "cli", f"site:{site.key}"),
            (2, "policy.update", "user:1", f"site:{site.key}"),
            (3, "user.create", "system", f"user:{user.id}"),
            (4, "token.create", "cli", f"token:{token.id}"),
        ]
        assert entries[0].details == {"timezone": "UTC", "k": 10}
        assert entries[1].details == {"version": 2, "changed": ["texts"]}
        assert entries[2].details == {"role": "marketing"}
        assert verify_chain() == []


def test_a_change_that_does_not_commit_leaves_no_entry(app: Flask) -> None:
    with app.app_context():
        record_change("site.archive", actor="user:2", target="site:nowhere")
        db.session.rollback()
        assert _entries() == []
        # An unchanged policy is no change: nothing to record.
        site = create_site("Quiet", ["quiet.example"])
        update_policy(site, consent_days=site.current_policy.consent_days)
        assert [e.action for e in _entries()] == ["site.create"]


def test_the_chain_shows_a_gap_an_edit_and_a_wrong_link(app: Flask) -> None:
    with app.app_context():
        for number in range(3):
            record_change("site.note", actor="system", target=f"site:s{number}")
        db.session.commit()
        first, second, third = _entries()
        db.session.expunge_all()

        assert verify_chain([first, second, third]) == []
        assert verify_chain([first, third]) == [
            "entry 2 is missing (next is 3)",
            "entry 3 does not link to the entry before it",
        ]
        edited = replace_details(second, {"note": "rewritten"})
        assert verify_chain([first, edited, third]) == ["entry 2 was changed after it was written"]
        relinked = replace_prev(third, first.hash)
        assert "entry 3 does not link to the entry before it" in verify_chain(
            [first, second, relinked]
        )


def replace_details(entry: AuditEntry, details: dict) -> AuditEntry:
    return _copy(entry, details=details)


def replace_prev(entry: AuditEntry, prev_hash: str) -> AuditEntry:
    return _copy(entry, prev_hash=prev_hash)


def _copy(entry: AuditEntry, **changes: object) -> AuditEntry:
    fields = {
        name: getattr(entry, name)
        for name in ("seq", "at", "actor", "action", "target", "details", "prev_hash", "hash")
    }
    return AuditEntry(**{**fields, **changes})


def test_entries_are_append_only(app: Flask) -> None:
    with app.app_context():
        record_change("site.note", actor="system")
        db.session.commit()
        entry = _entries()[0]
        entry.action = "site.other"
        with pytest.raises(AppendOnlyError):
            db.session.commit()
        db.session.rollback()
        with pytest.raises(AppendOnlyError):
            db.session.delete(_entries()[0])
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize("actor", ["", "someone", "admin@example.com", "user"])
def test_actors_are_kinds_and_ids_never_names(app: Flask, actor: str) -> None:
    with app.app_context(), pytest.raises(ValueError):
        record_change("site.note", actor=actor)


def test_sites_have_a_time_zone_and_k_with_defaults(app: Flask) -> None:
    with app.app_context():
        plain = create_site("Plain", ["plain.example"])
        berlin = create_site("Berlin", ["berlin.example"], timezone="Europe/Berlin", k=25)
        assert (plain.timezone, plain.k) == ("UTC", 10)
        assert (get_site(berlin.key).timezone, get_site(berlin.key).k) == ("Europe/Berlin", 25)
        snapshot = site_snapshot(berlin.key)
        assert (snapshot.timezone, snapshot.k) == ("Europe/Berlin", 25)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"k": 4}, "k must be"),
        ({"k": True}, "k must be"),
        ({"k": 1001}, "k must be"),
    ],
)
def test_bad_site_settings_are_refused_with_the_reason(
    app: Flask, settings: dict, message: str
) -> None:
    with app.app_context():
        with pytest.raises(PolicyError, match=message):
            create_site("Bad", ["bad.example"], **settings)
        assert get_site_count() == 0


def get_site_count() -> int:
    from app.models import Site

    return len(db.session.scalars(select(Site)).all())


def test_cli_site_add_takes_time_zone_and_k(app: Flask) -> None:
    runner = app.test_cli_runner()
    args = ["heedful", "site", "add", "Zoned", "--domain", "zoned.example"]
    result = runner.invoke(args=[*args, "--timezone", "America/New_York", "--k", "12"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["timezone"], body["k"]) == ("America/New_York", 12)
    refused = runner.invoke(args=[*args, "--timezone", "Nowhere/Else"])
    assert refused.exit_code != 0
    assert "unknown time zone" in refused.output


def test_the_snapshot_is_frozen(app: Flask) -> None:
    with app.app_context():
        site = create_site("Frozen", ["frozen.example"])
        snapshot = site_snapshot(site.key)
        with pytest.raises(AttributeError):
            snapshot.k = 3  # type: ignore[misc]
        assert replace(snapshot, k=11).k == 11
