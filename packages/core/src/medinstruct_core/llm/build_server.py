"""Build llama.cpp's `llama-server` once per lock (`python scripts/build_llama_server.py`).

The embedded endpoint runs llama.cpp's own C++ server (parallel slots, continuous
batching, `/health`, `/metrics`), built from the llama.cpp tree vendored inside the
llama-cpp-python sdist that uv.lock pins. Using that sdist, not a git checkout,
means the URL and sha256 are already locked, so the server is exactly as
reproducible as the rest of the environment and needs no extra pin.

The binary lands in `~/.cache/medinstruct/llama-server/<sdist sha256[:16]>/`, outside
the repo and shared by checkouts on the same lock. The build is skipped when that
binary already exists and answers `--version`. It is compiled the way `make setup`
compiles llama-cpp-python: portable (`GGML_NATIVE=OFF`, the same AVX2 kernels on every
x86-64 machine), static, no web UI, no HTTPS and nothing fetched during the build.

`MEDINSTRUCT_LLAMA_SERVER=/path/to/llama-server` replaces the built binary with your own
(say a CUDA build); the server's `--version` then changes the reply-cache identity.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BINARY = "llama-server"
BINARY_ENV = "MEDINSTRUCT_LLAMA_SERVER"
PACKAGE = "llama-cpp-python"
VENDORED = "vendor/llama.cpp"
CHUNK = 1 << 20

# Portable and self-contained; option names are those of the vendored CMakeLists
# (LLAMA_CURL is deprecated there: downloads go through cpp-httplib, off with OPENSSL).
CMAKE_DEFINES = {
    "CMAKE_BUILD_TYPE": "Release",
    "GGML_NATIVE": "OFF",
    "BUILD_SHARED_LIBS": "OFF",
    "LLAMA_BUILD_TESTS": "OFF",
    "LLAMA_BUILD_EXAMPLES": "OFF",
    "LLAMA_BUILD_TOOLS": "ON",
    "LLAMA_BUILD_SERVER": "ON",
    "LLAMA_BUILD_APP": "OFF",
    "LLAMA_BUILD_UI": "OFF",
    "LLAMA_USE_PREBUILT_UI": "OFF",
    "LLAMA_OPENSSL": "OFF",
}


class BuildError(RuntimeError):
    """The pin, the download, the toolchain or the compile failed; the message says which."""


@dataclass(frozen=True)
class SdistPin:
    """The llama-cpp-python source distribution uv.lock pins."""

    version: str
    url: str
    sha256: str

    @property
    def tag(self) -> str:
        """The cache folder name: the sdist's content, not its version string."""
        return self.sha256[:16]


