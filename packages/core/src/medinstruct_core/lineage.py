"""Where a stage's inputs came from: git commit, DVC md5s and the `dvc repro` it ran in."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def git_dirty(root: Path) -> bool:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.stdout.strip())


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dir_md5(path: Path) -> str:
    """DVC's directory hash: md5 of its JSON manifest of (relpath, md5), plus '.dir'."""
    entries = [
        {"md5": file_md5(p), "relpath": p.relative_to(path).as_posix()}
        for p in sorted(path.rglob("*"))
        if p.is_file()
    ]
    entries.sort(key=lambda e: e["relpath"])
    manifest = json.dumps(entries, sort_keys=True).encode()
    return hashlib.md5(manifest).hexdigest() + ".dir"


def path_md5(path: Path) -> str | None:
    """DVC's md5 of a file or a directory, or None when it does not exist."""
    if path.is_file():
        return file_md5(path)
    if path.is_dir():
        return dir_md5(path)
    return None


def lineage_name(path: Path, root: Path) -> str:
    """How DVC names `path`: project-relative inside the project (symlinks are not
    followed, as DVC does not follow them), else the absolute path."""
    absolute = Path(os.path.abspath(path))
    root = Path(os.path.abspath(root))
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(absolute)


def params_changed(root: Path, name: str = "params.yaml") -> dict[str, str]:
    """Flattened params that differ from the committed params.yaml (the default
    profile, or what `dvc exp run -S` changed), {} outside git."""
    import yaml

    try:
        committed = subprocess.run(
            ["git", "show", f"HEAD:{name}"], cwd=root, capture_output=True, text=True,
            check=True, timeout=10,
        ).stdout  # fmt: skip
        before = _flat(yaml.safe_load(committed) or {})
        after = _flat(yaml.safe_load((root / name).read_text(encoding="utf-8")) or {})
    except (OSError, subprocess.SubprocessError, yaml.YAMLError):
        return {}
    return {k: v[:500] for k, v in sorted(after.items()) if before.get(k) != v}


def _flat(obj: object, prefix: str = "") -> dict[str, str]:
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for key, value in obj.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): json.dumps(obj, sort_keys=True)}


def input_md5s(root: Path, paths: list[str]) -> dict[str, str]:
    """md5 of each path computed the way DVC records it (files: content md5;
    directories: manifest md5 + '.dir').

    Always computed from the files, never read from dvc.lock: DVC rewrites the
    lock only after a stage finishes, so during a stage it can be stale.
    """
    result: dict[str, str] = {}
    for rel in paths:
        path = root / rel
        if path.is_file():
            result[rel] = file_md5(path)
        elif path.is_dir():
            result[rel] = dir_md5(path)
    return result


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time in clock ticks) of a process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), fields[19]


def _is_dvc(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(Path(a.decode(errors="replace")).name in {"dvc", "dvc.exe"} for a in argv[:2]) or (
        len(argv) > 2 and argv[1] == b"-m" and argv[2] == b"dvc"
    )


def repro_id() -> str:
    """An id shared by every stage of one `dvc repro` / `dvc exp run`.

    DVC does not expose one, so walk up the process tree to the `dvc` process and
    use its pid and start time. MEDINSTRUCT_REPRO_ID overrides; outside DVC each
    process is its own group.
    """
    if os.environ.get("MEDINSTRUCT_REPRO_ID"):
        return os.environ["MEDINSTRUCT_REPRO_ID"]
    pid = os.getpid()
    for _ in range(16):
        stat = _proc_stat(pid)
        if stat is None:
            break
        parent, start = stat
        if _is_dvc(pid):
            return f"dvc-{pid}-{start}"
        if parent <= 1:
            break
        pid = parent
    own = _proc_stat(os.getpid())
    return f"standalone-{os.getpid()}-{own[1] if own else '0'}"
