"""Exact, fast ROUGE-L near-duplicate removal (the Self-Instruct / Alpaca rule).

Self-Instruct and AlpaCare keep a generated instruction only when its ROUGE-L
F-measure against every seed and every instruction kept so far is <= 0.7.  The
reference code scores each new instruction against the whole pool with
`rouge_score`, which is quadratic and takes hours for 52k instructions.  This
module returns *the same kept set* in seconds.  Every filter is an exact upper
bound, so no pair whose score could exceed the threshold is ever skipped:

* tokens are interned to ints and each text becomes a short string of code
  points, so rapidfuzz's bit-parallel LCS runs in C;
* LCS <= multiset overlap O <= min(m, n), and F <= 2*O/(m + n): sizes m and n
  need O >= need(m + n), and any partner of a size-m text needs O >= alpha(m);
* a prefix filter: any m - alpha + 1 elements of a text include one that a
  match shares.  Every indexed element is posted and a probe reads the lists
  of its currently rarest elements, so items can be added forever without
  re-ranking or re-indexing.  If the first shared element is at position i of
  the probe's order, O <= m - i (which also drops repeat hits of a pair);
* every posting entry carries the item's 128-bit folded signature and two
  small terms, so "shared signature bits + min(spares) >= need" is checked
  per entry without looking anything up per item (`_text_terms`): for all of
  a block's lists in one call of a small C loop (`scan.c`, built once per
  machine by `scan_kernel`, ~0.7 ns an entry), or, where no C compiler is
  found, with a few vectorised numpy operations per list (~4 ns an entry);
  the 256-bit signatures and the exact size and position bounds then prune
  the survivors (`_filter_pairs`);
* every score is computed with the same float operations as `rouge_score`
  (precision, recall, then 2pr/(p+r)), so ties at exactly the threshold agree;
  bounds prune only below threshold - 1e-9, so their rounding cannot matter.

Why blocks: candidates are decided `_BLOCK` at a time.  Conflicts with items
indexed before the block are found for all of them at once (optionally by
forked worker processes that each own a shard of the posting lists, see
`_ProbePool`), conflicts inside the block by comparing its signatures
pairwise; then one in-order pass applies the Self-Instruct rule, so the kept
set is exactly the sequential one whatever the number of workers.

Scaling: a probe's work is the length of the lists it reads.  On real text the
rarest words of an instruction are rare and the lists stay short.  On a corpus
built from a few hundred words every list holds a fixed share of the index, so
the work grows like candidates x kept items, at the per-entry cost above.

`RougeLIndex` is the one implementation: the Self-Instruct loop keeps a single
index and feeds each round through `RougeLIndex.filter`; `rouge_l_dedup` and
`rouge_l_dedup_detailed` build a fresh index over the pool and filter once.
Memory is linear in the number of tokens (a 24-byte posting record per token,
~70 bytes of signature and sizes per text, references to the caller's
strings); nothing is pairwise beyond one block.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import re
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
from rapidfuzz.distance import LCSseq

from medinstruct_text.scan_kernel import Scan, load_scan

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
_REPEAT_SHIFT = 32  # the k-th repeat of token t is element -((t << 32) | k)
_INITIAL_CAPACITY = 256
# Candidates decided together: big enough to amortise numpy calls over a block,
# small enough that comparing all its pairs (`_block_pairs`, 1M pairs) stays cheap.
_BLOCK = 1024
# A probed list read by at least _DENSE_ROWS rows of a block, for at least _HEAVY
# (row, entry) pairs, is compared as one rows x entries matrix (~3 ns a pair, ~25 us a
# call); the others are copied out once per reading row and compared as one stream.
_DENSE_ROWS = 8
_HEAVY = 4096
_CHUNK = 1 << 20  # (row, entry) pairs per comparison step, bounding temporary arrays
_MIN_PARALLEL_BLOCKS = 4  # fewer blocks than this are not worth forking for
_NEVER = np.iinfo(np.int64).max // 4  # an overlap no text reaches
_SCALED_MARGIN = 1e-6  # see _Bounds.scaled
# Stage-one terms are int16: u in [0, _TERM_CAP], v in [-_TERM_CAP - 1, _TERM_CAP],
# so a sum never wraps.  Clipping a term down only weakens a bound; v is clipped up
# only below -_TERM_CAP - 1, where any sum stays < 0 and prunes nothing anyway.
_TERM_CAP = 2**14 - 1


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


def _check_workers(workers: int) -> None:
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")


@dataclass
class _Bounds:
    """Overlap bounds for one threshold, as tables indexed by text sizes.

    `need[s]` is the smallest overlap O with 2*O/s > threshold - _SLACK (s is
    the sum of two sizes), `alpha[m]` the smallest O with 2*O/(m + O) >
    threshold - _SLACK (the least a partner of any size must share with a text
    of m elements).  Both use the float operations of the scalar test, so a
    bound never drops a pair that rouge_score would flag; the final decision
    always uses the exact LCS and `_fmeasure`.  `scaled` splits `need` into a
    term per text: scaled(m) + scaled(n) + 1 <= 2 * need[m + n] for all m, n.
    """

    threshold: float
    _need: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _alpha: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def could_exceed(self, overlap: int, total: int) -> bool:
        """Whether F <= 2*overlap/total (total = len_a + len_b) can exceed the threshold."""
        return 2 * overlap / total > self.threshold - _SLACK

    def _least_need(self, total: int) -> int:
        """Smallest overlap o in 1..total with could_exceed(o, total), or _NEVER."""
        return _least_true(lambda o: self.could_exceed(o, total), total)

    def _least_alpha(self, m: int) -> int:
        """Smallest overlap o in 1..m with could_exceed(o, m + o), or _NEVER."""
        return _least_true(lambda o: self.could_exceed(o, m + o), m)

    def need(self, total: np.ndarray) -> np.ndarray:
        """Least overlap for F > threshold, per pair of sizes summing to `total`."""
        self._need = _extend_table(self._need, total, self._least_need)
        return self._need[total]

    def alpha(self, size: np.ndarray) -> np.ndarray:
        """Least overlap any partner needs with a text of `size` elements (_NEVER: none can)."""
        self._alpha = _extend_table(self._alpha, size, self._least_alpha)
        return self._alpha[size]

    def scaled(self, size: np.ndarray) -> np.ndarray:
        """floor(t' * size), never negative, for a t' a hair below the threshold.

        2 * need[m + n] > t'(m + n) >= floor(t' m) + floor(t' n), and both
        sides are integers, so 2 * need[m + n] >= scaled(m) + scaled(n) + 1.
        The 1e-6 margins dwarf the float error of the product (~1e-16 relative).
        """
        lowered = (self.threshold - _SLACK - _SCALED_MARGIN) * size - _SCALED_MARGIN
        return np.maximum(np.floor(lowered), 0).astype(np.int64)

    def prefix_len(self, m: int) -> int:
        """Elements of a size-m text to probe with (0: it can never match).

        At most m - alpha elements of the text are missing from a match, so
        any m - alpha + 1 of them include one that the match shares.
        """
        if m >= len(self._alpha):
            self.alpha(np.array([m]))
        alpha = int(self._alpha[m])
        return 0 if alpha == _NEVER else m - alpha + 1


def _least_true(ok: Any, hi: int) -> int:
    """Smallest o in 1..hi with ok(o), for a monotone ok; _NEVER if there is none."""
    if hi < 1 or not ok(hi):
        return _NEVER
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return lo


def _extend_table(table: np.ndarray, keys: np.ndarray, value: Any) -> np.ndarray:
    """`table` grown (to twice the largest key) so that every key indexes it."""
    top = int(keys.max(initial=0))
    if top < len(table):
        return table
    new = [value(k) for k in range(len(table), 2 * top + 1)]
    return np.concatenate([table, np.array(new, dtype=np.int64)])


def _count_bits(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint64, as uint8 (numpy < 2 lacks bitwise_count)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    as_bytes = np.unpackbits(np.ascontiguousarray(words).view(np.uint8)).reshape(*words.shape, 64)
    return as_bytes.sum(axis=-1, dtype=np.uint8)


def _token_char(token_id: int) -> str:
    """The code point standing for a token in str keys (never a lone surrogate)."""
    code = _FIRST_CODE_POINT + token_id
    return chr(code + _SURROGATES_SIZE if code >= _SURROGATES_START else code)


def _char_token(char: str) -> int:
    """Inverse of `_token_char`."""
    code = ord(char)
    return (code - _SURROGATES_SIZE if code >= _SURROGATES_START else code) - _FIRST_CODE_POINT


def _as_tuple(key: str | tuple[int, ...]) -> tuple[int, ...]:
    return key if isinstance(key, tuple) else tuple(_char_token(c) for c in key)


@dataclass
class _KeyCodec:
    """LCS keys: a str with one code point per token, which rapidfuzz handles
    bit-parallel, or (more distinct tokens than code points) int tuples.

    All keys of one index use the same kind, so two keys always encode a token
    alike; `grow` reports the one-time switch to tuples so the caller can convert.
    """

    tuples: bool = False

    def grow(self, vocab_size: int) -> bool:
        """Make room for `vocab_size` tokens; True when this switched the codec to tuples."""
        if self.tuples or _FIRST_CODE_POINT + vocab_size + _SURROGATES_SIZE <= _MAX_CODE_POINT + 1:
            return False
        self.tuples = True
        return True

    def keys(self, ids: np.ndarray, offsets: np.ndarray) -> list[str | tuple[int, ...]]:
        """The key of every text; text r has token ids ids[offsets[r]:offsets[r + 1]]."""
        bounds = list(zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True))
        if self.tuples:
            flat = ids.tolist()
            return [tuple(flat[a:b]) for a, b in bounds]
        codes = ids + _FIRST_CODE_POINT
        codes[codes >= _SURROGATES_START] += _SURROGATES_SIZE
        joined = codes.astype("<u4").tobytes().decode("utf-32-le")
        return [joined[a:b] for a, b in bounds]


def _lcs_keys(id_lists: list[list[int]], vocab_size: int) -> list[str | tuple[int, ...]]:
    """LCS keys of token-id lists over a vocabulary of `vocab_size` tokens (see `_KeyCodec`)."""
    codec = _KeyCodec()
    codec.grow(vocab_size)
    return codec.keys(np.array([i for ids in id_lists for i in ids], dtype=np.int64),
                      _offsets([len(ids) for ids in id_lists]))  # fmt: skip


def _offsets(sizes: Sequence[int] | np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return offsets


def _multiset_elements(ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Turn token ids into set elements: the k-th repeat (k >= 1) of a token in a
    text becomes -((id << 32) | k), so the multiset overlap of two texts equals
    the set overlap of their elements, with no table to grow."""
    sizes = np.diff(offsets)
    rows = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    order = np.argsort((rows << 31) | ids, kind="stable")  # by text, token, then position
    ranked = ((rows << 31) | ids)[order]
    starts = np.ones(len(ids), dtype=bool)
    starts[1:] = ranked[1:] != ranked[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(ids)), 0))
    repeat = np.empty_like(ids)
    repeat[order] = np.arange(len(ids)) - first
    return np.where(repeat == 0, ids, -((ids << _REPEAT_SHIFT) | repeat))


