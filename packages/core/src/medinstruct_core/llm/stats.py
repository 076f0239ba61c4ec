"""What a client did (for MLflow) and how far a batch has got (for the terminal)."""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

from tqdm import tqdm

from medinstruct_core.llm.types import FailureReason, LLMResult


@dataclass
class ClientStats:
    """Running totals of one client. Tokens and cost count only what was paid for
    (cache hits are free); `requests` counts every result handed back."""

    requests: int = 0  # results returned: answered, cached or failed
    cache_hits: int = 0  # answered from the cache (or shared with an identical request in flight)
    store_hits: int = 0  # of those, answered from the stage's reply store (came with the data)
    api_calls: int = 0  # HTTP attempts sent, retries included
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    truncated: int = 0  # answers cut at max_tokens (finish_reason == "length")
    failures: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds per answered API call
    # From the shared ledger (every process): this stage's spend and the total the
    # budget caps. Set by the client after each paid reply.
    spend_usd_stage: float = 0.0
    spend_usd_total: float = 0.0
    # Answers behind that spend (a Batch API row holds many), and the batch share of the stage's.
    spend_answers_stage: int = 0
    spend_answers_total: int = 0
    spend_usd_batch_stage: float = 0.0
    spend_answers_batch_stage: int = 0
    spend_batches_stage: int = 0

    def record(self, result: LLMResult) -> None:
        self.requests += 1
        if result.failure is not None:
            self.failures[result.failure] += 1
            return
        if result.truncated:
            self.truncated += 1
        if result.cached:
            self.cache_hits += 1
            return
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        self.cost_usd += result.cost_usd
        self.latencies.append(result.latency_s)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def describe_failures(self) -> str:
        """'12 timeout, 3 http_error' (most frequent first), for error messages."""
        return ", ".join(f"{n} {reason}" for reason, n in self.failures.most_common())

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat numeric metrics for MLflow; every failure reason is present (0 if none),
        so runs can be compared column by column."""
        metrics: dict[str, float] = {
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "replies_from_store": self.store_hits,
            "api_calls": self.api_calls,
            "tokens_in": self.prompt_tokens,
            "tokens_out": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "truncated": self.truncated,
            "latency_p50_s": percentile(self.latencies, 50),
            "latency_p95_s": percentile(self.latencies, 95),
            "spend_usd_stage": self.spend_usd_stage,
            "spend_usd_total": self.spend_usd_total,
            "spend_answers_stage": self.spend_answers_stage,
            "spend_answers_total": self.spend_answers_total,
            "spend_usd_batch_stage": self.spend_usd_batch_stage,
            "spend_answers_batch_stage": self.spend_answers_batch_stage,
            "spend_batches_stage": self.spend_batches_stage,
        }
        for reason in get_args(FailureReason):
            metrics[f"failures_{reason}"] = self.failures.get(reason, 0)
        return {f"{prefix}{name}": float(value) for name, value in metrics.items()}


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile; 0.0 for no data (a metric must be a number)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class ProgressReport:
    """How far one `run()` has got: what a person watching a long stage wants to know."""

    desc: str
    done: int
    total: int
    elapsed_s: float
    rate_per_s: float  # over the last reporting interval (the whole run for the first)
    eta_s: float  # seconds left at that rate; 0 when done, -1 while unknown
    requests: int  # every result this client handed back, over all its runs (an MLflow step)
    cache_hits: int
    failed: int
    cost_usd: float  # paid by this client
    spend_usd_stage: float  # the ledger: this stage, every process
    spend_usd_total: float  # the ledger: everything the budget caps

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        fields = ("done", "total", "rate_per_s", "eta_s", "cache_hits", "failed", "cost_usd",
                  "spend_usd_stage", "spend_usd_total")  # fmt: skip
        out = {f"{prefix}{name}": float(getattr(self, name)) for name in fields}
        out[f"{prefix}percent"] = 100.0 * self.done / self.total if self.total else 100.0
        return out

    def line(self) -> str:
        """One line for a log: `responses 26,000/52,000 (50%), 240.0/s, ETA 1m48s, spent $11.52`."""
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = format_duration(self.eta_s) if self.eta_s >= 0 else "?"
        return (f"{self.desc} {self.done:,}/{self.total:,} ({pct:.0f}%), {self.rate_per_s:.1f}/s, "
                f"ETA {eta}, spent ${self.spend_usd_stage:.2f} (ledger ${self.spend_usd_total:.2f})")  # fmt: skip


ProgressSink = Callable[[ProgressReport], None]
POSTFIX_EVERY_S = 0.2  # the bar's hits/cost/failed fields are refreshed this often


def format_duration(seconds: float) -> str:
    """`45s`, `3m07s`, `6h02m`: an ETA at a glance."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """A tqdm bar on stderr (done/total, rate and ETA from tqdm, plus hits, cost, failures
    and whatever the caller adds with `LLMClient.set_postfix`), and, for a `sink`, a
    `ProgressReport` at intervals, so a six-hour stage can be watched from elsewhere
    (`tracing.MlflowProgress` logs them as metrics of the stage's MLflow run).

    A report goes out every `every_s` seconds, and at each `step_percent` of the total
    when at least `min_gap_s` passed since the last one (short runs still get a few
    points, long ones do not flood the tracking store), and once at `close()`.
    `clock` is injectable so tests need no wall clock.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        enabled: bool = True,
        sink: ProgressSink | None = None,
        every_s: float = 30.0,
        step_percent: float = 5.0,
        min_gap_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bar = tqdm(total=total, desc=desc, unit="req", file=sys.stderr,
                         disable=not enabled, dynamic_ncols=True, smoothing=0.1)  # fmt: skip
        self.total, self.desc, self.done = total, desc, 0
        self._sink, self._clock = sink, clock
        self._every_s, self._min_gap_s = every_s, min_gap_s
        self._step = max(1, math.ceil(total * step_percent / 100.0)) if step_percent > 0 else 0
        self._started = self._last_t = clock()
        self._postfix_t = -math.inf
        self._last_done = 0
        self._rate = 0.0

    def advance(self, stats: ClientStats, extra: dict[str, Any]) -> None:
        now = self._clock()
        self.done += 1
        # The postfix is formatted only as often as a person can read it (tqdm redraws
        # at most every 0.1 s anyway): at 300 replies a second, formatting it for every
        # reply cost more than the bar itself.
        if now - self._postfix_t >= POSTFIX_EVERY_S or self.done == self.total:
            self.postfix(stats, extra, refresh=False)
            self._postfix_t = now
        self._bar.update(1)
        if self._sink is not None and self._due(now):
            self._emit(stats)

    def _due(self, now: float) -> bool:
        gap = now - self._last_t
        if gap >= self._every_s:
            return True
        crossed = self._step and self.done // self._step > self._last_done // self._step
        return bool(crossed) and gap >= self._min_gap_s

    def report(self, stats: ClientStats, now: float | None = None) -> ProgressReport:
        """Where the run stands; the rate is over the interval since the last report."""
        now = self._clock() if now is None else now
        window = now - self._last_t
        if window > 0 and self.done > self._last_done:
            self._rate = (self.done - self._last_done) / window
        left = self.total - self.done
        eta = 0.0 if left <= 0 else (left / self._rate if self._rate > 0 else -1.0)
        return ProgressReport(
            desc=self.desc, done=self.done, total=self.total, elapsed_s=now - self._started,
            rate_per_s=self._rate, eta_s=eta, requests=stats.requests,
            cache_hits=stats.cache_hits, failed=stats.failed, cost_usd=stats.cost_usd,
            spend_usd_stage=stats.spend_usd_stage, spend_usd_total=stats.spend_usd_total,
        )  # fmt: skip

    def _emit(self, stats: ClientStats) -> None:
        now = self._clock()
        report = self.report(stats, now)
        self._last_t, self._last_done = now, self.done
        assert self._sink is not None
        self._sink(report)

    def postfix(self, stats: ClientStats, extra: dict[str, Any], *, refresh: bool = True) -> None:
        fields: dict[str, Any] = {"hits": stats.cache_hits, "cost": f"${stats.cost_usd:.4f}"}
        if stats.failed:
            fields["failed"] = stats.failed
        fields.update(extra)
        self._bar.set_postfix(fields, refresh=refresh)

    def close(self, stats: ClientStats | None = None) -> None:
        """Close the bar; the sink gets a last report (with `stats`) unless nothing happened."""
        self._bar.close()
        if self._sink is not None and stats is not None and self.done > 0:
            self._emit(stats)


class GoalProgress:
    """Progress toward a stage's own goal across many `run()` calls, e.g. tasks kept of
    `num_tasks` in generate_instructions (one short run per round): `update(kept)` gives
    the metrics to log with the round, and `line()` what to print."""

    def __init__(
        self, total: int, unit: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total, self.unit = total, unit
        self._clock = clock
        self._started = clock()
        self.done = 0

    def update(self, done: int, prefix: str = "progress/") -> dict[str, float]:
        """Record `done`; {done, total, percent, rate_per_s, eta_s} (rate over the whole stage)."""
        self.done = done
        elapsed = self._clock() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = max(0, self.total - done)
        eta = 0.0 if left == 0 else (left / rate if rate > 0 else -1.0)
        pct = 100.0 * min(done, self.total) / self.total if self.total else 100.0
        values = {
            "done": done,
            "total": self.total,
            "percent": pct,
            "rate_per_s": rate,
            "eta_s": eta,
        }
        return {f"{prefix}{self.unit}.{k}": float(v) for k, v in values.items()}

    def line(self) -> str:
        metrics = self.update(self.done, prefix="")
        eta = metrics[f"{self.unit}.eta_s"]
        return (f"{self.done:,}/{self.total:,} {self.unit} ({metrics[f'{self.unit}.percent']:.0f}%), "
                f"{metrics[f'{self.unit}.rate_per_s']:.1f}/s, ETA "
                f"{format_duration(eta) if eta >= 0 else '?'}")  # fmt: skip
