"""Dataset-level diversity metrics for the quality gate.

AlpaCare argues that *diverse* machine-generated tasks matter more than many
tasks, so the gate measures diversity directly instead of trusting the curate
stage:

* nearest-neighbour ROUGE-L over instructions: the largest pairwise score must
  stay at or below the dedup threshold (a regression test of the curate stage);
* mean ROUGE-L over sampled random pairs (the Self-Instruct diversity plot);
* distinct-2: unique word bigrams / all bigrams over the instructions;
* the share of the most common task type.

Distinct-2 falls as rows are added whatever their quality (MMLU questions:
0.61 at 1,000 rows, 0.31 at 14,042), so the gate computes it, like the
verb-object count, on `sample_rows`: a fixed-size seeded sample. The mean
pairwise ROUGE-L and the shares do not depend on the row count.

ROUGE-L uses rouge_score's tokenizer and float arithmetic (via
medinstruct_text.rouge), so the numbers agree with the dedup stage.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from medinstruct_text.rouge import rouge_l_dedup_detailed, rouge_tokenize

_FIRST_CODE_POINT = 0x100
_SURROGATE_START, _SURROGATE_SIZE = 0xD800, 0x800  # skipped: keys stay valid UTF-8
MAX_PAIRS_KEPT = 10_000  # near-duplicate pairs listed in a report (all rows are still counted)


@dataclass(frozen=True)
class NearPair:
    """Two rows whose instructions are too similar (row positions, not ids)."""

    row_a: int
    row_b: int
    score: float


@dataclass
class RougeReport:
    """Nearest-neighbour ROUGE-L over a set of texts.

    `max_score` is exact when `exact` is true; otherwise it is the largest
    score found among pairs above the threshold (so pass/fail is still exact:
    if no such pair exists, `max_score` is reported as the threshold bound).
    """

    max_score: float
    n_rows_over: int
    pairs: list[NearPair] = field(default_factory=list)
    exact: bool = True


def encode_token_strings(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Map each text to one code point per rouge token, plus token counts.

    rapidfuzz's LCS is bit-parallel on strings, so a text of 20 tokens becomes
    a 20-character string; interning keeps equal tokens equal characters.
    """
    vocab: dict[str, int] = {}
    keys = []
    for text in texts:
        codes = [
            _FIRST_CODE_POINT + vocab.setdefault(tok, len(vocab)) for tok in rouge_tokenize(text)
        ]
        keys.append(
            "".join(chr(c + _SURROGATE_SIZE if c >= _SURROGATE_START else c) for c in codes)
        )
    return keys, np.array([len(k) for k in keys], dtype=np.float64)


