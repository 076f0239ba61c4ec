"""MLflow Tracing of LLM calls: see what a stage actually asked and got, call by call.

The client knows nothing about MLflow: it calls an optional `on_call(LLMCall)`
hook after every answered request (paid or cached). `MlflowTracer` is such a
hook; it turns a deterministic sample of calls into MLflow traces with one
LLM-type span each (inputs = messages, outputs = reply, attributes = tokens,
latency, cache hit, role, stage, model).

Why sample by the cache key and not at random: a rerun traces the same calls,
so traces of two runs can be compared prompt by prompt, and the choice needs
no random state.

Why `start_span_no_context` with explicit times: the call is already over when
the hook runs (it may have been answered on an event loop, on another thread),
so the span is recorded after the fact with its true start and end times,
and it never becomes the "current" span of unrelated code.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from medinstruct_core.llm.stats import ProgressReport
from medinstruct_core.llm.types import Endpoint

log = logging.getLogger(__name__)

# Default share of calls traced: every call of the local model (cheap, and the
# point is to look at them), one in a hundred for remote APIs (volume).
EMBEDDED_SAMPLE = 1.0
REMOTE_SAMPLE = 0.01
SPAN_NAME = "chat.completions"


@dataclass(frozen=True)
class LLMCall:
    """One answered request, as the client hands it to `on_call` (never the API key)."""

    key: str  # the response-cache key: stable across runs, drives sampling
    role: str
    stage: str
    model: str
    messages: tuple[dict[str, str], ...]
    reply: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cache_hit: bool
    start_ns: int
    end_ns: int


OnCall = Callable[[LLMCall], None]


def sample_rate(trace_sample: float | None, endpoint: Endpoint) -> float:
    """`llm.client.trace_sample`, or its default for this kind of endpoint."""
    if trace_sample is not None:
        return trace_sample
    return EMBEDDED_SAMPLE if endpoint.kind == "embedded" else REMOTE_SAMPLE


def sampled(key: str, rate: float) -> bool:
    """Deterministic: the first 64 bits of the (hex sha256) cache key as a fraction in [0, 1)."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    try:
        fraction = int(key[:16], 16) / 2.0**64
    except ValueError:  # not a hex key (a caller's own id): hash it the same way
        fraction = int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) / 2.0**64
    return fraction < rate


class MlflowTracer:
    """`on_call` hook writing sampled calls as MLflow traces to the active tracking store.

    Attach it after MLflow is configured (tracking URI, experiment), e.g.
    `client.on_call = MlflowTracer(sample_rate(cfg.trace_sample, client.endpoint))`.
    A tracing error is logged and counted, never raised: a trace is not worth a stage.
    With `only_in_run`, calls are traced only while an MLflow run is active (a stage
    run), so a client used from a test or a notebook writes no stray traces.
    """

    def __init__(
        self, sample_rate: float, *, experiment_id: str | None = None, only_in_run: bool = False
    ) -> None:
        self.sample_rate = sample_rate
        self.experiment_id = experiment_id
        self.only_in_run = only_in_run
        self.traced = 0
        self.errors = 0

    def __call__(self, call: LLMCall) -> None:
        if not sampled(call.key, self.sample_rate):
            return
        if self.only_in_run and not _run_active():
            return
        try:
            self._trace(call)
        except Exception as exc:  # tracing must never break generation
            self.errors += 1
            log.warning("MLflow trace of %s call failed: %s", call.role or "llm", exc)
            return
        self.traced += 1

    def _trace(self, call: LLMCall) -> None:
        import mlflow
        from mlflow.entities import SpanType

        span = mlflow.start_span_no_context(
            name=f"{call.role or 'llm'}.{SPAN_NAME}",
            span_type=SpanType.LLM,
            inputs={"messages": [dict(m) for m in call.messages]},
            attributes=_attributes(call),
            experiment_id=self.experiment_id,
            start_time_ns=call.start_ns,
        )
        span.end(outputs={"reply": call.reply}, end_time_ns=call.end_ns)

    def flush(self) -> None:
        """Wait for traces being exported in the background (call before the run ends)."""
        import mlflow

        flush = getattr(mlflow, "flush_trace_async_logging", None)
        if flush is not None:
            flush()


class MlflowProgress:
    """`progress_sink` of a client: each `ProgressReport` becomes metrics of the active
    MLflow run (`progress/<role>.done`, `.total`, `.percent`, `.rate_per_s`, `.eta_s`,
    `.cost_usd`, `.spend_usd_stage`, `.spend_usd_total`...), stepped by the client's
    requests so far, so the run page charts a long stage's advance, pace and spend live.

    Like the tracer it never raises (a chart is not worth a stage) and, with
    `only_in_run`, logs nothing outside a stage's run."""

    def __init__(self, role: str, *, only_in_run: bool = True) -> None:
        self.prefix = f"progress/{role or 'llm'}."
        self.only_in_run = only_in_run
        self.logged = 0
        self.errors = 0

    def __call__(self, report: ProgressReport) -> None:
        if self.only_in_run and not _run_active():
            return
        try:
            import mlflow

            mlflow.log_metrics(report.as_metrics(self.prefix), step=report.requests)
        except Exception as exc:  # progress must never break generation
            self.errors += 1
            log.warning("MLflow progress metrics failed: %s", exc)
            return
        self.logged += 1


def attach_tracer(client: Any, *, only_in_run: bool = False) -> MlflowTracer:
    """Trace `client`'s calls (an LLMClient) at `llm.client.trace_sample` or its default,
    and log its progress as metrics of the MLflow run (`MlflowProgress`).

    `open_role` attaches both with `only_in_run=True`: a stage's calls are traced into
    its MLflow run's experiment, and nothing is traced or logged outside a run."""
    rate = sample_rate(client.config.trace_sample, client.endpoint)
    tracer = MlflowTracer(rate, only_in_run=only_in_run)
    client.on_call = tracer
    if hasattr(client, "progress_sink"):
        client.progress_sink = MlflowProgress(client.role, only_in_run=only_in_run)
    return tracer


def _run_active() -> bool:
    """Whether an MLflow run is active, without importing MLflow (seconds) when nothing has."""
    mlflow = sys.modules.get("mlflow")
    return mlflow is not None and mlflow.active_run() is not None


def _attributes(call: LLMCall) -> dict[str, Any]:
    return {
        "role": call.role,
        "stage": call.stage,
        "model": call.model,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "latency_s": call.latency_s,
        "cache_hit": call.cache_hit,
    }
