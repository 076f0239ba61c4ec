"""Export the merged student to GGUF, for llama.cpp (the project's local server).

    python -m medinstruct_train.export_gguf --student models/student --out models/student.gguf

The conversion is llama.cpp's own `convert_hf_to_gguf.py`. It ships in the
llama-cpp-python *source* package (vendor/llama.cpp/), not in the installed
wheel, together with the `conversion/` package and the `gguf-py` it needs (it
puts gguf-py on its own path, so the installed `gguf` version does not
matter). `find_converter` looks, in order, at:

1. `$MEDINSTRUCT_GGUF_CONVERTER` (a path to convert_hf_to_gguf.py);
2. the installed llama_cpp package directory (a source or editable install);
3. uv's source cache (`uv pip install` builds llama-cpp-python from its sdist:
   `$UV_CACHE_DIR` or ~/.cache/uv, sdists-*/pypi/llama-cpp-python/<version>/),
   preferring the installed version.

If none has it: `pip download --no-deps --no-binary :all: llama-cpp-python==<v>`,
unpack it and set MEDINSTRUCT_GGUF_CONVERTER=<dir>/vendor/llama.cpp/convert_hf_to_gguf.py.
The converter imports torch, transformers, numpy and sentencepiece.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from medinstruct_train.loading import has_weights

CONVERTER = "convert_hf_to_gguf.py"
ENV_VAR = "MEDINSTRUCT_GGUF_CONVERTER"
OutType = Literal["f32", "f16", "bf16", "q8_0", "auto"]


class GgufExportError(RuntimeError):
    """The converter is missing or the conversion failed."""


def usable(script: Path) -> bool:
    """A converter next to the `conversion` package and gguf-py it imports."""
    root = script.parent
    return script.is_file() and (root / "conversion").is_dir() and (root / "gguf-py").is_dir()


def installed_version() -> str | None:
    try:
        return importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        return None


def package_candidates() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    pkg = Path(next(iter(spec.submodule_search_locations)))
    return [
        pkg / "vendor" / "llama.cpp" / CONVERTER,
        pkg.parent / "vendor" / "llama.cpp" / CONVERTER,
    ]


def uv_cache_candidates(version: str | None) -> list[Path]:
    """convert_hf_to_gguf.py in uv's sdist cache, the installed version's first."""
    cache = Path(os.environ.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv")
    pattern = f"sdists-*/pypi/llama-cpp-python/*/*/src/vendor/llama.cpp/{CONVERTER}"
    found = sorted(cache.glob(pattern))
    return sorted(found, key=lambda p: version is None or f"/{version}/" not in p.as_posix())


def candidates() -> list[Path]:
    explicit = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    return [*explicit, *package_candidates(), *uv_cache_candidates(installed_version())]


def find_converter() -> Path:
    """The first usable converter, or an error saying where it looked and how to get one."""
    tried = candidates()
    for script in tried:
        if usable(script):
            return script
    version = installed_version() or "<version>"
    looked = "; ".join(str(p) for p in tried) or "no candidate paths"
    raise GgufExportError(
        f"{CONVERTER} (with conversion/ and gguf-py/ next to it) not found. Looked at: {looked}. "
        f"It ships only in the llama-cpp-python source package: "
        f"`pip download --no-deps --no-binary :all: llama-cpp-python=={version}`, unpack it, "
        f"and set {ENV_VAR}=<dir>/vendor/llama.cpp/{CONVERTER}."
    )


def merged_source(student_dir: Path, scratch: Path) -> Path:
    """The student's merged weights; an adapter-only student is merged into `scratch` first."""
    if has_weights(student_dir):
        return student_dir
    from medinstruct_train.loading import load_model

    model, tokenizer = load_model(student_dir)
    model.save_pretrained(scratch)
    tokenizer.save_pretrained(scratch)
    return scratch


def run_converter(script: Path, source: Path, out: Path, outtype: str, timeout_s: float) -> None:
    cmd = [sys.executable, str(script), str(source), "--outfile", str(out), "--outtype", outtype]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise GgufExportError(f"{script} failed on {source} (exit {proc.returncode}): {tail}")


def gguf_summary(path: Path) -> dict[str, Any]:
    """Architecture and tensor count read back from the file (proves it parses)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    field = reader.fields.get("general.architecture")
    arch = bytes(field.parts[field.data[0]]).decode() if field is not None else None
    return {"architecture": arch, "n_tensors": len(reader.tensors)}


def export_gguf(
    student_dir: str | Path,
    out_path: str | Path,
    *,
    outtype: OutType = "q8_0",
    timeout_s: float = 1800.0,
) -> dict[str, Any]:
    """Convert the student to one GGUF file, written atomically; return what was done."""
    student_dir, out_path = Path(student_dir), Path(out_path)
    script = find_converter()
    started = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_path.name}.", dir=out_path.parent) as tmp:
        source = merged_source(student_dir, Path(tmp) / "merged")
        partial = Path(tmp) / out_path.name
        run_converter(script, source, partial, outtype, timeout_s)
        summary = gguf_summary(partial)
        os.replace(partial, out_path)
    return {
        "path": str(out_path),
        "bytes": out_path.stat().st_size,
        "outtype": outtype,
        "seconds": round(time.perf_counter() - started, 2),
        "converter": str(script),
        **summary,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medinstruct_train.export_gguf")
    parser.add_argument("--student", type=Path, default=Path("models/student"))
    parser.add_argument("--out", type=Path, default=Path("models/student.gguf"))
    parser.add_argument("--outtype", default="q8_0", choices=["f32", "f16", "bf16", "q8_0", "auto"])
    args = parser.parse_args(argv)
    try:
        info = export_gguf(args.student, args.out, outtype=args.outtype)
    except GgufExportError as exc:
        print(f"export_gguf: {exc}", file=sys.stderr)
        return 1
    print(
        f"export_gguf: {args.student} -> {info['path']} ({info['outtype']}, "
        f"{info['bytes'] / 2**20:.1f} MiB, {info['n_tensors']} tensors) in {info['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
