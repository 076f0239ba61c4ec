"""Which models wrote the data, with what sampling, and how many rows each stage kept.

Three sources, most trusted first: the MLflow run that produced the exact bytes
being published (matched by the `out.<path>` md5 tag the stage runner sets), the
rows themselves (every Example names its instruction and response model), and
the params the locked stage ran with (dvc.lock, else params.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from medinstruct_core.llm.config import RoleConfig
from medinstruct_core.llm.embedded import BUILTIN_MODELS
from medinstruct_core.params import parse_section
from medinstruct_publish.workspace import DvcLock, Workspace

# The public checkpoints the built-in GGUFs were quantized from: what a reader can look up.
EMBEDDED_UPSTREAM: Mapping[str, str] = {
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "qwen2.5-coder-1.5b": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
}
# The MLflow tags (set by pipelines/generate_*.py) that are safe to print: never base_url,
# which may name a private host.
_PUBLIC_ENDPOINT_TAGS = ("kind", "model", "response_mode")

Kind = Literal["embedded", "remote", "unknown"]
TagLookup = Callable[[str, str], dict[str, str]]


class RoleFact(BaseModel):
    """One LLM role as the card reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str
    stage: str
    endpoint: str
    configured_model: str
    embedded_model: str
    sampling: dict[str, Any]
    params_source: str
    used_models: list[str]
    kind: Kind
    kind_source: str
    mlflow_run: str = ""

    @property
    def upstream(self) -> list[str]:
        """Hub ids behind the embedded models used (unknown names have none)."""
        return [EMBEDDED_UPSTREAM[m] for m in self.used_models if m in EMBEDDED_UPSTREAM]


def no_tags(path: str, md5: str) -> dict[str, str]:
    """The lookup used with --no-mlflow, or when the workspace has no MLflow store."""
    return {}


def mlflow_lookup(root: Path) -> TagLookup:
    """Tags of the MLflow run whose `out.<path>` tag equals `md5`: the run that made those bytes."""
    if not os.environ.get("MLFLOW_TRACKING_URI") and not (root / "mlflow.db").exists():
        return no_tags

    def lookup(path: str, md5: str) -> dict[str, str]:
        import mlflow  # deferred: ~1.7 s import, only when a store exists

        from medinstruct_core.tracking import tracking_uri

        mlflow.set_tracking_uri(tracking_uri(root))
        runs = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"tags.`out.{path}` = '{md5}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
            output_format="list",
        )
        if not runs:
            return {}
        return {**runs[0].data.tags, "mlflow.run_id": runs[0].info.run_id}

    return lookup


def locked_section(ws: Workspace, lock: DvcLock, stage: str, key: str) -> tuple[Any, str]:
    """The params value `key` the locked `stage` ran with, else today's params.yaml."""
    value = lock.param(stage, key)
    if value is not None:
        return value, f"dvc.lock ({stage})"
    node: Any = ws.params()
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node, "params.yaml"


def embedded_names(ws: Workspace, lock: DvcLock, stage: str) -> set[str]:
    """Names that mean "served by the embedded llama.cpp server": built-ins plus the user's."""
    embedded, _ = locked_section(ws, lock, stage, "llm.embedded")
    mine = embedded.get("models", {}) if isinstance(embedded, dict) else {}
    return {*BUILTIN_MODELS, *(mine or {})}


def infer_kind(used: Iterable[str], embedded: set[str]) -> Kind:
    """Embedded rows carry the registry name (e.g. smollm2-135m), remote ones the API model."""
    flags = {name in embedded for name in used}
    if flags == {True}:
        return "embedded"
    return "remote" if flags == {False} else "unknown"


def public_endpoint(endpoint: str) -> str:
    """auto / embedded / openai as written; a URL only as its kind (it may be a private host)."""
    if endpoint.startswith(("http://", "https://")):
        return "custom OpenAI-compatible URL"
    return endpoint


def role_fact(
    ws: Workspace,
    lock: DvcLock,
    role: str,
    stage: str,
    used_models: Iterable[str],
    tags: Mapping[str, str],
) -> RoleFact:
    """Assemble one role's provenance; `tags` are the producing run's MLflow tags ({} if none)."""
    raw, source = locked_section(ws, lock, stage, f"llm.{role}")
    cfg = parse_section(raw, RoleConfig, where=f"{source}: llm.{role}")
    used = sorted(set(used_models))
    endpoint = {
        k: tags[f"llm.{role}.{k}"] for k in _PUBLIC_ENDPOINT_TAGS if f"llm.{role}.{k}" in tags
    }
    kind: Kind = infer_kind(used, embedded_names(ws, lock, stage))
    kind_source = "the model names recorded in the rows"
    if endpoint.get("kind") in ("embedded", "remote"):
        kind = endpoint["kind"]  # type: ignore[assignment]
        kind_source = f"MLflow run {tags.get('mlflow.run_id', '')}".strip()
    return RoleFact(
        role=role,
        stage=stage,
        endpoint=public_endpoint(cfg.endpoint),
        configured_model=cfg.model,
        embedded_model=cfg.embedded_model,
        sampling=cfg.sampling.model_dump(exclude_none=True),
        params_source=source,
        used_models=used,
        kind=kind,
        kind_source=kind_source,
        mlflow_run=tags.get("mlflow.run_id", ""),
    )


class StageCount(BaseModel):
    """One line of the "counts at each stage" table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    what: str
    value: Any


# (stage, metrics key, what it counts): the funnel from requested tasks to the gate.
FUNNEL: tuple[tuple[str, str, str], ...] = (
    ("generate_instructions", "tasks_requested", "tasks requested from the teacher"),
    ("generate_instructions", "tasks_parsed", "tasks parsed from its replies"),
    ("generate_instructions", "tasks_kept", "tasks kept (rules + ROUGE-L filter)"),
    ("generate_instructions", "requests", "teacher requests"),
    ("generate_responses", "instructions", "instructions sent to the responder"),
    ("generate_responses", "examples", "examples answered"),
    ("generate_responses", "truncated", "answers cut at max_tokens"),
    ("generate_responses", "request_failed", "requests that failed"),
    ("curate", "n_in", "examples into curation"),
    ("curate", "n_kept", "examples kept (the training set)"),
    ("curate", "n_rejected", "examples rejected"),
    ("validate", "n_rows", "rows checked by the gate"),
    ("validate", "expectations_evaluated", "gate expectations evaluated"),
    ("validate", "expectations_failed", "gate expectations failed"),
)


def stage_counts(ws: Workspace) -> list[StageCount]:
    """The funnel, one row per count; a stage without metrics says so once."""
    rows: list[StageCount] = []
    cache: dict[str, dict[str, Any] | None] = {}
    for stage, key, what in FUNNEL:
        if stage not in cache:
            cache[stage] = ws.metrics(stage)
            if cache[stage] is None:
                rows.append(StageCount(stage=stage, what="metrics", value="not recorded"))
        metrics = cache[stage]
        if metrics is not None and key in metrics:
            rows.append(StageCount(stage=stage, what=what, value=metrics[key]))
    return rows


def rejects_by_reason(metrics: Mapping[str, Any] | None, prefix: str = "") -> dict[str, int]:
    """Non-zero reject counts: curate's `by_reason`, or generation's `rejects.<reason>` keys."""
    if metrics is None:
        return {}
    if not prefix:
        found = metrics.get("by_reason", {})
    else:
        found = {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}
    return {str(k): int(v) for k, v in sorted(found.items()) if isinstance(v, int | float) and v}
