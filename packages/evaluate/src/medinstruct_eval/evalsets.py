"""Load eval sets: our own format and the files AlpaCare published, as EvalItems.

AlpaCare evaluates on MedInstruct-test and iCliniq against four reference models
and ships the references in several shapes, so one loader reads them all and
names the file, line and field of any row it cannot use:

- ours (data/eval/eval_set.jsonl): `{id, instruction, input, reference, source}`;
- MedInstruct-test.jsonl: `{id, instruction, difficulty, gpt-4-answer, claude-2,
  gpt-3.5-turbo-answer, text-davinci-003-answer}`; `reference=` picks the model;
- per-model reference outputs: `{instruction, input, output}`,
  `{instruction, input, response}` or `{prompt, response}`, where the prompt wraps
  the question in a Human/Assistant template. iCliniq rows have an empty
  `instruction` and the patient's question in `input`.

The shape is decided from the first row; every row must then fit it. Fields a
shape does not use (difficulty, model names...) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medinstruct_core.io import DataError, format_validation_error, iter_jsonl_dicts
from medinstruct_core.records import EvalItem, normalize_input

# MedInstruct-test.jsonl: reference model -> the field holding its answer.
MEDINSTRUCT_REFERENCES: dict[str, str] = {
    "gpt-4": "gpt-4-answer",
    "claude-2": "claude-2",
    "gpt-3.5-turbo": "gpt-3.5-turbo-answer",
    "text-davinci-003": "text-davinci-003-answer",
}
# "Human: ... \n\nAssistant:" (Anthropic), "### Human: ... ### Assistant:" (Vicuna/Baize),
# "USER: ... ASSISTANT:"; the last human turn is the question.
_HUMAN_TURN = re.compile(
    r"(?:^|\n|###\s*)\s*(?:Human|USER|User)\s*:\s*(.*?)\s*(?:###\s*)?(?:Assistant|ASSISTANT)\s*:",
    re.DOTALL,
)
# Instructions the template puts before the patient's own words (AlpaCare's iCliniq prompt).
_PREAMBLES = (
    re.compile(
        r"^if you are a doctor, please answer the medical questions based on the patient's"
        r" description\.?\s*",
        re.IGNORECASE,
    ),
)

Row = dict[str, Any]


class _Where:
    """File and line of the row being read, for error messages."""

    def __init__(self, path: Path, lineno: int) -> None:
        self.path, self.lineno = path, lineno

    def error(self, field: str, problem: str) -> DataError:
        return DataError(f"{self.path}: line {self.lineno}: field '{field}': {problem}")


def _text(row: Row, field: str, where: _Where, what: str) -> str:
    """A non-empty string field, or a DataError naming it."""
    value = row.get(field)
    if value is None:
        raise where.error(field, f"missing {what}")
    if not isinstance(value, str):
        raise where.error(field, f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise where.error(field, f"empty {what}")
    return value.strip()


def question_from_prompt(prompt: str) -> str:
    """The patient's question inside a chat-template prompt; the prompt itself if it has no template."""
    turns = _HUMAN_TURN.findall(prompt)
    question = turns[-1] if turns else prompt
    for preamble in _PREAMBLES:
        question = preamble.sub("", question.strip())
    return question.strip()


def _question(row: Row, where: _Where) -> tuple[str, str]:
    """(instruction, input); an iCliniq row's question (empty instruction) moves to instruction."""
    instruction = row.get("instruction")
    input_text = normalize_input(row.get("input") if isinstance(row.get("input"), str) else "")
    if isinstance(instruction, str) and instruction.strip():
        return instruction.strip(), input_text
    if input_text:
        return input_text, ""
    if "instruction" not in row and "input" not in row:
        raise where.error("instruction", "missing question")
    raise where.error("instruction", "empty question (and no 'input' to take it from)")


def _ours(row: Row, where: _Where, index: int, source: str) -> EvalItem:
    """Our own rows are validated strictly (extra="forbid"): we write them, so a stray key is a bug."""
    try:
        return EvalItem.model_validate(row)
    except ValidationError as exc:
        raise DataError(format_validation_error(where.path, f"line {where.lineno}", exc)) from exc


