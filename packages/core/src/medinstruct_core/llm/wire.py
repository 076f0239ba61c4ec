"""What goes over the wire: request bodies, response parsing, error classification.

Kept apart from the client's scheduling logic so each half is easy to read and
to test. Responses are parsed from the raw body rather than through the SDK's
models, because the SDK silently returns a plain string for non-JSON bodies
(proxies' HTML error pages) and we want those to be retried, not cached.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai

from medinstruct_core.llm.limits import retry_after_s
from medinstruct_core.llm.types import Endpoint, FailureReason, LLMRequest

# Retryable HTTP statuses besides 429: request timeout, conflict, server errors.
RETRYABLE_STATUS = frozenset({408, 409, 500, 502, 503, 504})
# Statuses no retry can fix: the key is wrong or not allowed. The stage stops at once.
REFUSED_STATUS = frozenset({401, 403})
# OpenAI's billing error: a 429 that waiting does not cure.
QUOTA_CODES = frozenset({"insufficient_quota"})
# Chat-format overhead per message and per reply (OpenAI's published counting recipe).
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3
# Characters per token for estimates (OpenAI's rule of thumb for English text).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Completion:
    """The parts of a chat completion the pipeline uses."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    model: str


@dataclass(frozen=True)
class Failed:
    """One failed attempt: why, whether retrying can help, and how long the server asked to wait."""

    reason: FailureReason
    message: str
    retryable: bool
    retry_after_s: float | None = None
    refused: bool = False  # the endpoint will refuse every request (bad key, no quota)


class BadResponse(ValueError):
    """The server answered 200 but the body is not a usable chat completion."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def response_format(endpoint: Endpoint, request: LLMRequest) -> dict[str, Any] | None:
    """Structured output in the endpoint's dialect (llama.cpp and OpenAI/vLLM differ)."""
    if request.json_schema is None or endpoint.response_mode == "off":
        return None
    if endpoint.response_mode == "json_object":
        return {"type": "json_object", "schema": request.json_schema}
    return {
        "type": "json_schema",
        "json_schema": {"name": request.schema_name, "schema": request.json_schema, "strict": True},
    }


def build_payload(endpoint: Endpoint, request: LLMRequest) -> dict[str, Any]:
    """The JSON body of a chat completion (also the keyword arguments of `chat.completions.create`)."""
    s = request.sampling
    payload: dict[str, Any] = {
        "model": endpoint.model,
        "messages": [dict(m) for m in request.messages],
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_tokens": s.max_tokens,
        "presence_penalty": s.presence_penalty,
        "frequency_penalty": s.frequency_penalty,
    }
    # Always a seed: llama.cpp gives an unseeded request the next value of its own seed
    # chain, so a reply would depend on how many requests the server served before it
    # (with concurrency, a race). One seed per (role seed, sample) makes every reply a
    # function of its request alone; both are already in the cache key.
    payload["seed"] = ((s.seed or 0) + 1_000_003 * request.sample_index) % 2**31
    fmt = response_format(endpoint, request)
    if fmt is not None:
        payload["response_format"] = fmt
    return payload


def prompt_chars(request: LLMRequest) -> int:
    return sum(len(str(m.get("content", ""))) for m in request.messages)


def estimate_tokens(request: LLMRequest) -> int:
    """Worst-case tokens a request may use: prompt chars/4 plus the full `max_tokens`."""
    return prompt_chars(request) // CHARS_PER_TOKEN + 1 + request.sampling.max_tokens


def prompt_tokens_for(request: LLMRequest, model: str) -> int:
    """Prompt tokens of `request` for budget reservations: exact (tiktoken) for OpenAI
    model names when tiktoken and its encoding are available, else the chars/4 estimate."""
    encode = _encoder(model)
    if encode is None:
        return prompt_chars(request) // CHARS_PER_TOKEN + 1
    text_tokens = sum(len(encode(str(m.get("content", "")))) for m in request.messages)
    return text_tokens + TOKENS_PER_MESSAGE * len(request.messages) + TOKENS_PER_REPLY


@functools.lru_cache(maxsize=32)
def _encoder(model: str) -> Callable[[str], list[int]] | None:
    """tiktoken's encoder for an OpenAI model name; None for other names, when tiktoken is
    not installed, or when its encoding file cannot be loaded (offline, no cached copy)."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        encoding = tiktoken.encoding_for_model(model)
    except Exception:  # unknown model name (KeyError) or encoding download failed offline
        return None
    return functools.partial(encoding.encode, disallowed_special=())


def parse_completion(body: str, request: LLMRequest, default_model: str) -> Completion:
    """Parse a raw response body; raise BadResponse naming what is wrong with it."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadResponse(f"response body is not JSON: {body[:120]!r}") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadResponse(f"response has no choices: {body[:120]!r}")
    message = choices[0].get("message") or {}
    text = message.get("content")
    if text is None and message.get("refusal"):
        # A refusal is an answer: asking again mostly gets the same one, at full price.
        raise BadResponse(f"model refused: {str(message['refusal'])[:200]}", retryable=False)
    if not isinstance(text, str):
        raise BadResponse("response choice has no message content")
    usage = data.get("usage") or {}
    return Completion(
        text=text,
        finish_reason=str(choices[0].get("finish_reason") or "unknown"),
        # Servers that omit usage still get counted (and budgeted) by estimate.
        prompt_tokens=_int(usage.get("prompt_tokens"), prompt_chars(request) // CHARS_PER_TOKEN),
        completion_tokens=_int(usage.get("completion_tokens"), len(text) // CHARS_PER_TOKEN),
        model=str(data.get("model") or default_model),
    )


def _int(value: Any, fallback: int) -> int:
    return int(value) if isinstance(value, int | float) and value >= 0 else fallback


def classify(exc: BaseException, where: str) -> Failed:
    """Map an SDK exception (or our own parse/timeout errors) to a retry decision."""
    if isinstance(exc, BadResponse):
        return Failed("bad_response", f"{where}: {exc}", exc.retryable)
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return Failed("timeout", f"{where}: request timed out", True)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return Failed("connection", f"{where}: cannot connect ({cause})", True)
    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc, where)
    raise exc  # not an API failure: a bug, let it surface


def _classify_status(exc: openai.APIStatusError, where: str) -> Failed:
    code = exc.status_code
    wait = retry_after_s(dict(exc.response.headers))
    detail = _error_detail(exc)
    if code == 429 and _error_code(exc) in QUOTA_CODES:
        message = f"{where}: HTTP 429 {_error_code(exc)} (billing: no quota left): {detail}"
        return Failed("http_error", message, False, refused=True)
    if code == 429:
        return Failed("rate_limited", f"{where}: HTTP 429 rate limited: {detail}", True, wait)
    if code in RETRYABLE_STATUS:
        return Failed("http_error", f"{where}: HTTP {code}: {detail}", True, wait)
    hint = {
        400: "the server rejected the request (bad parameters or structured-output dialect?)",
        401: "authentication failed (check the API key variable)",
        403: "access denied for this key/model",
        404: "not found (check the base URL and the model name)",
    }.get(code, "client error")
    message = f"{where}: HTTP {code}, {hint}: {detail}"
    return Failed("http_error", message, False, refused=code in REFUSED_STATUS)


def _error_code(exc: openai.APIStatusError) -> str:
    """The `error.code` of an OpenAI-style error body ("" when absent)."""
    code = getattr(exc, "code", None)
    body = exc.body
    if not code and isinstance(body, dict):
        inner = body.get("error", body)
        code = inner.get("code") if isinstance(inner, dict) else None
    return str(code or "")


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(exc.message)[:300]
