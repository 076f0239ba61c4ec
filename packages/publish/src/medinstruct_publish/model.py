"""export-model: the student as a Hub model folder with a model card.

models/student is a DVC out, so the card is not written into it: the export is
a separate folder (default exports/model/) holding the card and the student's
files hard-linked (a copy only where links are impossible), which is what
`huggingface_hub.upload_folder` takes. Layout:

    README.md            model card: YAML metadata (model-index) + training and evaluation
    config.json, model.safetensors, tokenizer files, medinstruct_train.json, adapter/ ...
    eval/report.md, eval/*.png   the evaluation report the card's numbers come from

    python -m medinstruct_publish.model --root . --out exports/model
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData
from pydantic import BaseModel, ConfigDict

from medinstruct_core.io import DataError
from medinstruct_core.params import ParamsError
from medinstruct_core.tracking import flatten
from medinstruct_publish import evaluation as ev
from medinstruct_publish.folder import copy_file, listing, place_tree
from medinstruct_publish.markdown import cell, interval, md5_cell, table
from medinstruct_publish.provenance import EMBEDDED_UPSTREAM, locked_section
from medinstruct_publish.workspace import (
    FileFact,
    PublishError,
    Workspace,
    file_fact,
    read_json_object,
    require_locked,
)
from medinstruct_train.artifacts import atomic_dir
from medinstruct_train.base import BASE_META
from medinstruct_train.loading import ADAPTER_SUBDIR, TRAIN_META
from medinstruct_train.prompting import format_prompt

# train.* keys that say how the run was launched or checkpointed, not what was learned.
OPERATIONAL_KEYS = frozenset(
    {
        "distributed", "num_processes", "num_machines", "machine_rank", "main_process_ip",
        "main_process_port", "save_steps", "save_total_limit", "resume", "checkpoint_dir",
        "keep_checkpoints", "attn_implementation", "logging_steps",
    }
)  # fmt: skip
TRAIN_RESULTS = (
    ("train_loss", "mean training loss"),
    ("final_loss", "loss at the last step"),
    ("epochs", "epochs"),
    ("steps", "optimizer steps"),
    ("n_train", "training examples"),
    ("tokens", "tokens seen"),
    ("trainable_parameters", "trainable parameters"),
    ("total_parameters", "total parameters"),
    ("runtime_s", "training time (s)"),
)
EVAL_FILES = ("report.md", "*.png")


class ModelExportConfig(BaseModel):
    """What to export and how to label it; paths are relative to the workspace root."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    student: str = "models/student"
    base: str = "models/base"
    train_data: str = "data/curated/train.jsonl"
    eval_report: str = "reports/eval"
    model_name: str = "medinstruct-student"
    # The student inherits its base's license (SmolLM2: Apache-2.0) unless told otherwise.
    license: str = "apache-2.0"
    # The Hub id of the exported dataset, when it is published too (the card links it).
    dataset_repo: str = ""
    allow_unlocked: bool = False


