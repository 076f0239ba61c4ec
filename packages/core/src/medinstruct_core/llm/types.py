"""Requests and results of the LLM client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from medinstruct_core.llm.config import Sampling

EndpointKind = Literal["embedded", "remote"]
ResponseMode = Literal["json_schema", "json_object", "off"]


@dataclass(frozen=True)
class Endpoint:
    """A resolved OpenAI-compatible endpoint. `api_key` is never logged or cached."""

    base_url: str | None
    model: str
    kind: EndpointKind
    response_mode: ResponseMode
    api_key: str = field(default="", repr=False)
    # Stable identity for the response cache: the embedded server's URL changes
    # every run (random port), so it is keyed by model file instead.
    cache_id: str = ""

    def public(self) -> dict[str, str]:
        """What may be logged to MLflow: never the key."""
        return {
            "base_url": self.base_url or "https://api.openai.com/v1",
            "model": self.model,
            "kind": self.kind,
            "response_mode": self.response_mode,
        }


@dataclass(frozen=True)
class LLMRequest:
    """One chat completion. `key` is the caller's id for the item (for reporting only).

    `json_schema`, when given, asks for structured output in the endpoint's dialect;
    `sample_index` distinguishes repeated samples of the same prompt in the cache.
    """

    messages: tuple[dict[str, str], ...]
    sampling: Sampling
    key: str = ""
    json_schema: dict[str, Any] | None = None
    schema_name: str = "response"
    sample_index: int = 0


FailureReason = Literal[
    "http_error", "timeout", "rate_limited", "bad_response", "budget_exhausted", "connection"
]


@dataclass
class LLMResult:
    request: LLMRequest
    text: str | None
    finish_reason: str = "unknown"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    attempts: int = 0
    latency_s: float = 0.0
    model: str = ""
    error: str | None = None
    failure: FailureReason | None = None
    cost_usd: float = 0.0  # what this call cost (0 for cache hits and unknown prices)

    @property
    def ok(self) -> bool:
        return self.text is not None and self.error is None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class ChatClient(Protocol):
    """The one client interface every stage codes against (generation, responses, judging).

    `medinstruct_core.llm.LLMClient` implements it, and so does its Batch-API form;
    tests pass fakes. `run` returns one result per request, in order.
    """

    endpoint: Endpoint

    @property
    def response_mode(self) -> ResponseMode: ...

    def run(
        self, requests: Sequence[LLMRequest], *, desc: str = "", progress: bool = True
    ) -> list[LLMResult]: ...