def _signatures(elements: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """A _SIG_BITS-bit hashed set of each text's elements, as _SIG_WORDS uint64 words.

    Every bit set in sig(x) & ~sig(y) stands for at least one element of x
    missing from y, so overlap(x, y) <= |x| - popcount(sig(x) & ~sig(y)):
    a cheap, vectorisable, exact upper bound on the LCS.
    """
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    bits = (elements.astype(np.uint64) * np.uint64(_FIB_HASH)) >> np.uint64(_SIG_SHIFT)
    sigs = np.zeros((len(offsets) - 1, _SIG_WORDS), dtype=np.uint64)
    masks = np.left_shift(np.uint64(1), bits & np.uint64(63))
    np.bitwise_or.at(sigs, (rows, (bits >> np.uint64(6)).astype(np.intp)), masks)
    return sigs


@dataclass(frozen=True)
class _Batch:
    """Texts encoded together, one row per text.

    Row r owns elements[offsets[r]:offsets[r + 1]]; `folded` ORs the signature
    words pairwise (a valid 128-bit signature, as two words), spare = size - its
    set bits, and `terms`
    holds the row's stage-one terms u and v (see `_text_terms`).
    """

    keys: list[str | tuple[int, ...]]
    offsets: np.ndarray
    elements: np.ndarray
    sigs: np.ndarray
    sizes: np.ndarray
    folded: np.ndarray
    spare: np.ndarray
    terms: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


class _Encoder:
    """Interns tokens to ints, for every text an index ever sees, and encodes texts in batches."""

    def __init__(self, bounds: _Bounds) -> None:
        self.bounds = bounds
        self.token_ids: dict[str, int] = {}
        self.codec = _KeyCodec()

    def encode(self, texts: Sequence[str]) -> tuple[_Batch, bool]:
        """The batch, and whether this switched the index's keys to tuples."""
        token_lists = [rouge_tokenize(text) for text in texts]
        token_ids = self.token_ids
        flat = [token for tokens in token_lists for token in tokens]
        for token in dict.fromkeys(flat):  # new tokens get ids in order of first occurrence
            if token not in token_ids:
                token_ids[token] = len(token_ids)
        ids = np.fromiter(map(token_ids.__getitem__, flat), dtype=np.int64, count=len(flat))
        offsets = _offsets([len(tokens) for tokens in token_lists])
        elements = _multiset_elements(ids, offsets)
        switched = self.codec.grow(len(token_ids))
        sigs = _signatures(elements, offsets)
        folded = sigs[:, :2] | sigs[:, 2:]
        sizes = np.diff(offsets)
        spare = sizes - _count_bits(folded).sum(axis=1, dtype=np.int64)
        terms = _text_terms(self.bounds, sizes, spare)
        keys = self.codec.keys(ids, offsets)
        return _Batch(keys, offsets, elements, sigs, sizes, folded, spare, terms), switched


@dataclass
class _Hits:
    """Candidate (probe row, indexed position) pairs, with the position `order`, in
    the row's probe order, of the element that found them (0 once deduplicated)."""

    rows: np.ndarray
    order: np.ndarray
    items: np.ndarray

    @classmethod
    def concat(cls, parts: list[_Hits]) -> _Hits:
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty)
        return cls(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("rows", "order", "items"))
        )

    def take(self, mask: np.ndarray) -> _Hits:
        return _Hits(self.rows[mask], self.order[mask], self.items[mask])


