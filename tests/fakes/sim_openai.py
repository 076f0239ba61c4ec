"""A simulated OpenAI-compatible endpoint: a teacher, a responder and a judge that answer
like the paper's models would, in shape and size, in microseconds.

`make rehearse` runs the paper profile against it (benchmarks/rehearse.py), so the
pipeline's own cost at 52k tasks can be measured before any money is spent. It is a
real HTTP server (the project's client talks to it through the `openai` SDK, as it
would to api.openai.com) and it serves:

    POST /v1/chat/completions   teacher, responder or judge, told apart by the request
    GET  /v1/models
    POST /v1/files, GET /v1/files/{id}/content, POST/GET /v1/batches[/{id}]
                                the Batch API (tests/fakes/fake_batch.py), each line
                                answered as its chat request would be
    GET  /v1/sim/stats          what was asked and answered, by role (JSON)

Which role a request is for (`request_kind`): a `response_format` schema with a
`tasks` list is the teacher and one with a `winner` the judge; without one, the
judge prompt's `[Answer A]` marker and the teacher's text-format instruction
(`Start each task with a line holding only ###`) are recognised, and anything else is a
question for the responder. Replies are what the project's parsers read: the
task-list JSON or the paper's `###` text format (tests/rehearsal check both with
the project's own parser), plain answers, and verdicts as JSON or `Winner: X`.

Every reply is a pure function of the request (its messages, seed and sample), like
a cache of a real model: a rerun sees the same data. Token usage is counted the
way OpenAI estimates it (4 characters a token, plus the chat format's per-message
overhead), and a reply longer than
`max_tokens` is cut there with `finish_reason: "length"`, as the API does.

Optional `latency_s` (with +-50% jitter) and `fault_rate` (429 with Retry-After,
500 and 503, at random, so a retry usually succeeds) make it behave like a busy API.

    python3 -m tests.fakes.sim_openai [--latency 0.2] [--fault-rate 0.01]   # prints the URL
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Literal

from tests.fakes import sim_text
from tests.fakes.fake_batch import FakeBatchAPI
from tests.fakes.fake_batch import _Handler as _BatchHandler

Kind = Literal["teacher", "responder", "judge"]
KINDS: tuple[Kind, ...] = ("teacher", "responder", "judge")
# How the prompts are told apart when no schema says it (the project's prompt wording).
JUDGE_MARKER = "[Answer A]"
TEACHER_TEXT_MARKER = "Start each task with a line holding only ###"
DEFAULT_TASKS = 12
TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, CHARS_PER_TOKEN = 4, 3, 4
# Reply lengths in words: log-normal around what the paper's models write. GPT-3.5's
# answers run ~150-400 words, so a 1024-token cap cuts about 1 in 100.
ANSWER_WORDS_MEDIAN, ANSWER_WORDS_SIGMA, ANSWER_WORDS_MAX = 180, 0.45, 1200
_N_TASKS = re.compile(r"Write (\d+) new")
_FIRST_TASK = re.compile(r"Now write tasks (\d+) to (\d+)")


def count_tokens(text: str) -> int:
    """OpenAI's rule of thumb, 4 characters a token: the same count on every machine (tiktoken
    would need its encoding file, which an offline machine may not have)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """OpenAI's chat counting recipe: content tokens plus per-message and per-reply overhead."""
    text = sum(count_tokens(str(m.get("content", ""))) for m in messages)
    return text + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_REPLY


