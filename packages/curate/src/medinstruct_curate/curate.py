"""The curate step: rule filters, then ROUGE-L dedup of the survivors.

Filters run first so a broken example (truncated, refusal, ...) can never be
the "original" that knocks out a later, good near-duplicate.  Dedup then walks
the survivors in generation order against the clinician seeds, as in
Self-Instruct/AlpaCare, comparing instructions only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medinstruct_core.params import Config
from medinstruct_core.records import Example, RejectedExample
from medinstruct_text.rouge import DedupDecision, rouge_l_dedup_detailed
from medinstruct_text.rules import ALL_RULE_REASONS, FilterConfig, check_rules

__all__ = ["ALL_REASONS", "REASON_DUPLICATE", "CurateConfig", "CurateResult", "curate"]

REASON_DUPLICATE = "duplicate"
ALL_REASONS = (*ALL_RULE_REASONS, REASON_DUPLICATE)


class CurateConfig(Config):
    """params.yaml: curate (rouge_threshold, dedup_against_seeds, filters)."""

    rouge_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    """Drop an instruction whose ROUGE-L F with a seed or a kept instruction exceeds this."""
    dedup_against_seeds: bool = True
    filters: FilterConfig = Field(default_factory=FilterConfig)


class CurateResult(BaseModel):
    """Kept and rejected examples; every input example is in exactly one list."""

    model_config = ConfigDict(extra="forbid")

    kept: list[Example] = Field(default_factory=list)
    rejected: list[RejectedExample] = Field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """Counts for logging: every known reason appears, with 0 when unused."""
        counts = Counter(r.reason for r in self.rejected)
        by_reason = {reason: counts.pop(reason, 0) for reason in ALL_REASONS}
        by_reason.update(sorted(counts.items()))
        n_in = len(self.kept) + len(self.rejected)
        return {
            "n_in": n_in,
            "n_kept": len(self.kept),
            "n_rejected": len(self.rejected),
            "yield": len(self.kept) / n_in if n_in else 0.0,
            "by_reason": by_reason,
        }


def _reject(example: Example, reason: str, detail: str) -> RejectedExample:
    return RejectedExample(**example.model_dump(), reason=reason, detail=detail)


def _duplicate_detail(decision: DedupDecision, survivors: Sequence[Example]) -> str:
    """Name the seed (by position: seeds have no id) or the kept example that was matched."""
    index = decision.match_index
    if index is None:
        raise ValueError(f"dedup decision for candidate {decision.index} names no match")
    target = f"seed[{index}]" if decision.match_source == "pool" else survivors[index].id
    return f"duplicate of {target} (rougeL={decision.score:.3f})"


def _split_by_rules(
    examples: list[Example], cfg: FilterConfig
) -> tuple[list[tuple[int, Example]], dict[int, RejectedExample]]:
    """(position, example) pairs that pass every rule, and the rejects by position."""
    survivors: list[tuple[int, Example]] = []
    rejected: dict[int, RejectedExample] = {}
    for pos, example in enumerate(examples):
        hit = check_rules(example, cfg)
        if hit is None:
            survivors.append((pos, example))
        else:
            rejected[pos] = _reject(example, hit.reason, hit.detail)
    return survivors, rejected


def curate(
    examples: list[Example], seeds_instructions: list[str], cfg: CurateConfig
) -> CurateResult:
    """Apply the rule filters, then dedup the survivors' instructions in order; keeps input order."""
    survivors, rejected = _split_by_rules(examples, cfg.filters)
    kept_examples = [example for _, example in survivors]
    decisions = rouge_l_dedup_detailed(
        [example.instruction for example in kept_examples],
        seeds_instructions if cfg.dedup_against_seeds else [],
        threshold=cfg.rouge_threshold,
    )
    kept = []
    for decision, (pos, example) in zip(decisions, survivors, strict=True):
        if decision.kept:
            kept.append(example)
        else:
            detail = _duplicate_detail(decision, kept_examples)
            rejected[pos] = _reject(example, REASON_DUPLICATE, detail)
    return CurateResult(kept=kept, rejected=[rejected[pos] for pos in sorted(rejected)])