# A posting list is a bytearray of 24-byte records, one per indexed item holding
# the element: its folded signature (two words), position and stage-one terms u
# and v, so stage one reads no per-item table and an insert appends one record per
# element.  (A 64-bit fold would let ~15x more pairs through to the per-item checks.)
# The compiled scan (`scan.c`) reads the lists in place, with the same layout.
_RECORD_DTYPE = np.dtype(
    [("low", "<u8"), ("high", "<u8"), ("position", "<i4"), ("u", "<i2"), ("v", "<i2")]
)
_RECORD_SIZE = _RECORD_DTYPE.itemsize
# A probed element, the rows of a block that probe it and its position in each
# row's probe order (see `RougeLIndex._probe_groups`).
_Group = tuple[int, np.ndarray, np.ndarray]


class RougeLIndex:
    """An incremental, exact ROUGE-L near-duplicate index (Self-Instruct semantics).

    Texts are appended and never re-processed: adding one tokenizes it once,
    appends its signature (arrays grow by doubling) and a posting for each of
    its elements, so a generation loop costs O(new items) per round instead of
    rebuilding over the whole pool.  `find_duplicate` reports the
    highest-scoring item with ROUGE-L F > threshold (lowest position on ties),
    exactly as `rouge_score` would score it.  Items are referred to by position
    (0, 1, ... in the order they were added); the index keeps references to
    the texts, not copies.
    """

    def __init__(self, threshold: float = 0.7) -> None:
        _check_threshold(threshold)
        self._bounds = _Bounds(threshold)
        self._encoder = _Encoder(self._bounds)
        self._texts: list[str] = []
        self._keys: list[str | tuple[int, ...]] = []
        self._postings: dict[int, bytearray] = {}
        self._sizes = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)
        self._sigs = np.zeros((_INITIAL_CAPACITY, _SIG_WORDS), dtype=np.uint64)
        self._folded = np.zeros((_INITIAL_CAPACITY, 2), dtype=np.uint64)
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
        return self.extend([text]).start

    def extend(self, texts: Iterable[str]) -> range:
        """Add texts unconditionally (pool items are never compared with each other)."""
        start, texts = len(self), list(texts)
        for lo in range(0, len(texts), _BLOCK):
            block = texts[lo : lo + _BLOCK]
            self._insert(block, self._encode(block), range(len(block)))
        return range(start, len(self))

    def find_duplicate(self, text: str) -> RougeMatch | None:
        """The indexed item whose ROUGE-L F with `text` is highest and > threshold, if any."""
        match = self._index_matches(self._encode([text]), range(1)).get(0)
        return None if match is None else RougeMatch(match[0], self._texts[match[0]], match[1])

    def filter(self, candidates: Iterable[str], *, workers: int = 1) -> list[int]:
        """Indices of the candidates kept, in order; kept ones are added to the index.

        A candidate is kept when its F against every indexed item and every
        candidate kept earlier in this call is <= threshold (Self-Instruct).
        `workers` > 1 probes the index from that many forked processes (Linux;
        the kept set is the same for any value).
        """
        return [d.index for d in self.filter_detailed(candidates, workers=workers) if d.kept]

    def filter_detailed(
        self, candidates: Iterable[str], *, workers: int = 1
    ) -> list[DedupDecision]:
        """`filter`, with the reason for every decision (see `DedupDecision`)."""
        _check_workers(workers)
        texts = list(candidates)
        start = len(self)
        kept: list[int] = []  # candidate index of position start + k
        decisions: list[DedupDecision] = []
        for lo, matches in self._decided_blocks(texts, workers):
            for row, match in enumerate(matches):
                decisions.append(self._decision(lo + row, match, start, kept))
                if match is None:
                    kept.append(lo + row)
        return decisions

    def _decision(
        self, index: int, match: tuple[int, float] | None, start: int, kept: list[int]
    ) -> DedupDecision:
        if match is None:
            return DedupDecision(index=index, kept=True)
        position, score = match
        source = "pool" if position < start else "candidate"
        match_index = position if position < start else kept[position - start]
        return DedupDecision(index, False, source, match_index, self._texts[position], score)

    def _decided_blocks(
        self, texts: list[str], workers: int
    ) -> Iterable[tuple[int, list[tuple[int, float] | None]]]:
        """(offset, best match or None per candidate), block by block, in order.

        Each block is inserted (its kept candidates) before the next is probed.
        """
        blocks = [texts[lo : lo + _BLOCK] for lo in range(0, len(texts), _BLOCK)]
        if workers > 1 and len(blocks) >= _MIN_PARALLEL_BLOCKS and _can_fork():
            yield from self._decided_blocks_parallel(blocks, workers)
            return
        for k, block in enumerate(blocks):
            batch = self._encode(block)
            outside = self._index_matches(batch, range(len(block)))
            yield k * _BLOCK, self._settle(block, batch, outside)

    def _decided_blocks_parallel(
        self, blocks: list[list[str]], workers: int
    ) -> Iterable[tuple[int, list[tuple[int, float] | None]]]:
        """As the serial loop, with the posting scans of each block split across
        forked workers (see `_ProbePool`); the next block is encoded while they run."""
        with _ProbePool(self, workers) as pool:
            batch = self._encode(blocks[0])
            kept_rows: list[int] = []
            for k, block in enumerate(blocks):
                pool.submit(batch, kept_rows, self._probe_groups(batch, range(len(block))))
                last = k + 1 == len(blocks)
                following = batch if last else self._encode(blocks[k + 1])
                matches = self._settle(block, batch, pool.collect())
                kept_rows = [row for row, match in enumerate(matches) if match is None]
                yield k * _BLOCK, matches
                batch = following

    def _settle(
        self, texts: list[str], batch: _Batch, outside: dict[int, tuple[int, float]]
    ) -> list[tuple[int, float] | None]:
        """Apply the Self-Instruct rule to one block, in order, and insert its survivors.

        `outside` holds each row's best match among the items indexed before the
        block; a row also loses to an earlier row of the block that was kept.
        Positions given to kept rows are larger than any earlier ones, so an
        in-block match replaces an outside one only with a strictly higher score.
        """
        inside = _block_pairs(self._bounds, batch)
        kept_at: dict[int, int] = {}  # row -> position it is inserted at
        matches: list[tuple[int, float] | None] = []
        for row in range(len(texts)):
            best = outside.get(row)
            for earlier in inside.get(row, ()):
                if earlier in kept_at:
                    score = _score(batch.keys[row], batch.keys[earlier])
                    if score > self.threshold and (best is None or score > best[1]):
                        best = (kept_at[earlier], score)
            if best is None:
                kept_at[row] = len(self) + len(kept_at)
            matches.append(best)
        self._insert([texts[row] for row in kept_at], batch, list(kept_at))
        return matches

    def _encode(self, texts: Sequence[str]) -> _Batch:
        """Tokenize and sign texts once; probing interns their tokens too (vocabulary only)."""
        batch, switched = self._encoder.encode(texts)
        if switched:
            self._keys = [_as_tuple(key) for key in self._keys]  # once, past ~1.1M tokens
        return batch

    def _insert(
        self,
        texts: Sequence[str],
        batch: _Batch,
        rows: Sequence[int],
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        """Append batch rows `rows` as items, in order, with texts `texts`: their keys,
        signatures and a posting record for every element (with shard (k, n): only
        for elements e with e % n == k, see `_ProbePool`).  Each list gains its
        records in position order, one append per distinct element of the rows."""
        start, picked = len(self._texts), np.asarray(rows, dtype=np.int64)
        while start + len(picked) > len(self._sizes):
            self._grow()
        keys = [batch.keys[row] for row in rows]
        if self._encoder.codec.tuples:  # a block encoded before a later one switched the codec
            keys = [_as_tuple(key) for key in keys]
        self._texts.extend(texts)
        self._keys.extend(keys)
        end = start + len(picked)
        self._sizes[start:end] = batch.sizes[picked]
        self._sigs[start:end] = batch.sigs[picked]
        self._folded[start:end] = batch.folded[picked]
        self._spare[start:end] = batch.spare[picked]
        records = np.empty(len(picked), dtype=_RECORD_DTYPE)
        records["low"], records["high"] = batch.folded[picked, 0], batch.folded[picked, 1]
        records["position"] = np.arange(start, end)
        records["u"], records["v"] = batch.terms[picked, 0], batch.terms[picked, 1]
        owner, elements = _elements_of(batch, picked)
        share, shares = shard
        if shares > 1:
            mine = elements % shares == share
            owner, elements = owner[mine], elements[mine]
        order = np.argsort(elements, kind="stable")  # by element, then position
        elements, packed = elements[order], memoryview(records[owner[order]].tobytes())
        cuts = [0, *(np.flatnonzero(np.diff(elements)) + 1).tolist(), len(elements)]
        postings = self._postings
        for lo, hi in itertools.pairwise(cuts):
            if hi > lo:
                element, chunk = int(elements[lo]), packed[lo * _RECORD_SIZE : hi * _RECORD_SIZE]
                posting = postings.get(element)
                if posting is None:
                    postings[element] = bytearray(chunk)
                else:
                    posting += chunk

    def _grow(self) -> None:
        """Double the signature arrays: amortized O(1) per item, old rows only memcpy'd."""
        self._sizes = np.concatenate([self._sizes, np.zeros_like(self._sizes)])
        self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)])
        self._folded = np.concatenate([self._folded, np.zeros_like(self._folded)])
        self._spare = np.concatenate([self._spare, np.zeros_like(self._spare)])

    def _index_matches(self, batch: _Batch, rows: Iterable[int]) -> dict[int, tuple[int, float]]:
        """Best indexed match (position, score) of each of `rows` that has one."""
        return self._matches(batch, self._probe_groups(batch, rows))

    def _matches(self, batch: _Batch, groups: list[_Group]) -> dict[int, tuple[int, float]]:
        """Best match per row among the postings of `groups`: stage one, stage two, LCS."""
        hits = _filter_pairs(self._bounds, batch, self._probe_hits(batch, groups), self)
        best: dict[int, tuple[int, float]] = {}
        for row, item in zip(hits.rows.tolist(), hits.items.tolist(), strict=True):
            score = _score(batch.keys[row], self._keys[item])
            if score > self.threshold:
                _keep_better(best, row, (item, score))
        return best

    def _probe_groups(self, batch: _Batch, rows: Iterable[int]) -> list[_Group]:
        """(element, probing rows, position in each row's probe order) per probed element.

        A row's order puts its unposted elements first, then the posted ones by
        list length (rarest first, ties by element); it probes the first
        prefix_len of them.  Computed for all rows at once: one dict lookup per
        distinct element of the block, then sorts.
        """
        rows = np.fromiter(rows, dtype=np.int64)
        sizes = batch.sizes[rows]
        row_starts = _offsets(sizes)[:-1]
        owner, elements = _elements_of(batch, rows)
        distinct, inverse = np.unique(elements, return_inverse=True)
        found = [self._postings.get(e) for e in distinct.tolist()]
        lengths = np.array([0 if p is None else len(p) for p in found], dtype=np.int64)[inverse]
        order = np.lexsort((distinct[inverse], lengths, owner))
        rank = np.arange(len(order)) - row_starts[owner[order]]
        alpha = self._bounds.alpha(sizes)
        prefix = np.where(alpha == _NEVER, 0, sizes - alpha + 1)
        pick = (rank < prefix[owner[order]]) & (lengths[order] > 0)
        chosen, rank = order[pick], rank[pick]
        by_element = np.argsort(inverse[chosen], kind="stable")
        chosen, rank = chosen[by_element], rank[by_element]
        element_of = inverse[chosen]
        cuts = np.flatnonzero(np.diff(element_of)) + 1
        return [
            (int(distinct[element_of[lo]]), rows[owner[chosen[lo:hi]]], rank[lo:hi])
            for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(chosen)], strict=True)
            if hi > lo
        ]

    def _probe_hits(self, batch: _Batch, groups: list[_Group]) -> _Hits:
        """Postings whose folded signature leaves room for a match (stage one).

        See `_text_terms`: a probe's terms plus the entry's terms stored in
        the posting bound the shared bits from below.
        """
        scan = load_scan()
        if scan is not None and groups:
            return _scanned_hits(batch, groups, [self._postings[g[0]] for g in groups], scan)
        dense: list[tuple[bytearray, np.ndarray, np.ndarray]] = []
        streamed: list[tuple[bytearray, int, int]] = []
        for element, group_rows, orders in groups:
            posting = self._postings[element]
            pairs = len(posting) // _RECORD_SIZE * len(group_rows)
            if len(group_rows) >= _DENSE_ROWS and pairs >= _HEAVY:
                dense.append((posting, group_rows, orders))
            else:
                streamed.extend(zip(repeat(posting), group_rows.tolist(), orders.tolist()))
        parts = [_dense_hits(batch, *group) for group in dense]
        parts.extend(_stream_hits(batch, chunk) for chunk in _chunks(streamed))
        return _Hits.concat(parts)


