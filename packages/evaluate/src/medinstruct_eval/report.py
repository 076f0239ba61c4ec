"""Rows for answers.jsonl and the MLflow eval table.

The table puts everything a reader needs to audit one item on one row: the
question, the reference, each candidate's answer and the judge's verdict in
both orders, so a surprising win rate can be traced to the answers behind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from medinstruct_core.records import EvalItem, Verdict
from medinstruct_eval.answer import CandidateAnswer


def select_items(items: Sequence[EvalItem], num_items: int) -> list[EvalItem]:
    """The first `num_items` items (0 = all); duplicate ids would corrupt the pairing, so they fail."""
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        if item.id in seen:
            raise ValueError(f"eval set: record {index}: field 'id': duplicate id {item.id!r}")
        seen.add(item.id)
    return list(items[:num_items] if num_items else items)


def answer_records(
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str]],
    model_dirs: Mapping[str, str],
) -> list[CandidateAnswer]:
    """One record per (candidate, item), candidates in the order given."""
    return [
        CandidateAnswer(
            item_id=item.id,
            candidate=candidate,
            answer=text,
            model_dir=model_dirs.get(candidate, ""),
        )
        for candidate, texts in answers.items()
        for item, text in zip(items, texts, strict=True)
    ]


def eval_table(
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str]],
    verdicts: Sequence[Verdict],
) -> list[dict[str, Any]]:
    """One row per item: question, reference, each candidate's answer and verdicts."""
    index = {(v.item_id, v.candidate, v.order): v.winner for v in verdicts}
    rows = []
    for position, item in enumerate(items):
        row: dict[str, Any] = {
            "item_id": item.id,
            "instruction": item.instruction,
            "input": item.input,
        }
        for candidate, texts in answers.items():
            row[f"{candidate}_answer"] = texts[position]
            for order in ("candidate_first", "reference_first"):
                row[f"{candidate}_{order}"] = index.get((item.id, candidate, order), "")
        row["reference"] = item.reference
        rows.append(row)
    return rows
