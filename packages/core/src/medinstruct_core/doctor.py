"""`python -m medinstruct_core.doctor`: check that the embedded default can run.

Run at the end of `make setup`. It imports the heavy stack once and locates the
embedded model, so a broken install fails at setup time with a clear message
instead of halfway through `dvc repro`.
"""

from __future__ import annotations

import importlib
import sys

from medinstruct_core.llm.server import EmbeddedServerError, packaged_gguf

MODULES = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "mlflow",
    "great_expectations",
    "dvc",
    "llama_cpp",
    "openai",
)


def main() -> int:
    problems: list[str] = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
            print(f"ok   {name} {getattr(module, '__version__', '')}")
        except Exception as exc:  # report every missing piece, not just the first
            problems.append(f"{name}: {exc}")
    try:
        print(f"ok   embedded model {packaged_gguf()}")
    except EmbeddedServerError as exc:
        problems.append(str(exc))
    import torch

    print(f"     torch device: {'cuda' if torch.cuda.is_available() else 'cpu'}")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
