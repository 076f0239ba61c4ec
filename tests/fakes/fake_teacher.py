"""A scripted teacher for Batch API runs: a line's task list is a pure function of its
custom_id (the request's cache key), so two runs that ask the same requests get the
same replies, however they batch them.

Every task is one of three kinds, drawn per task:
- `SHORT_RATE`: a two-word instruction the rule filters drop (`too_short`);
- `COMMON_RATE`: one of `COMMON` stock instructions, so duplicates grow as the kept
  pool fills (the keep yield falls over a run, as a real teacher's does);
- otherwise twelve words from a `VOCAB`-word vocabulary: unique in practice
  (two such instructions share ~0.03 words, far below ROUGE-L 0.7).

    fake = FakeBatchAPI(responder=teacher_responder)
"""

from __future__ import annotations

import json
import random
from typing import Any

VOCAB = 5000
COMMON = 400
SHORT_RATE, COMMON_RATE = 0.05, 0.15
DEFAULT_TASKS = 12
TYPES = ("open QA", "summarization", "rewriting", "information extraction", "triage")


def common_instruction(k: int) -> str:
    """Stock instruction `k`: twelve words of its own, so stock instructions differ."""
    rng = random.Random(f"common:{k}")
    return "Describe " + " ".join(f"w{rng.randrange(VOCAB)}" for _ in range(11))


def make_task(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < SHORT_RATE:
        instruction = "Explain this."
    elif roll < SHORT_RATE + COMMON_RATE:
        instruction = common_instruction(rng.randrange(COMMON))
    else:
        instruction = "Explain " + " ".join(f"w{rng.randrange(VOCAB)}" for _ in range(11))
    return {"type": rng.choice(TYPES), "topic": "cardiology", "view": "nurse",
            "difficulty": rng.randint(1, 5), "instruction": instruction, "input": ""}  # fmt: skip


def tasks_asked(body: dict[str, Any]) -> int:
    """The schema's maxItems (the teacher's `tasks_per_request`), else DEFAULT_TASKS."""
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or fmt.get("schema") or {}
    tasks = (schema.get("properties") or {}).get("tasks") or {}
    return int(tasks.get("maxItems") or DEFAULT_TASKS)


def teacher_responder(body: dict[str, Any], custom_id: str) -> str:
    """`FakeBatchAPI.responder`: the task-list JSON the teacher's schema asks for."""
    rng = random.Random(custom_id)
    return json.dumps({"tasks": [make_task(rng) for _ in range(tasks_asked(body))]})
