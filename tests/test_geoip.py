"""Country-only GeoIP databases and ``heedful geoip update`` (with a fake npm, no network).

The fixtures are small real .mmdb files built with mmdb-writer; the fake ``npm`` on PATH
answers ``npm pack`` by writing a real tarball laid out as the registry's package is.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app.config import load_config
from app.enrichment.geo import GeoReaders, Location
from app.geoip_update import PACKAGES, read_sources
from tests.collection.helpers import collect, stored
from tests.conftest import give_consent
from tests.fixtures_geo import build_country_db
from tests.helpers import extra_app

COUNTRY = PACKAGES[0]


@pytest.mark.parametrize("layout", ["ip-location-db", "geolite2"])
def test_a_country_only_database_gives_the_country_and_leaves_region_and_city_unknown(
    tmp_path: Path, layout: str
) -> None:
    readers = GeoReaders(str(build_country_db(tmp_path / "country.mmdb", layout)), None)
    assert readers.place("81.2.69.160") == (Location("GB", None, None), None)
    assert readers.place("2001:db8:1::7") == (Location("SE", None, None), None)
    assert readers.place("192.0.2.1") == (None, None)  # not in the database
    readers.close()


def test_collection_stores_the_country_from_a_country_only_database(
    app: Flask, database_url: str, tmp_path: Path, site: str
) -> None:
    country = build_country_db(tmp_path / "country.mmdb")
    # Same instance folder as the main app, so both see the same consent-cache stamps.
    with extra_app(database_url, app.instance_path, HEEDFUL_GEOIP_CITY_DB=str(country)) as located:
        client = located.test_client()
        consent_id = give_consent(client, site)["consent_id"]
        response = collect(client, consent_id, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 202
    (event,) = stored(app)["events"]
    assert (event.country, event.region, event.city, event.asn) == ("DE", None, None, None)


# --- heedful geoip update ------------------------------------------------------------------

FAKE_NPM = """#!{python}
# A stand-in for npm: answers `npm pack SPEC --json --pack-destination DIR` from a fixture.
import json, os, pathlib, shutil, sys
args = sys.argv[1:]
pathlib.Path(os.environ["FAKE_NPM_LOG"]).open("a").write(json.dumps(args) + "\\n")
mode = os.environ.get("FAKE_NPM_MODE", "ok")
if mode == "offline":
    sys.stderr.write("npm error code ENOTFOUND\\nnpm error network request failed\\n")
    sys.exit(1)
