"""dvc.lock parsing, the lock check, the funnel counts and the role provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinstruct_core.lineage import file_md5
from medinstruct_publish.dataset import size_category
from medinstruct_publish.provenance import (
    infer_kind,
    public_endpoint,
    rejects_by_reason,
    role_fact,
    stage_counts,
)
from medinstruct_publish.workspace import (
    DvcLock,
    PublishError,
    Workspace,
    file_fact,
    require_locked,
)
from tests.publish.conftest import N_SEEDS, RESPONDER, TEACHER


def test_lock_reads_outs_deps_and_params(workspace: Path) -> None:
    lock = DvcLock.read(workspace / "dvc.lock")
    train = workspace / "data/curated/train.jsonl"
    assert lock.out("data/curated/train.jsonl").md5 == file_md5(train)  # type: ignore[union-attr]
    assert lock.out("data/curated/train.jsonl").stage == "curate"  # type: ignore[union-attr]
    # the seeds are no stage's out: their md5 comes from generate_instructions' deps
    assert lock.out("data/seeds/seed_tasks.jsonl") is None
    assert lock.md5("data/seeds/seed_tasks.jsonl") == file_md5(
        workspace / "data/seeds/seed_tasks.jsonl"
    )
    assert lock.param("generate_instructions", "llm.teacher")["model"] == "gpt-4o"
    assert lock.param("curate", "llm.teacher") is None
    assert len(lock.outs) == 5


def test_absent_lock_is_empty(tmp_path: Path) -> None:
    lock = DvcLock.read(tmp_path / "dvc.lock")
    assert (lock.outs, lock.deps, lock.params) == ({}, {}, {})


def test_malformed_lock_names_stage_and_field(tmp_path: Path) -> None:
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  curate:\n    outs:\n    - {path: a}\n"
    )
    with pytest.raises(
        PublishError, match=r"dvc.lock: stage 'curate': outs\[0\]: needs 'path' and 'md5'"
    ):
        DvcLock.read(tmp_path / "dvc.lock")


def test_file_fact_counts_rows_and_compares_with_lock(workspace: Path) -> None:
    ws = Workspace(root=workspace)
    fact = file_fact(ws, "data/seeds/seed_tasks.jsonl", ws.lock(), count_rows=True)
    assert (fact.rows, fact.matches_lock) == (N_SEEDS, True)


def test_edited_file_is_refused_unless_allowed(workspace: Path) -> None:
    ws = Workspace(root=workspace)
    with (workspace / "data/curated/train.jsonl").open("a") as handle:
        handle.write("\n")
    fact = file_fact(ws, "data/curated/train.jsonl", ws.lock())
    assert not fact.matches_lock
    with pytest.raises(
        PublishError, match=r"data/curated/train.jsonl: md5 .* differs from dvc.lock"
    ):
        require_locked(fact, allow_unlocked=False)
    require_locked(fact, allow_unlocked=True)


@pytest.mark.parametrize(
    ("rows", "bucket"),
    [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (52_002, "10K<n<100K"), (10**9, "n>1B")],
)
def test_size_category(rows: int, bucket: str) -> None:
    assert size_category(rows) == bucket


def test_stage_counts_follow_the_funnel_and_flag_missing_stages(workspace: Path) -> None:
    (workspace / "metrics/generate_responses.json").unlink()
    counts = stage_counts(Workspace(root=workspace))
    assert [(c.stage, c.value) for c in counts if c.stage == "generate_responses"] == [
        ("generate_responses", "not recorded")
    ]
    kept = [c.value for c in counts if c.what == "examples kept (the training set)"]
    assert kept == [5]
    assert len(counts) == 11  # 4 + 1 (missing) + 3 + 3


def test_rejects_by_reason_keeps_nonzero_counts() -> None:
    assert rejects_by_reason({"by_reason": {"b": 2, "a": 0, "c": 1}}) == {"b": 2, "c": 1}
    metrics = {"rejects.duplicate": 3, "rejects.too_long": 0, "tasks_kept": 7}
    assert rejects_by_reason(metrics, "rejects.") == {"duplicate": 3}
    assert rejects_by_reason(None) == {}


def test_kind_is_inferred_from_the_model_names_in_the_rows() -> None:
    embedded = {TEACHER, RESPONDER}
    assert infer_kind([TEACHER, TEACHER], embedded) == "embedded"
    assert infer_kind(["gpt-4o"], embedded) == "remote"
    assert infer_kind(["gpt-4o", TEACHER], embedded) == "unknown"
    assert infer_kind([], embedded) == "unknown"


def test_role_fact_prefers_mlflow_tags_and_never_shows_a_url(workspace: Path) -> None:
    ws = Workspace(root=workspace)
    tags = {
        "llm.teacher.kind": "remote",
        "llm.teacher.base_url": "http://10.0.0.7:8000/v1",
        "mlflow.run_id": "abc123",
    }
    fact = role_fact(ws, ws.lock(), "teacher", "generate_instructions", ["gpt-4o"], tags)
    assert (fact.kind, fact.mlflow_run, fact.params_source) == (
        "remote",
        "abc123",
        "dvc.lock (generate_instructions)",
    )
    assert "10.0.0.7" not in fact.model_dump_json()
    assert public_endpoint("https://vllm.internal:8000/v1") == "custom OpenAI-compatible URL"
    assert public_endpoint("auto") == "auto"


def test_role_fact_falls_back_to_params_yaml_and_fills_sampling_defaults(workspace: Path) -> None:
    (workspace / "dvc.lock").unlink()
    ws = Workspace(root=workspace)
    fact = role_fact(ws, ws.lock(), "responder", "generate_responses", [RESPONDER], {})
    assert fact.params_source == "params.yaml"
    assert fact.kind == "embedded"
    assert fact.sampling["temperature"] == 0.7
    assert fact.sampling["frequency_penalty"] == 0.0  # RoleConfig's default, stated explicitly
    assert fact.upstream == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