def _elements_of(batch: _Batch, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The elements of batch rows `rows`, concatenated, and which of `rows` owns each
    (an index into `rows`)."""
    sizes = batch.sizes[rows]
    owner = np.repeat(np.arange(len(rows)), sizes)
    flat = np.repeat(batch.offsets[rows] - _offsets(sizes)[:-1], sizes) + np.arange(len(owner))
    return owner, batch.elements[flat]


def _scanned_hits(batch: _Batch, groups: list[_Group], lists: list[bytearray], scan: Scan) -> _Hits:
    """Stage one for a whole block in one compiled call (see `scan.c`)."""
    rows = np.concatenate([rows for _, rows, _ in groups])
    orders = np.concatenate([orders for _, _, orders in groups])
    probe, items = scan(
        lists,
        _offsets([len(rows) for _, rows, _ in groups]),
        batch.folded[rows],
        batch.terms[rows, 0],
        batch.terms[rows, 1],
        _position_limits(batch, rows, orders),
    )
    return _Hits(rows[probe], orders[probe], items)


def _score(key_a: str | tuple[int, ...], key_b: str | tuple[int, ...]) -> float:
    return _fmeasure(LCSseq.similarity(key_a, key_b), len(key_a), len(key_b))


def _keep_better(best: dict[int, tuple[int, float]], row: int, match: tuple[int, float]) -> None:
    """Record `match` (position, score) for `row` if it beats the one there:
    a higher score, or the same score at a lower position."""
    old = best.get(row)
    if old is None or match[1] > old[1] or (match[1] == old[1] and match[0] < old[0]):
        best[row] = match


def _text_terms(bounds: _Bounds, sizes: np.ndarray, spare: np.ndarray) -> np.ndarray:
    """Stage-one terms u = scaled(size) and v = scaled(size) - 2 * spare, int16, per text.

    A match of x and y needs overlap >= need[m + n] and has overlap <= shared
    folded bits + min(spare_x, spare_y), so 2 * shared >= 2 * need - 2 * spare
    for either spare, and 2 * need >= scaled(m) + scaled(n) + 1 (`_Bounds.scaled`).
    Hence 2 * shared > v_x + u_y and 2 * shared > u_x + v_y: one term of each
    side, both conditions at once (either alone lets ~5x more pairs through).
    """
    scaled = bounds.scaled(sizes)
    terms = np.empty((len(sizes), 2), dtype=np.int16)
    terms[:, 0] = np.minimum(scaled, _TERM_CAP)
    terms[:, 1] = np.maximum(np.minimum(scaled - 2 * spare, _TERM_CAP), -_TERM_CAP - 1)
    return terms


def _record_fields(records: bytes | bytearray) -> tuple[np.ndarray, ...]:
    """The two fold words, positions and terms u and v of packed posting records, as
    strided views (plain views: numpy's structured dtypes cost microseconds a call)."""
    words = np.frombuffer(records, dtype="<u8")
    halves = np.frombuffer(records, dtype="<i2")
    positions = np.frombuffer(records, dtype="<i4")[4::6]
    return words[0::3], words[1::3], positions, halves[10::12], halves[11::12]


def _twice_shared(fold_x: np.ndarray, low_y: np.ndarray, high_y: np.ndarray) -> np.ndarray:
    """2 * the bits two 128-bit folds share, int16; fold_x holds (..., 2) words."""
    shared = _count_bits(fold_x[..., 0] & low_y)
    shared += _count_bits(fold_x[..., 1] & high_y)  # <= 128: fits uint8
    return np.add(shared, shared, dtype=np.int16)


def _dense_hits(batch: _Batch, posting: bytearray, rows: np.ndarray, orders: np.ndarray) -> _Hits:
    """Stage one for one long list: every probing row against every entry at once.

    Twice the shared fold bits is compared with the int16 sums of the terms
    (see `_text_terms`); `_position_limits` bounds u_y.  (Checking a 64-bit fold
    first and the 128-bit one on its survivors measured ~9% slower.)
    """
    # The record fields are strided; one O(L) copy makes the O(rows x L) passes faster.
    low_y, high_y, items, u_y, v_y = (np.ascontiguousarray(f) for f in _record_fields(posting))
    fold_x = batch.folded[rows][:, None, :]
    u_x, v_x = batch.terms[rows, 0][:, None], batch.terms[rows, 1][:, None]
    limit = _position_limits(batch, rows, orders)[:, None]
    binding = bool((limit < u_y.max()).any())  # early probe positions rarely limit anything
    step = max(1, _CHUNK // len(rows))
    parts = []
    for lo in range(0, len(items), step):
        chunk = slice(lo, lo + step)
        twice = _twice_shared(fold_x, low_y[chunk], high_y[chunk])
        ok = twice > v_x + u_y[chunk]
        ok &= twice > u_x + v_y[chunk]
        if binding:
            ok &= u_y[chunk] <= limit
        which, entry = np.divmod(np.flatnonzero(ok), twice.shape[1])
        parts.append(_Hits(rows[which], orders[which], items[lo + entry].astype(np.int64)))
    return _Hits.concat(parts)


def _chunks(
    incidences: list[tuple[bytearray, int, int]],
) -> Iterable[list[tuple[bytearray, int, int]]]:
    """Consecutive runs of (posting, row, order) reading at most ~_CHUNK entries each."""
    chunk: list[tuple[bytearray, int, int]] = []
    size = 0
    for incidence in incidences:
        chunk.append(incidence)
        size += len(incidence[0]) // _RECORD_SIZE
        if size >= _CHUNK:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _stream_hits(batch: _Batch, incidences: list[tuple[bytearray, int, int]]) -> _Hits:
    """Stage one for lists read by few rows: each (row, list) copied into one stream.

    The partner side is then contiguous and the probe side is repeated along it,
    so the comparison needs no per-entry lookups.
    """
    lengths = np.array([len(p) // _RECORD_SIZE for p, _, _ in incidences])
    rows = np.array([row for _, row, _ in incidences])
    orders = np.array([order for _, _, order in incidences])
    low_y, high_y, items, u_y, v_y = _record_fields(b"".join(p for p, _, _ in incidences))
    owner = np.repeat(np.arange(len(incidences)), lengths)
    twice = _twice_shared(np.repeat(batch.folded[rows], lengths, axis=0), low_y, high_y)
    keep = twice > np.repeat(batch.terms[rows, 1], lengths) + u_y
    keep &= twice > np.repeat(batch.terms[rows, 0], lengths) + v_y
    keep &= u_y <= np.repeat(_position_limits(batch, rows, orders), lengths)
    hit = np.flatnonzero(keep)
    return _Hits(rows[owner[hit]], orders[owner[hit]], items[hit].astype(np.int64))


def _position_limits(batch: _Batch, rows: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """The largest u_y a hit at probe-order position `orders` can have, int16.

    If the first shared element sits at position i of the probe's order, then
    need[m + n] <= overlap <= m - i, and 2 * need >= u_x + u_y + 1, so
    u_y <= 2 * (m - i) - u_x - 1.  Hits through later shared elements may be
    dropped: the pair is still found through the first one.  Clipping to
    [-1, _TERM_CAP] changes no outcome (0 <= u_y <= _TERM_CAP).
    """
    limit = 2 * (batch.sizes[rows] - orders) - batch.terms[rows, 0] - 1
    return np.maximum(np.minimum(limit, _TERM_CAP), -1).astype(np.int16)


def _filter_pairs(bounds: _Bounds, batch: _Batch, hits: _Hits, index: RougeLIndex) -> _Hits:
    """Stage two: exact size, position and signature bounds, then one hit per pair."""
    rows, items = hits.rows, hits.items
    m, n = batch.sizes[rows], index._sizes[items]
    need = bounds.need(m + n)
    # The first shared element at probe position `order` leaves O <= m - order.
    keep = (need <= m - hits.order) & _folded_bound_ok(
        batch.folded[rows], index._folded[items], batch.spare[rows], index._spare[items], need
    )
    hits, m, n, need = hits.take(keep), m[keep], n[keep], need[keep]
    keep = _sig_bound_ok(batch.sigs[hits.rows], index._sigs[hits.items], m, n, need)
    hits = hits.take(keep)
    pairs = np.unique(hits.rows * len(index) + hits.items)
    rows, items = np.divmod(pairs, max(1, len(index)))
    return _Hits(rows, np.zeros_like(rows), items)


def _folded_bound_ok(
    fold_x: np.ndarray,
    fold_y: np.ndarray,
    spare_x: np.ndarray,
    spare_y: np.ndarray,
    need: np.ndarray,
) -> np.ndarray:
    """Bits of one side missing from the other each stand for a missing element:
    overlap <= shared bits + min(spare_x, spare_y) (folds of k x 2 words)."""
    shared = _count_bits(fold_x & fold_y).sum(axis=1, dtype=np.int64)
    return shared + np.minimum(spare_x, spare_y) >= need


def _sig_bound_ok(
    sig_x: np.ndarray, sig_y: np.ndarray, m: np.ndarray, n: np.ndarray, need: np.ndarray
) -> np.ndarray:
    """overlap <= min(m - bits of x missing in y, n - bits of y missing in x), full signatures."""
    miss_x = _count_bits(sig_x & ~sig_y).sum(axis=1, dtype=np.int64)
    miss_y = _count_bits(sig_y & ~sig_x).sum(axis=1, dtype=np.int64)
    return np.minimum(m - miss_x, n - miss_y) >= need


def _block_pairs(bounds: _Bounds, batch: _Batch) -> dict[int, list[int]]:
    """Rows of the batch that could duplicate an earlier row, with those rows (ascending).

    Every pair of the block is compared by signature (a block is small); the
    exact scores are computed later, only against rows that were kept.
    """
    if len(batch) < 2:
        return {}
    u, v = batch.terms[:, 0], batch.terms[:, 1]
    twice = _twice_shared(batch.folded[:, None, :], batch.folded[:, 0], batch.folded[:, 1])
    ok = (twice > v[:, None] + u[None, :]) & (twice > u[:, None] + v[None, :])
    ok &= np.tri(len(batch), k=-1, dtype=bool)
    rows, earlier = np.divmod(np.flatnonzero(ok), len(batch))
    m, n = batch.sizes[rows], batch.sizes[earlier]
    need = bounds.need(m + n)
    keep = _folded_bound_ok(
        batch.folded[rows], batch.folded[earlier], batch.spare[rows], batch.spare[earlier], need
    )
    rows, earlier, m, n, need = rows[keep], earlier[keep], m[keep], n[keep], need[keep]
    keep = _sig_bound_ok(batch.sigs[rows], batch.sigs[earlier], m, n, need)
    pairs: dict[int, list[int]] = {}
    for row, other in zip(rows[keep].tolist(), earlier[keep].tolist(), strict=True):
        pairs.setdefault(row, []).append(other)
    return pairs


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class _ProbePool:
    """Forked workers that each own a shard of the posting lists.

    Worker k holds the postings of the elements e with e % workers == k (and
    every item's signature and key).  Per block, the parent picks each row's
    probe elements once, from its own full index, and sends every worker the
    groups of its elements with the rows of the previous block that were kept,
    which the worker inserts first, so positions stay equal to the parent's.
    A list is scanned whole, by all the rows that probe it, in one worker; the
    parent merges the workers' best matches.
    """

    def __init__(self, index: RougeLIndex, workers: int) -> None:
        context = multiprocessing.get_context("fork")
        self._conns, self._procs = [], []
        for share in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_probe_worker, args=(index, child, (share, workers)), daemon=True
            )
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def __enter__(self) -> _ProbePool:
        return self

    def submit(self, batch: _Batch, kept_rows: list[int], groups: list[_Group]) -> None:
        shares = len(self._conns)
        for share, conn in enumerate(self._conns):
            conn.send((batch, kept_rows, [g for g in groups if g[0] % shares == share]))

    def collect(self) -> dict[int, tuple[int, float]]:
        matches: dict[int, tuple[int, float]] = {}
        for conn in self._conns:
            reply = conn.recv()
            if isinstance(reply, str):
                raise RuntimeError(f"rouge dedup worker failed:\n{reply}")
            for row, match in reply.items():
                _keep_better(matches, row, match)
        return matches

    def __exit__(self, *exc: object) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):  # a worker already gone is joined below
                conn.send(None)
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in self._conns:
            conn.close()


def _probe_worker(index: RougeLIndex, conn: Any, shard: tuple[int, int]) -> None:
    """Worker loop of `_ProbePool`; a failure is sent back as its traceback.

    The forked copy keeps the postings of its shard only (the parent's index
    was built before the fork; later items are inserted per shard).
    """
    index._postings = {e: p for e, p in index._postings.items() if e % shard[1] == shard[0]}
    previous: _Batch | None = None
    try:
        while (message := conn.recv()) is not None:
            batch, kept_rows, groups = message
            if previous is not None:
                # texts are the parent's business
                index._insert([""] * len(kept_rows), previous, kept_rows, shard)
            if batch.keys and isinstance(batch.keys[0], tuple):
                index._keys = [_as_tuple(key) for key in index._keys]
            conn.send(index._matches(batch, groups))
            previous = batch
    except EOFError:  # the parent went away; nothing to report to
        pass
    except Exception:  # report, do not hang the parent waiting for a reply
        conn.send(traceback.format_exc())
    finally:
        conn.close()


def rouge_l_dedup_detailed(
    candidates: Sequence[str], pool: Sequence[str] = (), threshold: float = 0.7, *, workers: int = 1
) -> list[DedupDecision]:
    """Decide, in order, which candidates survive ROUGE-L dedup, and why the others did not.

    A candidate is kept when its ROUGE-L F against every pool item and every
    previously kept candidate is <= `threshold` (pool items are never
    compared with each other).  Texts with no tokens score 0 against anything.
    `workers` > 1 splits the index probes across forked processes; the
    decisions are identical for any value.
    """
    _check_workers(workers)
    index = RougeLIndex(threshold)
    index.extend(pool)
    return index.filter_detailed(candidates, workers=workers)


def rouge_l_dedup(
    candidates: Sequence[str], pool: Sequence[str] = (), threshold: float = 0.7, *, workers: int = 1
) -> list[int]:
    """Indices of the candidates kept by the Self-Instruct ROUGE-L rule (see the detailed variant)."""
    return [
        d.index
        for d in rouge_l_dedup_detailed(candidates, pool, threshold, workers=workers)
        if d.kept
    ]
