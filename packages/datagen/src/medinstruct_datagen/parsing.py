"""Turn a teacher reply into validated Tasks, counting every reject by reason.

Two reply formats are read:

* **text** (`parse_task_list`): the paper's format, numbered items separated
  by `###` lines, each holding `Type: / Topic: / View: / Difficulty: /
  Instruction: / Input:` fields;
* **structured** (`parse_structured_tasks`): `{"tasks": [{...}, ...]}`.

How the text parser delimits items (so one task's text never ends up in
another task's field):

1. The reply is scanned for *separators* (a run of three or more `#`, or a
   heading line such as `Task 2:`) and *field labels* (`Type:`, `Task type:`,
   `View:`/`Viewpoint:`, `**Instruction:**`, ..., any case, optionally preceded
   by an item number `2.` and markdown bullets or bold).
2. A label is *strong* when it starts a line or carries an honoured item
   number; an item number is honoured at the start of a line or in front of
   `Type:` (`... Input: <noinput> 2. Type: ...` on one line). A label in the
   middle of a line without a number is *weak*: it counts only when it is
   capitalised and its field is not yet set in the current item, so
   `Blood Type: O+` inside an input stays text. (Exception: a repeated weak
   `Type:` followed by another task label on the same line starts a new item,
   for unnumbered items written on one line.)
3. A new item starts at every separator, at a label whose field the current
   item already has, at a numbered `Type:` label, and at a label whose item
   number differs from the current item's (per-field numbering `1. Topic:`).
4. A field's value runs from its label to the next accepted label or
   separator; text before an item's first label (chatter, headings) is dropped.

Rejects (a `Counter`):

* `parse_error`: a reply in which no item at all could be found (text) or
  that is not JSON and holds no recoverable task objects (structured);
* `schema_violation`: an item that fails the `Task` model: a missing or empty
  field, or a difficulty that is not a whole number 1-5 (`3`, `3/5` and
  `Level 3` are accepted);
* `truncated`: the final item, when cut off. The rule: the final item (the
  last one holding a task label) is truncated when no separator follows it
  AND either the caller says the reply was cut (`truncated=True`, from
  `finish_reason == "length"`) or the reply does not end cleanly (its last
  character is not one of `. ! ? ) ] } > " ' * ``) while the item lacks one of
  the six fields or leaves one empty. (The format always writes `Input:`, with
  `<noinput>` when empty, so a missing `Input:` at the very end means the
  reply stopped early.) Items before the final one are never "truncated".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from medinstruct_core.records import NOINPUT_VARIANTS, Task

TASK_FIELDS = ("type", "topic", "view", "difficulty", "instruction", "input")
REJECT_REASONS = ("parse_error", "schema_violation", "truncated")
_IGNORED = "_ignored"  # fields a model adds that are no part of a task (an answer, say)

# Label spellings (lower case, single spaces) and the field each one fills.
LABELS: dict[str, str] = {
    "type": "type",
    "task type": "type",
    "type of task": "type",
    "task category": "type",
    "topic": "topic",
    "medical topic": "topic",
    "view": "view",
    "viewpoint": "view",
    "view point": "view",
    "point of view": "view",
    "perspective": "view",
    "difficulty": "difficulty",
    "difficulty level": "difficulty",
    "level of difficulty": "difficulty",
    "instruction": "instruction",
    "instructions": "instruction",
    "task instruction": "instruction",
    "input": "input",
    "output": _IGNORED,
    "response": _IGNORED,
    "answer": _IGNORED,
    "expected output": _IGNORED,
}


def _label_alternation() -> str:
    # Longest first, so "viewpoint" is tried before "view"; words may be joined by
    # spaces, "_" or "-" ("task_type", "Task-type").
    names = sorted(LABELS, key=len, reverse=True)
    return "|".join(r"[ \t_-]*".join(map(re.escape, name.split())) for name in names)


_TOKEN_RE = re.compile(
    r"(?P<sep>\#{3,})"
    r"|(?P<heading>^[ \t]*(?:[*_\#]+[ \t]*)?(?:task|item|example)[ \t]*\#?[ \t]*\d+[ \t]*:?"
    r"[ \t]*[*_]*[ \t]*$)"
    r"|(?<![^\s\#>*•(-])"  # a label follows the start, whitespace or markup, never a letter
    r"(?:[-*•+][ \t]+)?"  # a list bullet belongs to the label, not to the previous value
    r"(?P<num>\d{1,3}[ \t]*[.)][ \t]*\n?[ \t]*)?"
    r"(?P<body>(?:[*_]{1,2}[ \t]*)?(?P<name>" + _label_alternation() + r")"
    r"[ \t]*[*_]{0,2}[ \t]*:(?:[*_]{1,2})?)",  # `**Instruction:**`, `**Instruction**:`
    re.IGNORECASE | re.MULTILINE,
)
_LINE_PREFIX_RE = re.compile(r"[\s\-*•#>]*")
_CLEAN_END = tuple(".!?)]}>\"'*`”’")
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "`": "`", "«": "»"}
_DIFFICULTY_RE = re.compile(r"(\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*(\d+))?", re.IGNORECASE)


@dataclass
class ParseResult:
    """Tasks recovered from one reply and the count of rejected items by reason."""

    tasks: list[Task] = field(default_factory=list)
    rejects: Counter[str] = field(default_factory=Counter)
    format: str = "text"

    @property
    def failed(self) -> bool:
        """True when nothing usable came out and the reply could not even be read."""
        return not self.tasks and self.rejects["parse_error"] > 0


# ---------------------------------------------------------------------------
# Values


def parse_difficulty(value: Any) -> int | None:
    """1-5 from `3`, `"3"`, `"3/5"`, `"Level 3"`, `"3 (moderate)"`; None otherwise.

    A fraction is accepted only out of 5 (`4/10` is not a level on our scale).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number, scale = float(value), None
    elif isinstance(value, str):
        match = _DIFFICULTY_RE.search(value)
        if match is None:
            return None
        number, scale = float(match.group(1)), match.group(2)
    else:
        return None
    if scale is not None and int(scale) != 5:
        return None
    if not number.is_integer() or not 1 <= number <= 5:
        return None
    return int(number)


