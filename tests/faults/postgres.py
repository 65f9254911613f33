"""A throw-away PostgreSQL cluster the fault tests start, stop and freeze themselves."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.faults.harness import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class TempCluster:
    """initdb + pg_ctl in a temporary folder. initdb refuses to run as root, so as root
    (CI) the cluster belongs to the ``postgres`` OS user."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None or shutil.which("pg_ctl", path=str(bin_dir)) is None:
            pytest.skip("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin")
        self.bin = bin_dir
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.skip("running as root without runuser: cannot run initdb as postgres")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root with no postgres OS user to run initdb as")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="heedful-pg-"))
        self.data = self.root / "data"
        if self.as_user:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [*self.as_user, str(self.bin / args[0]), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c max_connections=60"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.root / "log"), "-w", "-t", "30", "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def _pids(self) -> list[int]:
        """The postmaster first, then its children."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(Path(stat).parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        # The postmaster first, so that no new backend is forked after the list was read.
        for pid in self._pids():
            _signal(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self._pids()):
            _signal(pid, signal.SIGCONT)

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.thaw()
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _signal(pid: int, signum: int) -> None:
    """Signal ``pid``; a backend that ended after the list was read needs none."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
