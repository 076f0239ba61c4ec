"""The compiled stage-one scan (scan.c): same passes as numpy, built once, optional."""

from __future__ import annotations

import logging
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from medinstruct_text import rouge, scan_kernel
from medinstruct_text.rouge import RougeLIndex, rouge_l_dedup
from tests.text.test_rouge import reference_rouge_l_dedup


@pytest.fixture
def fresh_loader() -> Iterator[None]:
    """`load_scan` runs again under the test's environment, and is reset after it."""
    scan_kernel.load_scan.cache_clear()
    yield
    scan_kernel.load_scan.cache_clear()


def _near_duplicates(n: int, seed: int) -> list[str]:
    """Texts over a small vocabulary, a third of them edited copies of earlier ones."""
    rng = random.Random(seed)
    vocab = [f"w{k}" for k in range(60)]
    texts: list[str] = []
    for _ in range(n):
        if texts and rng.random() < 0.35:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(vocab)
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(rng.choices(vocab, k=rng.randint(2, 25))))
    return texts


def _edited(texts: list[str], n: int, seed: int) -> list[str]:
    """n texts, each a copy of one of `texts` with one to three words replaced."""
    rng = random.Random(seed)
    edited = []
    for _ in range(n):
        words = rng.choice(texts).split()
        for _ in range(rng.randint(1, 3)):
            words[rng.randrange(len(words))] = f"w{rng.randrange(60)}"
        edited.append(" ".join(words))
    return edited


def _stage_one(compiled: bool, index: RougeLIndex, texts: list[str]) -> set[tuple[int, ...]]:
    batch = index._encode(texts)
    groups = index._probe_groups(batch, range(len(texts)))
    with pytest.MonkeyPatch.context() as patch:
        if not compiled:
            patch.setattr(rouge, "load_scan", lambda: None)
        hits = index._probe_hits(batch, groups)
    triples = zip(hits.rows.tolist(), hits.order.tolist(), hits.items.tolist(), strict=True)
    return set(triples)


@pytest.mark.parametrize("threshold", [0.3, 0.7, 0.9])
def test_compiled_scan_passes_exactly_the_numpy_pairs(threshold: float) -> None:
    index = RougeLIndex(threshold)
    indexed = _near_duplicates(600, seed=1)
    index.extend(indexed)
    probes = _near_duplicates(100, seed=2) + _edited(indexed, 200, seed=2)
    numpy_hits = _stage_one(False, index, probes)
    assert len(numpy_hits) > 100  # the comparison covers many passing pairs
    assert _stage_one(True, index, probes) == numpy_hits


def test_outputs_grow_when_more_pairs_pass_than_there_is_room_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = RougeLIndex()
    indexed = _near_duplicates(300, seed=3)
    index.extend(indexed)
    probes = _edited(indexed, 100, seed=4)
    expected = _stage_one(True, index, probes)
    monkeypatch.setattr(scan_kernel, "_FIRST_CAPACITY", 1)
    scan_kernel.load_scan.cache_clear()  # rebind with the small first capacity
    try:
        assert len(expected) > 1
        assert _stage_one(True, index, probes) == expected
    finally:
        scan_kernel.load_scan.cache_clear()


def test_dedup_keeps_the_same_texts_with_and_without_the_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    candidates, pool = _near_duplicates(1500, seed=5), _near_duplicates(50, seed=6)
    assert rouge.load_scan() is not None
    compiled = rouge_l_dedup(candidates, pool)
    monkeypatch.setattr(rouge, "load_scan", lambda: None)
    assert rouge_l_dedup(candidates, pool) == compiled
    assert rouge_l_dedup(candidates[:300], pool) == reference_rouge_l_dedup(candidates[:300], pool)


def test_build_compiles_once_into_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = scan_kernel.build(tmp_path)
    assert built == scan_kernel.library_path(tmp_path) and built.is_file()
    assert [p.name for p in built.parent.iterdir()] == ["scan.so"]  # no scratch left behind

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(subprocess, "run", refuse)
    assert scan_kernel.build(tmp_path) == built


def test_a_failing_compiler_is_reported_with_its_command(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"false .*scan\.c failed"):
        scan_kernel.build(tmp_path, env={"CC": "false"})
    assert not scan_kernel.library_path(tmp_path).exists()


def test_no_compiler_means_numpy_with_a_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fresh_loader: None,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with caplog.at_level(logging.WARNING, logger=scan_kernel.__name__):
        assert scan_kernel.load_scan() is None
    assert "no C compiler found" in caplog.text and "same result" in caplog.text
    candidates = _near_duplicates(200, seed=7)
    assert rouge_l_dedup(candidates) == reference_rouge_l_dedup(candidates)


def test_the_environment_can_turn_the_scan_off(
    monkeypatch: pytest.MonkeyPatch, fresh_loader: None
) -> None:
    monkeypatch.setenv(scan_kernel.DISABLE_ENV, "0")
    assert scan_kernel.load_scan() is None


def test_library_path_depends_on_source_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = scan_kernel.library_path(tmp_path)
    monkeypatch.setattr(scan_kernel, "_FLAGS", (*scan_kernel._FLAGS, "-DCHANGED"))
    assert scan_kernel.library_path(tmp_path) != before
    monkeypatch.setattr(scan_kernel, "_source", lambda: b"int x;")
    assert len({before, scan_kernel.library_path(tmp_path)}) == 2


def test_empty_lists_and_probes_pass_nothing() -> None:
    scan = rouge.load_scan()
    assert scan is not None
    empty = np.zeros(0, dtype=np.int64)
    no_probes = (np.zeros((0, 2), np.uint64), empty, empty, empty)
    probe, item = scan([], np.zeros(1, np.int64), *no_probes)
    assert len(probe) == len(item) == 0
    probe, item = scan([bytearray()], np.zeros(2, np.int64), *no_probes)
    assert len(probe) == len(item) == 0


def test_the_scan_reads_rouges_record_layout() -> None:
    assert rouge._RECORD_SIZE == scan_kernel._ENTRY_BYTES == 24


def test_mismatched_inputs_are_refused_before_the_call() -> None:
    scan = rouge.load_scan()
    assert scan is not None
    empty = np.zeros(0, dtype=np.int64)
    with pytest.raises(ValueError, match="one start per list"):
        scan(
            [bytearray(24)], np.zeros(1, np.int64), np.zeros((0, 2), np.uint64), empty, empty, empty
        )
