"""Exact, fast ROUGE-L near-duplicate removal (the Self-Instruct / Alpaca rule).

Self-Instruct and AlpaCare keep a generated instruction only when its ROUGE-L
F-measure against every seed and every instruction kept so far is <= 0.7.  The
reference code scores each new instruction against the whole pool with
`rouge_score`, which is quadratic and takes hours for 52k instructions.  This
module returns *the same kept set* in seconds.  The tricks are all exact, so no
pair whose score could exceed the threshold is ever skipped:

* tokens are interned to ints and each text becomes a short string of code
  points, so rapidfuzz's bit-parallel LCS runs in C;
* LCS <= multiset overlap O <= min(m, n), and F <= 2*O/(m + n);
* a prefix filter (AllPairs-style): a pair whose overlap is high enough must
  share a token among the rarest few of each side, so only items sharing a
  rare token are looked at;
* hashed bit signatures bound O from above with a few vectorised numpy
  operations, which rejects nearly all of those before any LCS is computed;
* every score is computed with the same float operations as `rouge_score`
  (precision, recall, then 2pr/(p+r)), so ties at exactly the threshold agree;
  bounds prune only below threshold - 1e-9, so their rounding cannot matter.

Memory is linear in the number of tokens (an inverted index over the prefixes
of kept items, 40 bytes of signature per text); there are no pairwise matrices.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz.distance import LCSseq

__all__ = [
    "DedupDecision",
    "rouge_l_dedup",
    "rouge_l_dedup_detailed",
    "rouge_l_fmeasure",
    "rouge_tokenize",
]

# rouge_score.tokenize without a stemmer: lowercase, non-alphanumerics become
# spaces, split.  After the substitution only [a-z0-9 ] remain, so str.split()
# yields exactly the tokens rouge_score keeps with its ^[a-z0-9]+$ check.
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SURROGATES_START = 0xD800
_SURROGATES_SIZE = 0x800
_FIRST_CODE_POINT = 0x100
# Bounds prune only below threshold - _SLACK: far above float rounding error,
# far below the gap between two distinct ROUGE-L values of realistic texts.
_SLACK = 1e-9
_MAX_CODE_POINT = 0x10FFFF
_SIG_WORDS = 4
_SIG_BITS = 64 * _SIG_WORDS
_SIG_SHIFT = 64 - (_SIG_BITS.bit_length() - 1)  # top bits of the 64-bit hash pick the bit
_FIB_HASH = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def rouge_tokenize(text: str) -> list[str]:
    """Tokenize exactly like `rouge_score.tokenize.tokenize(text, None)`.

    Lowercasing happens *before* the ASCII filter, as in rouge_score, so for
    example the Kelvin sign becomes the token "k".
    """
    return _NON_ALNUM.sub(" ", text.lower()).split()


def _fmeasure(lcs: int, len_a: int, len_b: int) -> float:
    """ROUGE-L F with rouge_score's exact float operations.

    rouge_score computes precision = lcs/len(pred), recall = lcs/len(target)
    and 2*p*r/(p+r); the formula is symmetric in IEEE arithmetic (2*x is exact
    and + and * commute), so the argument order does not matter.
    """
    if len_a == 0 or len_b == 0:
        return 0.0
    precision = lcs / len_b
    recall = lcs / len_a
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_l_fmeasure(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts, equal to rouge_score's `rougeL` fmeasure."""
    tokens_a, tokens_b = rouge_tokenize(a), rouge_tokenize(b)
    if not tokens_a or not tokens_b:
        return 0.0
    lcs = LCSseq.similarity(tokens_a, tokens_b)
    return _fmeasure(lcs, len(tokens_a), len(tokens_b))


@dataclass(frozen=True)
class DedupDecision:
    """Why one candidate was kept or dropped.

    For a dropped candidate, `match_source` is "pool" or "candidate" and
    `match_index` indexes the pool or the candidates; the match is the item
    with the highest score (ties: pool before candidates, then lowest index).
    """

    index: int
    kept: bool
    match_source: str | None = None
    match_index: int | None = None
    match_text: str | None = None
    score: float = 0.0


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")


@dataclass
class _Bounds:
    """The prefix-filter bound for one threshold, cached per text length.

    Every bound prunes only when it is below `threshold - _SLACK`, so float
    rounding in a bound can never drop a pair that rouge_score would flag;
    the final decision always uses the exact LCS and `_fmeasure`.
    """

    threshold: float
    _prefix: dict[int, int] = field(default_factory=dict)

    def could_exceed(self, overlap: int, len_a: int, len_b: int) -> bool:
        """Whether F <= 2*overlap/(len_a+len_b) can still exceed the threshold."""
        return 2 * overlap / (len_a + len_b) > self.threshold - _SLACK

    def prefix_len(self, m: int) -> int:
        """Elements of a size-m item to index and probe (0: it can never match).

        F <= 2*O/(m+O) for overlap O (LCS <= O <= n), so a match needs O >=
        alpha, the smallest O for which that exceeds the threshold.  Two sets
        sharing >= alpha elements share one among the first m - alpha + 1 of
        each, under one global element order (the AllPairs prefix filter).
        """
        if m not in self._prefix:
            alpha = next((o for o in range(1, m + 1) if self.could_exceed(o, m, o)), None)
            self._prefix[m] = 0 if alpha is None else m - alpha + 1
        return self._prefix[m]


