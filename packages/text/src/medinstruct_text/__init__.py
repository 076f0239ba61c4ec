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
from medinstruct_text.rules import (
    CurateFilters,
    FilterConfig,
    apply_rules,
    apply_task_rules,
    check_rules,
    check_task_rules,
)
from medinstruct_text.taxonomy import canonical_type, canonical_view, clean_topic

__all__ = [
    "CurateFilters",
    "DedupDecision",
    "FilterConfig",
    "RougeLIndex",
    "RougeMatch",
    "apply_rules",
    "apply_task_rules",
    "canonical_type",
    "canonical_view",
    "check_rules",
    "check_task_rules",
    "clean_topic",
    "rouge_l_dedup",
    "rouge_l_dedup_detailed",
    "rouge_l_fmeasure",
]
