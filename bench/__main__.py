"""`make bench`: every figure is printed next to a baseline measured in the same run."""

from __future__ import annotations

import importlib
import sys
import time

SUITES = ("bench.consent", "bench.banner_size", "bench.ingest", "bench.readtime", "bench.reporting")


def main(argv: list[str]) -> int:
    wanted = [s for s in SUITES if not argv or any(a in s for a in argv)]
    failures = 0
    for name in wanted:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"== {name}: not built yet ==")
                continue
            raise
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        ok = module.main()
        print(f"   ({time.perf_counter() - started:.1f} s, {'met' if ok else 'MISSED'})\n")
        failures += 0 if ok else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
