"""Export folders written atomically, with large files hard-linked rather than copied.

An export is many files (data, card, weights), so it is built in a hidden
sibling folder and renamed over the target only when complete: a crash, a
failed self-check or Ctrl-C leaves the previous export untouched.

The atomic folder itself is `medinstruct_train.artifacts.atomic_dir`, the one way
this project writes a directory.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Literal

Placed = Literal["link", "copy"]
# EXDEV: another filesystem; EPERM/EACCES: links not allowed (some mounts, Windows shares);
# EMLINK: the file has too many links already.
_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP}


def link_or_copy(src: Path, dst: Path) -> Placed:
    """Hard-link `src` at `dst` (no second copy of 500 MB of weights), else copy it.

    Nothing in an export is ever opened for writing in place (cards are written
    to a temporary file and renamed), so a link can never alter the DVC out it
    shares its bytes with.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        return "link"
    except OSError as exc:
        if exc.errno not in _LINK_ERRNOS:
            raise
    shutil.copy2(src, dst)
    return "copy"


def copy_file(src: Path, dst: Path) -> None:
    """A real copy, for small files: the export then cannot change if the source is edited."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def place_tree(src: Path, dst: Path, skip: frozenset[str] = frozenset()) -> dict[Placed, int]:
    """Link or copy every file under `src` into `dst`; `skip` names top-level entries to leave out."""
    counts: dict[Placed, int] = {"link": 0, "copy": 0}
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if rel.parts[0] in skip or not path.is_file():
            continue
        counts[link_or_copy(path.resolve(), dst / rel)] += 1
    return counts


def listing(folder: Path) -> list[tuple[str, int]]:
    """(relative path, size in bytes) of every file, sorted: what an upload will send."""
    return [
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
