"""Keep every dvc.yaml stage's code deps honest: exactly the modules that shape its outputs.

Why: DVC re-runs a stage when a dep changes. With a whole package source folder
as a dep, one comment in the MLflow tracking module re-ran all eight stages, and
on a teammate's clone that meant re-paying every LLM request and retraining.
So each stage lists the first-party modules its script imports (transitively),
minus the OUTPUT-NEUTRAL ones below: code that runs around a stage (tracking,
the stage runner, the spend ledger, error formatting, progress) but cannot change
a byte of its DVC outs. Their imports are not followed either: what a neutral
module imports for its own purposes does not shape the stage's outputs, and what
the stage itself uses it imports itself.

The check (run by `make lint`, and by tests/core/test_stage_deps.py):
- every module a stage needs is covered by one of its deps (the file, or a folder
  that holds it);
- no dep covers an output-neutral module (that would bring the re-runs back);
- package data (prompts, task YAMLs: a folder of a needed package that holds no
  module but `__init__.py`) is read through importlib.resources, which imports
  cannot show, so every data folder of a package the stage uses must be a dep;
- a data file that sits beside a module and that the module names in a top-level
  `PACKAGE_DATA = ("file", ...)` (the C source of the ROUGE-L scan) is needed
  wherever the module is;
- a dep folder holds only modules the stage needs (and data), so that editing a
  module it does not use re-runs nothing.

    python scripts/check_stage_deps.py            # check dvc.yaml, exit 1 naming each problem
    python scripts/check_stage_deps.py --suggest  # each stage's code deps, as dvc.yaml lines
    python scripts/check_stage_deps.py --write    # put them into dvc.yaml (comments kept)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = "medinstruct_"

# Modules that cannot change a stage's DVC outs, with the reason. Editing one of
# them never re-runs a stage; a change that DOES shape outputs does not belong here.
OUTPUT_NEUTRAL: dict[str, str] = {
    "medinstruct_core.stage": "the stage runner: arguments, MLflow run, metrics file, last line",
    "medinstruct_core.cli": "turns exceptions into one line and an exit code",
    "medinstruct_core.tracking": "MLflow runs, params, inputs and tags",
    "medinstruct_core.lineage": "md5s and names for MLflow lineage tags",
    "medinstruct_core.llm.ledger": "spend accounting and the budget (a refusal fails the stage)",
    "medinstruct_core.llm.tracing": "MLflow traces of LLM calls",
    "medinstruct_core.llm.stats": "counters and the progress bar",
    "medinstruct_core.llm.limits": "rate limits and backoff: when a request is sent, not what",
    "medinstruct_core.llm.estimate": "the cost forecast printed before a paid stage",
    "medinstruct_datagen.estimate": "the generation stages' cost forecast (printed, never written)",
    "medinstruct_eval.estimate": "the judging cost forecast (printed, never written)",
    "medinstruct_core.doctor": "environment report",
    "medinstruct_core.profiles": "params overlays (params are DVC params deps already)",
}


def module_file(name: str) -> Path | None:
    """packages/<pkg>/src/<name as path>(.py | /__init__.py), or None if not first-party."""
    parts = name.split(".")
    for src in ROOT.glob("packages/*/src"):
        base = src.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _imports(path: Path) -> Iterable[str]:
    """First-party modules imported anywhere in `path` (function bodies included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _package_of(path: Path) -> str:
    src = next((p for p in path.parents if p.name == "src"), None)
    if src is None:
        return ""
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1])


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*parts, *([node.module] if node.module else [])])


def closure(entry: Path, neutral: Iterable[str] = OUTPUT_NEUTRAL) -> set[Path]:
    """Module files `entry` needs: its first-party imports, transitively, stopping at
    output-neutral modules (left out, and not followed). Parent packages' `__init__`
    run on import, so they are needed too."""
    skip = set(neutral)
    needed: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in needed:
            continue
        needed.add(path)
        for name in _imports(path):
            if not name.startswith(FIRST_PARTY) or _is_neutral(name, skip):
                continue
            for prefix in _prefixes(name):
                found = module_file(prefix)
                if found is not None and found not in needed and not _is_neutral(prefix, skip):
                    todo.append(found)
    return needed


def _is_neutral(name: str, neutral: set[str]) -> bool:
    return any(name == n or name.startswith(n + ".") for n in neutral)


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def stage_entries(stage: dict[str, object]) -> list[Path]:
    """The stage's code: every pipelines/*.py among its deps, and `python -m <module>`."""
    deps = [str(d) for d in stage.get("deps", [])]  # type: ignore[attr-defined]
    entries = [ROOT / d for d in deps if d.startswith("pipelines/") and d.endswith(".py")]
    words = str(stage.get("cmd", "")).split()
    for i, word in enumerate(words[:-1]):
        if word == "-m" and words[i + 1].startswith(FIRST_PARTY):
            found = module_file(words[i + 1])
            if found is not None:
                entries.append(found)
    return entries


