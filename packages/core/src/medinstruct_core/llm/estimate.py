"""The cost before the spend: requests, tokens and USD of a paid stage, as a low-high range.

Why a range and not a number: what a stage will send is known only within bounds.
A generation stage stops when enough tasks survive (how many replies that takes
depends on the teacher), and a reply is anywhere between a few tokens and
`max_tokens`. So each figure is three numbers:

- **low**: the fewest requests the stage can need, each with its prompt and the
  shortest typical reply (measured, when this machine has replies of that role
  in its cache, else a conservative default);
- **expected**: the requests the stage most likely sends, with the measured (or
  typical) mean reply;
- **high**: the most requests the params allow, every reply at `max_tokens`.

This module is the arithmetic and the verdict against the budget; the stages'
own modules (`medinstruct_datagen.estimate`, `medinstruct_eval.estimate`) count
their requests and build their real prompts. A stage calls `announce()` at its
start: one line on stderr, and `BudgetWouldExceed` (a `BudgetExceeded`: exit 2)
before the first request when even the low end does not fit in what is left of
`llm.client.budget_usd` in the ledger.
"""

from __future__ import annotations

import math
import re
import sqlite3
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from medinstruct_core.llm.config import ClientConfig, Price, RoleConfig
from medinstruct_core.llm.ledger import LEDGER_FILE, BudgetExceeded, Ledger
from medinstruct_core.llm.roles import wants_embedded
from medinstruct_core.llm.types import LLMRequest
from medinstruct_core.llm.wire import CHARS_PER_TOKEN, prompt_chars, prompt_tokens_for

# The Batch API bills every token at half the listed price (medinstruct_core.llm.batch).
BATCH_PRICE_FACTOR = 0.5
# Cached replies read per estimate: enough for stable percentiles, fast on a 52k cache.
MAX_CACHED_REPLIES = 20_000
SHAPE_HEAD, SHAPE_TAIL = 2000, 80  # characters of a reply enough to tell its shape
RESPONSES_FILE = "responses.sqlite"


class BudgetWouldExceed(BudgetExceeded):
    """Even the low end of a stage's estimate is more than the ledger has left."""


@dataclass(frozen=True)
class Span:
    """A quantity known within bounds: low <= expected <= high."""

    low: float
    expected: float
    high: float

    def __post_init__(self) -> None:
        if not self.low <= self.expected <= self.high:
            raise ValueError(f"span out of order: {self.low} / {self.expected} / {self.high}")

    def __add__(self, other: Span) -> Span:
        return Span(self.low + other.low, self.expected + other.expected, self.high + other.high)

    def __mul__(self, other: Span) -> Span:
        """The product of two non-negative spans (requests x tokens per request)."""
        return Span(self.low * other.low, self.expected * other.expected, self.high * other.high)

    def scale(self, factor: float) -> Span:
        return Span(self.low * factor, self.expected * factor, self.high * factor)

    @classmethod
    def exactly(cls, value: float) -> Span:
        return cls(value, value, value)


ZERO = Span.exactly(0.0)


@dataclass(frozen=True)
class ReplyLengths:
    """Completion tokens per reply of one role, measured (`source` says where) or assumed."""

    low: float  # a short reply (10th percentile)
    mean: float
    count: int = 0
    source: str = "assumed"

    def span(self, max_tokens: int) -> Span:
        """Tokens per reply: measured or typical, up to `max_tokens` (a reply cannot exceed it)."""
        low, mean = min(self.low, max_tokens), min(self.mean, max_tokens)
        return Span(min(low, mean), mean, float(max_tokens))

    @classmethod
    def from_tokens(cls, tokens: Sequence[int], source: str) -> ReplyLengths:
        ordered = sorted(tokens)
        low = ordered[int(0.1 * (len(ordered) - 1))]
        return cls(float(low), float(statistics.fmean(ordered)), len(ordered), source)


@dataclass(frozen=True)
class RoleEstimate:
    """One role of one stage: its requests, its tokens and the price they are paid at."""

    stage: str
    role: str
    model: str
    requests: Span
    prompt_tokens: Span  # in all
    completion_tokens: Span  # in all
    price: Price | None  # None: free (embedded or a free endpoint)
    batch: bool = False
    note: str = ""  # where the figures come from (measured replies, yield, ...)

    @property
    def usd(self) -> Span:
        if self.price is None:
            return ZERO
        return Span(
            *(
                cost_usd(p, c, self.price, batch=self.batch)
                for p, c in zip(
                    (self.prompt_tokens.low, self.prompt_tokens.expected, self.prompt_tokens.high),
                    (self.completion_tokens.low, self.completion_tokens.expected,
                     self.completion_tokens.high),
                    strict=True,
                )
            )
        )  # fmt: skip


