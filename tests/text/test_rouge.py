"""The fast ROUGE-L dedup must keep exactly what the plain rouge_score loop keeps."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer, tokenize

from benchmarks.bench_dedup import reference_rouge_l_dedup
from medinstruct_text import rouge
from medinstruct_text.rouge import (
    _fmeasure,
    _lcs_keys,
    rouge_l_dedup,
    rouge_l_dedup_detailed,
    rouge_l_fmeasure,
    rouge_tokenize,
)

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _words(*groups: tuple[str, int]) -> str:
    """Space-joined distinct tokens: ("s", 3) -> "s0 s1 s2"."""
    return " ".join(f"{prefix}{k}" for prefix, n in groups for k in range(n))


# A tiny vocabulary makes near-duplicates frequent; the odd entries exercise the
# tokenizer (lowercasing before the ASCII filter, punctuation, empty texts).
# fmt: off
WORDS = ["a", "b", "c", "d", "the", "of", "A", "B!", "c-d", "İ", "\u212a", "é", "...", "", "x1", "9"]
# fmt: on
SEPARATORS = [" ", "  ", ",", "\n", "-", "?"]
# Every score reachable by short texts, so ties at the threshold happen often.
TIE_THRESHOLDS = sorted(
    {_fmeasure(lcs, m, n) for m in range(1, 9) for n in range(1, 9) for lcs in range(min(m, n) + 1)}
)

texts = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), min_size=0, max_size=9
).map(lambda parts: "".join(w + s for w, s in parts))
thresholds = st.one_of(
    st.sampled_from(TIE_THRESHOLDS),
    st.sampled_from([0.0, 0.5, 0.7, 1.0]),
    st.floats(min_value=0.0, max_value=1.0),
)


@given(st.text(max_size=60))
def test_tokenize_matches_rouge_score(text: str) -> None:
    assert rouge_tokenize(text) == tokenize.tokenize(text, None)


@given(texts, texts)
def test_fmeasure_matches_rouge_score_bit_for_bit(a: str, b: str) -> None:
    assert rouge_l_fmeasure(a, b) == SCORER.score(a, b)["rougeL"].fmeasure
    assert rouge_l_fmeasure(a, b) == rouge_l_fmeasure(b, a)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, max_size=25), st.lists(texts, max_size=6), thresholds)
def test_dedup_matches_reference(candidates: list[str], pool: list[str], threshold: float) -> None:
    assert rouge_l_dedup(candidates, pool, threshold) == reference_rouge_l_dedup(
        candidates, pool, threshold
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=15), st.lists(st.text(max_size=30), max_size=4))
def test_dedup_matches_reference_on_arbitrary_unicode(
    candidates: list[str], pool: list[str]
) -> None:
    assert rouge_l_dedup(candidates, pool) == reference_rouge_l_dedup(candidates, pool)


@settings(max_examples=150, deadline=None)
@given(st.lists(texts, max_size=20), st.lists(texts, max_size=5), thresholds)
def test_detailed_reports_the_best_match(
    candidates: list[str], pool: list[str], threshold: float
) -> None:
    decisions = rouge_l_dedup_detailed(candidates, pool, threshold)
    kept = [d.index for d in decisions if d.kept]
    assert kept == reference_rouge_l_dedup(candidates, pool, threshold)
    for d in decisions:
        if d.kept:
            continue
        compared = [("pool", j, t) for j, t in enumerate(pool)]
        compared += [("candidate", j, candidates[j]) for j in kept if j < d.index]
        scores = [SCORER.score(candidates[d.index], t)["rougeL"].fmeasure for _, _, t in compared]
        best = max(scores)
        source, index, text = compared[scores.index(best)]
        assert (d.match_source, d.match_index, d.match_text, d.score) == (source, index, text, best)
        assert d.score > threshold


@pytest.mark.parametrize(
    ("m", "n", "lcs", "kept"),
    [
        (10, 10, 7, True),  # 2*7/20 is 0.7 and the float is exactly 0.7: not > 0.7
        (20, 20, 14, True),
        (7, 13, 7, False),  # 2*7/20 is 0.7 in exact arithmetic, 0.7000000000000001 in floats
        (9, 11, 7, False),
        (23, 37, 21, True),  # 0.6999999999999998
        (10, 10, 8, False),
    ],
)
def test_ties_at_threshold_follow_rouge_score_floats(m: int, n: int, lcs: int, kept: bool) -> None:
    first = _words(("s", lcs), ("a", m - lcs))
    second = _words(("s", lcs), ("b", n - lcs))
    expected = [0, 1] if kept else [0]
    assert reference_rouge_l_dedup([first, second]) == expected
    assert rouge_l_dedup([first, second]) == expected
    assert rouge_l_dedup([second], pool=[first]) == ([0] if kept else [])


def test_pool_items_are_not_deduplicated_against_each_other() -> None:
    pool = ["treat the fever now", "treat the fever now"]
    assert rouge_l_dedup(["treat the fever now please", "explain asthma triggers"], pool) == [1]


def test_texts_without_tokens_are_always_kept() -> None:
    assert rouge_l_dedup(["", "!!!", "", "ß ø"], pool=["", "..."]) == [0, 1, 2, 3]


def test_threshold_one_keeps_everything_and_zero_keeps_only_disjoint() -> None:
    candidates = ["a b", "a b", "c", "b d"]
    assert rouge_l_dedup(candidates, threshold=1.0) == [0, 1, 2, 3]
    assert rouge_l_dedup(candidates, threshold=0.0) == [0, 2]


def test_detailed_names_the_first_of_equal_best_matches() -> None:
    decisions = rouge_l_dedup_detailed(["x y z", "x y z"], pool=["x y z", "x y z"])
    assert [(d.kept, d.match_source, d.match_index, d.score) for d in decisions] == [
        (False, "pool", 0, 1.0),
        (False, "pool", 0, 1.0),
    ]


@pytest.mark.parametrize("threshold", [-0.01, 1.01, float("nan")])
def test_threshold_outside_unit_interval_is_rejected(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        rouge_l_dedup(["a"], threshold=threshold)


def test_lcs_keys_skip_surrogates() -> None:
    keys = _lcs_keys([[0, 1], [0xD800 - 0x100]], vocab_size=0xD800 - 0x100 + 1)
    assert keys == ["\u0100\u0101", "\ue000"]  # never a lone surrogate


def test_huge_vocabularies_fall_back_to_tuple_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rouge, "_MAX_CODE_POINT", 0x100 + 0x800 + 2)  # room for 3 tokens only
    assert _lcs_keys([[0, 3]], vocab_size=4) == [(0, 3)]
    candidates = ["a b c d e", "a b c d f", "e d c b a", "a b x y z", "a b c d e g"]
    assert rouge_l_dedup(candidates, pool=["x y z"]) == reference_rouge_l_dedup(
        candidates, pool=["x y z"]
    )


def test_long_texts_with_repeated_tokens_match_reference() -> None:
    base = "the patient with the fever and the cough " * 8
    candidates = [
        base,
        base + "today",
        "the " * 40,
        "fever " * 5 + base,
        base.replace("cough", "rash"),
    ]
    assert rouge_l_dedup(candidates) == reference_rouge_l_dedup(candidates)
