"""lm-eval's "hf" model, computing logits only where lm-eval reads them.

Why: to score a multiple-choice question, lm-eval's `HFLM` runs the model over the
prompt and the answer letter, takes the log-softmax over the whole vocabulary at
*every* position of the (right-padded) batch, then keeps only the positions of the
continuation, usually one token. With a 49k-token vocabulary the output layer and
that log-softmax are nearly all of the work (and a 300-token batch of 8 holds ~1 GB
of logits): for a small model on a CPU, ~95 % of an MCQ run was spent on logits
that were thrown away.

`LastLogitsHFLM` asks the model for the last `k` positions only (transformers'
`logits_to_keep`), with `k` chosen so every continuation in the batch still lies in
them, and lm-eval's own slicing finds them there: it reads `logits.shape` and treats
the missing leading positions as it treats prompt-tuning's virtual tokens. The
scoring itself (which positions, log-softmax, greedy check, sums) stays lm-eval's,
and the kept logits are the same numbers (tests/evaluate/test_mcq_hf.py compares
every request's log-likelihood with plain `HFLM`).
"""

from __future__ import annotations

from typing import Any


def last_logits_lm(model_args: dict[str, Any], batch_size: int, device: str) -> Any:
    """A `LastLogitsHFLM` built as lm-eval builds "hf" from `model_args` (see mcq.model_args)."""
    return _lm_class()(**model_args, batch_size=batch_size, device=device)


def positions_to_keep(inps: Any, longest_continuation: int) -> int:
    """How many trailing positions hold every row's continuation logits.

    Rows are right-padded with 0. A row's length without trailing zeros is at most its
    true length (its last real token may itself be 0), so the first position any row
    needs is at least min(length) - longest_continuation: keep everything from there.
    """
    import torch

    width = int(inps.shape[1])
    nonzero = inps != 0
    has_any = nonzero.any(dim=1)
    last = width - torch.flip(nonzero, dims=[1]).int().argmax(dim=1)
    lengths = torch.where(has_any, last, torch.zeros_like(last))
    first_needed = max(0, int(lengths.min()) - longest_continuation)
    return width - first_needed


def _lm_class() -> type:
    """The subclass, defined on first use (importing lm-eval takes seconds)."""
    import torch
    from lm_eval.models.huggingface import HFLM

    class LastLogitsHFLM(HFLM):  # type: ignore[misc, valid-type]
        """HFLM whose causal `_model_call` returns only the positions scoring reads."""

        _longest_continuation: int | None = None

        def _loglikelihood_tokens(self, requests: Any, *args: Any, **kwargs: Any) -> Any:
            self._longest_continuation = max((len(cont) for _, _, cont in requests), default=0)
            try:
                return super()._loglikelihood_tokens(requests, *args, **kwargs)
            finally:
                self._longest_continuation = None

        def _model_call(self, inps: Any, attn_mask: Any = None, labels: Any = None) -> Any:
            longest = self._longest_continuation
            if attn_mask is not None or labels is not None or not longest:
                return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
            keep = positions_to_keep(inps, longest)
            with (
                torch.no_grad(),
                torch.autocast(
                    device_type=self.device.type,
                    dtype=self.mixed_precision_dtype,
                    enabled=self.mixed_precision_dtype is not None,
                ),
            ):
                return self.model(inps, logits_to_keep=keep).logits

    return LastLogitsHFLM