destination = pathlib.Path(args[args.index("--pack-destination") + 1])
tarball = pathlib.Path(os.environ["FAKE_NPM_TARBALL"])
shutil.copy(tarball, destination / tarball.name)
print(json.dumps([{{"name": args[1], "filename": tarball.name}}]))
"""


def _tarball(path: Path, database: bytes, licence: str = "CC0-1.0") -> Path:
    manifest = {"name": COUNTRY.package, "version": "9.9.20260101", "license": licence}
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (
            ("package/package.json", json.dumps(manifest).encode()),
            (f"package/{COUNTRY.member}", database),
            ("package/README.md", b"# fixture\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable))
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    database = build_country_db(tmp_path / "fixture.mmdb").read_bytes()
    tarball = _tarball(tmp_path / "geo-whois-asn-country-mmdb-9.9.20260101.tgz", database)
    log = tmp_path / "npm.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_NPM_TARBALL", str(tarball))
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    return {"tarball": tarball, "log": log, "database": tmp_path / "fixture.mmdb"}


@pytest.fixture
def instance_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    with extra_app(database_url, tmp_path / "instance") as application:
        yield application


def _update(app: Flask, *extra: str):
    return app.test_cli_runner().invoke(args=["heedful", "geoip", "update", *extra])


def test_update_installs_the_database_and_the_settings_point_at_it(
    instance_app: Flask, fake_npm: dict[str, Path]
) -> None:
    result = _update(instance_app)
    assert result.exit_code == 0, result.output
    assert f"country: {COUNTRY.package} 9.9.20260101 (CC0-1.0)" in result.output
    calls = [json.loads(line) for line in fake_npm["log"].read_text().splitlines()]
    assert [call[:2] for call in calls] == [["pack", COUNTRY.package]]

    folder = Path(instance_app.instance_path) / "geoip"
    installed = folder / "country.mmdb"
    assert installed.read_bytes() == fake_npm["database"].read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["country.mmdb", "sources.json"]
    (source,) = read_sources(instance_app.instance_path)
    assert source["licence"] == "CC0-1.0" and source["version"] == "9.9.20260101"
    assert "ip-location-db" in source["attribution"]

    # A new process picks the file up by default, and locates visitors with it.
    config = load_config(instance_app.instance_path, env={"HEEDFUL_ENV": "development"})
    assert config["HEEDFUL_GEOIP_CITY_DB"] == str(installed)
    assert config["HEEDFUL_GEOIP_ASN_DB"] is None  # no free ASN .mmdb on the registry
    readers = GeoReaders(config["HEEDFUL_GEOIP_CITY_DB"], None)
    assert readers.place("203.0.113.50")[0] == Location("DE", None, None)
    readers.close()
    # An explicit setting still wins over the bundled file.
    chosen = load_config(
        instance_app.instance_path,
        env={"HEEDFUL_ENV": "development", "HEEDFUL_GEOIP_CITY_DB": "/srv/geo/city.mmdb"},
    )
    assert chosen["HEEDFUL_GEOIP_CITY_DB"] == "/srv/geo/city.mmdb"


def test_the_demo_footer_shows_the_licence_and_attribution(
    instance_app: Flask, fake_npm: dict[str, Path]
) -> None:
    before = instance_app.test_client().get("/demo").get_data(as_text=True)
    assert "No GeoIP database is installed" in before
    assert _update(instance_app).exit_code == 0
    page = instance_app.test_client().get("/demo").get_data(as_text=True)
    assert COUNTRY.package in page and "licence CC0-1.0" in page
    assert "ip-location-db geo-whois-asn-country" in page


def test_missing_npm_is_a_clear_error(instance_app: Flask, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = _update(instance_app)
    assert result.exit_code != 0
    assert "'npm' was not found" in result.output and "apt-get install npm" in result.output
    assert not (Path(instance_app.instance_path) / "geoip" / "country.mmdb").exists()


def _installed(app: Flask) -> bytes:
    return (Path(app.instance_path) / "geoip" / "country.mmdb").read_bytes()


def test_offline_npm_is_a_clear_error_and_keeps_the_installed_files(
    instance_app: Flask, fake_npm: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _update(instance_app).exit_code == 0
    before = _installed(instance_app)
    monkeypatch.setenv("FAKE_NPM_MODE", "offline")
    result = _update(instance_app)
    assert result.exit_code != 0
    assert "offline, or the registry unreachable?" in result.output
    assert "ENOTFOUND" in result.output
    assert _installed(instance_app) == before
    folder = Path(instance_app.instance_path) / "geoip"
    assert sorted(p.name for p in folder.iterdir()) == ["country.mmdb", "sources.json"]


@pytest.mark.parametrize(
    ("licence", "database", "message"),
    [
        ("CC-BY-SA-4.0", None, "is now licensed 'CC-BY-SA-4.0'"),
        ("CC0-1.0", b"not a maxmind database", "is not a MaxMind DB"),
    ],
)
def test_a_changed_licence_or_a_broken_file_is_refused(
    instance_app: Flask, fake_npm: dict[str, Path], licence, database, message
) -> None:
    assert _update(instance_app).exit_code == 0
    before = _installed(instance_app)
    good = fake_npm["database"].read_bytes()
    _tarball(fake_npm["tarball"], database or good, licence)
    result = _update(instance_app)
    assert result.exit_code != 0
    assert message in result.output
    assert _installed(instance_app) == before