def cost_usd(
    prompt_tokens: float, completion_tokens: float, price: Price, *, batch: bool = False
) -> float:
    """USD for tokens at `price` (USD per 1M tokens); the Batch API pays half."""
    usd = (prompt_tokens * price.input + completion_tokens * price.output) / 1e6
    return usd * BATCH_PRICE_FACTOR if batch else usd


def limited_seconds(requests: float, tokens: float, rpm: float, tpm: float) -> float:
    """The least time `requests` needing `tokens` can take under the client's rate limits
    (`requests_per_minute`, `tokens_per_minute`; 0 = unlimited): the slower of the two."""
    by_requests = requests / rpm * 60.0 if rpm else 0.0
    by_tokens = tokens / tpm * 60.0 if tpm else 0.0
    return max(by_requests, by_tokens)


def role_seconds(role: RoleEstimate, client: ClientConfig) -> Span:
    """How long the role's requests take at the rate limits alone (endpoint latency aside)."""
    rpm, tpm = client.requests_per_minute, client.tokens_per_minute
    tokens = role.prompt_tokens + role.completion_tokens
    return Span(
        limited_seconds(role.requests.low, tokens.low, rpm, tpm),
        limited_seconds(role.requests.expected, tokens.expected, rpm, tpm),
        limited_seconds(role.requests.high, tokens.high, rpm, tpm),
    )


def duration(seconds: float) -> str:
    """`0s`, `45m`, `6.2h`: how long a stage will run, at a glance."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def role_estimate(
    *,
    stage: str,
    role: str,
    model: str,
    requests: Span,
    prompt_tokens_per_request: Span,
    replies: ReplyLengths,
    max_tokens: int,
    price: Price | None,
    batch: bool = False,
    note: str = "",
) -> RoleEstimate:
    """Totals from per-request figures: requests x (prompt tokens, reply tokens)."""
    return RoleEstimate(
        stage=stage, role=role, model=model, requests=requests,
        prompt_tokens=requests * prompt_tokens_per_request,
        completion_tokens=requests * replies.span(max_tokens),
        price=price, batch=batch, note=note or f"replies: {replies.source}",
    )  # fmt: skip


def prompt_token_span(requests: Iterable[LLMRequest], model: str, *, exact: bool = True) -> Span:
    """Mean prompt tokens of a sample of real requests: tiktoken's count when `exact` and
    available (as the client reserves them), else 4 characters a token.

    One number, not a range: over thousands of requests the total is the count times the
    mean, whatever the spread of single prompts. A free role passes `exact=False`: its cost
    is 0 whatever the count, and tiktoken may try to download its encoding."""
    if exact:
        counts = [prompt_tokens_for(r, model) for r in requests]
    else:
        counts = [prompt_chars(r) // CHARS_PER_TOKEN + 1 for r in requests]
    return Span.exactly(float(statistics.fmean(counts))) if counts else ZERO


# -- what the role costs, and what is left -------------------------------------------------
def role_price(role: RoleConfig, client: ClientConfig, env: Mapping[str, str]) -> Price | None:
    """The role's price per 1M tokens as the client would charge it; None when it is free.

    Resolved the way `LLMClient` charges: an embedded server costs nothing; any other
    endpoint is charged at `llm.client.prices[model]` when the model has a price, even
    on a `free_endpoints` URL (a local fake of a priced API is tested against the budget
    that way). An unpriced model is free only on a `free_endpoints` URL; elsewhere the
    client itself refuses it before the first request."""
    if wants_embedded(role, env):
        return None
    return client.prices.get(role.model)


@dataclass(frozen=True)
class Budget:
    """The ledger's state: spent so far (and by which stage), in flight, and the cap."""

    spent_usd: float
    reserved_usd: float
    cap_usd: float | None
    # What each stage has already paid for: a rerun gets those replies from the cache for
    # free, so that much of its estimate is not new spend.
    spent_by_stage: Mapping[str, float] = field(default_factory=dict)

    @property
    def remaining_usd(self) -> float:
        if self.cap_usd is None:
            return math.inf
        return max(0.0, self.cap_usd - self.spent_usd - self.reserved_usd)


