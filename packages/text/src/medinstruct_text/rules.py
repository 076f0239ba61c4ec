"""Rule filters for generated tasks and examples (Self-Instruct/Alpaca heuristics, medical flavour).

Each rule returns a stable reason code so every reject is counted by cause;
nothing is dropped silently.  Two layers, one implementation:

* task rules (`check_task_rules`) need only the instruction and input: length,
  bad start, blacklist (requests for other media), input repeating the
  instruction, and the gate's safety patterns on instruction/input. The
  instruction loop runs them on every generated task *before* ROUGE-L dedup,
  as Self-Instruct does, so only tasks that pass enter the pool;
* example rules (`check_rules`) add what needs the response: truncated, empty,
  refusal and the safety patterns on the output. The curate stage runs them,
  and they call `check_task_rules` for the task part, so curate and generation
  can never disagree about a task.

Within an example, the response's bookkeeping (truncated, empty) is checked
first, then the task, then the response's text, so an example is charged to
the most basic defect.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from medinstruct_core.params import Config
from medinstruct_core.records import Example, Task, normalize_input
from medinstruct_text.rouge import rouge_l_fmeasure
from medinstruct_text.safety import (
    FAMILY_COLUMNS,
    MULTIMODAL_PATTERNS,
    first_match,
    safety_patterns,
    scan_text,
)

__all__ = [
    "ALL_RULE_REASONS",
    "REASON_BAD_START",
    "REASON_BLACKLISTED",
    "REASON_EMPTY_OUTPUT",
    "REASON_INPUT_REPEATS_INSTRUCTION",
    "REASON_REFUSAL",
    "REASON_TOO_LONG",
    "REASON_TOO_SHORT",
    "REASON_TRUNCATED",
    "REASON_UNSAFE_MULTIMODAL",
    "REASON_UNSAFE_PHI",
    "REASON_UNSAFE_REFUSAL",
    "TASK_RULE_REASONS",
    "FilterConfig",
    "RuleHit",
    "apply_rules",
    "apply_task_rules",
    "check_rules",
    "check_task_rules",
]

REASON_TRUNCATED = "truncated"
REASON_EMPTY_OUTPUT = "empty_output"
REASON_TOO_SHORT = "too_short"
REASON_TOO_LONG = "too_long"
REASON_BAD_START = "bad_start"
REASON_BLACKLISTED = "blacklisted"
REASON_INPUT_REPEATS_INSTRUCTION = "input_repeats_instruction"
REASON_REFUSAL = "refusal"
# The quality gate's safety patterns, applied here first so curate drops what the
# gate would otherwise block (one set of regexes: medinstruct_text.safety).
REASON_UNSAFE_PHI = "unsafe_phi"
REASON_UNSAFE_REFUSAL = "unsafe_refusal"
REASON_UNSAFE_MULTIMODAL = "unsafe_multimodal"

# Every reason check_rules can return (curate reports each, with 0 when unused).
ALL_RULE_REASONS = (
    REASON_TRUNCATED,
    REASON_EMPTY_OUTPUT,
    REASON_TOO_SHORT,
    REASON_TOO_LONG,
    REASON_BAD_START,
    REASON_BLACKLISTED,
    REASON_INPUT_REPEATS_INSTRUCTION,
    REASON_REFUSAL,
    REASON_UNSAFE_PHI,
    REASON_UNSAFE_REFUSAL,
    REASON_UNSAFE_MULTIMODAL,
)
# The reasons check_task_rules can return: a generated task has no output yet.
TASK_RULE_REASONS = (
    REASON_TOO_SHORT,
    REASON_TOO_LONG,
    REASON_BAD_START,
    REASON_BLACKLISTED,
    REASON_INPUT_REPEATS_INSTRUCTION,
    REASON_UNSAFE_PHI,
    REASON_UNSAFE_REFUSAL,
    REASON_UNSAFE_MULTIMODAL,
)

# Requests for other media (images, drawings, audio, browsing) are matched by
# the gate's multimodal patterns (medinstruct_text.safety.MULTIMODAL_PATTERNS),
# phrase by phrase; `FilterConfig.blacklist` only adds project-specific phrases.
DEFAULT_BLACKLIST: tuple[str, ...] = ()

# Lowercased, apostrophes normalised to ASCII, whitespace collapsed.
DEFAULT_REFUSALS = (
    "as an ai language model",
    "as an ai model",
    "as a language model",
    "as an ai assistant",
    "i am an ai",
    "i'm an ai",
    "i cannot provide medical advice",
    "i can't provide medical advice",
    "i am not able to provide medical advice",
    "i'm not able to provide medical advice",
    "i am unable to provide medical advice",
    "i'm unable to provide medical advice",
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i am sorry, but i can't",
    "i'm sorry, i can't",
    "i'm sorry, i cannot",
    "i cannot fulfill this request",
    "i can't assist with that",
    "i cannot assist with that",
)


class FilterConfig(Config):
    """Thresholds and word lists for the rule filters (params.yaml: curate.filters)."""

    min_instruction_words: int = Field(default=3, ge=0)
    """Instructions with fewer whitespace-separated words are rejected (3 words pass)."""
    max_instruction_words: int = Field(default=150, ge=1)
    blacklist: list[str] = Field(default_factory=lambda: list(DEFAULT_BLACKLIST))
    """Extra words/phrases, matched case-insensitively as whole words in the instruction.

    The built-in blacklist is the gate's multimodal patterns (always applied):
    phrase-level, so "draw blood", "MAP" and "the nursing chart" pass."""
    refusal_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSALS))
    """Substrings (case-insensitive) that mark an output as a refusal or AI disclaimer."""
    input_repeat_rouge: float = Field(default=0.9, ge=0.0, le=1.0)
    """An input whose ROUGE-L F with the instruction exceeds this merely repeats it."""
    safety_scan: bool = True
    """Drop records matching the gate's PHI / refusal / multimodal patterns (safety.py)."""


