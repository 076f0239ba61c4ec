"""The pairwise LLM judge: is a candidate answer better than the reference?

Every (item, candidate) pair is judged twice, once with the candidate shown as
Answer A and once as Answer B, because LLM judges prefer one position; the two
orders are mapped back to candidate/reference before counting, and the
disagreement between them is reported as position bias (see metrics.py).

The verdict comes back as JSON ({"reason", "winner"}) when the endpoint can
enforce a schema, else as free text ending in "Winner: A|B|tie". Either way an
answer that cannot be read becomes a verdict with winner "invalid": it is kept
and counted, never silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from string import Template
from typing import Literal, Protocol, cast

from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import LLMRequest, LLMResult, ResponseMode
from medinstruct_core.records import EvalItem, Verdict

Order = Literal["candidate_first", "reference_first"]
Letter = Literal["A", "B", "tie"]
ORDERS: tuple[Order, Order] = ("candidate_first", "reference_first")

VERDICT_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
    },
    "required": ["reason", "winner"],
    "additionalProperties": False,
}
SCHEMA_NAME = "verdict"

_LETTERS: dict[str, Letter] = {"a": "A", "b": "B", "tie": "tie", "draw": "tie", "equal": "tie"}
# "Winner: A", "**Winner:** B", "The winner is Answer A", "winner = tie"; the last one counts.
_WINNER_LINE = re.compile(
    r"\bwinner\s*(?:is\s*)?[:=\-]?\s*(?:answer\s*)?[\"'(\[]?\s*(a|b|tie|draw|equal)\b",
    re.IGNORECASE,
)
_JSON_WINNER = re.compile(r"\"winner\"\s*:\s*\"([^\"]*)\"", re.IGNORECASE)
_MARKUP = str.maketrans("", "", "*_`#")


class JudgeClient(Protocol):
    """What the judge needs from `medinstruct_core.llm.LLMClient` (tests pass a fake)."""

    @property
    def response_mode(self) -> ResponseMode: ...

    def run(
        self, requests: Sequence[LLMRequest], *, desc: str = "", progress: bool = True
    ) -> list[LLMResult]: ...


@cache
def _template(name: str) -> str:
    return resources.files("medinstruct_eval.prompts").joinpath(name).read_text(encoding="utf-8")


def question_text(item: EvalItem) -> str:
    """The question as the judge sees it: instruction, then the input if any."""
    if item.input:
        return f"{item.instruction}\n\n{item.input}"
    return item.instruction


def build_judge_messages(
    item: EvalItem, answer_a: str, answer_b: str, *, structured: bool = True
) -> tuple[dict[str, str], ...]:
    """System + user messages asking which of two answers to `item` is better."""
    instructions = _template("format_structured.txt" if structured else "format_text.txt")
    user = Template(_template("judge_user.txt")).substitute(
        question=question_text(item),
        answer_a=answer_a.strip() or "(empty answer)",
        answer_b=answer_b.strip() or "(empty answer)",
        format_instructions=instructions.strip(),
    )
    return (
        {"role": "system", "content": _template("judge_system.txt").strip()},
        {"role": "user", "content": user.strip()},
    )


def _letter(value: object) -> Letter | None:
    if not isinstance(value, str):
        return None
    word = value.strip().strip("\"'.()[] ").lower().removeprefix("answer").strip()
    return _LETTERS.get(word)


def _from_json(text: str) -> tuple[Letter | None, str]:
    """(letter, reason) from a JSON object anywhere in `text`, code fences included."""
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            obj = json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            reason = obj.get("reason")
            return _letter(obj.get("winner")), reason.strip() if isinstance(reason, str) else ""
    found = _JSON_WINNER.search(text)  # broken JSON (e.g. cut off after the winner)
    return (_letter(found.group(1)) if found else None), ""


def _from_text(text: str) -> Letter | None:
    matches = _WINNER_LINE.findall(text.translate(_MARKUP))
    return _LETTERS[matches[-1].lower()] if matches else None


def parse_winner(text: str) -> tuple[Letter | None, str]:
    """The judge's choice (A, B, tie or None when unreadable) and its stated reason."""
    letter, reason = _from_json(text)
    if letter is not None:
        return letter, reason
    letter = _from_text(text)
    return letter, text.strip() if letter is not None else ""


def to_role(letter: Letter, order: Order) -> Literal["candidate", "reference", "tie"]:
    """Map a position back to what was shown there."""
    if letter == "tie":
        return "tie"
    candidate_letter = "A" if order == "candidate_first" else "B"
    return "candidate" if letter == candidate_letter else "reference"


def parse_verdict(
    text: str | None, order: Order, *, item_id: str = "", candidate: str = ""
) -> Verdict:
    """Read one judge reply into a Verdict in candidate/reference terms."""
    letter, reason = parse_winner(text or "")
    if letter is None:
        snippet = (text or "").strip().replace("\n", " ")[:200]
        return Verdict(item_id=item_id, candidate=candidate, order=order, winner="invalid",
                       reason=f"unparseable: {snippet}")  # fmt: skip
    return Verdict(item_id=item_id, candidate=candidate, order=order,
                   winner=to_role(letter, order), reason=reason[:2000])  # fmt: skip


def build_requests(
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str]],
    sampling: Sampling,
    mode: ResponseMode,
) -> list[LLMRequest]:
    """Two requests (both orders) per item and candidate; `key` = item/candidate/order."""
    structured = mode != "off"
    requests = []
    for candidate, texts in answers.items():
        if "/" in candidate:
            raise ValueError(
                f"candidate name {candidate!r} must not contain '/' (used in request keys)"
            )
        if len(texts) != len(items):
            raise ValueError(
                f"candidate '{candidate}': {len(texts)} answers for {len(items)} items"
            )
        for item, answer in zip(items, texts, strict=True):
            for order in ORDERS:
                pair = (
                    (answer, item.reference)
                    if order == "candidate_first"
                    else (item.reference, answer)
                )
                requests.append(LLMRequest(
                    messages=build_judge_messages(item, *pair, structured=structured),
                    sampling=sampling, key=f"{item.id}/{candidate}/{order}",
                    json_schema=VERDICT_SCHEMA if structured else None, schema_name=SCHEMA_NAME,
                ))  # fmt: skip
    return requests


def to_verdict(result: LLMResult) -> Verdict:
    """A client result as a Verdict; a failed request is an invalid verdict naming why."""
    item_id, candidate, raw_order = result.request.key.rsplit("/", 2)
    if raw_order not in ORDERS:
        raise ValueError(f"request key {result.request.key!r} does not end in an order")
    order = cast(Order, raw_order)
    if not result.ok:
        return Verdict(item_id=item_id, candidate=candidate, order=order, winner="invalid",
                       reason=f"request failed ({result.failure}): {result.error or ''}"[:500])  # fmt: skip
    return parse_verdict(result.text, order, item_id=item_id, candidate=candidate)


def judge_answers(
    client: JudgeClient,
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str]],
    sampling: Sampling,
    *,
    progress: bool = True,
) -> list[Verdict]:
    """Judge every candidate's answers against the references, both orders, in one batch.

    Verdicts come back in request order: per candidate,
    per item, candidate_first then reference_first.
    """
    requests = build_requests(items, answers, sampling, client.response_mode)
    results = client.run(requests, desc="judge", progress=progress)
    return [to_verdict(result) for result in results]
