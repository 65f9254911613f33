"""Debian's ``wrk`` as a second load generator for ``bench.ingest``.

The Python generator shares the host's two cores with the servers and takes CPU from the
faster one most, which flatters the ratio; ``wrk`` (C, event loop) costs little per
request, so its ratio is the sterner figure. Same bodies, headers and client addresses.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

THREADS = 2
CONNECTIONS = 32
# Measured on 2026-12-01 before the collect limits were added: keep it from falling.
REFERENCE_RATIO = 0.40


@dataclass
class WrkRun:
    rps: float
    bad: int  # non-2xx answers plus socket errors


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def script(bodies: list[bytes], user_agent: str, addresses: tuple[str, ...]) -> str:
    """A wrk script that cycles through the bodies and client addresses, as the Python
    generator does."""
    lua_bodies = ",\n".join(_lua_string(body.decode()) for body in bodies)
    lua_addresses = ", ".join(f'"{address}"' for address in addresses)
    return f"""
local bodies = {{
{lua_bodies}
}}
local addresses = {{ {lua_addresses} }}
local index = 0
init = function(args)
  index = math.random(#bodies)
end
request = function()
  index = index + 1
  local headers = {{
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = {_lua_string(user_agent)},
    ["X-Forwarded-For"] = addresses[index % #addresses + 1],
  }}
  return wrk.format("POST", "/api/v1/collect", headers, bodies[index % #bodies + 1])
end
"""


def run(port: int, script_path: Path, seconds: float) -> WrkRun:
    completed = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script_path),
            f"http://127.0.0.1:{port}/api/v1/collect",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    out = completed.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(non_2xx.group(1)) if non_2xx else 0
    if errors:
        bad += sum(int(value) for value in errors.groups())
    return WrkRun(float(rps.group(1)) if rps else 0.0, bad)


def script_file(bodies: list[bytes], user_agent: str, addresses: tuple[str, ...]) -> Path:
    with tempfile.NamedTemporaryFile(
        "w", prefix="heedful-wrk-", suffix=".lua", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(script(bodies, user_agent, addresses))
    return Path(handle.name)


def report(bare: list[WrkRun], real: list[WrkRun], python_ratio: float) -> None:
    """Print wrk's rounds and median ratio beside the Python generator's."""
    if not bare:
        print("   wrk: not installed (`make bench` installs Debian's wrk); its ratio skipped")
        return
    pairs = list(zip(bare, real, strict=True))
    ratio = statistics.median(r.rps / b.rps if b.rps else 0.0 for b, r in pairs)
    text = ", ".join(f"{b.rps:.0f} / {r.rps:.0f}" for b, r in pairs)
    print(
        f"   wrk -t{THREADS} -c{CONNECTIONS} (bare / collect req/s per round: {text}): "
        f"median {ratio:.2f}x bare, beside the Python generator's {python_ratio:.2f}x "
        f"(wrk gave {REFERENCE_RATIO:.2f}x before the limits: keep it from falling); "
        f"non-2xx or socket errors {sum(run.bad for run in real)}"
    )
