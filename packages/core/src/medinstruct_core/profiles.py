"""Profiles: named overlays on params.yaml.

`params.yaml` in git is the `default` profile. `profiles/<name>.yaml` holds only
the keys a profile changes. `use` writes the overlay into params.yaml in place,
keeping its comments, so `git diff params.yaml` shows exactly what changed and
`git checkout params.yaml` goes back to the default.

    python -m medinstruct_core.profiles list
    python -m medinstruct_core.profiles show smoke
    python -m medinstruct_core.profiles use paper
    python -m medinstruct_core.profiles smoke-run [DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML


def project_root(start: Path | None = None) -> Path:
    """The directory holding dvc.yaml, searched upward from `start` (default: cwd)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").exists() and (candidate / "profiles").is_dir():
            return candidate
    raise SystemExit(f"no medinstruct project (dvc.yaml + profiles/) above {here}")


def _yaml() -> YAML:
    yaml = YAML()  # round-trip mode keeps comments and key order
    yaml.preserve_quotes = True
    yaml.width = 100
    return yaml


def available(root: Path) -> list[str]:
    return ["default", *sorted(p.stem for p in (root / "profiles").glob("*.yaml"))]


def overlay(target: Any, changes: dict[str, Any], where: str = "") -> None:
    """Deep-merge `changes` into `target`; a key unknown to params.yaml is an error."""
    for key, value in changes.items():
        path = f"{where}{key}"
        if key not in target:
            raise SystemExit(f"profile sets unknown params key '{path}'")
        if isinstance(value, dict) and isinstance(target[key], dict) and value:
            overlay(target[key], value, f"{path}.")
        else:
            target[key] = value


def render(root: Path, name: str, params_path: Path | None = None) -> str:
    """params.yaml text with profile `name` applied (`default` = params.yaml unchanged)."""
    yaml = _yaml()
    params = yaml.load((params_path or root / "params.yaml").read_text())
    if name != "default":
        profile_file = root / "profiles" / f"{name}.yaml"
        if not profile_file.exists():
            raise SystemExit(f"unknown profile '{name}'; choose from {', '.join(available(root))}")
        overlay(params, yaml.load(profile_file.read_text()) or {})
        params["profile"] = name
    out = io.StringIO()
    yaml.dump(params, out)
    return out.getvalue()


def use(root: Path, name: str) -> None:
    from medinstruct_core.io import write_text

    write_text(root / "params.yaml", render(root, name))
    print(f"params.yaml now holds the '{name}' profile (git diff params.yaml shows the changes)")


def stage_outputs(root: Path) -> set[str]:
    """Every out and metrics path declared in dvc.yaml."""
    stages = (yaml_safe_load(root / "dvc.yaml").get("stages") or {}).values()
    paths: set[str] = set()
    for stage in stages:
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key) or []:
                paths.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return paths


def yaml_safe_load(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def _copy_tree(root: Path, dest: Path) -> None:
    """Copy the project's sources into `dest`: tracked files plus new untracked ones
    (so uncommitted edits are tested), but never a stage output left in the workspace."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    outputs = stage_outputs(root)
    for rel in filter(None, files):
        if any(rel == out or rel.startswith(out.rstrip("/") + "/") for out in outputs):
            continue
        src = root / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def smoke_run(
    root: Path, dest: Path | None, profile: str = "smoke", targets: list[str] | None = None
) -> int:
    """Run the DAG (or `targets` and what they need) on a profile in a scratch copy of the
    project; your workspace, its LLM cache and its MLflow store are untouched."""
    dest = dest or Path(tempfile.mkdtemp(prefix="medinstruct-smoke-"))
    dest.mkdir(parents=True, exist_ok=True)
    _copy_tree(root, dest)
    (dest / "params.yaml").write_text(render(root, profile))
    env = {**os.environ, "GIT_AUTHOR_NAME": "smoke", "GIT_AUTHOR_EMAIL": "smoke@localhost",
           "GIT_COMMITTER_NAME": "smoke", "GIT_COMMITTER_EMAIL": "smoke@localhost"}  # fmt: skip
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{dest / 'mlflow.db'}")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "smoke"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env)
    print(f"running `dvc repro` on the '{profile}' profile in {dest}", flush=True)
    cmd = [sys.executable, "-m", "dvc", "repro", *(targets or [])]
    return subprocess.run(cmd, cwd=dest, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medinstruct_core.profiles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the profiles")
    for name in ("show", "use"):
        sub.add_parser(name, help=f"{name} a profile").add_argument("name")
    smoke = sub.add_parser("smoke-run", help="run the DAG on a profile in a scratch copy")
    smoke.add_argument("dir", nargs="?", type=Path)
    smoke.add_argument("--profile", default="smoke")
    smoke.add_argument("--target", action="append", help="a stage to reproduce (repeatable)")
    args = parser.parse_args(argv)
    root = project_root()
    if args.command == "list":
        print("\n".join(available(root)))
    elif args.command == "show":
        print(render(root, args.name), end="")
    elif args.command == "use":
        use(root, args.name)
    else:
        return smoke_run(root, args.dir, args.profile, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