class _Encoder:
    """Interns tokens and multiset elements to dense ints, shared by pool and candidates.

    Element ids: the first occurrence of a token is the token id itself; the
    k-th repeat (k >= 1) gets its own id after all token ids, so the multiset
    overlap of two texts equals the set overlap of their elements.
    """

    def __init__(self) -> None:
        self.token_ids: dict[str, int] = {}
        self.repeat_ids: dict[tuple[int, int], int] = {}

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        """Return (token ids, elements); repeats are provisional negative ids until `finish`."""
        token_ids = self.token_ids
        ids = [token_ids.setdefault(tok, len(token_ids)) for tok in rouge_tokenize(text)]
        if len(set(ids)) == len(ids):  # the common case: no token repeats
            return ids, ids
        seen: Counter[int] = Counter()
        elements = []
        for tid in ids:
            k = seen[tid]
            seen[tid] += 1
            if k == 0:
                elements.append(tid)
            else:
                elements.append(-1 - self.repeat_ids.setdefault((tid, k), len(self.repeat_ids)))
        return ids, elements

    def finish(self, elements: list[int]) -> list[int]:
        """Map provisional repeat ids into [n_tokens, n_tokens + n_repeats)."""
        if not elements or min(elements) >= 0:
            return elements
        base = len(self.token_ids)
        return [e if e >= 0 else base - 1 - e for e in elements]

    @property
    def n_elements(self) -> int:
        return len(self.token_ids) + len(self.repeat_ids)


def _lcs_keys(id_lists: list[list[int]], vocab_size: int) -> list[str] | list[tuple[int, ...]]:
    """One LCS key per text: a str with one code point per token, which rapidfuzz
    handles bit-parallel, or (more distinct tokens than code points) int tuples.

    The choice is made once for all texts, so two keys always encode a token alike.
    """
    if _FIRST_CODE_POINT + vocab_size + _SURROGATES_SIZE > _MAX_CODE_POINT + 1:
        return [tuple(ids) for ids in id_lists]
    codes = (_FIRST_CODE_POINT + i for i in range(vocab_size))
    table = [chr(c + _SURROGATES_SIZE if c >= _SURROGATES_START else c) for c in codes]
    return ["".join([table[i] for i in ids]) for ids in id_lists]


def _signature(elements: Iterable[int]) -> list[int]:
    """A _SIG_BITS-bit hashed set of the elements, as _SIG_WORDS 64-bit words.

    Every bit set in sig(x) & ~sig(y) stands for at least one element of x
    missing from y, so overlap(x, y) <= |x| - popcount(sig(x) & ~sig(y)):
    a cheap, vectorisable, exact upper bound on the LCS.
    """
    bits = 0
    for element in elements:
        bits |= 1 << (((element * _FIB_HASH) & _MASK64) >> _SIG_SHIFT)
    return [(bits >> (64 * w)) & _MASK64 for w in range(_SIG_WORDS)]


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (1-D) or per row (2-D), as int64; numpy < 2 lacks bitwise_count."""
    if words.ndim == 1:
        words = words[:, None]
    if hasattr(np, "bitwise_count"):
        counts = np.bitwise_count(words).astype(np.int64)
    else:
        counts = (
            np.unpackbits(words.view(np.uint8), axis=1).reshape(len(words), -1).astype(np.int64)
        )
    return counts[:, 0] if counts.shape[1] == 1 else counts.sum(axis=1)


def _global_order(elements: list[list[int]], n_elements: int) -> list[list[int]]:
    """Sort each item's elements rarest first (ids break ties), the order the prefix filter needs."""
    freq = [0] * n_elements
    for item in elements:
        for element in item:
            freq[element] += 1
    position = [0] * n_elements
    for pos, element in enumerate(sorted(range(n_elements), key=lambda e: (freq[e], e))):
        position[element] = pos
    return [sorted(item, key=position.__getitem__) for item in elements]


