"""What the evaluate stage's judges will be asked, counted before they are asked.

Every judge of the panel decides, in both orders: each eval item for each
candidate, each calibration pair (when calibration is on), and each item once
more for the head-to-head comparison (when asked). The prompts are built with
the judge's own `build_judge_messages`; the candidates' answers do not exist
yet, so an answer is counted as empty (low), as long as the reference (expected)
or as `max_new_tokens` tokens (high). Verdict lengths are measured from this
machine's cache when there are enough, else assumed (a one-sentence reason and
a winner: about 45 tokens as JSON).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from medinstruct_core.llm.config import LLMSection, RoleConfig
from medinstruct_core.llm.estimate import (
    Estimate,
    ReplyLengths,
    RoleEstimate,
    Span,
    cached_reply_tokens,
    measured_or,
    read_budget,
    role_estimate,
    role_price,
)
from medinstruct_core.llm.types import LLMRequest
from medinstruct_core.llm.wire import CHARS_PER_TOKEN, prompt_chars, prompt_tokens_for
from medinstruct_core.records import EvalItem
from medinstruct_eval.calibration import WORSE, as_judging, load_calibration
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.judge import build_judge_messages

VERDICT_REPLY = ReplyLengths(low=20.0, mean=45.0)
ORDERS = 2  # every pair is judged with each answer first


def _tokens(item: EvalItem, answer: str, role: RoleConfig, exact: bool) -> int:
    structured = role.structured_output != "off"
    messages = build_judge_messages(item, answer, item.reference, structured=structured)
    request = LLMRequest(messages=messages, sampling=role.sampling)
    if not exact:  # a free judge: no tiktoken (it may try to download its encoding)
        return prompt_chars(request) // CHARS_PER_TOKEN + 1
    return prompt_tokens_for(request, role.model)


def pair_prompt_tokens(
    items: Sequence[EvalItem],
    answers: Sequence[str] | None,
    role: RoleConfig,
    max_new_tokens: int,
    *,
    exact: bool = True,
) -> Span:
    """Summed prompt tokens of one judgement per item: the given answers, or stand-ins
    (empty, as long as the reference, `max_new_tokens` tokens)."""
    if answers is not None:
        total = sum(_tokens(i, a, role, exact) for i, a in zip(items, answers, strict=True))
        return Span.exactly(float(total))
    low = float(sum(_tokens(item, "", role, exact) for item in items))
    expected = float(sum(_tokens(item, item.reference, role, exact) for item in items))
    return Span(low, max(low, expected), max(low, expected) + max_new_tokens * len(items))


def verdict_replies(root: Path, llm: LLMSection, model: str) -> ReplyLengths:
    return measured_or(cached_reply_tokens(root, llm.client, model, "verdict"), VERDICT_REPLY)


def judge_role(
    role: RoleConfig,
    sets: Sequence[Sequence[EvalItem]],
    cfg: EvaluateConfig,
    llm: LLMSection,
    *,
    root: Path,
    env: Mapping[str, str],
) -> RoleEstimate:
    """One judge of the panel: calibration, every candidate on every set, head to head."""
    items = [item for items in sets for item in items]
    price = role_price(role, llm.client, env)
    exact = price is not None
    per_pass = pair_prompt_tokens(items, None, role, cfg.max_new_tokens, exact=exact)
    judged = len(items) * len(cfg.candidates) + (len(items) if cfg.head_to_head else 0)
    prompt = per_pass.scale(len(cfg.candidates) + (1 if cfg.head_to_head else 0))
    if cfg.calibration.enabled:
        pairs = load_calibration(root / cfg.calibration.path)[: cfg.calibration.num_items]
        evals, worse = as_judging(pairs)
        prompt = prompt + pair_prompt_tokens(evals, worse[WORSE], role, 0, exact=exact)
        judged += len(evals)
    requests = float(judged * ORDERS)
    replies = verdict_replies(root, llm, role.model)
    per_request = prompt.scale(1.0 / judged) if judged else prompt
    return role_estimate(
        stage="evaluate", role="judge", model=role.model, requests=Span.exactly(requests),
        prompt_tokens_per_request=per_request, replies=replies,
        max_tokens=role.sampling.max_tokens, price=price,
        batch=role.batch, note=f"{len(items)} items x {len(cfg.candidates)} candidates; "
        f"replies: {replies.source}",
    )  # fmt: skip


def judging_roles(
    sets: Sequence[Sequence[EvalItem]],
    cfg: EvaluateConfig,
    llm: LLMSection,
    *,
    root: Path,
    env: Mapping[str, str] | None = None,
) -> list[RoleEstimate]:
    """Every judge of the panel (`llm.judge`: one role or a list)."""
    env = os.environ if env is None else env
    return [judge_role(role, sets, cfg, llm, root=root, env=env) for role in llm.judges()]


def estimate_judging(
    sets: Sequence[Sequence[EvalItem]],
    cfg: EvaluateConfig,
    llm: LLMSection,
    *,
    root: Path,
    env: Mapping[str, str] | None = None,
) -> Estimate:
    """The evaluate stage's judging against the ledger (pass it to `announce`)."""
    roles = judging_roles(sets, cfg, llm, root=root, env=env)
    return Estimate(roles, read_budget(root, llm.client, ["evaluate"]), llm.client)