def lock_pin(lock: Path) -> SdistPin:
    """Read llama-cpp-python's sdist url and sha256 from uv.lock; errors name the file and field."""
    try:
        data = tomllib.loads(lock.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{lock}: cannot read the lock file: {exc}") from exc
    for index, package in enumerate(data.get("package", [])):
        if package.get("name") != PACKAGE:
            continue
        sdist = package.get("sdist") or {}
        algo, _, digest = str(sdist.get("hash", "")).partition(":")
        if not sdist.get("url") or algo != "sha256" or len(digest) != 64:
            raise BuildError(f"{lock}: package[{index}] ({PACKAGE}).sdist: no url + sha256 hash")
        return SdistPin(str(package["version"]), str(sdist["url"]), digest)
    raise BuildError(f"{lock}: no [[package]] named {PACKAGE}")


def find_lock(starts: Sequence[Path] | None = None) -> Path | None:
    """The uv.lock above the cwd or above this module (an editable install lives in the repo)."""
    for start in starts or (Path.cwd(), Path(__file__)):
        here = start.resolve()
        for candidate in (here, *here.parents):
            if (candidate / "uv.lock").is_file():
                return candidate / "uv.lock"
    return None


def server_home() -> Path:
    return Path("~/.cache/medinstruct/llama-server").expanduser()


def pinned_binary(pin: SdistPin, home: Path | None = None) -> Path:
    return (home or server_home()) / pin.tag / BINARY


def version_text(binary: Path, timeout_s: float = 30.0) -> str | None:
    """What `llama-server --version` prints, or None when the binary is absent or broken."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return None
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout + done.stderr).strip()
    return text if done.returncode == 0 and "version" in text else None


def locate_binary(env: Mapping[str, str] | None = None, lock: Path | None = None) -> Path:
    """The llama-server to run: $MEDINSTRUCT_LLAMA_SERVER, else the build for this uv.lock."""
    env = os.environ if env is None else env
    override = env.get(BINARY_ENV)
    if override:
        return Path(override).expanduser()
    lock = lock or find_lock()
    if lock is None:
        raise BuildError(
            f"no uv.lock above {Path.cwd()} to find the llama-server build; "
            f"set {BINARY_ENV}=/path/to/llama-server or run from the repo"
        )
    return pinned_binary(lock_pin(lock))


def download(pin: SdistPin, dest: Path) -> Path:
    """Fetch the sdist from the locked URL, refusing it unless its sha256 matches the lock."""
    path = dest / pin.url.rsplit("/", 1)[-1]
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(pin.url, timeout=120) as reply, path.open("wb") as out:
            while chunk := reply.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise BuildError(f"download of {pin.url} failed: {exc}") from exc
    if digest.hexdigest() != pin.sha256:
        raise BuildError(
            f"{pin.url}: sha256 {digest.hexdigest()} does not match uv.lock ({pin.sha256})"
        )
    return path


def unpack_vendored(tarball: Path, dest: Path) -> Path:
    """Extract only `vendor/llama.cpp` of the sdist (the Python bindings are not needed)."""
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if f"/{VENDORED}/" in m.name]
        if not members:
            raise BuildError(f"{tarball}: no {VENDORED} folder inside the sdist")
        archive.extractall(dest, members=members, filter="data")
    top = members[0].name.split("/", 1)[0]
    return dest / top / VENDORED


def tool(name: str) -> str | None:
    """A build tool on PATH or next to this Python (where `pip install cmake ninja` puts it)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def configure_command(src: Path, build: Path, cmake: str, ninja: str | None) -> list[str]:
    generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja else []
    defines = [f"-D{key}={value}" for key, value in CMAKE_DEFINES.items()]
    return [cmake, "-S", str(src), "-B", str(build), *generator, *defines]


def build_command(build: Path, cmake: str, jobs: int) -> list[str]:
    return [cmake, "--build", str(build), "--target", BINARY, "--parallel", str(jobs)]


def _run(cmd: list[str], log: Path) -> None:
    with log.open("ab") as handle:
        done = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise BuildError(f"`{' '.join(cmd[:3])} ...` failed ({done.returncode}):\n{tail}")


def compile_server(src: Path, build: Path, jobs: int) -> Path:
    cmake = tool("cmake")
    if cmake is None:
        raise BuildError("cmake not found: install it (apt install cmake, or pip install cmake)")
    log = build.parent / "build.log"
    _run(configure_command(src, build, cmake, tool("ninja")), log)
    _run(build_command(build, cmake, jobs), log)
    binary = build / "bin" / BINARY
    if version_text(binary) is None:
        raise BuildError(f"{binary} was built but does not answer --version")
    return binary


def install(binary: Path, target: Path) -> None:
    """Move the verified binary into place in one rename: a half-copied file is never found."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent.parent))
    shutil.copy2(binary, staging / BINARY)
    if target.parent.exists():
        shutil.rmtree(target.parent)  # only reached when the old binary did not run
    os.replace(staging, target.parent)


def ensure_server(pin: SdistPin, home: Path | None = None, jobs: int | None = None) -> Path:
    """Build and install llama-server for `pin` unless a working one is already there."""
    target = pinned_binary(pin, home)
    if version_text(target) is not None:
        print(f"ok   llama-server {pin.version} ({pin.tag}) already built: {target}")
        return target
    jobs = jobs or os.cpu_count() or 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="llama-server-build-") as tmp:
        work = Path(tmp)
        src = unpack_vendored(download(pin, work), work)
        binary = compile_server(src, work / "build", jobs)
        install(binary, target)
    minutes = (time.monotonic() - started) / 60
    print(
        f"built llama-server {pin.version} ({pin.tag}) in {minutes:.1f} min, {jobs} jobs: {target}"
    )
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=None, help="uv.lock (default: found upward)")
    parser.add_argument("--jobs", type=int, default=None, help="compile jobs (default: nproc)")
    args = parser.parse_args(argv)
    lock = args.lock or find_lock()
    try:
        if lock is None:
            raise BuildError(f"no uv.lock above {Path.cwd()}")
        ensure_server(lock_pin(lock), jobs=args.jobs)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
