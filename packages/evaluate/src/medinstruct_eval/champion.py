"""Champion and challenger: the registered champion is scored on the same items, with
the same judge, as the student that would replace it.

Comparing a student's win rate with the win rate the champion got in another run
mixes in other items, another judge, another calibration. So when the registry has
a champion (and the student is not it), it becomes one more candidate, `champion`,
and the decision rests on the paired comparison student vs champion
(paired.py): promote only when the paired difference's CI lower bound is above 0
and the sign test agrees. The decision and its numbers go into the version's tags
(`medinstruct_train.registry.apply_decision`) and into the report.

Only registered students take part: a run without MLflow (or a student directory no
version matches) decides nothing, and scores no champion (no extra default work).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medinstruct_eval.config import CHAMPION, CandidateConfig
from medinstruct_eval.paired import Paired


@dataclass(frozen=True)
class ChampionInfo:
    """What the registry says about the student and the current champion."""

    student_version: str | None = None
    champion_version: str | None = None
    note: str = ""  # why no champion is scored (empty when one is)

    @property
    def scored(self) -> bool:
        """The champion must answer too: it exists and is not the student itself."""
        return self.champion_version is not None and self.champion_version != self.student_version

    def candidate(self, model_name: str) -> CandidateConfig | None:
        """The champion as a leaderboard candidate (its own template: auto)."""
        if not self.scored:
            return None
        return CandidateConfig(name=CHAMPION, model=f"models:/{model_name}/{self.champion_version}")


@dataclass(frozen=True)
class Decision:
    """Promote the student or not, why, and the numbers behind it."""

    version: str
    promote: bool
    reason: str
    numbers: dict[str, float | int | None] = field(default_factory=dict)


def find_champion(student_dir: Path) -> ChampionInfo:
    """The student's registered version and the champion's, from the MLflow registry."""
    import mlflow

    from medinstruct_core.lineage import dir_md5
    from medinstruct_train.registry import MODEL_NAME, current_champion, version_for

    found = version_for(dir_md5(student_dir))
    if found is None:
        return ChampionInfo(note="the student is not a registered model version")
    student = str(found)  # MLflow 3 gives versions as int
    champion = current_champion(mlflow.MlflowClient(), MODEL_NAME)
    if champion is None:
        return ChampionInfo(student, None, "no champion is registered yet")
    version = str(champion.version)
    note = "the student is the champion" if version == student else ""
    return ChampionInfo(student, version, note)


def decide(info: ChampionInfo, paired: Paired | None, alpha: float) -> Decision | None:
    """The promotion decision for a registered student (None when it is not registered)."""
    if info.student_version is None:
        return None
    version = info.student_version
    if info.champion_version is None:
        return Decision(
            version, True, f"v{version} becomes the first champion (none was registered)."
        )
    if not info.scored:
        return Decision(version, False, f"v{version} is already the champion.")
    if paired is None or paired.n == 0:
        return Decision(version, False, f"v{version} could not be compared with champion "
                        f"v{info.champion_version}: no item was judged for both.")  # fmt: skip
    promote = paired.outcome(alpha) == "better"
    verdict = "promoted" if promote else "not promoted (the paired CI lower bound must be above 0)"
    reason = (
        f"v{version} {verdict} over champion v{info.champion_version}: {paired.sentence(alpha)}"
    )
    return Decision(version, promote, reason, paired.as_metrics())


def record_decision(decision: Decision) -> str:
    """Write the decision and its numbers onto the student's version (and move the alias)."""
    from medinstruct_train.registry import apply_decision

    apply_decision(decision.version, promote=decision.promote, reason=decision.reason,
                   numbers=decision.numbers)  # fmt: skip
    return decision.reason
