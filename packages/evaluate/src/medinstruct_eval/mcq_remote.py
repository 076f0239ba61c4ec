"""Multiple choice for models that are not a transformers directory: a GGUF file
(through llama.cpp) or an OpenAI-compatible endpoint that returns log-probabilities.

lm-eval scores a choice by the log-likelihood of its text after the question.

- A GGUF is scored in-process by llama.cpp (`LlamaCppLM`, through llama-cpp-python's
  bindings): tokens are split as lm-eval's own causal models split them (the whole
  text encoded, the context's tokens taken off the front), and every choice of one
  question reuses the question's evaluated prefix. Not through the OpenAI-style
  server: llama-cpp-python 0.3's `/completions` with `echo` returns the prompt's
  per-token log-probabilities shifted by one position and drops the generated
  token, so lm-eval's `gguf` model reads every choice as log-likelihood 0.
- An endpoint is asked once (`probe_logprobs`) for a legacy `/completions` reply
  that echoes the prompt with log-probabilities *and* appends the generated token
  (what vLLM and OpenAI's legacy API return); `CompletionsLM` (lm-eval's `gguf`
  model plus the model name and key a shared server needs) then reads those by
  character offsets. An endpoint that cannot (chat-only APIs, most hosted models)
  is skipped, with the reason in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from lm_eval.api.model import LM
from lm_eval.models.gguf import GGUFLM

PROBE_PROMPT = "The patient has a"


class CompletionsLM(GGUFLM):  # type: ignore[misc]
    """lm-eval's llama.cpp model over any `/completions` that echoes prompt log-probabilities."""

    def __init__(self, base_url: str, model: str = "", api_key: str = "", timeout_s: float = 120.0):
        super().__init__(base_url=base_url.rstrip("/"))
        self.model, self.api_key, self.timeout_s = model, api_key, timeout_s

    def gguf_completion(  # type: ignore[override]
        self, context: str, continuation: str | None = None, stop: Any = None, **_: Any
    ) -> dict[str, Any]:
        """One request; a failure raises (the caller reports the candidate as not scored)."""
        request: dict[str, Any] = {"prompt": context + (continuation or ""),
                                   "logprobs": self.logprobs, "temperature": 0.0}  # fmt: skip
        if self.model:
            request["model"] = self.model
        if continuation:
            request.update(max_tokens=1, echo=True)
        if stop is not None:
            request["stop"] = stop
        return completions(self.base_url, request, self.api_key, self.timeout_s)


def completions(base_url: str, body: dict[str, Any], api_key: str, timeout_s: float) -> Any:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    reply = httpx.post(f"{base_url}/completions", json=body, headers=headers, timeout=timeout_s)
    reply.raise_for_status()
    return reply.json()


def probe_logprobs(base_url: str, model: str, api_key: str) -> str:
    """ "" when the endpoint echoes prompt log-probabilities, else why it cannot be scored."""
    body = {"model": model, "prompt": PROBE_PROMPT, "max_tokens": 1, "logprobs": 1,
            "echo": True, "temperature": 0.0}  # fmt: skip
    try:
        reply = completions(base_url.rstrip("/"), body, api_key, 30.0)
        logprobs = reply["choices"][0]["logprobs"]
        offsets = logprobs.get("text_offset") or []
        if logprobs.get("token_logprobs") and offsets and offsets[-1] >= len(PROBE_PROMPT):
            return ""
        return (
            "its /completions reply does not echo the prompt's log-probabilities followed "
            "by the generated token"
        )
    except httpx.HTTPStatusError as exc:
        return f"/completions answered HTTP {exc.response.status_code} (no log-probabilities)"
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return f"/completions gave no log-probabilities ({type(exc).__name__}: {exc})"


class LlamaCppLM(LM):  # type: ignore[misc]
    """Exact choice log-likelihoods from a GGUF, computed by llama.cpp in this process."""

    def __init__(self, gguf: Path, n_ctx: int, n_threads: int) -> None:
        from llama_cpp import Llama

        super().__init__()
        self.n_ctx = n_ctx
        self.llm = Llama(model_path=str(gguf), n_ctx=n_ctx, n_threads=n_threads,
                         n_threads_batch=n_threads, logits_all=True, verbose=False)  # fmt: skip

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], int]:
        """(all tokens, how many belong to the context), as lm-eval's causal models split them."""
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        whole = self.llm.tokenize((context + continuation).encode("utf-8"), add_bos=True)
        n_context = len(self.llm.tokenize(context.encode("utf-8"), add_bos=True))
        drop = max(0, len(whole) - self.n_ctx)  # too long: keep the end, as lm-eval does
        return whole[drop:], max(1, n_context - drop)

    def score(self, tokens: Sequence[int], n_context: int) -> tuple[float, bool]:
        """Sum of the continuation's token log-probabilities, and whether each was the argmax."""
        import numpy as np

        self._evaluate(tokens)
        rows = np.asarray(self.llm.scores[n_context - 1 : len(tokens) - 1], dtype=np.float64)
        peak = rows.max(axis=1, keepdims=True)
        logprobs = rows - peak - np.log(np.exp(rows - peak).sum(axis=1, keepdims=True))
        targets = np.asarray(tokens[n_context:])
        picked = logprobs[np.arange(len(targets)), targets]
        return float(picked.sum()), bool((rows.argmax(axis=1) == targets).all())

    def _evaluate(self, tokens: Sequence[int]) -> None:
        """Evaluate `tokens`, reusing the longest prefix already in llama.cpp's cache
        (the question, when the previous request was another choice of it)."""
        cached = list(self.llm.input_ids[: self.llm.n_tokens])
        keep = 0
        while keep < min(len(cached), len(tokens) - 1) and cached[keep] == tokens[keep]:
            keep += 1
        self.llm.n_tokens = keep
        self.llm.eval(list(tokens[keep:]))

    def loglikelihood(self, requests: Any, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        return [self.score(*self.encode_pair(*request.args)) for request in requests]

    def loglikelihood_rolling(self, requests: Any, disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("perplexity tasks are not part of the MCQ benchmarks")

    def generate_until(self, requests: Any, disable_tqdm: bool = False) -> list[str]:
        raise NotImplementedError("generation tasks are not part of the MCQ benchmarks")
