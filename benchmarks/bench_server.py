"""Benchmark: llama-server with N parallel slots vs llama-cpp-python's one-at-a-time server.

The 1.5B teacher/judge model (qwen2.5-coder-1.5b) on this machine's cores, with the
project's real prompts and schemas sent exactly as the client sends them
(`wire.build_payload`: json_object + schema, one seed per request):

- teacher: `requests` instruction-generation requests (datagen's prompt builder, 12
  tasks asked, `max_tokens` capped to keep the run short), aggregate tokens/s;
- judge: both orders of the first calibration pairs (medinstruct_eval's judge prompt,
  the 200-char bounded verdict schema), verdicts per minute.

Rows: the old server (`python -m llama_cpp.server`, one request at a time) as the
baseline; llama-server (deterministic flags, the default) at `--parallel` N = 1, 2, 4
with N requests kept in flight; llama-server with llama.cpp's fast kernels at N=2; and
llama-server N=1 with Qwen2.5-Coder-0.5B as a draft model (speculative decoding) when
that model is assembled. "valid" counts replies that parse as JSON objects; "replies"
is a digest of the reply texts, equal when the replies are byte-identical.

    python3 -m benchmarks.bench_server [--requests 4 --max-tokens 192 --pairs 2 --slots 1,2,4]

Prints a table and writes reports/bench_server.md. Takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from medinstruct_core.io import write_text
from medinstruct_core.llm.config import EmbeddedConfig, LLMSection, Sampling
from medinstruct_core.llm.embedded import EmbeddedServerError, model_status, resolve_model
from medinstruct_core.llm.server import embedded_server, free_port, server_threads
from medinstruct_core.llm.types import Endpoint, LLMRequest
from medinstruct_core.llm.wire import build_payload
from medinstruct_datagen.config import GenerateInstructionsConfig
from medinstruct_datagen.instructions import build_request
from medinstruct_datagen.seeds import load_seed_tasks
from medinstruct_eval.calibration import as_judging, load_calibration
from medinstruct_eval.judge import build_requests

ROOT = Path(__file__).resolve().parents[1]
MODEL = "qwen2.5-coder-1.5b"
DRAFT = "qwen2.5-coder-0.5b"
SLOTS = (1, 2, 4)


@dataclass(frozen=True)
class Batch:
    """What one set of requests cost on one server."""

    wall_s: float
    completion_tokens: int
    prompt_tokens: int
    valid: int
    total: int
    digest: str  # sha256 of the replies in request order: equal digests = identical replies


@dataclass(frozen=True)
class Row:
    server: str
    slots: int
    teacher: Batch
    judge: Batch


def load_llm() -> tuple[LLMSection, dict[str, object]]:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    return LLMSection.model_validate(params["llm"]).seeded(params["seed"]), params


def teacher_requests(count: int, max_tokens: int) -> list[LLMRequest]:
    """The first `count` requests a cold generate_instructions run would send."""
    llm, params = load_llm()
    cfg = GenerateInstructionsConfig.model_validate(params["generate_instructions"])
    seeds = load_seed_tasks(ROOT / "data" / "seeds" / "seed_tasks.jsonl")
    sampling = llm.teacher.sampling.model_copy(update={"max_tokens": max_tokens})
    seed = int(params["seed"])  # type: ignore[call-overload]
    return [build_request(i, seeds, [], cfg, seed, "json_object", sampling) for i in range(count)]


def judge_requests(pairs: int) -> list[LLMRequest]:
    """Both orders of the first `pairs` calibration pairs, as the evaluate stage asks."""
    llm, _ = load_llm()
    items, answers = as_judging(load_calibration(ROOT / "data" / "eval" / "calibration.jsonl"))
    sampling: Sampling = llm.judges()[0].sampling
    return build_requests(items[:pairs], {k: v[:pairs] for k, v in answers.items()},
                          sampling, "json_object")  # fmt: skip


def is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def post(url: str, payload: dict[str, object]) -> tuple[int, int, str]:
    reply = httpx.post(f"{url}/chat/completions", json=payload, timeout=1800)
    reply.raise_for_status()
    body = reply.json()
    usage = body.get("usage") or {}
    text = body["choices"][0]["message"].get("content") or ""
    return int(usage.get("completion_tokens", 0)), int(usage.get("prompt_tokens", 0)), text


def fire(url: str, alias: str, requests: Sequence[LLMRequest], in_flight: int) -> Batch:
    """Send every request with `in_flight` at a time, exactly as the client builds them."""
    endpoint = Endpoint(url, alias, "embedded", "json_object", "EMPTY")
    payloads = [build_payload(endpoint, r) for r in requests]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        done = list(pool.map(lambda p: post(url, p), payloads))
    wall = time.perf_counter() - started
    texts = [d[2] for d in done]
    digest = hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()
    return Batch(wall, sum(d[0] for d in done), sum(d[1] for d in done),
                 sum(map(is_json_object, texts)), len(done), digest[:8])  # fmt: skip


@contextlib.contextmanager
def old_server(cfg: EmbeddedConfig, gguf: Path) -> Iterator[str]:
    """llama-cpp-python's server with the flags server.py used before llama-server."""
    port, threads = free_port(), str(server_threads(cfg))
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
           "--model_alias", MODEL, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(cfg.n_ctx), "--n_threads", threads, "--n_threads_batch", threads,
           "--logits_all", "False"]  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_models(proc, url, cfg.startup_timeout_s)
            yield url
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)


