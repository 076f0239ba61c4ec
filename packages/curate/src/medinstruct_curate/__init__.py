"""medinstruct_curate."""

# --- quality gate (validate stage) ---
# Only the config is imported eagerly: the gate itself imports Great
# Expectations (seconds), so it is loaded on first attribute access.
from medinstruct_curate.gate_config import GateConfig as GateConfig
from medinstruct_curate.gate_config import load_gate_config as load_gate_config

_LAZY_GATE_EXPORTS = {
    "run_gate": "medinstruct_curate.gate",
    "GateResult": "medinstruct_curate.gate",
    "run_validate_stage": "medinstruct_curate.gate_stage",
}


def __getattr__(name: str) -> object:
    if name in _LAZY_GATE_EXPORTS:
        import importlib

        return getattr(importlib.import_module(_LAZY_GATE_EXPORTS[name]), name)
    raise AttributeError(f"module 'medinstruct_curate' has no attribute {name!r}")


# --- curation: rule filters, then exact fast ROUGE-L dedup (curate stage) ---
from medinstruct_curate.curate import CurateConfig, CurateResult, curate  # noqa: E402, F401
from medinstruct_curate.filters import FilterConfig, apply_rules, check_rules  # noqa: E402, F401
from medinstruct_curate.rouge import (  # noqa: E402, F401
    DedupDecision,
    RougeLIndex,
    RougeMatch,
    rouge_l_dedup,
    rouge_l_dedup_detailed,
    rouge_l_fmeasure,
)