class ModelFacts(BaseModel):
    """Everything the model card states, gathered before anything is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    student: FileFact
    merged: bool
    base: dict[str, Any]
    base_hub_id: str | None
    train_data: FileFact
    hyperparameters: dict[str, Any]
    hyperparameters_source: str
    train_metrics: dict[str, Any] | None
    eval_metrics: dict[str, Any] | None
    num_fewshot: int | None
    commit: str = ""


def student_sidecar(student: Path) -> dict[str, Any]:
    """medinstruct_train.json: the resolved config saved inside the checkpoint ({} if hand-made)."""
    return read_json_object(student / TRAIN_META) or {}


def base_hub_id(base: Mapping[str, Any]) -> str | None:
    """The Hub id the student started from: a hub source as given, the embedded SmolLM2's
    upstream for `embedded`; local files and tiny-random models have none."""
    kind = base.get("kind")
    source = (base.get("config") or {}).get("source", "")
    if kind == "hub":
        return str(source)
    if kind == "embedded":
        return EMBEDDED_UPSTREAM["smollm2-135m"]
    return None


def hyperparameters(
    sidecar: Mapping[str, Any], fallback: tuple[Any, str]
) -> tuple[dict[str, Any], str]:
    """The training config as run: the student's sidecar, else `fallback` (dvc.lock or
    params.yaml, with its name), flattened to dotted keys minus the launch/checkpoint keys."""
    if isinstance(sidecar.get("config"), dict):
        raw, source = sidecar["config"], f"{TRAIN_META} (saved with the weights)"
    else:
        raw, source = fallback
    flat = flatten(raw or {})
    return {k: v for k, v in flat.items() if k.split(".")[0] not in OPERATIONAL_KEYS}, source


def gather_facts(ws: Workspace, cfg: ModelExportConfig) -> ModelFacts:
    lock = ws.lock()
    student_dir = ws.path(cfg.student)
    adapter_only = (student_dir / ADAPTER_SUBDIR / "adapter_config.json").is_file()
    if not (student_dir / "config.json").is_file() and not adapter_only:
        raise PublishError(f"{student_dir}: no config.json and no {ADAPTER_SUBDIR}/: not a model")
    student = file_fact(ws, cfg.student, lock)
    require_locked(student, cfg.allow_unlocked)
    sidecar = student_sidecar(student_dir)
    base = sidecar.get("base") or read_json_object(ws.path(cfg.base) / BASE_META) or {}
    hparams, source = hyperparameters(sidecar, locked_section(ws, lock, "train", "train"))
    mcq, _ = locked_section(ws, lock, "evaluate", "mcq")
    return ModelFacts(
        student=student,
        merged=(student_dir / "config.json").is_file(),
        base=base,
        base_hub_id=base_hub_id(base),
        train_data=file_fact(ws, cfg.train_data, lock, count_rows=True),
        hyperparameters=hparams,
        hyperparameters_source=source,
        train_metrics=ws.metrics("train"),
        eval_metrics=ws.metrics("evaluate"),
        num_fewshot=mcq.get("num_fewshot") if isinstance(mcq, dict) else None,
        commit=ws.commit(),
    )


def card_data(facts: ModelFacts, cfg: ModelExportConfig) -> ModelCardData:
    eval_dataset = cfg.dataset_repo or "medinstruct-eval"
    results = ev.eval_results(facts.eval_metrics or {}, eval_dataset, facts.num_fewshot)
    return ModelCardData(
        model_name=cfg.model_name,
        base_model=facts.base_hub_id,
        datasets=[cfg.dataset_repo] if cfg.dataset_repo else None,
        license=cfg.license,
        language=["en"],
        library_name="transformers" if facts.merged else "peft",
        pipeline_tag="text-generation",
        tags=["medical", "alpacare", "instruction-tuning", "sft", "trl", "peft", "lora"],
        eval_results=results or None,
    )


def card_body(facts: ModelFacts, cfg: ModelExportConfig) -> str:
    commit = f"Exported from medinstruct commit `{facts.commit}`.\n\n" if facts.commit else ""
    parts = [
        f"# {cfg.model_name}",
        _summary(facts),
        "## Usage\n\n" + _usage(facts),
        "## Training\n\n" + _training(facts),
        "## Evaluation\n\n" + _evaluation(facts),
        _use(facts),
        "## Provenance\n\n"
        + commit
        + table(
            ("file", "md5"),
            [(f"`{f.path}`", md5_cell(f)) for f in (facts.student, facts.train_data)],
        ),
    ]
    return "\n\n".join(parts) + "\n"


def _summary(facts: ModelFacts) -> str:
    base = facts.base_hub_id or facts.base.get("source_id") or "a local base model"
    method = facts.hyperparameters.get("method", "lora")
    return (
        f"`{base}` fine-tuned ({method}, TRL SFT) on {cell(facts.train_data.rows)} "
        "machine-written medical instruction-following examples (the AlpaCare recipe, "
        "https://arxiv.org/abs/2310.14558). **A research artifact: not for clinical decisions.**"
    )


def _usage(facts: ModelFacts) -> str:
    """A runnable snippet whose prompt is rendered by the same function training used."""
    prompt = format_prompt("List three red-flag symptoms of a headache.")
    loader = (
        ["model = AutoModelForCausalLM.from_pretrained(repo)"]
        if facts.merged
        else ["from peft import AutoPeftModelForCausalLM",
              f'model = AutoPeftModelForCausalLM.from_pretrained(repo, subfolder="{ADAPTER_SUBDIR}")']
    )  # fmt: skip
    lines = [
        "The model was trained on the Alpaca prompt below (an input adds a `### Input:` block).",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'repo = "<this repo or folder>"',
        "tokenizer = AutoTokenizer.from_pretrained(repo)",
        *loader,
        f"prompt = {prompt!r}",
        'ids = tokenizer(prompt, return_tensors="pt")',
        "out = model.generate(**ids, max_new_tokens=256)",
        'print(tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True))',
        "```",
    ]
    return "\n".join(lines)


def _training(facts: ModelFacts) -> str:
    data = facts.train_data
    base = facts.base
    parts = [
        f"- base model: {facts.base_hub_id or 'not on the Hub'} (prepared as "
        f"`{base.get('kind', 'unknown')}`: `{base.get('source_id', 'not recorded')}`, "
        f"{cell(base.get('num_parameters'))} parameters)",
        f"- training data: `{data.path}`, {cell(data.rows)} rows, md5 {md5_cell(data)}",
        f"- hyperparameters, from {facts.hyperparameters_source}:",
        "",
        table(("key", "value"), sorted(facts.hyperparameters.items())),
    ]
    metrics = facts.train_metrics or {}
    rows = [(what, metrics[key]) for key, what in TRAIN_RESULTS if key in metrics]
    parts += [
        "",
        "Run (`metrics/train.json`):",
        "",
        table(("", "value"), rows) if rows else "not recorded",
    ]
    return "\n".join(parts)


def _evaluation(facts: ModelFacts) -> str:
    metrics = facts.eval_metrics
    if metrics is None:
        return "Not evaluated in this workspace (`metrics/evaluate.json` is absent)."
    judged = ev.win_rates(metrics) + ev.deltas(metrics)
    win_rows = [_win_row(w) for w in judged]
    win_headers = ("reference", "model", "win rate [95% CI]", "LC win rate", "invalid", "items")
    mcq_rows = _mcq_rows(ev.mcq_scores(metrics))
    return "\n\n".join(
        [
            "LLM judge against reference answers, both presentation orders; 95% bootstrap CIs. "
            "With a few items these intervals are wide: read them, not the point values. "
            "Full report: [eval/report.md](eval/report.md).",
            table(win_headers, win_rows) if win_rows else "No judged win rates recorded.",
            "Medical multiple choice (lm-evaluation-harness, accuracy ± standard error):",
            table(("benchmark", "base", "student"), mcq_rows) if mcq_rows else "Not run.",
        ]
    )


def _win_row(w: ev.WinRate) -> tuple[Any, ...]:
    lc = "-" if w.lc_win_rate is None else interval(w.lc_win_rate, w.lc_ci_low, w.lc_ci_high)
    rest = ("-" if v is None else v for v in (w.invalid_rate, w.items))
    return (w.reference, w.model, interval(w.win_rate, w.ci_low, w.ci_high), lc, *rest)


def _mcq_rows(scores: Sequence[ev.McqScore]) -> list[tuple[str, str, str]]:
    by_bench: dict[str, dict[str, str]] = {}
    for s in scores:
        shown = (
            f"{s.acc:.3f} ± {s.stderr:.3f} (n={s.n})" if s.stderr is not None else f"{s.acc:.3f}"
        )
        by_bench.setdefault(s.benchmark, {})[s.model] = shown
    return [(b, m.get("base", "-"), m.get("student", "-")) for b, m in sorted(by_bench.items())]


def _use(facts: ModelFacts) -> str:
    params = cell(facts.base.get("num_parameters"))
    return "\n".join(
        [
            "## Intended use",
            "",
            "Research on medical instruction tuning: reproducing and varying the AlpaCare "
            "pipeline, comparing data-generation and training choices, studying judges.",
            "",
            "## Out of scope",
            "",
            "- **Not for clinical decisions**: diagnosis, treatment, triage, dosing or any advice "
            "to patients. Nothing this model writes has been reviewed by clinicians.",
            "- Deployment to end users, and any use where a wrong answer can cause harm.",
            "",
            "## Limitations",
            "",
            "- Trained on machine-written data that no clinician reviewed; it can state "
            "falsehoods fluently and confidently.",
            f"- A {params}-parameter base tuned on {cell(facts.train_data.rows)} examples: "
            "its medical knowledge is essentially that of the base model.",
            "- Evaluated on a handful of items (see n above); the judge is itself a small model.",
        ]
    )


def build_card(facts: ModelFacts, cfg: ModelExportConfig) -> ModelCard:
    header = card_data(facts, cfg).to_yaml()
    return ModelCard(f"---\n{header}\n---\n\n{card_body(facts, cfg)}")


def write_folder(staging: Path, ws: Workspace, cfg: ModelExportConfig, card: ModelCard) -> None:
    """Student files linked in (its own README, if any, gives way to the card), eval report beside."""
    place_tree(ws.path(cfg.student), staging, skip=frozenset({"README.md"}))
    report = ws.path(cfg.eval_report)
    for pattern in EVAL_FILES:
        for path in sorted(report.glob(pattern)):
            copy_file(path, staging / "eval" / path.name)  # small: copied, never shared
    card.save(staging / "README.md")


def export_model(root: Path, out: Path, cfg: ModelExportConfig) -> list[tuple[str, int]]:
    """Write the model folder at `out` atomically; return its listing (path, bytes)."""
    ws = Workspace(root=root)
    facts = gather_facts(ws, cfg)
    card = build_card(facts, cfg)
    with atomic_dir(out) as staging:
        write_folder(staging, ws, cfg, card)
    return listing(out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m medinstruct_publish.model",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    defaults = ModelExportConfig()
    parser.add_argument("--root", type=Path, default=Path("."), help="the workspace root")
    parser.add_argument("--out", type=Path, default=Path("exports/model"))
    parser.add_argument("--student", default=defaults.student)
    parser.add_argument("--base", default=defaults.base)
    parser.add_argument("--train-data", default=defaults.train_data)
    parser.add_argument("--eval-report", default=defaults.eval_report)
    parser.add_argument("--model-name", default=defaults.model_name)
    parser.add_argument("--license", default=defaults.license, help="a Hub license id")
    parser.add_argument("--dataset-repo", default="", help="Hub id of the published dataset")
    parser.add_argument("--allow-unlocked", action="store_true",
                        help="export a student whose md5 differs from dvc.lock (the card says so)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = ModelExportConfig(
        student=args.student, base=args.base, train_data=args.train_data,
        eval_report=args.eval_report, model_name=args.model_name, license=args.license,
        dataset_repo=args.dataset_repo, allow_unlocked=args.allow_unlocked,
    )  # fmt: skip
    try:
        files = export_model(args.root, args.out, cfg)
    except (PublishError, DataError, ParamsError) as exc:
        print(f"export-model: {exc}", file=sys.stderr)
        return 1
    for path, size in files:
        print(f"{size:>12}  {args.out / path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