class _Index:
    """All texts (pool first, then candidates), plus an inverted index over the kept ones.

    Slot numbers are positions in [*pool, *candidates], so "lowest slot" means
    pool before candidates, then input order.
    """

    def __init__(self, texts: Sequence[str], threshold: float) -> None:
        encoder = _Encoder()
        encoded = [encoder.encode(text) for text in texts]
        self.keys: Sequence[str | tuple[int, ...]] = _lcs_keys(
            [ids for ids, _ in encoded], len(encoder.token_ids)
        )
        elements = [encoder.finish(els) for _, els in encoded]
        self.ordered = _global_order(elements, encoder.n_elements)
        self.size_list = [len(els) for els in elements]
        self.sizes = np.array(self.size_list, dtype=np.int64)
        self.sigs = np.array([_signature(els) for els in elements], dtype=np.uint64)
        self.sigs = self.sigs.reshape(len(texts), _SIG_WORDS)
        # The OR of the words is a valid 64-bit signature of the same set (bit = hash mod 64).
        self.folded = np.bitwise_or.reduce(self.sigs, axis=1)
        self.bounds = _Bounds(threshold)
        self.postings: dict[int, array[int]] = {}

    def add(self, slot: int) -> None:
        """Index a pool item or kept candidate under the elements of its prefix."""
        for element in self.ordered[slot][: self.bounds.prefix_len(self.size_list[slot])]:
            self.postings.setdefault(element, array("i")).append(slot)

    def _candidates(self, slot: int) -> np.ndarray:
        """Indexed slots sharing a prefix element whose overlap bound can exceed the threshold.

        The folded 64-bit signatures prune almost everything with 1-D array
        operations; the full signatures then tighten the bound on the few
        survivors.  Only then are duplicates (a slot found via several prefix
        elements) removed, on a tiny array.
        """
        m = self.size_list[slot]
        prefix = self.ordered[slot][: self.bounds.prefix_len(m)]
        lists = [self.postings[e] for e in prefix if e in self.postings]
        if not lists:
            return np.empty(0, dtype=np.int64)
        cand = np.concatenate([np.frombuffer(lst, dtype=np.intc) for lst in lists])
        cand = cand[self._could_match(m, self.folded[slot], self.folded[cand], self.sizes[cand])]
        if cand.size:
            cand = cand[self._could_match(m, self.sigs[slot], self.sigs[cand], self.sizes[cand])]
        return np.unique(cand)

    def _could_match(
        self, m: int, sig_x: np.ndarray, sig_y: np.ndarray, n: np.ndarray
    ) -> np.ndarray:
        """Mask of partners whose signature overlap bound keeps F above threshold - slack."""
        miss_x = _popcount(sig_x & ~sig_y)
        miss_y = _popcount(sig_y & ~sig_x)
        overlap = np.minimum(m - miss_x, n - miss_y)
        return 2 * overlap / (m + n) > self.bounds.threshold - _SLACK

    def best_match(self, slot: int) -> tuple[int, float] | None:
        """Highest-scoring indexed slot whose F exceeds the threshold (lowest slot on ties)."""
        best: tuple[int, float] | None = None
        key, m = self.keys[slot], self.size_list[slot]
        for other in self._candidates(slot).tolist():
            lcs = LCSseq.similarity(key, self.keys[other])
            score = _fmeasure(lcs, m, self.size_list[other])
            if score > self.bounds.threshold and (best is None or score > best[1]):
                best = (other, score)
        return best


def rouge_l_dedup_detailed(
    candidates: Sequence[str], pool: Sequence[str] = (), threshold: float = 0.7
) -> list[DedupDecision]:
    """Decide, in order, which candidates survive ROUGE-L dedup, and why the others did not.

    A candidate is kept when its ROUGE-L F against every pool item and every
    previously kept candidate is <= `threshold` (pool items are never
    compared with each other).  Texts with no tokens score 0 against anything.
    """
    _check_threshold(threshold)
    index = _Index([*pool, *candidates], threshold)
    for slot in range(len(pool)):
        index.add(slot)
    decisions = []
    for i in range(len(candidates)):
        match = index.best_match(len(pool) + i)
        if match is None:
            index.add(len(pool) + i)
            decisions.append(DedupDecision(index=i, kept=True))
        else:
            decisions.append(_dropped(i, match[0], match[1], pool, candidates))
    return decisions


def _dropped(
    i: int, slot: int, score: float, pool: Sequence[str], candidates: Sequence[str]
) -> DedupDecision:
    in_pool = slot < len(pool)
    match_index = slot if in_pool else slot - len(pool)
    return DedupDecision(
        index=i,
        kept=False,
        match_source="pool" if in_pool else "candidate",
        match_index=match_index,
        match_text=pool[match_index] if in_pool else candidates[match_index],
        score=score,
    )


def rouge_l_dedup(
    candidates: Sequence[str], pool: Sequence[str] = (), threshold: float = 0.7
) -> list[int]:
    """Indices of the candidates kept by the Self-Instruct ROUGE-L rule (see the detailed variant)."""
    return [d.index for d in rouge_l_dedup_detailed(candidates, pool, threshold) if d.kept]
