"""Configuration from the environment (CONTRACT.md, "Configuration")."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app
from app.config import ConfigError, load_config
from tests.helpers import extra_app


def test_missing_secret_outside_development_stops_start_up(tmp_path: Path) -> None:
    for env in ({}, {"HEEDFUL_ENV": "production"}, {"HEEDFUL_ENV": "staging"}):
        with pytest.raises(ConfigError) as caught:
            load_config(str(tmp_path), env=env)
        message = str(caught.value)
        assert "HEEDFUL_SECRET_KEY" in message
        assert "HEEDFUL_ENV=development" in message  # the message says how to fix it


def test_empty_secret_counts_as_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(str(tmp_path), env={"HEEDFUL_SECRET_KEY": ""})


def test_create_app_refuses_to_start_without_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEEDFUL_SECRET_KEY", raising=False)
    monkeypatch.setenv("HEEDFUL_ENV", "production")
    with pytest.raises(ConfigError, match="HEEDFUL_SECRET_KEY"):
        create_app(instance_path=str(tmp_path))


def test_create_app_starts_with_secret_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEEDFUL_ENV", "production")
    monkeypatch.setenv("HEEDFUL_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("HEEDFUL_DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    application = create_app(instance_path=str(tmp_path))
    assert application.config["SECRET_KEY"] == "s" * 48
    assert application.config["SESSION_COOKIE_SECURE"] is True


def test_development_runs_without_secret(tmp_path: Path) -> None:
    config = load_config(str(tmp_path), env={"HEEDFUL_ENV": "development"})
    assert config["SECRET_KEY"]
    assert config["SESSION_COOKIE_SECURE"] is False


def test_secret_from_environment_is_used(tmp_path: Path) -> None:
    config = load_config(str(tmp_path), env={"HEEDFUL_SECRET_KEY": "k" * 40})
    assert config["SECRET_KEY"] == "k" * 40


def test_database_defaults_to_sqlite_in_instance_folder(tmp_path: Path) -> None:
    config = load_config(str(tmp_path), env={"HEEDFUL_ENV": "development"})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'heedful.db'}"
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["check_same_thread"] is False


def test_database_url_from_environment(tmp_path: Path) -> None:
    url = "postgresql+psycopg://heedful@db.internal/heedful"
    config = load_config(
        str(tmp_path), env={"HEEDFUL_ENV": "development", "HEEDFUL_DATABASE_URL": url}
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == url
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


def test_optional_services_default_to_unset(tmp_path: Path) -> None:
    config = load_config(str(tmp_path), env={"HEEDFUL_ENV": "development"})
    assert config["HEEDFUL_GEOIP_CITY_DB"] is None
    assert config["HEEDFUL_GEOIP_ASN_DB"] is None
    assert config["HEEDFUL_REDIS_URL"] is None
    # Without Redis, limits count in a file the host's workers share (not per process).
    assert config["RATELIMIT_STORAGE_URI"] == f"heedful-file://{tmp_path.resolve()}/ratelimit.bin"
    assert config["HEEDFUL_TRUSTED_PROXIES"] == 0


def test_redis_url_shares_limits_and_keeps_the_host_file_as_fallback(tmp_path: Path) -> None:
    env = {"HEEDFUL_ENV": "development", "HEEDFUL_REDIS_URL": "redis://cache.internal:6379/2"}
    config = load_config(str(tmp_path), env=env)
    assert config["RATELIMIT_STORAGE_URI"] == "heedful+redis://cache.internal:6379/2"
    assert config["RATELIMIT_STORAGE_OPTIONS"] == {
        "fallback_path": f"{tmp_path.resolve()}/ratelimit.bin"
    }


@pytest.mark.parametrize("name", ["HEEDFUL_COLLECT_RATE_PER_ADDRESS", "HEEDFUL_LOGIN_RATE"])
def test_a_rate_that_does_not_parse_is_a_config_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(str(tmp_path), env={"HEEDFUL_ENV": "development", name: "lots"})


@pytest.mark.parametrize("raw", ["two", "1.5", "-1"])
def test_bad_trusted_proxies_value_is_a_config_error(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match="HEEDFUL_TRUSTED_PROXIES"):
        load_config(
            str(tmp_path), env={"HEEDFUL_ENV": "development", "HEEDFUL_TRUSTED_PROXIES": raw}
        )


def _echo_remote_addr(application) -> None:
    @application.get("/_test/remote-addr")
    def remote_addr() -> str:
        return request.remote_addr or ""


def test_trusted_proxies_apply_proxy_fix(database_url: str, tmp_path: Path) -> None:
    with extra_app(database_url, tmp_path, HEEDFUL_TRUSTED_PROXIES=1) as application:
        assert isinstance(application.wsgi_app, ProxyFix)
        _echo_remote_addr(application)
        response = application.test_client().get(
            "/_test/remote-addr", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert response.get_data(as_text=True) == "203.0.113.9"


def test_trusted_proxies_from_environment(tmp_path: Path) -> None:
    config = load_config(
        str(tmp_path), env={"HEEDFUL_ENV": "development", "HEEDFUL_TRUSTED_PROXIES": "2"}
    )
    assert config["HEEDFUL_TRUSTED_PROXIES"] == 2


def test_without_trusted_proxies_forwarded_header_is_ignored(
    database_url: str, tmp_path: Path
) -> None:
    with extra_app(database_url, tmp_path) as application:
        assert not isinstance(application.wsgi_app, ProxyFix)
        _echo_remote_addr(application)
        response = application.test_client().get(
            "/_test/remote-addr", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert response.get_data(as_text=True) == "127.0.0.1"


def test_read_pixel_settings_come_from_the_environment(tmp_path: Path) -> None:
    base = {"HEEDFUL_SECRET_KEY": "s" * 32}
    defaults = load_config(str(tmp_path), env=base)
    assert defaults["HEEDFUL_READ_HOLD_MAX"] == 500
    assert defaults["HEEDFUL_READ_TICK_SECONDS"] == 0.5
    assert defaults["HEEDFUL_PUBLIC_URL"] is None
    chosen = load_config(
        str(tmp_path),
        env={
            **base,
            "HEEDFUL_READ_HOLD_MAX": "0",
            "HEEDFUL_READ_TICK_SECONDS": "0.25",
            "HEEDFUL_PUBLIC_URL": "https://heedful.example",
        },
    )
    assert chosen["HEEDFUL_READ_HOLD_MAX"] == 0  # holding off, not the default
    assert chosen["HEEDFUL_READ_TICK_SECONDS"] == 0.25
    assert chosen["HEEDFUL_PUBLIC_URL"] == "https://heedful.example"
    for bad in (
        {"HEEDFUL_READ_HOLD_MAX": "-1"},
        {"HEEDFUL_READ_HOLD_MAX": "many"},
        {"HEEDFUL_READ_TICK_SECONDS": "0"},
        {"HEEDFUL_READ_TICK_SECONDS": "soon"},
    ):
        with pytest.raises(ConfigError):
            load_config(str(tmp_path), env={**base, **bad})