def read_budget(root: Path, client: ClientConfig, stages: Sequence[str] = ()) -> Budget:
    """The project's ledger (`<cache_dir>/ledger.sqlite`), read without creating it."""
    path = root / client.cache_dir / LEDGER_FILE
    if not path.exists():
        return Budget(0.0, 0.0, client.budget_usd)
    with Ledger(path, client.budget_usd) as ledger:
        by_stage = {stage: ledger.stage_usd(stage) for stage in stages}
        return Budget(ledger.total_usd(), ledger.reserved_usd(), client.budget_usd, by_stage)


def cached_reply_tokens(
    root: Path,
    client: ClientConfig,
    model: str,
    shape: str,
    limit: int = MAX_CACHED_REPLIES,
) -> list[int]:
    """Completion tokens of the newest cached replies of `model` that look like `shape`.

    The cache is keyed by request hash, so a role's replies are found by the model that
    wrote them and what they look like (`reply_shape`: a task list, a verdict, an answer).
    Only the fields needed are read (sqlite's JSON functions), so a 50k-reply cache takes
    a second. Read-only: a missing or busy cache gives no measurements."""
    path = root / client.cache_dir / RESPONSES_FILE
    if not path.exists():
        return []
    query = (
        "SELECT json_extract(value, '$.completion_tokens'), "
        f"substr(json_extract(value, '$.text'), 1, {SHAPE_HEAD}), "
        f"substr(json_extract(value, '$.text'), -{SHAPE_TAIL}) FROM responses "
        "WHERE json_extract(value, '$.model') = ? OR json_extract(value, '$.model') LIKE ? "
        "ORDER BY created DESC LIMIT ?"
    )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0) as conn:
            rows = conn.execute(query, (model, f"{model}-%", limit)).fetchall()
    except sqlite3.Error:
        return []
    return [int(n) for n, head, tail in rows
            if n and reply_shape(f"{head or ''}\n{tail or ''}") == shape]  # fmt: skip


def measured_or(
    tokens: Sequence[int], assumed: ReplyLengths, *, min_count: int = 20
) -> ReplyLengths:
    """Measured lengths when there are enough replies, else the assumption."""
    if len(tokens) < min_count:
        return assumed
    return ReplyLengths.from_tokens(tokens, f"{len(tokens)} cached replies")


# -- the verdict ---------------------------------------------------------------------------
@dataclass
class Estimate:
    """A stage's (or the whole run's) roles, checked against the ledger's budget."""

    roles: list[RoleEstimate] = field(default_factory=list)
    budget: Budget = field(default_factory=lambda: Budget(0.0, 0.0, None))
    client: ClientConfig | None = None  # its rate limits give the time column

    @property
    def usd(self) -> Span:
        total = ZERO
        for role in self.roles:
            total = total + role.usd
        return total

    @property
    def paid(self) -> list[RoleEstimate]:
        return [r for r in self.roles if r.price is not None]

    @property
    def new_spend_low(self) -> float:
        """The low end less what each stage already paid (a rerun's cached replies are free)."""
        by_stage: dict[str, float] = {}
        for role in self.roles:
            by_stage[role.stage] = by_stage.get(role.stage, 0.0) + role.usd.low
        paid = self.budget.spent_by_stage
        return sum(max(0.0, low - paid.get(stage, 0.0)) for stage, low in by_stage.items())

    def fits(self) -> bool:
        """Whether the low end (less what reruns get from the cache) fits in what is left."""
        return self.new_spend_low <= self.budget.remaining_usd

    def check(self) -> None:
        """Raise BudgetWouldExceed, before anything is sent, when even the low end cannot fit."""
        if not self.fits():
            raise BudgetWouldExceed(
                f"the low end of the estimate, {usd(self.new_spend_low)} not yet paid for, is more than the "
                f"{usd(self.budget.remaining_usd)} left of llm.client.budget_usd="
                f"{usd(self.budget.cap_usd or 0)} (spent {usd(self.budget.spent_usd)}): raise "
                "the budget, shrink the run (make estimate shows what each stage costs), or "
                "reset the ledger (make budget-reset)"
            )


def usd(value: float) -> str:
    """$1,234.56, or four decimals under a dollar (a smoke run costs cents)."""
    if math.isinf(value):
        return "unlimited"
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"


def count(value: float) -> str:
    """1,234 / 12.3k / 4.56M: tokens and requests at a glance."""
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:,.0f}"


