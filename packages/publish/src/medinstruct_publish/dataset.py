"""export-dataset: the curated set as a Hugging Face dataset folder with a provenance card.

Layout (`load_dataset(folder)` reads it, locally or once pushed to the Hub):

    README.md               dataset card: YAML metadata + provenance
    data/train.jsonl        config "default", split "train": data/curated/train.jsonl, byte for byte
    rejected/train.jsonl    config "rejected", split "train": data/curated/rejected.jsonl

The rejected rows are a separate *config*, not a split of the default one: they
carry two more columns (`reason`, `detail`), and a split of the default config
would put them one `concatenate_datasets` away from being trained on. As a
config they stay out of `load_dataset(repo)` yet one argument away for anyone
auditing the filters (`load_dataset(repo, "rejected")`).

Files are copied byte for byte, so their md5 equals the one dvc.lock records.

    python -m medinstruct_publish.dataset --root . --out exports/dataset
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData
from pydantic import BaseModel, ConfigDict

from medinstruct_core.io import DataError, read_jsonl
from medinstruct_core.params import ParamsError
from medinstruct_core.records import Example, RejectedExample
from medinstruct_publish.folder import copy_file, listing
from medinstruct_publish.markdown import cell, md5_cell, table
from medinstruct_publish.provenance import (
    RoleFact,
    StageCount,
    TagLookup,
    mlflow_lookup,
    no_tags,
    rejects_by_reason,
    role_fact,
    stage_counts,
)
from medinstruct_publish.workspace import (
    DvcLock,
    FileFact,
    PublishError,
    Workspace,
    file_fact,
    require_locked,
)
from medinstruct_train.artifacts import atomic_dir

TRAIN_FILE = "data/train.jsonl"
REJECTED_FILE = "rejected/train.jsonl"
# The data outs of the generation half of the DAG, cited with their dvc.lock md5s.
DATA_OUTS = (
    "data/generated/instructions.jsonl",
    "data/generated/examples.jsonl",
    "data/curated/train.jsonl",
    "data/curated/rejected.jsonl",
)
# The Hub's size buckets (the dataset card's `size_categories`): upper bounds, exclusive.
SIZE_BUCKETS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
PAPER = "https://arxiv.org/abs/2310.14558"


class DatasetExportConfig(BaseModel):
    """What to export and how to label it; paths are relative to the workspace root."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: str = "data/curated/train.jsonl"
    rejected: str = "data/curated/rejected.jsonl"
    seeds: str = "data/seeds/seed_tasks.jsonl"
    include_rejected: bool = True
    pretty_name: str = "MedInstruct (medinstruct pipeline)"
    # Machine-written medical text: research use; override for a run whose models allow more.
    license: str = "cc-by-nc-4.0"
    allow_unlocked: bool = False
    check: bool = True


