"""``heedful geoip update``: installs the free GeoIP databases from the npm registry.

The files come from npm packages of the ip-location-db project. npm is install-time
tooling here: ``make run`` calls this once at setup, and an operator calls it again to
refresh. Nothing downloads at run time: the service only opens the files in
``instance/geoip/``, which the configuration points at by default (``app/config.py``).

Each package is fetched with ``npm pack`` (a tarball, no node_modules, no install
scripts), checked (expected licence, a readable MaxMind database), and then moved into
place with one ``os.replace``, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import maxminddb

from app.config import GEOIP_DIR

SOURCES_FILE = "sources.json"
NPM_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class GeoPackage:
    kind: str  # "country" fills HEEDFUL_GEOIP_CITY_DB, "asn" HEEDFUL_GEOIP_ASN_DB
    package: str
    member: str  # the .mmdb inside the package
    licences: frozenset[str]  # the npm "license" values accepted
    attribution: str
    url: str


# Country by GeoFeed, then WHOIS, then ASN registration, IPv4 and IPv6 in one file: CC0,
# so it can be redistributed and needs no attribution (we give it anyway). No ASN .mmdb
# under a free licence is published on the npm registry (see README, "GeoIP databases").
PACKAGES: tuple[GeoPackage, ...] = (
    GeoPackage(
        kind="country",
        package="@ip-location-db/geo-whois-asn-country-mmdb",
        member="geo-whois-asn-country.mmdb",
        licences=frozenset({"CC0-1.0"}),
        attribution="Country data: ip-location-db geo-whois-asn-country (CC0 1.0), "
        "from OpenGeoFeed, RIR WHOIS and RIR delegation data",
        url="https://github.com/sapics/ip-location-db",
    ),
)


class GeoipUpdateError(RuntimeError):
    """The databases could not be fetched or checked; nothing was replaced."""


def geoip_dir(instance_path: str) -> Path:
    return Path(instance_path) / GEOIP_DIR


def read_sources(instance_path: str) -> list[dict[str, Any]]:
    """What ``update`` installed (package, version, licence, attribution), or []."""
    try:
        data = json.loads((geoip_dir(instance_path) / SOURCES_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _run_npm(npm: str, args: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            [npm, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GeoipUpdateError(
            f"npm did not finish within {NPM_TIMEOUT_SECONDS} s (is the registry reachable?)"
        ) from exc
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise GeoipUpdateError(
            f"npm {' '.join(args[:2])} failed (exit {done.returncode}); offline, or the "
            f"registry unreachable? {tail}"
        )
    return done.stdout


def _packed_file(stdout: str, directory: Path) -> Path:
    try:
        answer = json.loads(stdout)
        filename = Path(answer[0]["filename"]).name
    except (ValueError, LookupError, TypeError) as exc:
        raise GeoipUpdateError(f"npm pack printed no tarball name: {stdout[:200]!r}") from exc
    path = directory / filename
    if not path.is_file():
        raise GeoipUpdateError(f"npm pack reported {filename}, which is not in {directory}")
    return path


def _unpack(tarball: Path, spec: GeoPackage, work: Path) -> tuple[Path, dict[str, Any]]:
    """The package's .mmdb (written under ``work``) and its package.json."""
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            manifest_file = archive.extractfile("package/package.json")
            database_file = archive.extractfile(f"package/{spec.member}")
            if manifest_file is None or database_file is None:
                raise KeyError(spec.member)
            manifest = json.load(manifest_file)
            target = work / f"{spec.kind}.mmdb"
            with target.open("wb") as out:
                shutil.copyfileobj(database_file, out)
    except (KeyError, tarfile.TarError, OSError, ValueError) as exc:
        raise GeoipUpdateError(
            f"{spec.package}: no package/{spec.member} in {tarball.name}"
        ) from exc
    return target, manifest


def _check(path: Path, spec: GeoPackage, manifest: dict[str, Any]) -> None:
    licence = manifest.get("license")
    if licence not in spec.licences:
        raise GeoipUpdateError(
            f"{spec.package} is now licensed {licence!r}, not {sorted(spec.licences)}: "
            "not installed (check the new terms before redistributing it)"
        )
    try:
        with maxminddb.open_database(str(path), maxminddb.MODE_FILE) as reader:
            if reader.metadata().node_count <= 0:
                raise GeoipUpdateError(f"{spec.package}: {spec.member} is empty")
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise GeoipUpdateError(f"{spec.package}: {spec.member} is not a MaxMind DB") from exc


def update(target: Path, npm: str = "npm") -> list[dict[str, Any]]:
    """Fetch, check and install every package of ``PACKAGES`` into ``target``.

    All or nothing: every file is fetched and checked before the first one is replaced.
    """
    executable = shutil.which(npm)
    if executable is None:
        raise GeoipUpdateError(
            f"{npm!r} was not found: install Node.js's npm (Debian: apt-get install npm) to "
            "fetch the free GeoIP databases, or set HEEDFUL_GEOIP_CITY_DB to a .mmdb file"
        )
    target.mkdir(parents=True, exist_ok=True)
    sources: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=target, prefix=".update-") as tmp:
        work = Path(tmp)
        checked: list[tuple[Path, Path]] = []
        for spec in PACKAGES:
            stdout = _run_npm(
                executable,
                ["pack", spec.package, "--json", "--pack-destination", str(work)],
                cwd=work,
            )
            tarball = _packed_file(stdout, work)
            database, manifest = _unpack(tarball, spec, work)
            _check(database, spec, manifest)
            checked.append((database, target / f"{spec.kind}.mmdb"))
            sources.append(
                {
                    "kind": spec.kind,
                    "package": spec.package,
                    "version": str(manifest.get("version", "")),
                    "licence": manifest.get("license"),
                    "attribution": spec.attribution,
                    "url": spec.url,
                    "file": f"{spec.kind}.mmdb",
                    "bytes": database.stat().st_size,
                    "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        listing = work / SOURCES_FILE
        listing.write_text(json.dumps(sources, indent=2) + "\n", "utf-8")
        # A running worker keeps its open (now unlinked) file until it restarts.
        for source, destination in checked:
            os.replace(source, destination)
        os.replace(listing, target / SOURCES_FILE)
    return sources
