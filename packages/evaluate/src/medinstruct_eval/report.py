"""Rows for answers.jsonl and the MLflow eval table.

The table puts everything a reader needs to audit one item on one row: the
question, the reference, each candidate's answer and the judge's verdict in
both orders, so a surprising win rate can be traced to the answers behind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from medinstruct_core.records import EvalItem, Verdict
from medinstruct_eval.answer import CandidateAnswer, ModelAnswers


def select_items(items: Sequence[EvalItem], num_items: int) -> list[EvalItem]:
    """The first `num_items` items (0 = all); duplicate ids would corrupt the pairing, so they fail."""
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        if item.id in seen:
            raise ValueError(f"eval set: record {index}: field 'id': duplicate id {item.id!r}")
        seen.add(item.id)
    return list(items[:num_items] if num_items else items)


def answer_texts(answers: Mapping[str, Sequence[str] | ModelAnswers]) -> dict[str, list[str]]:
    """candidate -> answer texts, whether given as plain texts or as ModelAnswers (for the judge)."""
    return {
        name: list(value.texts if isinstance(value, ModelAnswers) else value)
        for name, value in answers.items()
    }


def answer_records(
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str] | ModelAnswers],
    model_dirs: Mapping[str, str],
) -> list[CandidateAnswer]:
    """One record per (candidate, item), candidates in the order given.

    With ModelAnswers (answer.answer_candidates) each record also holds the
    template used and the exact prompt, so the fairness of the prompting can be audited.
    """
    records = []
    for candidate, value in answers.items():
        texts = value.texts if isinstance(value, ModelAnswers) else list(value)
        prompts = value.prompts if isinstance(value, ModelAnswers) else [""] * len(texts)
        used = value.prompt_format if isinstance(value, ModelAnswers) else ""
        for item, text, prompt in zip(items, texts, prompts, strict=True):
            records.append(CandidateAnswer(
                item_id=item.id, candidate=candidate, answer=text,
                model_dir=model_dirs.get(candidate, ""), prompt_format=used, prompt=prompt,
            ))  # fmt: skip
    return records


def _verdict_column(candidate: str, order: str, judge: str, many_judges: bool) -> str:
    return f"{candidate}_{order}_{judge}" if many_judges else f"{candidate}_{order}"


def eval_table(
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str] | ModelAnswers],
    verdicts: Sequence[Verdict],
) -> list[dict[str, Any]]:
    """One row per item: question, reference, each candidate's answer and verdicts.

    With a panel (verdicts carrying several `judge` names) each judge gets its own
    verdict columns, `<candidate>_<order>_<judge>`. Pass one eval set's verdicts at a time.
    """
    judges = list(dict.fromkeys(str(getattr(v, "judge", "")) for v in verdicts)) or [""]
    many = len(judges) > 1
    index = {
        (v.item_id, v.candidate, v.order, str(getattr(v, "judge", ""))): v.winner for v in verdicts
    }
    texts = answer_texts(answers)
    rows = []
    for position, item in enumerate(items):
        row: dict[str, Any] = {
            "item_id": item.id,
            "instruction": item.instruction,
            "input": item.input,
        }
        for candidate, own in texts.items():
            row[f"{candidate}_answer"] = own[position]
            for judge in judges:
                for order in ("candidate_first", "reference_first"):
                    column = _verdict_column(candidate, order, judge, many)
                    row[column] = index.get((item.id, candidate, order, judge), "")
        row["reference"] = item.reference
        rows.append(row)
    return rows