class DatasetFacts(BaseModel):
    """Everything the dataset card states, gathered before anything is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: FileFact
    rejected: FileFact | None
    seeds: FileFact
    roles: list[RoleFact]
    counts: list[StageCount]
    curate_rejects: dict[str, int]
    generation_rejects: dict[str, int]
    gate: dict[str, Any] | None
    data_outs: list[FileFact]
    commit: str = ""


def size_category(rows: int) -> str:
    for bound, label in SIZE_BUCKETS:
        if rows < bound:
            return label
    return "n>1B"


# (role, the stage it served, that stage's out, the Example field naming the model)
ROLES = (
    ("teacher", "generate_instructions", DATA_OUTS[0], "instruction_model"),
    ("responder", "generate_responses", DATA_OUTS[1], "response_model"),
)


def gather_facts(ws: Workspace, cfg: DatasetExportConfig, lookup: TagLookup) -> DatasetFacts:
    """Validate the rows (errors name file, line and field) and read the provenance."""
    lock = ws.lock()
    kept = read_jsonl(ws.path(cfg.train), Example)
    train = file_fact(ws, cfg.train, lock).model_copy(update={"rows": len(kept)})
    require_locked(train, cfg.allow_unlocked)
    return DatasetFacts(
        train=train,
        rejected=_rejected_fact(ws, cfg, lock) if cfg.include_rejected else None,
        seeds=file_fact(ws, cfg.seeds, lock, count_rows=True),
        roles=role_facts(ws, lock, kept, lookup),
        counts=stage_counts(ws),
        curate_rejects=rejects_by_reason(ws.metrics("curate")),
        generation_rejects=rejects_by_reason(ws.metrics("generate_instructions"), "rejects."),
        gate=ws.metrics("validate"),
        data_outs=[file_fact(ws, p, lock) for p in DATA_OUTS if ws.path(p).exists()],
        commit=ws.commit(),
    )


def role_facts(
    ws: Workspace, lock: DvcLock, kept: Sequence[Example], lookup: TagLookup
) -> list[RoleFact]:
    """Teacher and responder, each with the tags of the MLflow run that wrote its stage's
    out (found by the md5 dvc.lock records for it) and the model names in the rows."""
    facts = []
    for role, stage, out_path, field in ROLES:
        out = lock.out(out_path)
        tags = lookup(out.path, out.md5) if out is not None else {}
        used = [str(getattr(r, field)) for r in kept if getattr(r, field)]
        facts.append(role_fact(ws, lock, role, stage, used, tags))
    return facts


def _rejected_fact(ws: Workspace, cfg: DatasetExportConfig, lock: DvcLock) -> FileFact | None:
    if not ws.path(cfg.rejected).is_file():
        return None
    rows = read_jsonl(ws.path(cfg.rejected), RejectedExample)
    fact = file_fact(ws, cfg.rejected, lock).model_copy(update={"rows": len(rows)})
    require_locked(fact, cfg.allow_unlocked)
    return fact


def card_data(facts: DatasetFacts, cfg: DatasetExportConfig) -> DatasetCardData:
    """The YAML header: what the Hub indexes, and the configs `datasets` loads."""
    configs: list[dict[str, Any]] = [
        {"config_name": "default", "data_files": [{"split": "train", "path": TRAIN_FILE}],
         "default": True},
    ]  # fmt: skip
    if facts.rejected is not None:
        configs.append(
            {"config_name": "rejected", "data_files": [{"split": "train", "path": REJECTED_FILE}]}
        )
    return DatasetCardData(
        license=cfg.license,
        language=["en"],
        task_categories=["text-generation", "question-answering"],
        size_categories=[size_category(facts.train.rows or 0)],
        pretty_name=cfg.pretty_name,
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        multilinguality=["monolingual"],
        source_datasets=["original"],
        tags=["medical", "synthetic", "instruction-tuning", "self-instruct", "alpacare"],
        configs=configs,
    )


def card_body(facts: DatasetFacts, cfg: DatasetExportConfig) -> str:
    parts = [
        f"# {cfg.pretty_name}",
        _summary(facts),
        _loading(facts),
        _fields(),
        _provenance(facts),
        _limits(),
        f"## Citation\n\nThe method follows AlpaCare ({PAPER}), Self-Instruct with clinician seeds.",
    ]
    return "\n\n".join(parts) + "\n"


def _summary(facts: DatasetFacts) -> str:
    rejected = facts.rejected.rows if facts.rejected else 0
    return (
        f"{facts.train.rows} medical instruction-following examples written by language models "
        f"(a teacher wrote the tasks, a responder the answers) from {facts.seeds.rows} seed tasks, "
        "then filtered by rules and ROUGE-L near-duplicate removal and checked by a Great "
        f"Expectations gate. {rejected} rejected examples are published with their reasons in "
        "the `rejected` config. **Machine-written, not reviewed by clinicians.**"
    )


def _loading(facts: DatasetFacts) -> str:
    code = [
        "```python",
        "from datasets import load_dataset",
        "",
        'train = load_dataset("<this repo or folder>", split="train")',
    ]
    if facts.rejected is not None:
        code.append('rejected = load_dataset("<this repo or folder>", "rejected", split="train")')
    return "## Loading\n\n" + "\n".join([*code, "```"])


_FIELDS = (
    ("id", "stable id of the generated task"),
    ("type, topic, view, difficulty", "task type, medical area, who asks, 1 (basic) to 5 (expert)"),
    ("instruction, input", "the task; `input` is the case text, or empty"),
    ("output", "the responder's answer"),
    ("instruction_model, response_model", "the models that wrote the task and the answer"),
    ("finish_reason, truncated", "why the answer ended; truncated answers are rejected"),
    ("usage", "prompt and completion tokens of the answer"),
    ("reason, detail", "`rejected` config only: the filter that dropped the row, and why"),
)


def _fields() -> str:
    return "## Fields\n\n" + table(("field", "meaning"), _FIELDS)


def _provenance(facts: DatasetFacts) -> str:
    seeds = facts.seeds
    commit = f"Exported from medinstruct commit `{facts.commit}`." if facts.commit else ""
    sections = [
        "## Provenance",
        *([commit] if commit else []),
        f"**Seed tasks**: `{seeds.path}`, {cell(seeds.rows)} tasks, md5 {md5_cell(seeds)}.",
        "### Models\n\n" + _roles_table(facts.roles),
        "### Counts at each stage\n\n"
        + table(("stage", "count", "value"), ((c.stage, c.what, c.value) for c in facts.counts)),
        "### Rejected, by reason\n\n" + _rejects_table(facts),
        "### Quality gate\n\n" + _gate_text(facts.gate),
        "### Files (DVC md5s)\n\n"
        + f"`{TRAIN_FILE}` here is `{facts.train.path}` byte for byte"
        + (f", and `{REJECTED_FILE}` is `{facts.rejected.path}`" if facts.rejected else "")
        + ".\n\n"
        + table(("file", "md5"), ((f"`{f.path}`", md5_cell(f)) for f in facts.data_outs)),
    ]
    return "\n\n".join(sections)


def _roles_table(roles: Sequence[RoleFact]) -> str:
    rows = []
    for r in roles:
        used = ", ".join(r.used_models) or "not recorded"
        upstream = f" ({', '.join(r.upstream)})" if r.upstream else ""
        sampling = ", ".join(f"{k}={v}" for k, v in sorted(r.sampling.items()))
        kind = f"{r.kind} (from {r.kind_source})"
        rows.append((r.role, f"{used}{upstream}", kind, r.endpoint, sampling, r.params_source))
    headers = ("role", "model used", "endpoint kind", "endpoint setting", "sampling", "params from")
    return table(headers, rows)


def _rejects_table(facts: DatasetFacts) -> str:
    rows = [("generate_instructions", k, v) for k, v in facts.generation_rejects.items()]
    rows += [("curate", k, v) for k, v in facts.curate_rejects.items()]
    if not rows:
        return "No rejects recorded."
    return table(("stage", "reason", "rows"), rows)


def _gate_text(gate: dict[str, Any] | None) -> str:
    if gate is None:
        return "The gate's metrics (`metrics/validate.json`) were not recorded."
    keys = ("gate", "n_rows", "expectations_evaluated", "expectations_failed",
            "mean_pairwise_rouge_l", "max_type_share", "distinct_2")  # fmt: skip
    return table(("metric", "value"), ((k, gate[k]) for k in keys if k in gate))


def _limits() -> str:
    return "\n".join(
        [
            "## Limitations",
            "",
            "- **Machine-written, not reviewed by clinicians.** Answers can be wrong, outdated "
            "or unsafe; do not use them for diagnosis, treatment or any clinical decision.",
            "- The privacy (PHI), refusal and other-media filters are regular expressions: "
            "they reduce, not exclude, such content. Seed cases are synthetic.",
            "- The default pipeline runs small local models (see Models): its text is far "
            "below the quality of the GPT-4/ChatGPT data the AlpaCare paper used.",
            "- English only; topic and task-type coverage follows the seed set.",
        ]
    )


def build_card(facts: DatasetFacts, cfg: DatasetExportConfig) -> DatasetCard:
    header = card_data(facts, cfg).to_yaml()
    return DatasetCard(f"---\n{header}\n---\n\n{card_body(facts, cfg)}")


def write_folder(staging: Path, ws: Workspace, facts: DatasetFacts, card: DatasetCard) -> None:
    """Copies, not links: data files are small, and a copy keeps the export's md5 fixed."""
    copy_file(ws.path(facts.train.path), staging / TRAIN_FILE)
    if facts.rejected is not None:
        copy_file(ws.path(facts.rejected.path), staging / REJECTED_FILE)
    card.save(staging / "README.md")


