"""Champion and challenger: scored on the same items, promoted only on a paired CI above 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinstruct_eval.champion import ChampionInfo, decide, find_champion, record_decision
from medinstruct_eval.paired import Paired

ALPHA = 0.05


def _paired(ci: tuple[float, float], p: float, n: int = 120) -> Paired:
    return Paired("student", "champion", n, (ci[0] + ci[1]) / 2, ci, p, 70, 30, 20)


def test_the_champion_is_a_candidate_only_when_it_is_not_the_student() -> None:
    assert (
        ChampionInfo("4", "3").candidate("medinstruct-student").model
        == "models:/medinstruct-student/3"
    )
    assert ChampionInfo("3", "3").candidate("m") is None
    assert ChampionInfo("3", None).candidate("m") is None
    assert ChampionInfo(None, None, "not registered").candidate("m") is None


def test_unregistered_students_decide_nothing() -> None:
    assert (
        decide(ChampionInfo(note="the student is not a registered model version"), None, ALPHA)
        is None
    )


def test_first_champion_and_already_champion() -> None:
    first = decide(ChampionInfo("1", None), None, ALPHA)
    assert (
        first is not None
        and first.promote
        and first.reason == ("v1 becomes the first champion (none was registered).")
    )
    same = decide(ChampionInfo("3", "3"), None, ALPHA)
    assert same is not None and not same.promote and same.reason == "v3 is already the champion."


def test_promotion_needs_the_paired_ci_lower_bound_above_zero() -> None:
    better = decide(ChampionInfo("4", "3"), _paired((0.05, 0.2), 0.001), ALPHA)
    assert better is not None and better.promote
    assert better.reason.startswith(
        "v4 promoted over champion v3: student beats champion by +0.12 [+0.05, +0.20] on 120 items"
    )
    assert better.numbers["paired.student_vs_champion.ci_low"] == 0.05
    straddles = decide(ChampionInfo("4", "3"), _paired((-0.02, 0.2), 0.03), ALPHA)
    assert straddles is not None and not straddles.promote
    assert "not promoted (the paired CI lower bound must be above 0)" in straddles.reason
    assert "No detectable difference between student and champion at n = 120" in straddles.reason
    nothing = decide(ChampionInfo("4", "3"), _paired((0.0, 0.0), 1.0, n=0), ALPHA)
    assert (
        nothing is not None
        and not nothing.promote
        and "no item was judged for both" in nothing.reason
    )


@pytest.mark.slow  # MLflow's sqlite registry takes seconds to create
def test_registry_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """find_champion reads the registry; record_decision tags the version and moves the alias."""
    import mlflow

    from medinstruct_core.lineage import dir_md5
    from medinstruct_train.registry import CHAMPION, MODEL_NAME

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, text in ((old, "a"), (new, "b")):
        folder.mkdir()
        (folder / "config.json").write_text(text)
    client = mlflow.MlflowClient()
    client.create_registered_model(MODEL_NAME)
    for folder in (old, new):
        version = client.create_model_version(MODEL_NAME, source=str(folder))
        client.set_model_version_tag(MODEL_NAME, version.version, "student_md5", dir_md5(folder))
    assert find_champion(old) == ChampionInfo("1", None, "no champion is registered yet")
    first = decide(find_champion(old), None, ALPHA)
    assert first is not None
    record_decision(first)
    assert find_champion(new) == ChampionInfo("2", "1", "")
    decision = decide(find_champion(new), _paired((0.05, 0.2), 0.001), ALPHA)
    assert decision is not None
    record_decision(decision)
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "2"
    tags = client.get_model_version(MODEL_NAME, "2").tags
    assert (
        tags["champion.promoted"] == "true"
        and tags["eval.paired.student_vs_champion.ci_low"] == "0.05"
    )
    assert tags["champion.decision"].startswith("v2 promoted over champion v1")
    assert client.get_model_version(MODEL_NAME, "1").tags["champion.replaced_by"] == "2"
