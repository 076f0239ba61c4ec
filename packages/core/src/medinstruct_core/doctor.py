"""`python -m medinstruct_core.doctor [--params params.yaml]`: check that the stack can run.

Run at the end of `make setup`. It imports the heavy stack once and checks
every embedded model in the registry, so a broken install fails at setup time
with a clear message instead of halfway through `dvc repro`.

Each model is reported as verified (sha256 matches the registry), present (a
user GGUF with no pinned hash), missing or corrupt. A model some role of the
params file uses must be verified or present; the default SmolLM2 always must.
Others may be missing (they are optional) but never corrupt.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from medinstruct_core.llm.build_server import BuildError, locate_binary, version_text
from medinstruct_core.llm.config import LLMSection
from medinstruct_core.llm.embedded import DEFAULT_MODEL, ModelStatus, model_status, registry
from medinstruct_core.params import ParamsError, load_section

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
ROLES = ("teacher", "responder", "judge")


def check_modules() -> list[str]:
    """Import each module of the stack; report every missing one, not just the first."""
    problems: list[str] = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
            print(f"ok   {name} {getattr(module, '__version__', '')}")
        except Exception as exc:  # any import failure is a broken install worth reporting
            problems.append(f"{name}: {exc}")
    return problems


def torch_device() -> str:
    """cuda or cpu, through importlib: core itself never imports torch."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return "unavailable"
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_llm(params: Path | None) -> LLMSection:
    if params is None or not params.is_file():
        return LLMSection()
    return load_section(params, "llm", LLMSection)


def required_models(llm: LLMSection) -> set[str]:
    return {DEFAULT_MODEL} | {getattr(llm, role).embedded_model for role in ROLES}


def model_line(status: ModelStatus, required: bool) -> tuple[str, str | None]:
    """The printed line for one model, and a problem when it blocks the run."""
    where = f" {status.path}" if status.path else ""
    line = f"{status.status:<9} model {status.name}{where}"
    bad = status.status == "corrupt" or (required and status.status == "missing")
    if status.status == "missing" and not required:
        line += f" (optional: {status.detail})"
    return line, (f"model {status.name}: {status.detail}" if bad else None)


def check_server() -> list[str]:
    """The llama-server binary `make setup` builds: present and answering `--version`."""
    try:
        binary = locate_binary()
    except BuildError as exc:
        return [f"llama-server: {exc}"]
    text = version_text(binary)
    if text is None:
        return [f"llama-server: {binary} is missing or does not run; run `make setup`"]
    print(f"ok   llama-server {text.splitlines()[0]} {binary}")
    return []


def check_rouge_scan() -> None:
    """The ROUGE-L dedup's compiled scan: reported, never a failure (numpy does the same
    work where it is missing, only slower). Through importlib: core does not depend on text."""
    try:
        kernel = importlib.import_module("medinstruct_text.scan_kernel")
    except ImportError as exc:
        print(f"note rouge scan: medinstruct_text not importable ({exc})")
        return
    path = kernel.library_path()
    if path.is_file():
        print(f"ok   rouge scan {path}")
    else:
        print(f"note rouge scan: not built at {path}; dedup runs its numpy scan (same kept "
              "set, ~2x slower at 52k). A C compiler and `make setup` build it")  # fmt: skip


def check_models(llm: LLMSection) -> list[str]:
    problems: list[str] = []
    needed = required_models(llm)
    for name in registry(llm.embedded):
        line, problem = model_line(model_status(llm.embedded, name), name in needed)
        print(line)
        if problem:
            problems.append(problem)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medinstruct_core.doctor")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    problems = check_modules() + check_server()
    check_rouge_scan()
    try:
        problems += check_models(load_llm(args.params))
    except ParamsError as exc:
        problems.append(str(exc))
    print(f"     torch device: {torch_device()}")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