class CurateFilters(BaseModel):
    """What generation reads of params.yaml's `curate` section: its `filters` alone.

    The instruction loop applies curate's rule filters before the ROUGE-L check, so
    it reads the same key; the rest of the section is the curate stage's to validate.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    filters: FilterConfig = Field(default_factory=FilterConfig)


@dataclass(frozen=True)
class RuleHit:
    """A failed rule: the reason code and a human-readable detail."""

    reason: str
    detail: str = ""


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[\W_]+")


def _normalize_phrase(text: str) -> str:
    """Lowercase, ASCII apostrophes, single spaces: the form refusal patterns are written in."""
    return _SPACES.sub(" ", text.translate(_APOSTROPHES).lower()).strip()


@lru_cache(maxsize=8)
def _blacklist_regex(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """One alternation over the phrases; inner spaces match any whitespace run.

    Memoised on the word tuple: the same config is applied to every example.
    """
    parts = [r"\s+".join(map(re.escape, w.split())) for w in words if w.strip()]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _check_truncated(example: Example, cfg: FilterConfig) -> RuleHit | None:
    if example.truncated or example.finish_reason == "length":
        return RuleHit(REASON_TRUNCATED, f"finish_reason={example.finish_reason}")
    return None


def _check_empty_output(example: Example, cfg: FilterConfig) -> RuleHit | None:
    return RuleHit(REASON_EMPTY_OUTPUT) if not example.output.strip() else None


def _check_length(task: Task, cfg: FilterConfig) -> RuleHit | None:
    n_words = len(task.instruction.split())
    if n_words < cfg.min_instruction_words:
        return RuleHit(REASON_TOO_SHORT, f"{n_words} words < {cfg.min_instruction_words}")
    if n_words > cfg.max_instruction_words:
        return RuleHit(REASON_TOO_LONG, f"{n_words} words > {cfg.max_instruction_words}")
    return None


def _check_start(task: Task, cfg: FilterConfig) -> RuleHit | None:
    """Self-Instruct drops instructions opening with punctuation or a non-ASCII character."""
    first = task.instruction[:1]
    if first and (first in string.punctuation or not first.isascii()):
        return RuleHit(REASON_BAD_START, f"starts with {first!r}")
    return None


def _check_blacklist(task: Task, cfg: FilterConfig) -> RuleHit | None:
    """Instructions asking for something a text model cannot see, make or do (Alpaca's blacklist).

    The media patterns are the gate's, so the gate never finds a request for an
    image that the filters let through; `cfg.blacklist` adds whole-word phrases.
    """
    media = first_match(task.instruction, MULTIMODAL_PATTERNS)
    if media is not None:
        name, text = media
        return RuleHit(REASON_BLACKLISTED, f"{name}: {text.lower()!r}")
    pattern = _blacklist_regex(tuple(cfg.blacklist))
    match = pattern.search(task.instruction) if pattern else None
    return RuleHit(REASON_BLACKLISTED, f"mentions {match.group(0).lower()!r}") if match else None


def _comparable(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def _check_input_repeat(task: Task, cfg: FilterConfig) -> RuleHit | None:
    """An input that restates the instruction adds no context and usually signals a broken generation."""
    model_input = normalize_input(task.input)
    if not model_input:
        return None
    if _comparable(model_input) == _comparable(task.instruction):
        return RuleHit(REASON_INPUT_REPEATS_INSTRUCTION, "input equals instruction")
    score = rouge_l_fmeasure(model_input, task.instruction)
    if score > cfg.input_repeat_rouge:
        return RuleHit(REASON_INPUT_REPEATS_INSTRUCTION, f"rougeL(input, instruction)={score:.3f}")
    return None


@lru_cache(maxsize=8)
def _refusal_phrases(patterns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p for p in map(_normalize_phrase, patterns) if p)


def _check_refusal(example: Example, cfg: FilterConfig) -> RuleHit | None:
    """Refusals and AI disclaimers teach the student to refuse instead of answer."""
    output = _normalize_phrase(example.output)
    hit = next((p for p in _refusal_phrases(tuple(cfg.refusal_patterns)) if p in output), None)
    return RuleHit(REASON_REFUSAL, f"output contains {hit!r}") if hit else None


_TASK_COLUMNS = ("instruction", "input")
_OUTPUT_COLUMNS = ("output",)


def _safety_hit(record: Task, columns: tuple[str, ...]) -> RuleHit | None:
    """The gate's safety suite, row by row, on those of `columns` each family inspects."""
    for family, patterns in safety_patterns(True, True, True).items():
        for column in FAMILY_COLUMNS[family]:
            if column not in columns:
                continue
            names = scan_text(getattr(record, column), patterns)
            if names:
                return RuleHit(f"unsafe_{family}", f"{column} matches {', '.join(names)}")
    return None


def _check_task_safety(task: Task, cfg: FilterConfig) -> RuleHit | None:
    """PHI anywhere in the task, a refusal in the instruction, other media in the input."""
    return _safety_hit(task, _TASK_COLUMNS) if cfg.safety_scan else None


def _check_output_safety(example: Example, cfg: FilterConfig) -> RuleHit | None:
    """PHI or responder boilerplate in the output."""
    return _safety_hit(example, _OUTPUT_COLUMNS) if cfg.safety_scan else None


# Cheapest and most certain first.
_TASK_RULES: tuple[Callable[[Task, FilterConfig], RuleHit | None], ...] = (
    _check_length,
    _check_start,
    _check_blacklist,
    _check_input_repeat,
    _check_task_safety,
)
_RESPONSE_STATE_RULES: tuple[Callable[[Example, FilterConfig], RuleHit | None], ...] = (
    _check_truncated,
    _check_empty_output,
)
_RESPONSE_TEXT_RULES: tuple[Callable[[Example, FilterConfig], RuleHit | None], ...] = (
    _check_refusal,
    _check_output_safety,
)


def check_task_rules(task: Task, cfg: FilterConfig) -> RuleHit | None:
    """The first task rule `task` fails, or None: what can be judged before any response exists.

    The one shared implementation: the instruction loop applies it to each
    generated task before ROUGE-L dedup, and `check_rules` applies it to each
    example in curate.
    """
    for rule in _TASK_RULES:
        hit = rule(task, cfg)
        if hit is not None:
            return hit
    return None


def apply_task_rules(task: Task, cfg: FilterConfig) -> str | None:
    """The reason code of the first failed task rule, or None when the task passes."""
    hit = check_task_rules(task, cfg)
    return hit.reason if hit else None


def check_rules(example: Example, cfg: FilterConfig) -> RuleHit | None:
    """The first rule `example` fails, with a detail, or None when it passes all.

    Order: the response's state (truncated, empty), then the task rules, then
    the response's text (refusal phrases, safety patterns on the output).
    """
    for rule in _RESPONSE_STATE_RULES:
        hit = rule(example, cfg)
        if hit is not None:
            return hit
    hit = check_task_rules(example, cfg)
    if hit is not None:
        return hit
    for rule in _RESPONSE_TEXT_RULES:
        hit = rule(example, cfg)
        if hit is not None:
            return hit
    return None


def apply_rules(example: Example, cfg: FilterConfig) -> str | None:
    """The reason code of the first failed rule, or None when the example passes."""
    hit = check_rules(example, cfg)
    return hit.reason if hit else None
