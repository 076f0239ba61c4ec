"""Every execution path of the blocked dedup must keep exactly what rouge_score keeps.

The paths are chosen by sizes (block length, list length x probing rows, the
dense chunk, the number of workers); small values force each of them on the
small hypothesis inputs used here.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medinstruct_text import rouge
from medinstruct_text.rouge import RougeLIndex, _Bounds, rouge_l_dedup, rouge_l_dedup_detailed
from tests.text.test_rouge import TIE_THRESHOLDS, reference_rouge_l_dedup, texts, thresholds


def slow_ok(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


# Path settings: (block, heavy, chunk, compiled).  The numpy stage one runs unless
# `compiled`; there heavy=0 sends every list to the dense comparison, a huge heavy
# every list to the stream, and a chunk of 1 splits both.  The compiled scan
# (scan.c) reads every list of a block in one call, whatever heavy and chunk are.
PATHS = {
    "blocks-of-3-dense": (3, 0, 1 << 20, False),
    "blocks-of-3-stream": (3, 1 << 60, 1 << 20, False),
    "blocks-of-2-dense-chunked": (2, 0, 1, False),
    "blocks-of-3-stream-chunked": (3, 1 << 60, 1, False),
    "one-block": (1 << 20, 0, 1 << 20, False),
    "compiled-blocks-of-3": (3, 0, 1 << 20, True),
    "compiled-one-block": (1 << 20, 0, 1 << 20, True),
}


def _dedup_on_path(path: str, *args: object, workers: int = 1) -> list[int]:
    block, heavy, chunk, compiled = PATHS[path]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rouge, "_BLOCK", block)
        patch.setattr(rouge, "_HEAVY", heavy)
        patch.setattr(rouge, "_DENSE_ROWS", 0 if heavy == 0 else 1 << 60)
        patch.setattr(rouge, "_CHUNK", chunk)
        patch.setattr(rouge, "_MIN_PARALLEL_BLOCKS", 2)
        if compiled:
            assert rouge.load_scan() is not None, "the compiled scan did not build here"
        else:
            patch.setattr(rouge, "load_scan", lambda: None)
        return rouge_l_dedup(*args, workers=workers)  # type: ignore[arg-type]


@slow_ok(150)
@given(
    st.lists(texts, max_size=20),
    st.lists(texts, max_size=5),
    thresholds,
    st.sampled_from(sorted(PATHS)),
)
def test_every_serial_path_matches_reference(
    candidates: list[str], pool: list[str], threshold: float, path: str
) -> None:
    expected = reference_rouge_l_dedup(candidates, pool, threshold)
    assert _dedup_on_path(path, candidates, pool, threshold) == expected


@slow_ok(20)
@given(st.lists(texts, min_size=4, max_size=24), st.lists(texts, max_size=4), thresholds)
def test_forked_workers_match_reference(
    candidates: list[str], pool: list[str], threshold: float
) -> None:
    expected = reference_rouge_l_dedup(candidates, pool, threshold)
    assert _dedup_on_path("blocks-of-3-dense", candidates, pool, threshold, workers=2) == expected
    assert (
        _dedup_on_path("blocks-of-2-dense-chunked", candidates, pool, threshold, workers=3)
        == expected
    )
    assert (
        _dedup_on_path("compiled-blocks-of-3", candidates, pool, threshold, workers=2) == expected
    )


def test_forked_workers_report_the_same_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rouge, "_BLOCK", 4)
    monkeypatch.setattr(rouge, "_MIN_PARALLEL_BLOCKS", 2)
    base = "treat the fever in children with {} and rest"
    candidates = [base.format(w) for w in ("fluids", "fluids now", "rest", "sleep", "fluids")]
    candidates += ["explain asthma triggers", "explain asthma triggers please", "list gout drugs"]
    pool = ["treat the fever in adults with fluids and rest"]
    serial = rouge_l_dedup_detailed(candidates, pool)
    assert rouge_l_dedup_detailed(candidates, pool, workers=2) == serial
    assert [d.index for d in serial if d.kept] == reference_rouge_l_dedup(candidates, pool)


def test_parallel_path_switches_to_tuple_keys_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rouge, "_MAX_CODE_POINT", 0x100 + 0x800 + 6)  # room for 7 tokens only
    monkeypatch.setattr(rouge, "_BLOCK", 2)
    monkeypatch.setattr(rouge, "_MIN_PARALLEL_BLOCKS", 2)
    candidates = ["a b c d", "a b c e", "e f g", "x y z w", "x y z w v", "p q r s", "a b c d"]
    expected = reference_rouge_l_dedup(candidates, pool=["a b c"])
    assert rouge_l_dedup(candidates, pool=["a b c"], workers=2) == expected


def test_a_failing_worker_raises_in_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rouge, "_BLOCK", 2)
    monkeypatch.setattr(rouge, "_MIN_PARALLEL_BLOCKS", 2)
    parent = os.getpid()
    original = RougeLIndex._matches

    def failing(self: RougeLIndex, batch: object, groups: object) -> object:
        if os.getpid() != parent:
            raise OSError("disk on fire")
        return original(self, batch, groups)  # type: ignore[arg-type]

    monkeypatch.setattr(RougeLIndex, "_matches", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        rouge_l_dedup(["a b", "c d", "e f", "g h", "i j"], workers=2)


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        rouge_l_dedup(["a"], workers=0)
    with pytest.raises(ValueError, match="workers"):
        RougeLIndex().filter(["a"], workers=0)


@pytest.mark.parametrize("threshold", [0.0, 1e-7, 0.3, 0.7, 0.999, 1.0, *TIE_THRESHOLDS[::7]])
def test_scaled_terms_never_exceed_twice_the_needed_overlap(threshold: float) -> None:
    bounds = _Bounds(threshold)
    sizes = np.arange(0, 400)
    m, n = np.meshgrid(sizes, sizes)
    scaled = bounds.scaled(sizes)
    need = bounds.need((m + n).ravel()).reshape(m.shape)
    possible = need <= np.minimum(m, n)  # pairs that can match at all
    assert (scaled[m] + scaled[n] + 1 <= 2 * need)[possible].all()


def test_long_texts_with_saturated_signatures_match_reference() -> None:
    words = [f"w{k}" for k in range(300)]
    base = " ".join(words)
    candidates = [
        base,
        " ".join(words[:250]),  # F = 2*250/550 ~ 0.91 with the base
        " ".join(words[::-1]),  # LCS 1
        " ".join(words[:100] + ["x"] * 200),
        " ".join(["x"] * 150 + words[:150]),
        " ".join(words[50:] + words[:50]),
    ]
    for threshold in (0.3, 0.7, 0.95):
        expected = reference_rouge_l_dedup(candidates, [" ".join(words[:30])], threshold)
        assert rouge_l_dedup(candidates, [" ".join(words[:30])], threshold) == expected


def test_empty_inputs() -> None:
    assert rouge_l_dedup([]) == []
    assert rouge_l_dedup([], pool=["a b"], workers=2) == []
    index = RougeLIndex()
    assert index.find_duplicate("anything at all") is None
    assert index.filter([]) == []
    assert len(index) == 0


def _overlap(a: str, b: str) -> int:
    """Multiset overlap of two texts' tokens."""
    return sum((Counter(rouge.rouge_tokenize(a)) & Counter(rouge.rouge_tokenize(b))).values())


