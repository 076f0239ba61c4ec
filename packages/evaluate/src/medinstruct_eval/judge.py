"""The pairwise LLM judge: is a candidate answer better than the reference?

Every (item, candidate) pair is judged twice, once with the candidate shown as
Answer A and once as Answer B, because LLM judges prefer one position; the two
orders are mapped back to candidate/reference before counting, and the
disagreement between them is reported as position bias (see metrics.py).

The verdict comes back as typed JSON ({"reason", "winner": A|B|tie}) when the
endpoint can enforce a schema, else as free text asked to end in "Winner: A|B|tie";
judges often phrase it otherwise ("Output (a)", "[[B]]", "It's a tie"), so the
text parser reads the common phrasings, most explicit first. Either way an
answer that cannot be read becomes a verdict with winner "invalid": it is kept
and counted, never silently dropped.

A panel of judges (`judge_panel`) runs each judge through its own client, so
every judge call is cached and concurrent, and tags each verdict with the judge,
the eval set and the two answers' lengths (`PanelVerdict`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from string import Template
from typing import Literal, TypeAlias, cast

from pydantic import Field

from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import ChatClient, LLMRequest, LLMResult, ResponseMode
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
# llama.cpp compiles the schema into a grammar, so a length bound on the reason is
# enforced while decoding: the one-sentence reason the prompt asks for, and no more.
# A small local judge decodes at ~8 tok/s on 2 cores, and a reason first (then the
# winner) is what made the 1.5B judge pass calibration in both orders (README).
# Remote structured outputs (OpenAI's strict subset) get the plain schema.
REASON_MAX_CHARS = 200
GRAMMAR_VERDICT_SCHEMA: dict[str, object] = {
    **VERDICT_SCHEMA,
    "properties": {
        **cast(dict[str, object], VERDICT_SCHEMA["properties"]),
        "reason": {"type": "string", "maxLength": REASON_MAX_CHARS},
    },
}


def verdict_schema(mode: ResponseMode) -> dict[str, object] | None:
    """The verdict schema for a response mode: bounded for llama.cpp, none for free text."""
    if mode == "off":
        return None
    return GRAMMAR_VERDICT_SCHEMA if mode == "json_object" else VERDICT_SCHEMA


_LETTERS: dict[str, Letter] = {
    "a": "A", "b": "B", "tie": "tie", "draw": "tie", "equal": "tie",
    "neither": "tie", "none": "tie",
}  # fmt: skip
# In free text, MT-Bench's "[[C]]" also means a tie (the only place a C is read).
_TEXT_LETTERS: dict[str, Letter] = {**_LETTERS, "c": "tie"}
# The letter of a decision: "Output (a)", "Answer B", "(b)", or a bare capital A/B (a bare
# lowercase "a" is the article, as in "I prefer a shorter answer").
_LABEL = r"(?:(?i:the\s+)?(?i:answer|output|response|assistant)\s*\(?([abAB])\)?(?![\w])|\(([abAB])\)|\b([AB])\b)"
_TIE_WORD = r"(?i:tie|draw|equal|neither|none)"
# Tier 1, explicit decisions: "Winner: A", "The winner is a tie", "Verdict: Output (b)", "[[A]]".
_EXPLICIT = (
    re.compile(
        r"(?i:\b(?:winner|verdict|final\s+(?:answer|verdict|decision|choice)|decision|"
        r"better\s+(?:answer|output|response))\s*(?:is|:|=|-)*\s*(?:it'?s\s+)?(?:an?\s+(?=tie|draw))?)"
        r"[\"'\[]*\s*(?:" + _LABEL + r"|(?i:answer\s+)?([abAB])\b|\b(" + _TIE_WORD + r")\b)"
    ),
    re.compile(r"\[\[\s*([abcABC]|(?i:tie))\s*\]\]"),
)
# Tier 2, decision sentences: "I prefer Output (b)", "Answer A is better", "It's a tie".
_PREFERENCE = (
    re.compile(
        r"(?i:\b(?:prefer|choose|chose|pick|select|favou?r|go\s+with|vote\s+for)\b)\s+" + _LABEL
    ),
    re.compile(
        _LABEL + r"\s+(?i:is|was|seems|appears)\s+(?i:(?:\w+ly\s+)?(?:to\s+be\s+)?)"
        r"(?i:better|superior|preferable|preferred|stronger|the\s+(?:better|best|winner|stronger))\b"
    ),
)
_TIE_PHRASES = (
    re.compile(
        r"(?i:\b(?:it'?s|it\s+is|this\s+is|that'?s|call\s+it|declare)\s+(?:a\s+)?(?:tie|draw)\b)"
    ),
    re.compile(r"(?i:\b(?:both|the\s+two)\b[^.\n]{0,60}?\bequally\b)"),
    re.compile(
        r"(?i:\bequally\s+(?:good|bad|strong|weak|helpful|accurate|correct|valid|poor|acceptable|useful|matched)\b)"
    ),
    re.compile(
        r"(?i:\bneither\b\s*(?:answer|output|response|one)?\s*(?:is\s+)?(?:\w+ly\s+)?(?:better|superior|preferable|worse)\b)"
    ),
    re.compile(r"(?i:\bno\s+(?:clear\s+)?winner\b)"),
)
# Tier 3: the whole reply is a label ("Output (a)", "B", "Tie.", "Neither").
_BARE = re.compile(
    r"\s*" + _LABEL.replace(r"\b([AB])\b", r"([abAB])") + r"\s*|\s*(" + _TIE_WORD + r")\s*"
)
_JSON_WINNER = re.compile(r"\"winner\"\s*:\s*\"([^\"]*)\"", re.IGNORECASE)
_MARKUP = str.maketrans("", "", "*_`#")


# The judge codes against the one client Protocol (tests pass a fake).
JudgeClient: TypeAlias = ChatClient


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


def _from_json(text: str) -> tuple[Letter | None, str, bool]:
    """(letter, reason, whether a JSON object was found) from `text`, code fences included.

    A reply that is a JSON object is read as JSON only: its free-text fields
    ("reason": "no winner...") are the judge's words, not its decision.
    """
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            obj = json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            reason = obj.get("reason")
            reason_text = reason.strip() if isinstance(reason, str) else ""
            return _letter(obj.get("winner")), reason_text, True
    found = _JSON_WINNER.search(text)  # broken JSON (e.g. cut off after the winner)
    return (_letter(found.group(1)) if found else None), "", False


def _word(groups: tuple[str | None, ...]) -> Letter | None:
    """The one filled group of a match as a letter."""
    found = next((g for g in groups if g), None)
    return _TEXT_LETTERS.get(found.lower()) if found else None


def _last(patterns: Sequence[re.Pattern[str]], text: str) -> Letter | None:
    """The decision of the match that ends last: a judge's conclusion comes after its reasoning.

    A pattern without groups (a tie phrase) decides "tie" by matching at all.
    """
    best: tuple[int, Letter] | None = None
    for pattern in patterns:
        for match in pattern.finditer(text):
            letter = _word(match.groups()) if pattern.groups else "tie"
            if letter is not None and (best is None or match.end() >= best[0]):
                best = (match.end(), letter)
    return best[1] if best else None


def _from_text(text: str) -> Letter | None:
    """Free text, most explicit wording first: a winner line, a stated preference, a bare label.

    Each tier is tried only if the one before found nothing, so "Output (a) is too short.
    Winner: B" reads B, and a sentence that merely mentions an answer decides nothing.
    """
    plain = text.translate(_MARKUP).strip()
    for tier in (_EXPLICIT, (*_PREFERENCE, *_TIE_PHRASES)):
        letter = _last(tier, plain)
        if letter is not None:
            return letter
    bare = _BARE.fullmatch(plain.rstrip(".!"))
    return _word(bare.groups()) if bare else None


def parse_winner(text: str) -> tuple[Letter | None, str]:
    """The judge's choice (A, B, tie or None when unreadable) and its stated reason."""
    letter, reason, was_json = _from_json(text)
    if letter is not None or was_json:
        return letter, reason if letter is not None else ""
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
    schema = verdict_schema(mode)
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
                    messages=build_judge_messages(item, *pair, structured=schema is not None),
                    sampling=sampling, key=f"{item.id}/{candidate}/{order}",
                    json_schema=schema, schema_name=SCHEMA_NAME,
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


