"""One RougeLIndex fed round by round must keep exactly what one plain rouge_score pass keeps."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medinstruct_text import rouge
from medinstruct_text.rouge import RougeLIndex, RougeMatch, rouge_l_dedup
from tests.text.test_rouge import SCORER, reference_rouge_l_dedup, texts, thresholds

rounds = st.lists(st.lists(texts, max_size=8), max_size=5)


def _feed(index: RougeLIndex, batches: list[list[str]]) -> list[int]:
    """Kept indices into the concatenation of `batches`, filtering one batch per call."""
    kept: list[int] = []
    offset = 0
    for batch in batches:
        kept += [offset + i for i in index.filter(batch)]
        offset += len(batch)
    return kept


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds, st.lists(texts, max_size=6), thresholds)
def test_rounds_through_one_index_match_one_reference_pass(
    batches: list[list[str]], pool: list[str], threshold: float
) -> None:
    index = RougeLIndex(threshold)
    index.extend(pool)
    everything = [text for batch in batches for text in batch]
    expected = reference_rouge_l_dedup(everything, pool, threshold)
    assert _feed(index, batches) == expected
    assert len(index) == len(pool) + len(expected)
    assert rouge_l_dedup(everything, pool, threshold) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(texts, max_size=12), texts, thresholds)
def test_find_duplicate_reports_the_first_best_match(
    indexed: list[str], probe: str, threshold: float
) -> None:
    index = RougeLIndex(threshold)
    index.extend(indexed)
    scores = [SCORER.score(probe, text)["rougeL"].fmeasure for text in indexed]
    best = max(scores, default=0.0)
    match = index.find_duplicate(probe)
    if best <= threshold:
        assert match is None
    else:
        position = scores.index(best)
        assert match == RougeMatch(position, indexed[position], best)
    assert len(index) == len(indexed)  # probing never adds


def test_add_and_extend_return_positions() -> None:
    index = RougeLIndex()
    assert index.add("treat the fever") == 0
    assert index.extend(["treat the fever", "", "explain asthma"]) == range(1, 4)
    assert len(index) == 4
    assert index.text(2) == ""
    assert index.threshold == 0.7


def test_find_duplicate_counts_exact_scores() -> None:
    index = RougeLIndex(0.7)
    index.extend(["a b c d e f g h x y", "a b c d e f g h i y", "a b c d e f g h i y"])
    # LCS 8 and 9 of 10 tokens: the second item (0.9) beats the first (0.8); the third ties it.
    assert index.find_duplicate("a b c d e f g h i j") == RougeMatch(1, "a b c d e f g h i y", 0.9)
    # LCS 7 of 10 against each: F is exactly 0.7, which is not > 0.7.
    assert index.find_duplicate("a b c d e f g p q r") is None
    assert index.find_duplicate("") is None
    assert index.find_duplicate("unrelated words only here") is None
    assert len(index) == 3


def test_filter_compares_with_earlier_rounds_and_within_the_round() -> None:
    index = RougeLIndex()
    index.extend(["explain the causes of fever in children"])
    assert index.filter(["explain the causes of fever in young children", "list asthma drugs"]) == [
        1
    ]
    assert index.filter(["list asthma drugs", "list asthma drugs now", "describe gout"]) == [2]
    assert index.filter(["describe gout", "describe gout flares"]) == []
    assert len(index) == 3


def test_filter_detailed_names_pool_positions_and_in_call_candidates() -> None:
    index = RougeLIndex()
    index.extend(["x y z", "p q r"])
    index.filter(["k l m"])  # position 2, added by an earlier call: reported as "pool"
    decisions = index.filter_detailed(["u v w", "k l m", "u v w", "p q r"])
    summary = [(d.kept, d.match_source, d.match_index, d.match_text, d.score) for d in decisions]
    assert summary == [
        (True, None, None, None, 0.0),
        (False, "pool", 2, "k l m", 1.0),
        (False, "candidate", 0, "u v w", 1.0),
        (False, "pool", 1, "p q r", 1.0),
    ]


def test_adding_never_retokenizes_existing_items(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    tokenize = rouge.rouge_tokenize

    def counting_tokenize(text: str) -> list[str]:
        calls.append(text)
        return tokenize(text)

    monkeypatch.setattr(rouge, "rouge_tokenize", counting_tokenize)
    index = RougeLIndex()
    index.extend([f"seed task number {k} about topic {k}" for k in range(5)])
    assert len(calls) == 5
    for round_no in range(3):
        index.filter([f"new task {round_no} {k}" for k in range(4)])
    assert len(calls) == 5 + 3 * 4
    index.find_duplicate("probe")
    assert len(calls) == 5 + 3 * 4 + 1


def test_keys_switch_to_tuples_midway_and_stay_comparable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rouge, "_MAX_CODE_POINT", 0x100 + 0x800 + 4)  # room for 5 tokens only
    index = RougeLIndex()
    index.extend(["a b c d e"])  # 5 tokens: str keys
    assert isinstance(index._keys[0], str)
    candidates = ["a b c d f", "e d c b a", "a b c d e g", "x y z", "x y z w"]
    assert index.filter(candidates) == [1, 3]
    assert all(isinstance(key, tuple) for key in index._keys)
    assert index.find_duplicate("a b c d e") == RougeMatch(0, "a b c d e", 1.0)
    expected = reference_rouge_l_dedup(candidates, pool=["a b c d e"])
    assert expected == [1, 3]


@pytest.mark.parametrize("threshold", [-0.01, 1.01, float("nan")])
def test_index_rejects_threshold_outside_unit_interval(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        RougeLIndex(threshold)


def test_signature_arrays_grow_past_their_initial_capacity() -> None:
    index = RougeLIndex()
    texts_ = [f"alpha{k} beta{k} shared words" for k in range(rouge._INITIAL_CAPACITY * 2 + 3)]
    assert index.filter(texts_) == list(range(len(texts_)))  # F = 0.5 between any two
    assert len(index) == len(texts_) < len(index._sizes)
    assert index.find_duplicate(texts_[-1]) == RougeMatch(len(texts_) - 1, texts_[-1], 1.0)
