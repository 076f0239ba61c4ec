"""`python3 -m benchmarks`: run every benchmarks/bench_*.py module's main() in turn.

A failing benchmark is reported and the others still run; the exit status is
non-zero if any failed, so `make bench` notices.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

import benchmarks


def bench_modules() -> list[str]:
    names = (m.name for m in pkgutil.iter_modules(benchmarks.__path__))
    return sorted(name for name in names if name.startswith("bench_"))


def main() -> int:
    failed = []
    for name in bench_modules():
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").main()
        except Exception:  # report and go on: one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - started:.1f} s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