def _medinstruct(field: str) -> Callable[[Row, _Where, int, str], EvalItem]:
    def parse(row: Row, where: _Where, index: int, source: str) -> EvalItem:
        instruction, input_text = _question(row, where)
        item_id = str(row["id"]) if row.get("id") is not None else str(index)
        reference = _text(row, field, where, "reference answer")
        return EvalItem(id=item_id, instruction=instruction, input=input_text,
                        reference=reference, source=source)  # fmt: skip

    return parse


def _instruction_answer(field: str) -> Callable[[Row, _Where, int, str], EvalItem]:
    def parse(row: Row, where: _Where, index: int, source: str) -> EvalItem:
        instruction, input_text = _question(row, where)
        reference = _text(row, field, where, "reference answer")
        return EvalItem(id=str(index), instruction=instruction, input=input_text,
                        reference=reference, source=source)  # fmt: skip

    return parse


def _prompt_response(row: Row, where: _Where, index: int, source: str) -> EvalItem:
    question = question_from_prompt(_text(row, "prompt", where, "prompt"))
    if not question:
        raise where.error("prompt", "no question inside the Human/Assistant template")
    reference = _text(row, "response", where, "reference answer")
    return EvalItem(id=str(index), instruction=question, reference=reference, source=source)


def reference_field(reference: str | None, where: _Where) -> str:
    """The MedInstruct-test field of a reference model ('gpt-4' or 'gpt-4-answer' both work)."""
    if reference is None:
        raise where.error(
            "reference", f"this file has one answer per model; pick one with reference= "
            f"({', '.join(MEDINSTRUCT_REFERENCES)})",
        )  # fmt: skip
    if reference in MEDINSTRUCT_REFERENCES.values():
        return reference
    if reference not in MEDINSTRUCT_REFERENCES:
        raise where.error(
            "reference", f"unknown reference model {reference!r}; "
            f"expected one of {', '.join(MEDINSTRUCT_REFERENCES)}",
        )  # fmt: skip
    return MEDINSTRUCT_REFERENCES[reference]


def detect_shape(
    first: Row, reference: str | None, where: _Where
) -> tuple[str, Callable[..., EvalItem]]:
    """(shape name, row parser) from the first row's keys."""
    if "reference" in first:
        if reference is not None:
            raise where.error(
                "reference", f"our eval-set format has one reference per row; "
                f"reference={reference!r} only applies to AlpaCare's MedInstruct-test files",
            )  # fmt: skip
        return "medinstruct-eval", _ours
    if any(field in first for field in MEDINSTRUCT_REFERENCES.values()):
        return "medinstruct-test", _medinstruct(reference_field(reference, where))
    if "prompt" in first:
        return "prompt-response", _prompt_response
    for field in ("output", "response"):
        if field in first:
            return f"instruction-{field}", _instruction_answer(field)
    raise DataError(
        f"{where.path}: line {where.lineno}: unknown eval-set shape (keys: {', '.join(sorted(first))}); "
        "expected 'reference', MedInstruct-test's per-model answers, 'output', 'response' or 'prompt'"
    )


def _source(path: Path, reference: str | None) -> str:
    """Where an AlpaCare item came from: file and reference model (the directory name if known)."""
    model = reference
    if model is None and path.parent.name in MEDINSTRUCT_REFERENCES:
        model = path.parent.name
    return f"{path.name}:{model}" if model else path.name


def load_eval_set(path: str | Path, reference: str | None = None) -> list[EvalItem]:
    """Every row of an eval-set file as an EvalItem, whatever its (supported) shape.

    Rows without ids get their 0-based row number, which is also MedInstruct-test's
    own id, so the per-model files of one benchmark line up item by item.
    """
    path = Path(path)
    items: list[EvalItem] = []
    parse: Callable[..., EvalItem] | None = None
    source = ""
    for index, (lineno, row) in enumerate(iter_jsonl_dicts(path)):
        where = _Where(path, lineno)
        if parse is None:
            _, parse = detect_shape(row, reference, where)
            source = _source(path, reference)
        items.append(parse(row, where, index, source))
    return items