def data_dirs(modules: set[Path]) -> set[Path]:
    """Package-data folders of the packages that hold `modules`: folders whose only
    module is `__init__.py` and that hold other files."""
    found = set()
    for package in {m.parent for m in modules if "src" in m.parts}:
        for child in package.iterdir():
            if not child.is_dir() or child.name == "__pycache__":
                continue
            files = [f for f in child.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
            modules_in = [f for f in files if f.suffix == ".py" and f.name != "__init__.py"]
            if files and not modules_in and any(f.suffix != ".py" for f in files):
                found.add(child)
    return found


def declared_data(module: Path) -> set[Path]:
    """The files a module names in a top-level `PACKAGE_DATA = ("name", ...)`, beside it."""
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "PACKAGE_DATA" for t in targets):
            names = ast.literal_eval(node.value)  # type: ignore[union-attr]
            return {module.parent / name for name in names}
    return set()


def needed_by(stage: dict[str, object]) -> set[Path]:
    """Module files, declared data files and package-data folders the stage's code needs."""
    modules: set[Path] = set()
    for entry in stage_entries(stage):
        modules |= closure(entry)
    declared = {data for module in modules for data in declared_data(module)}
    return modules | declared | data_dirs(modules)


def suggest(stage: dict[str, object]) -> list[str]:
    """The fewest deps covering exactly what the stage needs: a folder where all of
    it is needed, else its files."""
    needed = needed_by(stage)

    def covered(path: Path) -> list[Path]:
        if path in needed or not path.is_dir():
            return [path] if path in needed else []
        children = [c for c in sorted(path.iterdir()) if c.name != "__pycache__"]
        parts = [covered(c) for c in children]
        wanted = [c for c in children if c.suffix == ".py" or c.is_dir()]
        if wanted and all(
            covered_c == [c] for c, covered_c in zip(children, parts, strict=True) if c in wanted
        ):
            return [path]
        return [p for part in parts for p in part]

    deps: list[Path] = sorted(p for p in needed if "src" not in p.parts)
    for src in sorted(
        {ROOT / Path(*p.relative_to(ROOT).parts[:3]) for p in needed if "src" in p.parts}
    ):
        deps += covered(src)
    return [_rel(p) for p in deps]


def check_stage(name: str, stage: dict[str, object]) -> list[str]:
    deps = [ROOT / str(d) for d in stage.get("deps", [])]  # type: ignore[attr-defined]
    needed = needed_by(stage)
    problems = []
    for path in sorted(needed):
        if not any(path == d or d in path.parents for d in deps):
            problems.append(f"{name}: needs {_rel(path)} but no dep covers it")
    for neutral in sorted(filter(None, map(module_file, OUTPUT_NEUTRAL))):
        for dep in deps:
            if neutral == dep or dep in neutral.parents:
                problems.append(
                    f"{name}: dep {_rel(dep)} covers output-neutral {_rel(neutral)} "
                    "(a comment there would re-run the stage)"
                )
    for dep in deps:
        if dep.is_dir() and "src" in dep.parts:
            used = set(dep.rglob("*.py")) - needed
            for extra in sorted(
                p for p in used if p.name != "__init__.py" or p.parent not in needed
            ):
                problems.append(
                    f"{name}: dep {_rel(dep)} covers {_rel(extra)}, which it does not use"
                )
    return problems


def is_code(dep: str) -> bool:
    return dep.startswith("packages/") or (dep.startswith("pipelines/") and dep.endswith(".py"))


def write(dvc_yaml: Path) -> None:
    """Replace each stage's code deps by `suggest`, keeping its other deps and the comments."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    doc = rt.load(dvc_yaml.read_text())
    for stage in doc["stages"].values():
        others = [d for d in stage["deps"] if not is_code(str(d))]
        stage["deps"] = [*suggest(stage), *others]
    with dvc_yaml.open("w") as handle:
        rt.dump(doc, handle)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dvc-yaml", type=Path, default=ROOT / "dvc.yaml")
    parser.add_argument("--suggest", action="store_true", help="print each stage's code deps")
    parser.add_argument("--write", action="store_true", help="write them into dvc.yaml")
    args = parser.parse_args(argv)
    stages = yaml.safe_load(args.dvc_yaml.read_text())["stages"]
    if args.suggest:
        for name, stage in stages.items():
            print(f"{name}:", *(f"- {d}" for d in suggest(stage)), sep="\n  ")
        return 0
    if args.write:
        write(args.dvc_yaml)
        return 0
    problems = [p for name, stage in stages.items() for p in check_stage(name, stage)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{args.dvc_yaml.name}: every stage's code deps match its imports")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
