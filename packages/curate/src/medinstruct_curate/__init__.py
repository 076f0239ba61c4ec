"""medinstruct_curate: the curate stage (rule filters, then the exact ROUGE-L dedup)."""

from medinstruct_curate.curate import CurateConfig, CurateResult, curate

__all__ = ["CurateConfig", "CurateResult", "curate"]