def clean_value(raw: str) -> str:
    """Strip whitespace, a trailing `|` field separator, wrapping bold/italic and quotes."""
    value = re.sub(r"\s*\|\s*$", "", raw.strip())
    wrapped = re.fullmatch(r"(\*\*|__|\*|_)(.+)\1", value, re.DOTALL)
    if wrapped:
        value = wrapped.group(2).strip()
    elif value.count("**") % 2 == 1:  # a bold marker left over from a label
        value = re.sub(r"^\*\*\s*|\s*\*\*$", "", value)
    if len(value) >= 2 and value[0] in _QUOTES:
        closing = _QUOTES[value[0]]
        inner = value[1:-1]
        # Only a quote pair around the whole value: `"A" or "B"` keeps its quotes.
        if value.endswith(closing) and closing not in inner and value[0] not in inner:
            value = inner.strip()
    return value


def clean_input(raw: str) -> str:
    """An input whose first line says "no input" is empty, whatever chatter follows it."""
    value = clean_value(raw)
    first_line = value.split("\n", 1)[0]
    if clean_value(first_line).strip("<>[]() ").lower() in {
        v.strip("<>") for v in NOINPUT_VARIANTS
    }:
        return ""
    return value


def task_from_fields(fields: dict[str, Any]) -> Task | None:
    """Validate one item's fields into a Task; None when it breaks the schema."""
    difficulty = parse_difficulty(fields.get("difficulty"))
    if difficulty is None:
        return None
    data: dict[str, Any] = {
        name: clean_value(value) if isinstance(value, str) else value
        for name, value in fields.items()
        if name in ("type", "topic", "view", "instruction")
    }
    raw_input = fields.get("input")
    data["input"] = clean_input(raw_input) if isinstance(raw_input, str) else raw_input or ""
    data["difficulty"] = difficulty
    try:
        return Task.model_validate(data)
    except ValidationError:
        return None


