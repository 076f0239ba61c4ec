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
* a prefix filter: a text of m elements can only match an item sharing >=
  alpha of them, so *any* m - alpha + 1 of its elements include a shared one.
  Every indexed element is posted, and a probe reads only the posting lists of
  its m - alpha + 1 currently rarest elements (shortest lists).  Because this
  needs no global element order, items can be added forever without
  re-ranking, re-tokenizing or re-indexing what is already there;
* hashed bit signatures bound O from above with a few vectorised numpy
  operations, which rejects nearly all of those before any LCS is computed;
* every score is computed with the same float operations as `rouge_score`
  (precision, recall, then 2pr/(p+r)), so ties at exactly the threshold agree;
  bounds prune only below threshold - 1e-9, so their rounding cannot matter.

`RougeLIndex` is the one implementation: the Self-Instruct loop keeps a single
index and feeds each round through `RougeLIndex.filter`; `rouge_l_dedup` and
`rouge_l_dedup_detailed` build a fresh index over the pool and filter once.
Memory is linear in the number of tokens (postings of 4 bytes per element,
40 bytes of signature per text, references to the caller's strings); there
are no pairwise matrices.
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
    "RougeLIndex",
    "RougeMatch",
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
_INITIAL_CAPACITY = 256


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
    For `RougeLIndex.filter_detailed` the "pool" is everything that was in the
    index before the call, and `match_index` is the item's position in it.
    """

    index: int
    kept: bool
    match_source: str | None = None
    match_index: int | None = None
    match_text: str | None = None
    score: float = 0.0


@dataclass(frozen=True)
class RougeMatch:
    """The indexed item a text duplicates: position in the index, its text, and the F score."""

    index: int
    text: str
    score: float


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
        """Elements of a size-m text to probe with (0: it can never match).

        F <= 2*O/(m+O) for overlap O (LCS <= O <= n), so a match needs O >=
        alpha, the smallest O for which that exceeds the threshold.  At most
        m - alpha elements of the text are missing from a match, so any
        m - alpha + 1 of them include one that the match shares.
        """
        if m not in self._prefix:
            alpha = next((o for o in range(1, m + 1) if self.could_exceed(o, m, o)), None)
            self._prefix[m] = 0 if alpha is None else m - alpha + 1
        return self._prefix[m]


class _Encoder:
    """Interns tokens and multiset elements to ints, for every text an index ever sees.

    Element ids: the first occurrence of a token is the token id itself; the
    k-th repeat (k >= 1) gets the negative id -1 - r, with r numbering the
    (token, k) pairs.  The multiset overlap of two texts then equals the set
    overlap of their elements, and ids never change as the vocabulary grows.
    """

    def __init__(self) -> None:
        self.token_ids: dict[str, int] = {}
        self.repeat_ids: dict[tuple[int, int], int] = {}

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        """Return (token ids, elements) of one text."""
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


def _token_char(token_id: int) -> str:
    """The code point standing for a token in str keys (never a lone surrogate)."""
    code = _FIRST_CODE_POINT + token_id
    return chr(code + _SURROGATES_SIZE if code >= _SURROGATES_START else code)


def _char_token(char: str) -> int:
    """Inverse of `_token_char`."""
    code = ord(char)
    return (code - _SURROGATES_SIZE if code >= _SURROGATES_START else code) - _FIRST_CODE_POINT


class _KeyCodec:
    """LCS keys: a str with one code point per token, which rapidfuzz handles
    bit-parallel, or (more distinct tokens than code points) int tuples.

    All keys of one index use the same kind, so two keys always encode a token
    alike; `grow` reports the one-time switch to tuples so the caller can convert.
    """

    def __init__(self) -> None:
        self.chars: list[str] | None = []

    def grow(self, vocab_size: int) -> bool:
        """Make room for `vocab_size` tokens; True when this switched the codec to tuples."""
        if self.chars is None or len(self.chars) >= vocab_size:
            return False
        if _FIRST_CODE_POINT + vocab_size + _SURROGATES_SIZE > _MAX_CODE_POINT + 1:
            self.chars = None
            return True
        self.chars.extend(_token_char(i) for i in range(len(self.chars), vocab_size))
        return False

    def key(self, ids: list[int]) -> str | tuple[int, ...]:
        chars = self.chars
        return tuple(ids) if chars is None else "".join([chars[i] for i in ids])


def _as_tuple(key: str | tuple[int, ...]) -> tuple[int, ...]:
    return key if isinstance(key, tuple) else tuple(_char_token(c) for c in key)


def _lcs_keys(id_lists: list[list[int]], vocab_size: int) -> list[str | tuple[int, ...]]:
    """LCS keys of token-id lists over a vocabulary of `vocab_size` tokens (see `_KeyCodec`)."""
    codec = _KeyCodec()
    codec.grow(vocab_size)
    return [codec.key(ids) for ids in id_lists]


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


@dataclass(frozen=True)
class _Encoded:
    """One text ready to probe or insert: computed once, whichever happens."""

    key: str | tuple[int, ...]
    elements: list[int]
    sig: list[int]

    @property
    def folded(self) -> int:
        """The OR of the words: a valid 64-bit signature of the same set (bit = hash mod 64)."""
        return self.sig[0] | self.sig[1] | self.sig[2] | self.sig[3]


class RougeLIndex:
    """An incremental, exact ROUGE-L near-duplicate index (Self-Instruct semantics).

    Texts are appended and never re-processed: adding one tokenizes it once,
    posts its elements and appends its signature (arrays grow by doubling), so
    a generation loop costs O(new items) per round instead of rebuilding over
    the whole pool.  `find_duplicate` reports the highest-scoring item with
    ROUGE-L F > threshold (lowest position on ties), exactly as `rouge_score`
    would score it.  Items are referred to by position (0, 1, ... in the order
    they were added); the index keeps references to the texts, not copies.
    """

    def __init__(self, threshold: float = 0.7) -> None:
        _check_threshold(threshold)
        self._bounds = _Bounds(threshold)
        self._encoder = _Encoder()
        self._codec = _KeyCodec()
        self._texts: list[str] = []
        self._keys: list[str | tuple[int, ...]] = []
        self._postings: dict[int, array[int]] = {}
        self._sizes = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)
        self._sigs = np.zeros((_INITIAL_CAPACITY, _SIG_WORDS), dtype=np.uint64)
        self._folded = np.zeros(_INITIAL_CAPACITY, dtype=np.uint64)
        # Elements beyond the bits set in the folded signature (size - popcount).
        self._spare = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)

    @property
    def threshold(self) -> float:
        return self._bounds.threshold

    def __len__(self) -> int:
        return len(self._texts)

    def text(self, position: int) -> str:
        """The text added at `position`."""
        return self._texts[position]

    def add(self, text: str) -> int:
        """Add a text unconditionally (a seed or pool item); return its position."""
        return self._insert(text, self._encode(text))

    def extend(self, texts: Iterable[str]) -> range:
        """Add texts unconditionally (pool items are never compared with each other)."""
        start = len(self)
        for text in texts:
            self.add(text)
        return range(start, len(self))

    def find_duplicate(self, text: str) -> RougeMatch | None:
        """The indexed item whose ROUGE-L F with `text` is highest and > threshold, if any."""
        match = self._best_match(self._encode(text))
        return None if match is None else RougeMatch(match[0], self._texts[match[0]], match[1])

    def filter(self, candidates: Iterable[str]) -> list[int]:
        """Indices of the candidates kept, in order; kept ones are added to the index.

        A candidate is kept when its F against every indexed item and every
        candidate kept earlier in this call is <= threshold (Self-Instruct).
        """
        return [d.index for d in self.filter_detailed(candidates) if d.kept]

    def filter_detailed(self, candidates: Iterable[str]) -> list[DedupDecision]:
        """`filter`, with the reason for every decision (see `DedupDecision`)."""
        start = len(self)
        kept: list[int] = []  # candidate index of position start + k
        decisions = []
        for i, text in enumerate(candidates):
            encoded = self._encode(text)
            match = self._best_match(encoded)
            if match is None:
                self._insert(text, encoded)
                kept.append(i)
                decisions.append(DedupDecision(index=i, kept=True))
                continue
            position, score = match
            source = "pool" if position < start else "candidate"
            match_index = position if position < start else kept[position - start]
            decisions.append(
                DedupDecision(i, False, source, match_index, self._texts[position], score)
            )
        return decisions

    def _encode(self, text: str) -> _Encoded:
        """Tokenize and sign a text once; probing interns its tokens too (vocabulary only)."""
        ids, elements = self._encoder.encode(text)
        if self._codec.grow(len(self._encoder.token_ids)):
            self._keys = [_as_tuple(key) for key in self._keys]  # once, past ~1.1M tokens
        return _Encoded(self._codec.key(ids), elements, _signature(elements))

    def _insert(self, text: str, encoded: _Encoded) -> int:
        """Append one item: its key, signature and a posting for every element."""
        position = len(self._texts)
        if position == len(self._sizes):
            self._grow()
        self._texts.append(text)
        self._keys.append(encoded.key)
        self._sizes[position] = len(encoded.elements)
        self._sigs[position] = encoded.sig
        self._folded[position] = encoded.folded
        self._spare[position] = len(encoded.elements) - encoded.folded.bit_count()
        postings = self._postings
        for element in encoded.elements:
            if element not in postings:
                postings[element] = array("i")
            postings[element].append(position)
        return position

    def _grow(self) -> None:
        """Double the signature arrays: amortized O(1) per item, old rows only memcpy'd."""
        self._sizes = np.concatenate([self._sizes, np.zeros_like(self._sizes)])
        self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)])
        self._folded = np.concatenate([self._folded, np.zeros_like(self._folded)])
        self._spare = np.concatenate([self._spare, np.zeros_like(self._spare)])

    def _candidates(self, encoded: _Encoded) -> np.ndarray:
        """Positions sharing a probed element whose overlap bound can exceed the threshold.

        The probe reads the posting lists of its prefix_len rarest elements
        (elements never posted count as empty lists).  The folded 64-bit
        signatures then prune almost everything with a few 1-D array
        operations; the full signatures tighten the bound on the survivors.
        Only then are duplicates (found via several elements) removed, on a
        tiny array.
        """
        m = len(encoded.elements)
        postings = self._postings
        lists = sorted((postings[e] for e in encoded.elements if e in postings), key=len)
        prefix = self._bounds.prefix_len(m)
        probe = prefix - (m - len(lists))
        if probe <= 0:
            return np.empty(0, dtype=np.int64)
        # intp indices: `take` with them is several times faster than with int32.
        cand = np.concatenate(
            [np.frombuffer(lst, dtype=np.intc) for lst in lists[:probe]], dtype=np.intp
        )
        folded = encoded.folded
        shared = _popcount(self._folded.take(cand) & np.uint64(folded))
        sizes = self._sizes.take(cand)
        # Bits of one side missing from the other each stand for a missing element:
        # overlap <= m - (bits_x - shared) and <= n - (bits_y - shared).
        bound = shared + np.minimum(m - folded.bit_count(), self._spare.take(cand))
        keep = 2 * bound > (self._bounds.threshold - _SLACK) * (m + sizes)
        cand, sizes = cand[keep], sizes[keep]
        if cand.size:
            sig = np.array(encoded.sig, dtype=np.uint64)
            cand = cand[self._could_match(m, sig, self._sigs.take(cand, axis=0), sizes)]
        return np.unique(cand)

    def _could_match(
        self, m: int, sig_x: np.ndarray, sig_y: np.ndarray, n: np.ndarray
    ) -> np.ndarray:
        """Mask of partners whose signature overlap bound keeps F above threshold - slack."""
        miss_x = _popcount(sig_x & ~sig_y)
        miss_y = _popcount(sig_y & ~sig_x)
        overlap = np.minimum(m - miss_x, n - miss_y)
        return 2 * overlap / (m + n) > self._bounds.threshold - _SLACK

    def _best_match(self, encoded: _Encoded) -> tuple[int, float] | None:
        """Highest-scoring indexed position whose F exceeds the threshold (lowest on ties)."""
        best: tuple[int, float] | None = None
        key, m, threshold = encoded.key, len(encoded.elements), self._bounds.threshold
        for other in self._candidates(encoded).tolist():
            other_key = self._keys[other]  # one code point / int per token
            score = _fmeasure(LCSseq.similarity(key, other_key), m, len(other_key))
            if score > threshold and (best is None or score > best[1]):
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
    index = RougeLIndex(threshold)
    index.extend(pool)
    return index.filter_detailed(candidates)


def rouge_l_dedup(
    candidates: Sequence[str], pool: Sequence[str] = (), threshold: float = 0.7
) -> list[int]:
    """Indices of the candidates kept by the Self-Instruct ROUGE-L rule (see the detailed variant)."""
    return [d.index for d in rouge_l_dedup_detailed(candidates, pool, threshold) if d.kept]