@pytest.mark.parametrize("threshold", [0.3, 0.7, 0.9])
def test_stage_one_keeps_every_pair_whose_overlap_allows_a_match(threshold: float) -> None:
    """On texts long enough for their folded signatures to collide, every pair
    with overlap >= need passes the stage-one terms and the position limit."""
    rng = random.Random(7)
    vocab = [f"w{k}" for k in range(150)]
    texts = []
    for _ in range(120):
        base = rng.choices(vocab, k=rng.randint(1, 120))
        texts += [" ".join(base), " ".join(w if rng.random() < 0.8 else "x" for w in base)]
    bounds = _Bounds(threshold)
    batch, _ = rouge._Encoder(bounds).encode(texts)
    m, n = np.meshgrid(batch.sizes, batch.sizes, indexing="ij")
    need = bounds.need(m + n)
    overlap = np.array([[_overlap(a, b) for b in texts] for a in texts])
    possible = (overlap >= need) & (need <= np.minimum(m, n))
    twice = rouge._twice_shared(batch.folded[:, None, :], batch.folded[:, 0], batch.folded[:, 1])
    u, v = batch.terms[:, 0], batch.terms[:, 1]
    assert possible.sum() > len(texts)  # more than the diagonal: near-duplicates exist
    assert (twice > v[:, None] + u[None, :])[possible].all()
    assert (twice > u[:, None] + v[None, :])[possible].all()
    # A shared element at probe position i = m - overlap is the latest a first one can be.
    rows = np.repeat(np.arange(len(texts)), len(texts))
    latest = (m - np.minimum(overlap, m)).ravel()
    limit = rouge._position_limits(batch, rows, latest).reshape(m.shape)
    assert (u[None, :] <= limit)[possible].all()