def rouge_f(lcs: np.ndarray, len_a: np.ndarray, len_b: np.ndarray) -> np.ndarray:
    """ROUGE-L F from LCS lengths (broadcasting), with rouge_score's operation order.

    precision = lcs/len_b, recall = lcs/len_a, F = 2pr/(p+r): the same IEEE
    operations as rouge_score, so a score exactly at the threshold compares
    the same way here as in the dedup stage. Empty texts score 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = lcs / len_b
        recall = lcs / len_a
        score = 2 * precision * recall / (precision + recall)
    return np.nan_to_num(score, nan=0.0, posinf=0.0, neginf=0.0)


def nearest_rouge_exact(
    texts: Sequence[str], threshold: float, chunk: int = 512, workers: int = 1
) -> RougeReport:
    """All-pairs ROUGE-L in row chunks: O(n^2) LCS calls in C, O(chunk * n) memory."""
    keys, lengths = encode_token_strings(texts)
    n = len(keys)
    best = 0.0
    pairs: list[NearPair] = []
    over = np.zeros(n, dtype=bool)
    columns = np.arange(n)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        lcs = process.cdist(
            keys[start:stop], keys, scorer=LCSseq.similarity, dtype=np.int32, workers=workers
        )
        scores = rouge_f(lcs.astype(np.float64), lengths[start:stop, None], lengths[None, :])
        # Keep each unordered pair once (j > i) and never a row against itself.
        scores[columns[None, :] <= np.arange(start, stop)[:, None]] = -1.0
        best = max(best, float(scores.max()))
        rows, cols = np.nonzero(scores > threshold)
        over[rows + start] = True
        over[cols] = True
        for i, j in list(zip(rows, cols, strict=True))[: MAX_PAIRS_KEPT - len(pairs)]:
            pairs.append(NearPair(start + int(i), int(j), float(scores[i, j])))
    return _report(pairs, best, exact=True, n_rows_over=int(over.sum()))


def _report(pairs: list[NearPair], best: float, exact: bool, n_rows_over: int) -> RougeReport:
    pairs.sort(key=lambda p: (-p.score, p.row_a, p.row_b))
    return RougeReport(max_score=best, n_rows_over=n_rows_over, pairs=pairs, exact=exact)


def nearest_rouge_indexed(texts: Sequence[str], threshold: float) -> RougeReport:
    """Large-n fallback: the prefix-filtered dedup finds every row with a match above threshold.

    Any pair above the threshold makes the dedup drop at least one row, so an
    empty result proves the maximum is <= threshold without O(n^2) work.
    """
    decisions = rouge_l_dedup_detailed(list(texts), threshold=threshold)
    pairs = [
        NearPair(int(d.match_index), d.index, float(d.score))
        for d in decisions
        if not d.kept and d.match_index is not None
    ]
    best = max((p.score for p in pairs), default=float(threshold))
    rows_over = {p.row_a for p in pairs} | {p.row_b for p in pairs}
    return _report(pairs, best, exact=False, n_rows_over=len(rows_over))


def nearest_rouge(texts: Sequence[str], threshold: float, exact_max_n: int) -> RougeReport:
    """Nearest-neighbour ROUGE-L report, exact all-pairs up to `exact_max_n` rows."""
    if len(texts) < 2:
        return RougeReport(max_score=0.0, n_rows_over=0)
    if len(texts) <= exact_max_n:
        return nearest_rouge_exact(texts, threshold)
    return nearest_rouge_indexed(texts, threshold)


def sample_pairs(n: int, k: int, seed: int) -> list[tuple[int, int]]:
    """k distinct unordered pairs (i < j) of n rows; all pairs when there are at most k."""
    total = n * (n - 1) // 2
    if total <= k:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    rng = random.Random(seed)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < k:
        i, j = rng.randrange(n), rng.randrange(n)
        if i != j:
            chosen.add((min(i, j), max(i, j)))
    return sorted(chosen)


def sample_rows(n: int, size: int, seed: int) -> list[int]:
    """Positions of `size` rows drawn with random.Random(seed), in row order; all rows if n <= size.

    A count of distinct things over all rows rises or falls with n, so its
    threshold would mean something else at 52k rows than at 1k; over a sample
    of fixed size it means the same. A smaller set is measured whole.
    """
    if n <= size:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), size))


def mean_pairwise_rouge(texts: Sequence[str], k: int, seed: int) -> float:
    """Mean ROUGE-L F over k random pairs: the typical overlap of two instructions."""
    if len(texts) < 2:
        return 0.0
    keys, lengths = encode_token_strings(texts)
    pairs = sample_pairs(len(texts), k, seed)
    lcs = np.array([LCSseq.similarity(keys[i], keys[j]) for i, j in pairs], dtype=np.float64)
    len_a = np.array([lengths[i] for i, _ in pairs])
    len_b = np.array([lengths[j] for _, j in pairs])
    return float(rouge_f(lcs, len_a, len_b).mean())


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Unique n-grams / total n-grams over all texts (rouge tokens); 0.0 when there are none."""
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        tokens = rouge_tokenize(text)
        grams.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def max_share(values: Sequence[object]) -> float:
    """Share of the most common value (0.0 for no values): how much one label dominates."""
    if not values:
        return 0.0
    return Counter(values).most_common(1)[0][1] / len(values)
