"""The gate means the same at any size: fixed-size sampled metrics, 1k to 52k rows.

A seeded varied set (medinstruct_gate.synthetic, ROUGE-L deduplicated like curate
output) must pass at 1k, 10k and 52k rows; a collapsed set (four slot templates)
must fail at every size. Before the sample, distinct-2 over all rows failed good
data once it grew (tests below show that drift on the same generator).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pandas as pd
import pytest

from medinstruct_gate.config import SIZE_KINDS, DiversityConfig, GateConfig
from medinstruct_gate.data import compute_diversity
from medinstruct_gate.diversity import distinct_n, sample_rows
from medinstruct_gate.gate import GateResult, run_gate
from medinstruct_gate.suites import build_suites
from medinstruct_gate.synthetic import collapsed_tasks, varied_tasks

SIZES = [
    1000,
    pytest.param(10_000, marks=pytest.mark.slow),
    pytest.param(52_000, marks=pytest.mark.slow),
]
THRESHOLD_KEYS = {
    "min_distinct_types",
    "min_distinct_topics",
    "min_distinct_views",
    "max_type_share",
    "require_all_difficulties",
    "dedup_threshold",
    "max_mean_pairwise_rouge",
    "min_distinct_2",
    "min_verb_object_pairs",
    "min_canonical_label_share",
}


@pytest.fixture(scope="module")
def dataset() -> Callable[[str, int], pd.DataFrame]:
    """Build each (kind, n) set once per module: the 52k varied set takes about 25 s."""
    cache: dict[tuple[str, int], pd.DataFrame] = {}
    makers = {"varied": varied_tasks, "collapsed": collapsed_tasks}

    def get(kind: str, n: int) -> pd.DataFrame:
        if (kind, n) not in cache:
            cache[(kind, n)] = pd.DataFrame(makers[kind](n, 0))
        return cache[(kind, n)]

    return get


def failed_checks(result: GateResult) -> set[str]:
    return {
        str(evr.expectation_config.meta["check"])
        for suite in result.suites.values()
        if suite.raw is not None
        for evr in suite.raw.results
        if not evr.success
    }


# --- the sample --------------------------------------------------------------


def test_sample_rows_is_seeded_sorted_and_whole_below_size() -> None:
    assert sample_rows(5, 10, seed=0) == [0, 1, 2, 3, 4]
    assert sample_rows(10, 10, seed=3) == list(range(10))
    first = sample_rows(52_000, 1000, seed=0)
    assert first == sample_rows(52_000, 1000, seed=0) != sample_rows(52_000, 1000, seed=1)
    assert len(set(first)) == 1000 and first == sorted(first) and first[-1] < 52_000


def test_every_diversity_bound_documents_how_it_scales() -> None:
    assert set(SIZE_KINDS) == THRESHOLD_KEYS
    assert set(DiversityConfig.model_fields) >= THRESHOLD_KEYS
    assert {kind for kind, _ in SIZE_KINDS.values()} == {
        "share",
        "mean",
        "contract",
        "sampled",
        "floor",
    }
    assert all(len(why) > 20 for _, why in SIZE_KINDS.values())
    suite = build_suites(GateConfig(), ["instruction"])["diversity_metrics"]
    sizes = {e.column: e.meta["size"] for e in suite.expectations}
    assert sizes["distinct_2"] == sizes["verb_object_pairs"] == "sampled"
    assert sizes["max_type_share"] == "share" and sizes["max_pairwise_rouge_l"] == "contract"


class _CountingNlp:
    """A stand-in spaCy pipeline that records what it was asked to parse (no sentences)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def pipe(self, texts: Iterator[str], batch_size: int) -> Iterator[SimpleNamespace]:
        for text in texts:
            self.seen.append(text)
            yield SimpleNamespace(sents=iter(()))


def test_parse_and_distinct_2_run_on_the_sample_only(dataset) -> None:
    frame = dataset("varied", 3000)
    nlp = _CountingNlp()
    metrics = compute_diversity(frame, DiversityConfig(), nlp)  # type: ignore[arg-type]
    sample = sample_rows(3000, 1000, seed=0)
    texts = [frame["instruction"].iloc[i] for i in sample]
    assert metrics.sample == sample and len(metrics.verb_objects) == 1000
    assert nlp.seen == [t[:1].lower() + t[1:] for t in texts]
    assert metrics.values["sample_rows"] == 1000 and metrics.values["n_rows"] == 3000
    assert metrics.values["distinct_2"] == distinct_n(texts, 2)


def test_distinct_2_over_all_rows_drifts_but_the_sample_does_not(dataset) -> None:
    """Same generator, three times the rows: all-rows distinct-2 sinks below the bound."""
    bound = DiversityConfig().min_distinct_2
    small, large = dataset("varied", 1000), dataset("varied", 3000)
    on_all = [distinct_n(f["instruction"].tolist(), 2) for f in (small, large)]
    sampled = [
        distinct_n([f["instruction"].iloc[i] for i in sample_rows(len(f), 1000, 0)], 2)
        for f in (small, large)
    ]
    assert on_all[0] > bound > on_all[1]
    assert min(sampled) > bound and abs(sampled[0] - sampled[1]) < 0.02


# --- the whole gate at 1k, 10k, 52k ------------------------------------------


@pytest.mark.parametrize("n", SIZES)
def test_varied_set_passes_at_every_size(dataset, nlp, n: int) -> None:
    result = run_gate(dataset("varied", n), GateConfig(), nlp=nlp)
    assert result.success, "\n".join(result.summary())
    assert result.metrics["n_rows"] == n and result.metrics["sample_rows"] == 1000


@pytest.mark.parametrize("n", SIZES)
def test_collapsed_set_fails_at_every_size(dataset, nlp, n: int) -> None:
    result = run_gate(dataset("collapsed", n), GateConfig(), nlp=nlp)
    summary = "\n".join(result.summary())
    assert result.failed_families() == {"diversity"}, summary
    assert {"distinct_2", "mean_pairwise_rouge_l"} <= failed_checks(result), summary
    assert result.metrics["distinct_2"] < 0.15
