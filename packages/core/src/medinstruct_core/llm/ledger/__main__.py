"""`python -m medinstruct_core.llm.ledger show|reset [--cache-dir .cache/llm]`.

A package `__main__` rather than a `__main__` block in the module: `medinstruct_core.llm`
imports the ledger, and running an already-imported module with -m makes runpy warn.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from medinstruct_core.llm.ledger import LEDGER_FILE, Ledger, show_text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medinstruct_core.llm.ledger", description="Show or reset LLM spend."
    )
    parser.add_argument("command", choices=["show", "reset"])
    parser.add_argument("--cache-dir", default=".cache/llm", help="llm.client.cache_dir")
    parser.add_argument("--budget-usd", type=float, default=None, help="cap to display")
    args = parser.parse_args(argv)
    path = Path(args.cache_dir) / LEDGER_FILE
    with Ledger(path, args.budget_usd) as ledger:
        if args.command == "reset":
            before = ledger.total_usd()
            ledger.reset()
            print(f"ledger {path}: reset (was ${before:.4f})")
        else:
            print(show_text(ledger))
    return 0


if __name__ == "__main__":
    sys.exit(main())
