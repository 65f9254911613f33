"""Migrations: an empty database goes to head and back to base; head matches the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from app.extensions import db
from tests.conftest import make_database_url
from tests.helpers import extra_app

CORE_TABLES = {"sites", "policy_versions", "consent_records", "users", "api_tokens"}


@pytest.fixture
def empty_app(tmp_path: Path) -> Iterator[Flask]:
    url, cleanup = make_database_url(tmp_path, "migrations")
    try:
        with extra_app(url, tmp_path / "instance") as application:
            yield application
    finally:
        cleanup()


def _tables(application: Flask) -> set[str]:
    with application.app_context():
        db.engine.dispose()
        return set(sa.inspect(db.engine).get_table_names())


def _partitions(conn: sa.Connection) -> set[str]:
    """PostgreSQL partitions (e.g. ``events_default``): storage of a partitioned table that
    the models declare once, so they are not differences between models and migrations."""
    if conn.dialect.name != "postgresql":
        return set()
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relispartition AND n.nspname = current_schema()"
        )
    )
    return {row[0] for row in rows}


def _differences(application: Flask) -> list:
    with application.app_context(), db.engine.connect() as conn:
        partitions = _partitions(conn)

        def include_object(obj, name, type_, reflected, compare_to) -> bool:
            table = obj if type_ == "table" else getattr(obj, "table", None)
            return getattr(table, "name", None) not in partitions

        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_empty_database_to_head_and_back(empty_app: Flask) -> None:
    assert _tables(empty_app) == set()
    with empty_app.app_context():
        upgrade()
    tables = _tables(empty_app)
    assert tables >= CORE_TABLES
    assert "alembic_version" in tables
    # Every table the models declare exists after the migrations.
    assert {t.name for t in db.metadata.sorted_tables} <= tables

    with empty_app.app_context():
        downgrade(revision="base")
    assert _tables(empty_app) <= {"alembic_version"}


def test_migrated_schema_matches_the_models(empty_app: Flask) -> None:
    with empty_app.app_context():
        upgrade()
    differences = _differences(empty_app)
    assert differences == [], "migrations and models disagree:\n" + "\n".join(map(str, differences))


def test_migrated_database_refuses_updates_to_consent_records(empty_app: Flask) -> None:
    """The append-only trigger is created by the migration, not only by create_all."""
    from app.consent.service import ConsentRequest, record_consent
    from app.sites.registry import create_site

    with empty_app.app_context():
        upgrade()
        create_site("Migrated", ["migrated.example"], key="migrated")
        record_consent(ConsentRequest("migrated", None, 1, {}, "accept_all", "en"))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE consent_records SET gpc = true"))
        db.session.remove()


def test_create_all_and_migrations_agree_on_the_app_fixture(app: Flask) -> None:
    """The suite's schema (create_all) has the same tables as the models."""
    assert {t.name for t in db.metadata.sorted_tables} <= _tables(app)


def test_visits_are_filled_in_from_the_rows_already_stored(empty_app: Flask) -> None:
    """0005 finds rows through visits: every visit stored before it gets its row."""
    from app.privacy.service import export_subject
    from app.subjects import Subject

    rows = [
        ("events", 1, "2026-03-01 10:00:00", "visitor-a", "visit-a1"),
        ("events", 2, "2026-03-01 10:20:00", "visitor-a", "visit-a1"),
        ("search_terms", 3, "2026-03-01 10:25:00", "visitor-a", "visit-a1"),
        ("events", 4, "2026-03-02 09:00:00", "visitor-a", "visit-a2"),
        ("events", 5, "2026-03-02 09:00:00", "visitor-b", "visit-b1"),
    ]
    with empty_app.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as conn:
            # The schema of 0004, not today's models: the site is written as SQL too.
            conn.execute(
                sa.text(
                    "INSERT INTO sites (key, name, domains, settings, created_at) VALUES "
                    "('migrated', 'Migrated', '[\"migrated.example\"]', '{}', :at)"
                ),
                {"at": "2026-03-01 00:00:00"},
            )
            site_id = conn.execute(sa.text("SELECT id FROM sites WHERE key = 'migrated'")).scalar()
            for table, row_id, at, consent_id, session_id in rows:
                extra = ("type, path", "'pageview', '/'")
                if table == "search_terms":
                    extra = ("term, source", "'tea', 'site'")
                conn.execute(
                    sa.text(
                        f"INSERT INTO {table} (id, received_at, site_id, consent_id, session_id,"
                        f" {extra[0]}) VALUES (:id, :at, :site, :consent, :session, {extra[1]})"
                    ),
                    {
                        "id": row_id,
                        "at": at,
                        "site": site_id,
                        "consent": consent_id,
                        "session": session_id,
                    },
                )
        upgrade()
        with db.engine.connect() as conn:
            visits = conn.execute(
                sa.text("SELECT session_id, consent_id FROM visits ORDER BY session_id")
            ).all()
        assert [tuple(v) for v in visits] == [
            ("visit-a1", "visitor-a"),
            ("visit-a2", "visitor-a"),
            ("visit-b1", "visitor-b"),
        ]
        data = export_subject(Subject.of_consent("visitor-a"))
        assert len(data["events"]) == 3 and len(data["search_terms"]) == 1
        assert [v["session_id"] for v in data["visits"]] == ["visit-a1", "visit-a2"]
        db.session.remove()
