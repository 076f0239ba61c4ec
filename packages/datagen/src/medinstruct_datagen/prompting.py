"""Build the chat messages sent to the teacher and to the responder.

The wording lives in package data (`medinstruct_datagen/prompts/*.md|txt`), so
a prompt change is a reviewable text diff and re-runs the DVC stages that
depend on the package. Everything here is a pure function of its arguments:
the same examples always give byte-identical messages, which is what lets the
LLM client's cache answer a re-run without paying twice.

Templates use `string.Template` (`$name`) rather than `str.format`, because
the structured prompt shows JSON examples full of braces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from string import Template

from medinstruct_core.records import NOINPUT, Task

PROMPTS_PACKAGE = "medinstruct_datagen.prompts"
ITEM_SEPARATOR = "###"
Message = dict[str, str]


def load_prompt(name: str) -> str:
    """Read one template from package data, without its trailing newline."""
    return resources.files(PROMPTS_PACKAGE).joinpath(name).read_text(encoding="utf-8").rstrip("\n")


def format_task_text(task: Task, number: int) -> str:
    """One task in the paper's numbered text format (the text parser reads it back)."""
    return "\n".join(
        [
            f"{number}. Type: {task.type}",
            f"Topic: {task.topic}",
            f"View: {task.view}",
            f"Difficulty: {task.difficulty}",
            f"Instruction: {task.instruction}",
            f"Input: {task.input or NOINPUT}",
        ]
    )


def format_tasks_text(tasks: Sequence[Task], start: int = 1) -> str:
    """Tasks numbered from `start`, each preceded by a `###` line."""
    return "\n".join(
        f"{ITEM_SEPARATOR}\n{format_task_text(task, start + i)}" for i, task in enumerate(tasks)
    )


def task_json_object(task: Task) -> dict[str, object]:
    """The structured-output shape of one task (keys in schema order, "" for no input)."""
    return {
        "type": task.type,
        "topic": task.topic,
        "view": task.view,
        "difficulty": task.difficulty,
        "instruction": task.instruction,
        "input": task.input,
    }


def format_tasks_json(tasks: Sequence[Task]) -> str:
    """`{"tasks": [...]}` with one task per line: readable, and far fewer tokens than indent=2."""
    lines = ",\n".join("  " + json.dumps(task_json_object(t), ensure_ascii=False) for t in tasks)
    return '{"tasks": [\n' + lines + "\n]}"


def build_instruction_messages(examples: Sequence[Task], n: int, structured: bool) -> list[Message]:
    """Messages asking the teacher for `n` new tasks in the style of `examples`.

    `structured=True` asks for a JSON object (sent together with the schema from
    `schema.task_list_schema`); `False` asks for the paper's `###`-separated
    numbered text format, whose numbering continues after the examples.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not examples:
        raise ValueError("at least one example task is needed")
    rules = load_prompt("instruction_rules.md")
    if structured:
        user = Template(load_prompt("instructions_structured.md")).substitute(
            n=n, rules=rules, examples=format_tasks_json(examples)
        )
    else:
        first = len(examples) + 1
        user = Template(load_prompt("instructions_text.md")).substitute(
            n=n, rules=rules, examples=format_tasks_text(examples), first=first, last=first + n - 1
        )
    return [
        {"role": "system", "content": load_prompt("instruction_system.txt")},
        {"role": "user", "content": user},
    ]


def build_response_messages(task: Task) -> list[Message]:
    """Messages asking the responder to carry out one task (input shown only when present)."""
    if task.input:
        user = Template(load_prompt("response_user.txt")).substitute(
            instruction=task.instruction, input=task.input
        )
    else:
        user = task.instruction
    return [
        {"role": "system", "content": load_prompt("response_system.txt")},
        {"role": "user", "content": user},
    ]