# -- the judge panel ---------------------------------------------------------------------
class PanelVerdict(Verdict):
    """A Verdict that also says who judged, on which eval set, and how long the two answers were.

    The lengths make the length-controlled win rate (metrics.lc_win_rate) a function
    of verdicts.jsonl alone, and `judge` lets one file hold a whole panel's verdicts.
    """

    judge: str = ""
    eval_set: str = ""
    candidate_chars: int = Field(0, ge=0)
    reference_chars: int = Field(0, ge=0)


Judges = Mapping[str, JudgeClient] | Sequence[JudgeClient]


def _default_name(client: JudgeClient, index: int) -> str:
    endpoint = getattr(client, "endpoint", None)
    model = getattr(endpoint, "model", "")
    return str(model) if model else f"judge{index + 1}"


def name_judges(judges: Judges) -> dict[str, JudgeClient]:
    """name -> client. A list is named by each client's model; repeated names get "#2", "#3"."""
    if isinstance(judges, Mapping):
        return dict(judges)
    named: dict[str, JudgeClient] = {}
    for index, client in enumerate(judges):
        base = _default_name(client, index)
        name, copy = base, 1
        while name in named:
            copy += 1
            name = f"{base}#{copy}"
        named[name] = client
    return named


def sampling_for(sampling: Sampling | Mapping[str, Sampling], judge: str) -> Sampling:
    """One Sampling for every judge, or one per judge name (a panel of differently tuned judges)."""
    if isinstance(sampling, Sampling):
        return sampling
    if judge not in sampling:
        raise KeyError(f"no sampling given for judge {judge!r} (have {sorted(sampling)})")
    return sampling[judge]


def _with_context(
    verdicts: Sequence[Verdict],
    judge: str,
    eval_set: str,
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str]],
) -> list[PanelVerdict]:
    references = {item.id: len(item.reference.strip()) for item in items}
    lengths = {
        (item.id, candidate): len(text.strip())
        for candidate, texts in answers.items()
        for item, text in zip(items, texts, strict=True)
    }
    context = {"judge": judge, "eval_set": eval_set}
    return [
        PanelVerdict(
            **v.model_dump(),
            **context,
            candidate_chars=lengths[(v.item_id, v.candidate)],
            reference_chars=references[v.item_id],
        )
        for v in verdicts
    ]


def judge_panel(
    judges: Judges,
    items: Sequence[EvalItem],
    answers: Mapping[str, Sequence[str]],
    sampling: Sampling | Mapping[str, Sampling],
    *,
    eval_set: str = "",
    progress: bool = True,
) -> list[PanelVerdict]:
    """Every judge of the panel judges every candidate's answers, both orders.

    Each judge runs one batch through its own client (cached and concurrent), so a
    re-run with nothing changed is answered from the cache without a single call.
    Verdicts come back per judge, in `judge_answers` order.
    """
    verdicts: list[PanelVerdict] = []
    for name, client in name_judges(judges).items():
        own = judge_answers(client, items, answers, sampling_for(sampling, name), progress=progress)
        verdicts.extend(_with_context(own, name, eval_set, items, answers))
    return verdicts
