"""The `validate` stage's quality gate: Great Expectations suites over curated examples.

`run_gate` loads the examples (as raw dicts, see gate_data), derives word
counts and dataset-level diversity metrics, validates four suites through
real GX validation definitions, optionally builds Data Docs HTML, and returns
a GateResult whose `summary()` names every failed expectation with what it
observed. The stage fails (exit 1) when any suite fails.

GX is imported here and only here (about 4 s), so configs, metrics and plots
stay cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from medinstruct_gate.config import GateConfig
from medinstruct_gate.data import (
    DiversityMetrics,
    compute_diversity,
    load_examples_frame,
    with_word_counts,
)
from medinstruct_gate.report import failure_line, row_label, to_plain
from medinstruct_gate.suites import SUITE_FAMILIES, build_suites
from medinstruct_gate.verbs import load_spacy

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.data_context.store.store import DataDocsSiteConfigTypedDict
    from spacy.language import Language

DATASOURCE = "medinstruct_gate"
# Ephemeral contexts already define `local_site` (in a temp dir).
DOCS_SITE = "medinstruct_gate_docs"
RESULT_FORMAT: Final = "SUMMARY"  # partial unexpected values and row indices, no full lists


def make_context() -> AbstractDataContext:
    """An in-memory GX context without progress bars (they spam CI logs)."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@dataclass
class SuiteOutcome:
    """One suite's verdict, its failure lines and the raw GX result (for Data Docs, debugging)."""

    name: str
    family: str
    success: bool
    evaluated: int
    failures: list[str]
    raw: ExpectationSuiteValidationResult | None = field(default=None, repr=False)


@dataclass
class GateResult:
    """Everything the stage reports: verdict, per-suite outcomes, metrics, Data Docs location."""

    success: bool
    suites: dict[str, SuiteOutcome]
    metrics: dict[str, float]
    near_duplicates: list[str] = field(default_factory=list)
    docs_index: Path | None = None
    diversity: DiversityMetrics | None = field(default=None, repr=False)

    def failures(self) -> list[str]:
        return [line for suite in self.suites.values() for line in suite.failures]

    def failed_families(self) -> set[str]:
        return {suite.family for suite in self.suites.values() if not suite.success}

    def summary(self) -> list[str]:
        """Readable lines: verdict, one line per suite, each failure, key metrics."""
        n_eval = sum(s.evaluated for s in self.suites.values())
        n_fail = len(self.failures())
        lines = [
            f"GATE {'PASSED' if self.success else 'FAILED'}: {n_eval - n_fail}/{n_eval} expectations met"
        ]
        for suite in self.suites.values():
            status = "PASS" if suite.success else "FAIL"
            lines.append(
                f"  {status} {suite.name} ({suite.family}): {suite.evaluated - len(suite.failures)}/{suite.evaluated}"
            )
        lines += self.failures()
        lines += [f"  near-duplicate: {pair}" for pair in self.near_duplicates[:5]]
        shown = ", ".join(f"{k}={_fmt_metric(v)}" for k, v in self.metrics.items())
        lines.append(f"metrics: {shown}")
        if self.docs_index is not None:
            lines.append(f"data docs: {self.docs_index}")
        return lines

    def metrics_json(self) -> dict[str, Any]:
        """Flat numbers for `dvc metrics` / MLflow: the metrics plus expectation counts."""
        n_eval = sum(s.evaluated for s in self.suites.values())
        out: dict[str, Any] = {k: to_plain(v) for k, v in self.metrics.items()}
        out.update(
            success=self.success,
            expectations_evaluated=n_eval,
            expectations_failed=len(self.failures()),
        )
        out.update({f"{name}_success": s.success for name, s in self.suites.items()})
        return out


def _fmt_metric(value: float) -> str:
    value = to_plain(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _batch_definitions(context: AbstractDataContext) -> dict[str, Any]:
    """Whole-dataframe batch definitions for the examples and the one-row metrics table."""
    source = context.data_sources.add_or_update_pandas(DATASOURCE)
    return {
        asset: source.add_dataframe_asset(asset).add_batch_definition_whole_dataframe("whole")
        for asset in ("examples", "metrics")
    }


def _validate(
    context: AbstractDataContext,
    name: str,
    suite: gx.ExpectationSuite,
    batch: Any,
    frame: pd.DataFrame,
) -> ExpectationSuiteValidationResult:
    """Run one suite through a stored ValidationDefinition, so Data Docs can render its result."""
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"medinstruct_{name}", data=batch, suite=suite)
    )
    return definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT)


def _outcome(name: str, raw: ExpectationSuiteValidationResult, frame: pd.DataFrame) -> SuiteOutcome:
    family = SUITE_FAMILIES[name]
    failures = [failure_line(family, evr, frame) for evr in raw.results if not evr.success]
    return SuiteOutcome(
        name=name,
        family=family,
        success=bool(raw.success),
        evaluated=len(raw.results),
        failures=failures,
        raw=raw,
    )


def build_docs(context: AbstractDataContext, docs_dir: Path) -> Path:
    """Render every suite and validation result in `context` as static HTML under docs_dir."""
    docs_dir = Path(docs_dir).resolve()
    site: DataDocsSiteConfigTypedDict = {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    if DOCS_SITE in context.list_data_docs_sites():
        context.update_data_docs_site(DOCS_SITE, site)
    else:
        context.add_data_docs_site(DOCS_SITE, site)
    context.build_data_docs(site_names=[DOCS_SITE])
    return docs_dir / "index.html"


def _near_duplicate_lines(
    diversity: DiversityMetrics, frame: pd.DataFrame, threshold: float
) -> list[str]:
    labels = list(frame.index)
    return [
        f"ROUGE-L {pair.score:.3f} > {threshold}: {row_label(frame, labels[pair.row_a])} ~ {row_label(frame, labels[pair.row_b])}"
        for pair in diversity.rouge.pairs[:20]
    ]


def run_gate(
    data: pd.DataFrame | str | Path,
    cfg: GateConfig | None = None,
    docs_dir: str | Path | None = None,
    *,
    context: AbstractDataContext | None = None,
    nlp: Language | None = None,
) -> GateResult:
    """Validate examples (a JSONL path or a DataFrame of raw records) against the gate.

    Pass `context`/`nlp` to reuse a GX context and spaCy pipeline across calls
    (tests); by default each call gets a fresh ephemeral context.
    """
    cfg = cfg or GateConfig()
    frame = load_examples_frame(data) if isinstance(data, str | Path) else data
    examples = with_word_counts(frame)
    nlp = nlp or load_spacy(cfg.diversity.spacy_model)
    diversity = compute_diversity(frame, cfg.diversity, nlp)
    context = context or make_context()
    batches = _batch_definitions(context)
    suites = build_suites(cfg, frame.columns)
    outcomes = {}
    for name, suite in suites.items():
        table = diversity.frame() if name == "diversity_metrics" else examples
        asset = "metrics" if name == "diversity_metrics" else "examples"
        raw = _validate(context, name, suite, batches[asset], table)
        outcomes[name] = _outcome(name, raw, table)
    docs_index = build_docs(context, Path(docs_dir)) if docs_dir is not None else None
    return GateResult(
        success=all(o.success for o in outcomes.values()),
        suites=outcomes,
        metrics=dict(diversity.values),
        near_duplicates=_near_duplicate_lines(diversity, frame, cfg.diversity.dedup_threshold),
        docs_index=docs_index,
        diversity=diversity,
    )
