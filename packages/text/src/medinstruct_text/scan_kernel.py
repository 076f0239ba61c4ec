"""The compiled stage-one scan of the ROUGE-L index (`scan.c`), built once per machine.

`rouge` tests ~540M (probe, posting entry) pairs at 52k candidates; numpy
spends ~4 ns a pair on them, the C loop ~0.7 ns.  The library is compiled
with the machine's C compiler (`$CC`, else Python's own, else `cc`) the first
time it is needed, into `~/.cache/medinstruct/rouge-scan/<source digest>/`,
and moved into place with one rename, so concurrent first uses never load a
half-written file.  `make setup` builds it up front (`scan_kernel.build()`).
Where no compiler works, or `MEDINSTRUCT_ROUGE_KERNEL=0`, `rouge` runs the
numpy path, which keeps exactly the same texts, only slower.

Why C through ctypes rather than numba: numba's version of the same loop ran
at ~1.4 ns a pair, but importing numba and loading its cached machine code
cost ~1.4 s per process, more than the whole scan saves at 52k candidates;
ctypes loads the library in about a millisecond and releases the GIL during
the call.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["Scan", "build", "kernel_home", "library_path", "load_scan"]

# Read through importlib.resources; scripts/check_stage_deps.py makes it a dep of
# every stage that imports this module (a change to it could change what is kept).
PACKAGE_DATA = ("scan.c",)

log = logging.getLogger(__name__)

DISABLE_ENV = "MEDINSTRUCT_ROUGE_KERNEL"  # "0": always use numpy
_SYMBOL = "medinstruct_scan_postings"
_FIRST_CAPACITY = 1 << 16  # passes room is made for before a retry (a 52k block: ~7k)
# -O2 is enough: the loop is scalar (its conditional store keeps it from vectorising).
# POPCNT is in every x86-64 CPU since 2008 and in the x86-64-v2 baseline.
_FLAGS = ("-O2", "-std=c11", "-shared", "-fPIC")
_ARCH_FLAGS = {"x86_64": ("-mpopcnt",), "AMD64": ("-mpopcnt",)}

_ENTRY_BYTES = 24  # scan.c's posting_entry: rouge's posting record
# (lists, probe_starts, fold, u_x, v_x, limits) -> (probe, item)
Scan = Callable[..., tuple[np.ndarray, np.ndarray]]


def _source() -> bytes:
    return resources.files("medinstruct_text").joinpath(PACKAGE_DATA[0]).read_bytes()


def _flags() -> tuple[str, ...]:
    return _FLAGS + _ARCH_FLAGS.get(platform.machine(), ())


def kernel_home(env: Mapping[str, str] | None = None) -> Path:
    """Where built libraries live (one folder per source and flags)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "medinstruct" / "rouge-scan"


def library_path(home: Path | None = None) -> Path:
    """The library for this source, these flags, this OS and this architecture."""
    digest = hashlib.sha256(_source() + " ".join(_flags()).encode()).hexdigest()[:16]
    # The OS and architecture in the name: a home folder shared between machines
    # (NFS) never hands one of them a library built for the other.
    return (home or kernel_home()) / f"{digest}-{sys.platform}-{platform.machine()}" / "scan.so"


def _compiler(env: Mapping[str, str]) -> list[str] | None:
    configured = env.get("CC") or sysconfig.get_config_var("CC") or ""
    command = shlex.split(configured) or ["cc"]
    return command if shutil.which(command[0]) else None


def build(home: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Compile `scan.c` unless it is already built; return the library's path.

    Raises RuntimeError (with the compiler's output) when no compiler is found
    or the compile fails.
    """
    env = os.environ if env is None else env
    target = library_path(home)
    if target.exists():
        return target
    compiler = _compiler(env)
    if compiler is None:
        raise RuntimeError("no C compiler found ($CC, Python's CC or cc)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        source = Path(scratch) / "scan.c"
        source.write_bytes(_source())
        built = Path(scratch) / "scan.so"
        command = [*compiler, *_flags(), "-o", str(built), str(source)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not built.exists():
            raise RuntimeError(f"{shlex.join(command)} failed:\n{done.stderr.strip()}")
        os.replace(built, target)  # one rename: a half-written library is never loaded
    return target


def _bind(path: Path) -> Scan:
    """The library's scan, wrapped to take numpy arrays and grow its outputs."""
    function = getattr(ctypes.CDLL(str(path)), _SYMBOL)
    function.restype = ctypes.c_int64
    function.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64] + [ctypes.c_void_p] * 7
    function.argtypes += [ctypes.c_int64]

    def scan(
        lists: Sequence[bytearray],
        probe_starts: np.ndarray,
        fold: np.ndarray,
        u_x: np.ndarray,
        v_x: np.ndarray,
        limits: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        # Views, not copies: the lists are read in place, and cannot be resized while
        # the views exist (they are dropped when this returns).
        views = [np.frombuffer(posting, dtype=np.uint8) for posting in lists]
        starts = np.array([view.ctypes.data for view in views], dtype=np.uintp)
        lengths = np.array([len(view) // _ENTRY_BYTES for view in views], dtype=np.int64)
        probe_starts = np.ascontiguousarray(probe_starts, dtype=np.int64)
        fold = np.ascontiguousarray(fold, dtype=np.uint64)
        terms = [np.ascontiguousarray(a, dtype=np.int64) for a in (u_x, v_x, limits)]
        if fold.shape != (len(terms[0]), 2) or len(probe_starts) != len(lists) + 1:
            raise ValueError("scan: one fold row and terms per probe, one start per list + 1")
        capacity = _FIRST_CAPACITY
        while True:
            probe, item = np.empty(capacity, np.int64), np.empty(capacity, np.int64)
            found = function(
                starts.ctypes.data, lengths.ctypes.data, len(lists),
                probe_starts.ctypes.data, fold.ctypes.data, *(t.ctypes.data for t in terms),
                probe.ctypes.data, item.ctypes.data, capacity,
            )  # fmt: skip
            if found <= capacity:
                return probe[:found], item[:found]
            capacity = found

    return scan


@functools.cache
def load_scan() -> Scan | None:
    """The compiled scan (built on first use), or None: use numpy.  Once per process."""
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return None
    try:
        return _bind(build())
    except (OSError, RuntimeError) as error:
        log.warning("ROUGE-L dedup runs without its compiled scan (same result, ~2x slower): %s",
                    error)  # fmt: skip
        return None