def check_loadable(folder: Path, facts: DatasetFacts) -> None:
    """Load the folder the way a user will; a count or column mismatch stops the export."""
    import datasets  # deferred: ~2 s import

    quiet = not datasets.utils.are_progress_bars_disabled()
    if quiet:  # the bars would bury the export's listing; restored below
        datasets.disable_progress_bars()
    try:
        _load_each(datasets, folder, facts)
    finally:
        if quiet:
            datasets.enable_progress_bars()


def _load_each(datasets: Any, folder: Path, facts: DatasetFacts) -> None:
    with tempfile.TemporaryDirectory(prefix="medinstruct-publish-") as cache:
        expected = {"default": facts.train, "rejected": facts.rejected}
        for name, fact in expected.items():
            if fact is None:
                continue
            loaded = datasets.load_dataset(str(folder), name, split="train", cache_dir=cache)
            if loaded.num_rows != fact.rows:
                raise PublishError(
                    f"{folder}: config '{name}': load_dataset gave {loaded.num_rows} rows, "
                    f"{fact.path} has {fact.rows}"
                )
            missing = {"id", "instruction", "input", "output"} - set(loaded.column_names)
            if missing:
                raise PublishError(f"{folder}: config '{name}': columns missing: {sorted(missing)}")


def export_dataset(
    root: Path, out: Path, cfg: DatasetExportConfig, lookup: TagLookup | None = None
) -> list[tuple[str, int]]:
    """Write the dataset folder at `out` atomically; return its listing (path, bytes)."""
    ws = Workspace(root=root)
    facts = gather_facts(ws, cfg, lookup or no_tags)
    card = build_card(facts, cfg)
    with atomic_dir(out) as staging:
        write_folder(staging, ws, facts, card)
        if cfg.check:
            check_loadable(staging, facts)
    return listing(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medinstruct_publish.dataset",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    defaults = DatasetExportConfig()
    parser.add_argument("--root", type=Path, default=Path("."), help="the workspace root")
    parser.add_argument("--out", type=Path, default=Path("exports/dataset"))
    parser.add_argument("--train", default=defaults.train)
    parser.add_argument("--rejected", default=defaults.rejected)
    parser.add_argument("--seeds", default=defaults.seeds)
    parser.add_argument("--no-rejected", action="store_true", help="leave the rejected config out")
    parser.add_argument("--pretty-name", default=defaults.pretty_name)
    parser.add_argument("--license", default=defaults.license, help="a Hub license id")
    parser.add_argument("--allow-unlocked", action="store_true",
                        help="export files whose md5 differs from dvc.lock (the card says so)")  # fmt: skip
    parser.add_argument("--no-check", action="store_true", help="skip the load_dataset self-check")
    parser.add_argument("--no-mlflow", action="store_true", help="do not read MLflow run tags")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = DatasetExportConfig(
        train=args.train, rejected=args.rejected, seeds=args.seeds,
        include_rejected=not args.no_rejected, pretty_name=args.pretty_name,
        license=args.license, allow_unlocked=args.allow_unlocked, check=not args.no_check,
    )  # fmt: skip
    lookup = no_tags if args.no_mlflow else mlflow_lookup(args.root.resolve())
    try:
        files = export_dataset(args.root, args.out, cfg, lookup)
    except (PublishError, DataError, ParamsError) as exc:
        print(f"export-dataset: {exc}", file=sys.stderr)
        return 1
    for path, size in files:
        print(f"{size:>12}  {args.out / path}")
    return 0


__all__ = [
    "DatasetExportConfig",
    "DatasetFacts",
    "build_card",
    "card_data",
    "export_dataset",
    "gather_facts",
    "main",
    "size_category",
]

if __name__ == "__main__":
    sys.exit(main())
