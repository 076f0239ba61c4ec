"""medinstruct_text: the text pieces that generation, curation and the gate share.

A leaf package (it depends on core only), so a change to the gate or to the
curate stage never re-runs the paid LLM stages in `dvc.yaml`.
"""

from medinstruct_text.rouge import (
    DedupDecision,
    RougeLIndex,
    RougeMatch,
    rouge_l_dedup,
    rouge_l_dedup_detailed,
    rouge_l_fmeasure,
)
from medinstruct_text.rules import FilterConfig, apply_rules, check_rules

__all__ = [
    "DedupDecision",
    "FilterConfig",
    "RougeLIndex",
    "RougeMatch",
    "apply_rules",
    "check_rules",
    "rouge_l_dedup",
    "rouge_l_dedup_detailed",
    "rouge_l_fmeasure",
]