def span_text(span: Span, fmt: Callable[[float], str] = count) -> str:
    if math.isclose(span.low, span.high):
        return fmt(span.expected)
    return f"{fmt(span.low)}-{fmt(span.high)}"


def stage_line(stage: str, estimate: Estimate) -> str:
    """The one line a paid stage prints before its first request."""
    paid = estimate.paid
    if not paid:
        return f"{stage}: estimate: no paid LLM requests (embedded or free endpoint)"
    cost, left = estimate.usd, estimate.budget.remaining_usd
    roles = ", ".join(f"{span_text(r.requests)} {r.role} requests to {r.model}"
                      + (" (Batch API)" if r.batch else "") for r in paid)  # fmt: skip
    paid_before = sum(estimate.budget.spent_by_stage.values())
    return (
        f"{stage}: estimate: {roles}; expected {usd(cost.expected)} (range {usd(cost.low)}-"
        f"{usd(cost.high)}); budget left {usd(left)}"
        + (f"; {usd(paid_before)} already paid by earlier runs (cached)" if paid_before else "")
        + ("" if cost.high <= left + paid_before else "; the high end would reach the cap")
    )


def announce(stage: str, estimate: Estimate, out: TextIO | None = None) -> Estimate:
    """Print the stage's estimate line, then fail (BudgetWouldExceed) if the low end cannot fit."""
    print(stage_line(stage, estimate), file=out or sys.stderr, flush=True)
    estimate.check()
    return estimate


def _time_text(role: RoleEstimate, client: ClientConfig | None) -> str:
    if role.batch:
        return "batch (<24h)"
    if client is None or not (client.requests_per_minute or client.tokens_per_minute):
        return "no limit set"
    seconds = role_seconds(role, client)
    return f"{duration(seconds.expected)} ({span_text(seconds, duration)})"


def table(estimate: Estimate) -> str:
    """The per-stage, per-role table `make estimate` prints."""
    head = ("stage", "role", "model", "requests", "tokens in", "tokens out", "USD expected",
            "USD range", "time at rate limits")  # fmt: skip
    rows = [head]
    for r in estimate.roles:
        model = r.model + (" (batch)" if r.batch else "") + ("" if r.price else " (free)")
        rows.append((r.stage, r.role, model, span_text(r.requests), span_text(r.prompt_tokens),
                     span_text(r.completion_tokens), usd(r.usd.expected), span_text(r.usd, usd),
                     _time_text(r, estimate.client)))  # fmt: skip
    total = estimate.usd
    rows.append(("total", "", "", "", "", "", usd(total.expected), span_text(total, usd), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def budget_text(estimate: Estimate) -> str:
    """Where the estimate stands against the ledger, in words."""
    b, cost = estimate.budget, estimate.usd
    head = f"ledger: spent {usd(b.spent_usd)} of {usd(b.cap_usd) if b.cap_usd is not None else 'no cap'}"
    head += f", {usd(b.remaining_usd)} left"
    if not estimate.fits():
        return head + (f". Even the low end ({usd(estimate.new_spend_low)} not yet paid for) does "
                       "not fit: the stages would stop.")  # fmt: skip
    if cost.high > b.remaining_usd:
        return head + (f". The low end fits; the high end ({usd(cost.high)}) does not: the run "
                       "would stop at the cap (failures counted as budget_exhausted).")  # fmt: skip
    return head + ". The whole range fits."


# -- what a cached reply is ----------------------------------------------------------------
_VERDICT_LINE = re.compile(r"(?im)^\s*winner\s*:\s*(?:a|b|tie)\s*$")


def reply_shape(text: str) -> str:
    """ "tasks" (a teacher's task list), "verdict" (a judge's) or "answer" (anything else).

    By the formats the project asks for: a JSON object with a `tasks` list or several
    `Instruction:` fields; a JSON object with a `winner` or a final `Winner:` line."""
    head = text.lstrip()[:40]
    if (head.startswith("{") and '"tasks"' in head) or text.count("Instruction:") >= 2:
        return "tasks"
    if (head.startswith("{") and '"winner"' in text) or _VERDICT_LINE.search(text[-40:]):
        return "verdict"
    return "answer"


def same_model(served: str, configured: str) -> bool:
    """Whether a reply's model is the configured one (APIs append dates: gpt-4-0613)."""
    return served == configured or served.startswith(configured + "-")