def _schema(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return dict((fmt.get("json_schema") or {}).get("schema") or {})
    return dict(fmt.get("schema") or {})


def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def request_kind(body: dict[str, Any]) -> Kind:
    """Teacher, responder or judge: by the structured-output schema, else by the prompt."""
    properties = _schema(body).get("properties") or {}
    if "tasks" in properties:
        return "teacher"
    if "winner" in properties:
        return "judge"
    prompt = _prompt(body)
    if JUDGE_MARKER in prompt:
        return "judge"
    if TEACHER_TEXT_MARKER in prompt:
        return "teacher"
    return "responder"


def request_rng(body: dict[str, Any], seed: int) -> random.Random:
    """A generator seeded by what determines a reply: messages, sampling seed, server seed."""
    material = json.dumps([body.get("messages"), body.get("seed"), seed], sort_keys=True)
    return random.Random(hashlib.sha256(material.encode()).hexdigest())


def tasks_asked(body: dict[str, Any], prompt: str) -> int:
    """How many tasks the teacher is asked for: the schema's maxItems, else the prompt."""
    tasks = (_schema(body).get("properties") or {}).get("tasks") or {}
    if isinstance(tasks.get("maxItems"), int):
        return int(tasks["maxItems"])
    found = _N_TASKS.search(prompt)
    return int(found.group(1)) if found else DEFAULT_TASKS


def _reply_count(asked: int, rng: random.Random) -> int:
    """Mostly what was asked; one reply in twenty stops one to three tasks short."""
    return max(1, asked - rng.randint(1, 3)) if rng.random() < 0.05 else asked


def teacher_reply(body: dict[str, Any], rng: random.Random) -> str:
    """A task list: the JSON object the schema asks for, or the paper's `###` text format."""
    prompt = _prompt(body)
    tasks = [sim_text.make_task(rng) for _ in range(_reply_count(tasks_asked(body, prompt), rng))]
    if _schema(body):
        return json.dumps({"tasks": [_task_json(t) for t in tasks]}, ensure_ascii=False)
    found = _FIRST_TASK.search(prompt)
    first = int(found.group(1)) if found else 1
    return "\n".join(_task_text(t, first + i) for i, t in enumerate(tasks))


def _task_json(task: sim_text.SimTask) -> dict[str, Any]:
    return {"type": task.type, "topic": task.topic, "view": task.view,
            "difficulty": task.difficulty, "instruction": task.instruction, "input": task.input}  # fmt: skip


def _task_text(task: sim_text.SimTask, number: int) -> str:
    return (
        f"###\n{number}. Type: {task.type}\nTopic: {task.topic}\nView: {task.view}\n"
        f"Difficulty: {task.difficulty}\nInstruction: {task.instruction}\n"
        f"Input: {task.input or '<noinput>'}"
    )


def responder_reply(body: dict[str, Any], rng: random.Random) -> str:
    """An answer of log-normally distributed length that keeps to the question's terms."""
    words = rng.lognormvariate(math.log(ANSWER_WORDS_MEDIAN), ANSWER_WORDS_SIGMA)
    messages = body.get("messages") or [{}]
    return sim_text.make_answer(
        str(messages[-1].get("content", "")), rng, min(int(words), ANSWER_WORDS_MAX)
    )


def judge_reply(body: dict[str, Any], rng: random.Random) -> str:
    """A verdict: JSON when a schema was sent, else a sentence and a `Winner:` line."""
    winner, reason = sim_text.judge_winner(_prompt(body), rng)
    if _schema(body):
        return json.dumps({"reason": reason, "winner": winner})
    return f"{reason}\nWinner: {winner}"


REPLIES: dict[Kind, Callable[[dict[str, Any], random.Random], str]] = {
    "teacher": teacher_reply,
    "responder": responder_reply,
    "judge": judge_reply,
}


def cut_to(text: str, max_tokens: int) -> str:
    """The first `max_tokens` tokens of `text` (what a model emits before it is stopped)."""
    return text[: max_tokens * CHARS_PER_TOKEN]


class _Server(ThreadingHTTPServer):
    """socketserver's default listen backlog is 5: 32 clients connecting at once would see
    refused connections (and retry with backoff), which is not what an API does."""

    request_queue_size = 512
    daemon_threads = True


@dataclass
class KindStats:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: int = 0


@dataclass
class SimOpenAI(FakeBatchAPI):
    """The simulated API: chat completions here, files and batches from FakeBatchAPI."""

    latency_s: float = 0.0
    fault_rate: float = 0.0
    seed: int = 0
    model: str = "sim-model"
    by_kind: dict[str, KindStats] = field(default_factory=lambda: {k: KindStats() for k in KINDS})
    faults: Counter[int] = field(default_factory=Counter)
    _fault_rng: random.Random = field(default_factory=lambda: random.Random(0))

    def __post_init__(self) -> None:
        self._fault_rng = random.Random(self.seed)

    def start(self) -> SimOpenAI:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    # -- chat --------------------------------------------------------------------------
    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat completion for `body`, counted by role; cut at `max_tokens`."""
        kind = request_kind(body)
        text = REPLIES[kind](body, request_rng(body, self.seed))
        used_in, used_out = prompt_tokens(body.get("messages") or []), count_tokens(text)
        finish = "stop"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and used_out > limit:
            text, used_out, finish = cut_to(text, limit), limit, "length"
        with self._lock:
            stats = self.by_kind[kind]
            stats.requests += 1
            stats.prompt_tokens += used_in
            stats.completion_tokens += used_out
            stats.truncated += finish == "length"
        return {
            "id": f"chatcmpl-sim-{stats.requests}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", self.model),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": used_in, "completion_tokens": used_out,
                      "total_tokens": used_in + used_out},
        }  # fmt: skip

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """Batch lines are answered exactly like live requests (FakeBatchAPI's hook)."""
        return self.completion(body)

    def pick_fault(self) -> int:
        """0 (answer), or the HTTP status of an injected failure."""
        if self.fault_rate <= 0:
            return 0
        with self._lock:
            if self._fault_rng.random() >= self.fault_rate:
                return 0
            code = self._fault_rng.choice((429, 500, 503))
            self.faults[code] += 1
            return code

    def delay(self) -> float:
        if self.latency_s <= 0:
            return 0.0
        with self._lock:
            return self.latency_s * self._fault_rng.uniform(0.5, 1.5)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "by_kind": {k: vars(s).copy() for k, s in self.by_kind.items()},
                "faults": {str(code): n for code, n in self.faults.items()},
                "batch_calls": dict(self.calls),
            }


class _Handler(_BatchHandler):
    """Chat completions and stats here; files and batches as the batch fake serves them."""

    @property
    def sim(self) -> SimOpenAI:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/sim/stats"):
            self._send_json(200, self.sim.stats())
        elif path.endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": self.sim.model, "object": "model"}]}
            )
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            super().do_POST()
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        wait = self.sim.delay()
        if wait:
            time.sleep(wait)
        code = self.sim.pick_fault()
        if code:
            self._send_error(code)
            return
        try:
            self._send_json(200, self.sim.completion(body))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up: nothing delivered

    def _send_error(self, code: int) -> None:
        message = {429: "Rate limit reached (simulated)", 500: "The server had an error (simulated)",
                   503: "The engine is overloaded (simulated)"}[code]  # fmt: skip
        data = json.dumps({"error": {"message": message, "type": "sim", "code": None}}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 429:
            self.send_header("Retry-After", "0.05")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Serve a simulated OpenAI API (teacher, responder, judge)."
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="mean seconds before each answer"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of requests failed (429/500/503)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--polls", type=int, default=1, help="batch retrieves before a batch completes"
    )
    args = parser.parse_args(argv)
    sim = SimOpenAI(latency_s=args.latency, fault_rate=args.fault_rate, seed=args.seed,
                    polls_before_done=args.polls).start()  # fmt: skip
    print(sim.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
