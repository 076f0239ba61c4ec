"""medinstruct_gate: the Great Expectations quality gate (the validate stage).

Only the config is imported eagerly: the gate itself imports Great
Expectations (seconds), so it is loaded on first attribute access.
"""

from medinstruct_gate.config import GateConfig, load_gate_config

_LAZY = {
    "run_gate": "medinstruct_gate.gate",
    "GateResult": "medinstruct_gate.gate",
    "run_validate_stage": "medinstruct_gate.stage",
}

__all__ = ["GateConfig", "GateResult", "load_gate_config", "run_gate", "run_validate_stage"]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medinstruct_gate' has no attribute {name!r}")
