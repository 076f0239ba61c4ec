"""Answers from a model behind an OpenAI-compatible endpoint: any server, or a GGUF
file that llama.cpp serves for the stage.

They go through the project's one LLM client (`medinstruct_core.llm.roles.open_role`),
so every answer is cached (a re-run asks nothing), every paid token lands in the
ledger under the budget, and calls are traced like the judge's. The candidate becomes
a role of a derived `llm:` section: an endpoint is the role's URL, a GGUF becomes one
more model of the embedded registry (keyed in the cache by its sha256, like any other).

Endpoints speak chat, so templates mean: `chat`/`auto` = the question as the one user
turn (the server applies its own chat template), `alpaca` = the Alpaca prompt in that
turn, `none` = the bare question (the same message as `chat` for a chat endpoint).
Decoding is greedy (temperature 0) with a fixed seed, as for local models.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from medinstruct_core.llm.client import LLMClient
from medinstruct_core.llm.config import EmbeddedModelEntry, LLMSection, RoleConfig, Sampling
from medinstruct_core.llm.roles import open_role
from medinstruct_core.llm.types import ChatClient, LLMRequest
from medinstruct_core.records import EvalItem
from medinstruct_eval.answer import (
    ALPACA,
    BARE,
    CHAT_TEMPLATE,
    ModelAnswers,
    UsedFormat,
    clean_answer,
)
from medinstruct_eval.candidates import Candidate
from medinstruct_eval.judge import question_text
from medinstruct_train.prompting import format_prompt

ROLE = "responder"  # the slot of the derived llm section the candidate occupies
EMBEDDED_PREFIX = "candidate-"  # keeps a candidate's registry name off the built-ins'


def used_format(candidate: Candidate) -> UsedFormat:
    """What a chat endpoint's template choice amounts to (see the module docstring)."""
    return {"alpaca": ALPACA, "none": BARE}.get(candidate.template, CHAT_TEMPLATE)  # type: ignore[return-value]


def candidate_sampling(max_new_tokens: int, seed: int) -> Sampling:
    return Sampling(temperature=0.0, max_tokens=max_new_tokens, seed=seed)


def candidate_section(llm: LLMSection, candidate: Candidate, sampling: Sampling) -> LLMSection:
    """`llm` with the candidate as its `responder` role (and its GGUF in the registry)."""
    if candidate.kind == "endpoint":
        role = RoleConfig(endpoint=candidate.endpoint or "", model=candidate.model_name or "",
                          api_key_env=candidate.api_key_env, structured_output="off",
                          sampling=sampling)  # fmt: skip
        return llm.model_copy(update={ROLE: role})
    if candidate.kind != "gguf" or candidate.path is None:
        raise ValueError(f"candidate {candidate.name!r} ({candidate.kind}) is not served remotely")
    alias = EMBEDDED_PREFIX + candidate.name
    models = {**llm.embedded.models, alias: EmbeddedModelEntry(gguf=str(candidate.path))}
    role = RoleConfig(endpoint="embedded", model=alias, embedded_model=alias,
                      structured_output="off", sampling=sampling)  # fmt: skip
    embedded = llm.embedded.model_copy(update={"models": models})
    return llm.model_copy(update={ROLE: role, "embedded": embedded})


@contextlib.contextmanager
def open_candidate(
    llm: LLMSection,
    candidate: Candidate,
    sampling: Sampling,
    *,
    root: Path,
    stage: str = "",
    replies: Path | None = None,
) -> Iterator[LLMClient]:
    """A client for the candidate, through the one client (its server runs during the block)."""
    section = candidate_section(llm, candidate, sampling)
    with open_role(section, ROLE, root=root, stage=stage, replies=replies) as client:
        client.role = f"candidate.{candidate.name}"  # how the ledger and traces name it
        yield client


def candidate_messages(item: EvalItem, used: UsedFormat) -> tuple[dict[str, str], ...]:
    """One user turn: the Alpaca prompt, or the question as the judge sees it."""
    text = format_prompt(item.instruction, item.input) if used == ALPACA else question_text(item)
    return ({"role": "user", "content": text},)


def answer_remote(
    client: ChatClient,
    candidate: Candidate,
    sets: Mapping[str, Sequence[EvalItem]],
    sampling: Sampling,
) -> tuple[dict[str, ModelAnswers], Counter[str]]:
    """Every eval set's answers in one batch, and failed requests counted by reason.

    A failed request (after the client's retries) is an empty answer, judged as
    "(empty answer)": the candidate loses that item rather than silently skipping it.
    """
    used = used_format(candidate)
    requests = [
        LLMRequest(
            messages=candidate_messages(item, used),
            sampling=sampling,
            key=f"{name}/{item.id}/{candidate.name}",
        )
        for name, items in sets.items()
        for item in items
    ]
    results = client.run(requests, desc=f"answer {candidate.name}")
    failures: Counter[str] = Counter(str(r.failure or "no_text") for r in results if not r.ok)
    answers, start = {}, 0
    for name, items in sets.items():
        own, start = results[start : start + len(items)], start + len(items)
        texts = [clean_answer(r.text or "") if r.ok else "" for r in own]
        answers[name] = ModelAnswers(texts, used, [r.request.messages[0]["content"] for r in own])
    return answers, failures