# ---------------------------------------------------------------------------
# Text format: scanning


@dataclass
class _Item:
    fields: dict[str, str] = field(default_factory=dict)
    number: str | None = None
    closed: bool = False  # a separator followed it

    def has_task_fields(self) -> bool:
        return any(name in self.fields for name in TASK_FIELDS)


@dataclass(frozen=True)
class _Label:
    field: str
    cut: int  # where the previous field's value ends
    end: int  # where this field's value starts
    number: str | None


def _at_line_start(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", 0, pos) + 1
    return _LINE_PREFIX_RE.fullmatch(text, line_start, pos) is not None


def _classify(text: str, match: re.Match[str], item: _Item) -> _Label | None:
    """Decide whether a label match delimits a field (see the module docstring)."""
    fld = LABELS[_label_key(match.group("name"))]
    line_start = _at_line_start(text, match.start())
    num = match.group("num")
    num_ok = num is not None and (line_start or fld == "type")
    if not (line_start or num_ok) and not _weak_label_counts(text, match, fld, item):
        return None
    cut = match.start() if num_ok or num is None else match.start("body")
    number = re.sub(r"\D", "", num) if num_ok and num else None
    return _Label(fld, cut, match.end(), number)


def _weak_label_counts(text: str, match: re.Match[str], fld: str, item: _Item) -> bool:
    """A mid-line label without a number: capitalised, and a field the item lacks.

    The one exception, a `Type:` whose field is already set, covers unnumbered
    items written on one line: it starts a new item when another task label
    follows on the same line (`... Input: <noinput> Type: X Topic: Y ...`),
    and is plain text otherwise (`Blood Type: O+`).
    """
    if not match.group("name")[0].isupper():
        return False
    if fld not in item.fields:
        return True
    return fld == "type" and _task_label_follows_on_line(text, match.end())


def _task_label_follows_on_line(text: str, pos: int) -> bool:
    line_end = text.find("\n", pos)
    for match in _TOKEN_RE.finditer(text, pos, len(text) if line_end < 0 else line_end):
        name = match.group("name")
        if name is not None and LABELS[_label_key(name)] in TASK_FIELDS[1:]:
            return True
    return False


def _label_key(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.lower())


def _starts_new_item(item: _Item, label: _Label) -> bool:
    if not item.fields:
        return False
    if label.field in item.fields:
        return True
    if label.number is not None and label.field == "type":
        return True
    return label.number is not None and item.number is not None and label.number != item.number


def _scan_items(text: str) -> list[_Item]:
    """Split a reply into items of raw (stripped) field values."""
    items: list[_Item] = []
    item = _Item()
    current: str | None = None  # the field whose value is being read
    value_start = 0
    for match in _TOKEN_RE.finditer(text):
        if match.group("sep") is not None or match.group("heading") is not None:
            _store(item, current, text[value_start : match.start()])
            item.closed = True
            items.append(item)
            item, current = _Item(), None
            continue
        label = _classify(text, match, item)
        if label is None:
            continue
        _store(item, current, text[value_start : label.cut])
        if _starts_new_item(item, label):
            items.append(item)
            item = _Item()
        if item.number is None:
            item.number = label.number
        current, value_start = label.field, label.end
        item.fields.setdefault(current, "")
    _store(item, current, text[value_start:])
    items.append(item)
    return [it for it in items if it.has_task_fields()]


def _store(item: _Item, name: str | None, raw: str) -> None:
    if name is not None:
        item.fields[name] = raw.strip()


def _ends_cleanly(text: str) -> bool:
    return text.rstrip().endswith(_CLEAN_END)


def _is_truncated_tail(item: _Item, text: str, truncated: bool) -> bool:
    if item.closed:
        return False
    if truncated:
        return True
    incomplete = any(not item.fields.get(name) for name in TASK_FIELDS)
    return incomplete and not _ends_cleanly(text)


def parse_task_list_detailed(text: str, truncated: bool = False) -> ParseResult:
    """Parse a text-format reply; `truncated=True` when the reply hit the token limit."""
    result = ParseResult(format="text")
    items = _scan_items(text.replace("\r\n", "\n"))
    if not items:
        result.rejects["parse_error"] += 1
        return result
    for index, item in enumerate(items):
        if index == len(items) - 1 and _is_truncated_tail(item, text, truncated):
            result.rejects["truncated"] += 1
            continue
        task = task_from_fields(item.fields)
        if task is None:
            result.rejects["schema_violation"] += 1
        else:
            result.tasks.append(task)
    return result


def parse_task_list(text: str) -> list[Task]:
    """The valid tasks of a text-format reply (see `parse_task_list_detailed` for rejects)."""
    return parse_task_list_detailed(text).tasks


# ---------------------------------------------------------------------------
# Structured format


def _strip_fences(text: str) -> str:
    """Drop a ```json fence that chat models like to wrap JSON in."""
    body = text.strip()
    fenced = re.match(r"^```[a-zA-Z]*\s*\n?(.*?)(?:\n?```\s*)?$", body, re.DOTALL)
    return fenced.group(1).strip() if fenced else body


def _task_objects(data: Any) -> list[Any] | None:
    if isinstance(data, dict) and isinstance(data.get("tasks"), list):
        return list(data["tasks"])
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and "instruction" in data:
        return [data]
    return None


def _normalize_keys(obj: dict[str, Any]) -> dict[str, Any]:
    """Map key spellings (`Viewpoint`, `task_type`) onto task fields; drop the rest."""
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        name = LABELS.get(_label_key(str(key).strip()))
        if name in TASK_FIELDS and name not in fields:
            fields[name] = value
    return fields


def _validate_objects(objects: list[Any], result: ParseResult) -> None:
    for obj in objects:
        task = task_from_fields(_normalize_keys(obj)) if isinstance(obj, dict) else None
        if task is None:
            result.rejects["schema_violation"] += 1
        else:
            result.tasks.append(task)


def _iter_complete_objects(body: str, start: int) -> Iterator[tuple[Any | None, int]]:
    """Yield (object, end) for each complete JSON value of the array starting at `start`.

    Yields (None, pos) once at the first value that does not decode.
    """
    decoder = json.JSONDecoder(strict=False)
    pos = start
    while True:
        while pos < len(body) and body[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(body) or body[pos] == "]":
            return
        try:
            obj, pos = decoder.raw_decode(body, pos)
        except json.JSONDecodeError:
            yield None, pos
            return
        yield obj, pos


def _salvage(body: str, truncated: bool, result: ParseResult) -> None:
    """Recover the complete task objects of a reply that is not valid JSON as a whole."""
    array = re.search(r'"tasks"\s*:\s*\[', body)
    if array is not None:
        start = array.end()
    elif body.startswith("["):
        start = 1
    else:
        result.rejects["parse_error"] += 1
        return
    objects: list[Any] = []
    for obj, _ in _iter_complete_objects(body, start):
        if obj is None:
            cut = truncated or not body.rstrip().endswith(("}", "]"))
            result.rejects["truncated" if cut else "parse_error"] += 1
            break
        objects.append(obj)
    _validate_objects(objects, result)


def parse_structured_tasks(text: str, truncated: bool = False) -> ParseResult:
    """Parse a `{"tasks": [...]}` reply, tolerating raw newlines in strings and code fences.

    A reply cut off mid-way (`truncated=True`, or JSON that stops early) keeps
    its complete task objects; the partial one is counted as `truncated`.
    """
    result = ParseResult(format="json")
    body = _strip_fences(text)
    try:
        data = json.loads(body, strict=False)
    except json.JSONDecodeError:
        _salvage(body, truncated, result)
        return result
    objects = _task_objects(data)
    if objects is None:
        result.rejects["parse_error"] += 1
        return result
    _validate_objects(objects, result)
    return result
