"""JSON schema of the teacher's structured reply.

Sent with each request when the endpoint supports structured output (llama.cpp
turns it into a grammar, OpenAI and vLLM into constrained decoding). Two
choices follow from what the servers enforce:

* `difficulty` is an `enum` of 1..5, not `minimum`/`maximum`: llama.cpp's
  grammar conversion ignores numeric bounds, an enum it does enforce;
* every property is `required` and `additionalProperties` is false, which is
  what OpenAI's strict mode demands. The reply is still validated task by task
  on our side (`parsing.parse_structured_tasks`), because `json_object` mode
  and some servers enforce only part of a schema.
"""

from __future__ import annotations

from typing import Any

TASK_FIELDS = ("type", "topic", "view", "difficulty", "instruction", "input")
SCHEMA_NAME = "medical_tasks"


def task_schema(nonempty: bool = False) -> dict[str, Any]:
    """Schema of one task object; `nonempty` adds `minLength: 1` to the required texts."""
    text: dict[str, Any] = {"type": "string", **({"minLength": 1} if nonempty else {})}
    return {
        "type": "object",
        "properties": {
            "type": {**text, "description": "the kind of task"},
            "topic": {**text, "description": "the medical topic"},
            "view": {**text, "description": "whose viewpoint the task takes"},
            "difficulty": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
            "instruction": {**text, "description": "the instruction"},
            "input": {"type": "string", "description": "context for the task, or an empty string"},
        },
        "required": list(TASK_FIELDS),
        "additionalProperties": False,
    }


def task_list_schema(n: int, nonempty: bool = False) -> dict[str, Any]:
    """Schema of the whole reply: {"tasks": [at most n tasks]}.

    `nonempty=True` is for llama.cpp (`json_object` mode), whose grammar
    enforces `minLength`: without it a small model happily fills `"instruction":
    ""`. It stays off for OpenAI-style `json_schema` endpoints, whose strict mode
    does not accept string-length keywords.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    items = task_schema(nonempty)
    return {
        "type": "object",
        "properties": {
            "tasks": {"type": "array", "items": items, "minItems": 1, "maxItems": n},
        },
        "required": ["tasks"],
        "additionalProperties": False,
    }
