"""What a client did (for MLflow) and how far a batch has got (for the terminal)."""

from __future__ import annotations

import sys
from collections import Counter
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
            "api_calls": self.api_calls,
            "tokens_in": self.prompt_tokens,
            "tokens_out": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "truncated": self.truncated,
            "latency_p50_s": percentile(self.latencies, 50),
            "latency_p95_s": percentile(self.latencies, 95),
            "spend_usd_stage": self.spend_usd_stage,
            "spend_usd_total": self.spend_usd_total,
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


class Progress:
    """A tqdm bar on stderr: done/total, rate and ETA from tqdm, plus hits, cost, failures
    and whatever the caller adds with `LLMClient.set_postfix`."""

    def __init__(self, total: int, desc: str, *, enabled: bool = True) -> None:
        self._bar = tqdm(total=total, desc=desc, unit="req", file=sys.stderr,
                         disable=not enabled, dynamic_ncols=True, smoothing=0.1)  # fmt: skip

    def advance(self, stats: ClientStats, extra: dict[str, Any]) -> None:
        self.postfix(stats, extra, refresh=False)
        self._bar.update(1)

    def postfix(self, stats: ClientStats, extra: dict[str, Any], *, refresh: bool = True) -> None:
        fields: dict[str, Any] = {"hits": stats.cache_hits, "cost": f"${stats.cost_usd:.4f}"}
        if stats.failed:
            fields["failed"] = stats.failed
        fields.update(extra)
        self._bar.set_postfix(fields, refresh=refresh)

    def close(self) -> None:
        self._bar.close()
