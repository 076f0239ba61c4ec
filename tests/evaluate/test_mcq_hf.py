"""`LastLogitsHFLM` scores exactly like lm-eval's "hf" model, from fewer logits."""

from __future__ import annotations

from pathlib import Path

import pytest

from medinstruct_eval.mcq_hf import positions_to_keep


def test_positions_to_keep_covers_every_rows_continuation() -> None:
    import torch

    inps = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 0, 0], [5, 6, 7, 8, 0]])
    # Shortest row: 3 tokens; a 1-token continuation starts at position 2 at the latest.
    assert positions_to_keep(inps, 1) == 3
    assert positions_to_keep(inps, 2) == 4
    assert positions_to_keep(inps, 10) == 5
    # A row ending in token 0 looks shorter: more positions kept, never fewer.
    assert positions_to_keep(torch.tensor([[5, 6, 0, 0], [5, 6, 7, 8]]), 1) == 3
    assert positions_to_keep(torch.tensor([[0, 0, 0], [5, 6, 7]]), 1) == 3


def _requests(n: int, answers: tuple[str, ...]) -> list:
    """Questions of varied lengths, each with every answer in `answers`."""
    from lm_eval.api.instance import Instance

    out = []
    for i in range(n):
        stem = "Which nerve supplies the muscle? " + "Some more context. " * (i % 7)
        context = f"Question: {stem}\nA. one\nB. two\nC. three\nD. four\nAnswer:"
        for cont in answers:
            out.append(Instance("loglikelihood", {}, (context, cont), idx=len(out)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "answers",
    [(" A", " B", " C", " D"), (" yes", " no", " maybe"), (" A", " maybe not", " B")],
    ids=["letters", "yes-no", "mixed-lengths"],
)
def test_every_loglikelihood_equals_plain_hflm(
    tiny_model_dir: Path, answers: tuple[str, ...]
) -> None:
    """Letters and yes/no are one token each (no slack: keeping one position fewer fails)."""
    from lm_eval.models.huggingface import HFLM

    from medinstruct_eval.mcq import model_args
    from medinstruct_eval.mcq_hf import last_logits_lm

    args = model_args(tiny_model_dir, "float32")
    plain = HFLM(**args, batch_size=4, device="cpu")
    fast = last_logits_lm(args, batch_size=4, device="cpu")
    requests = _requests(12, answers)
    assert fast.loglikelihood(requests) == plain.loglikelihood(requests)