def wait_models(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedServerError(f"llama_cpp.server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise EmbeddedServerError(f"llama_cpp.server did not answer within {timeout_s:.0f} s")


def measure(url: str, name: str, slots: int, teacher: list[LLMRequest],
            judge: list[LLMRequest]) -> Row:  # fmt: skip
    row = Row(name, slots, fire(url, MODEL, teacher, slots), fire(url, MODEL, judge, slots))
    print(format_row(row), flush=True)
    return row


def draft_args(cfg: EmbeddedConfig) -> list[str] | None:
    """`-md <0.5B>` when the draft model is assembled (make setup leaves it optional)."""
    if model_status(cfg, DRAFT).status != "verified":
        return None
    path, threads = str(resolve_model(cfg, DRAFT).path), str(server_threads(cfg))
    return ["-md", path, "--spec-type", "draft-simple", "-td", threads]  # no type: no drafting


def run_all(args: argparse.Namespace) -> list[Row]:
    llm, _ = load_llm()
    teacher, judge = teacher_requests(args.requests, args.max_tokens), judge_requests(args.pairs)
    cfg = llm.embedded
    rows = []
    with old_server(cfg, resolve_model(cfg, MODEL).path) as url:
        rows.append(measure(url, "llama_cpp.server (old)", 1, teacher, judge))
    for slots in args.slots:
        with embedded_server(cfg.model_copy(update={"parallel": slots}), MODEL) as server:
            rows.append(measure(server.url, "llama-server", slots, teacher, judge))
    fast = cfg.model_copy(update={"parallel": 2, "deterministic": False})
    with embedded_server(fast, MODEL) as server:
        rows.append(measure(server.url, "llama-server, fast kernels", 2, teacher, judge))
    extra = draft_args(cfg)
    if extra is not None:
        with embedded_server(cfg.model_copy(update={"parallel": 1}), MODEL, extra) as server:
            rows.append(measure(server.url, "llama-server + 0.5B draft", 1, teacher, judge))
            accepted = server.metrics()
        print(f"draft: {accepted.get('spec_decode_num_accepted_tokens_total', 0):.0f} accepted "
              f"of {accepted.get('spec_decode_num_draft_tokens_total', 0):.0f} drafted")  # fmt: skip
    return rows


HEADER = ("| server | slots | teacher tok/s | teacher valid | teacher wall s | teacher replies "
          "| judge verdicts/min | judge valid | judge wall s | judge replies |")  # fmt: skip


def format_row(row: Row) -> str:
    t, j = row.teacher, row.judge
    return (f"| {row.server} | {row.slots} | {t.completion_tokens / t.wall_s:.1f} "
            f"| {t.valid}/{t.total} | {t.wall_s:.0f} | {t.digest} | {60 * j.total / j.wall_s:.1f} "
            f"| {j.valid}/{j.total} | {j.wall_s:.0f} | {j.digest} |")  # fmt: skip


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4, help="teacher requests per row")
    parser.add_argument("--max-tokens", type=int, default=192, help="teacher max_tokens")
    parser.add_argument("--pairs", type=int, default=2, help="calibration pairs (x2 orders)")
    parser.add_argument(
        "--slots",
        type=lambda v: [int(x) for x in v.split(",")],
        default=SLOTS,
        help="llama-server --parallel values, comma-separated (default 1,2,4)",
    )
    args = parser.parse_args(argv)
    before, started = load(), time.perf_counter()
    print(HEADER, flush=True)
    rows = run_all(args)
    after, minutes = load(), (time.perf_counter() - started) / 60
    lines = [
        "# llama-server vs llama_cpp.server (benchmarks/bench_server.py)",
        "",
        f"Model {MODEL}, {server_threads(load_llm()[0].embedded)} threads; teacher: "
        f"{args.requests} requests, max_tokens {args.max_tokens}; judge: {2 * args.pairs} "
        f"verdicts. N requests in flight for N slots. Load average (1, 5, 15 min) "
        f"before {before}, after {after}; {minutes:.1f} min in all.",
        "",
        "tok/s = completion tokens / wall time; valid = replies that parse as a JSON object;",
        "replies = sha256 prefix of all reply texts in request order (same prefix = byte-identical",
        "replies). A given slot count gives the same replies whatever the arrival order",
        "(tests/core/test_server.py); another slot count can give other replies.",
        "",
        HEADER,
        "|---|---|---|---|---|---|---|---|---|---|",
        *(format_row(r) for r in rows),
        "",
    ]
    write_text(ROOT / "reports" / "bench_server.md", "\n".join(lines))


if __name__ == "__main__":
    main()
