"""The one stage contract: every `pipelines/<stage>.py` runs through `Stage`.

A stage script declares what it reads and writes in a `StageSpec` and gets back
a `Stage` that owns everything the seven scripts used to do seven ways:

- **paths**, one convention: a path on the command line is taken as given,
  relative to the current directory (DVC runs commands from the project root).
  Its lineage name is project-relative when it lies inside the project, else
  absolute, so input files outside the repository work like any other;
- **the project root** is the directory of the params file (`--params`,
  default `params.yaml`): tests and scratch copies need no path constants;
- **params**: the top level of params.yaml is typed (`ProjectParams`), so a typo
  in any top-level key is an error naming the key, and `seed` has one source;
  each section the stage reads is validated into its pydantic model;
- **the MLflow run**: params logged as `<section>.<key>`, one scheme for every
  stage; every input logged with `mlflow.log_input` (DVC's md5 as the digest);
  outputs tagged with their md5; under `accelerate` only the main process logs;
- **metrics**: `finish()` writes the stage's metrics JSON atomically, logs the
  numeric leaves, records the outputs and prints the stage's last line.

    SPEC = StageSpec("curate", sections={"curate": CurateConfig},
                     inputs=("examples", "seeds"), outputs=("kept", "rejected"))

    @stage_main(SPEC)
    def main(stage: Stage) -> int:
        result = curate(read_jsonl(stage.path("examples"), Example), ..., stage.cfg("curate"))
        write_jsonl(stage.path("kept"), result.kept)
        return stage.finish(result.report(), f"kept {len(result.kept)}")

    if __name__ == "__main__":
        sys.exit(main())
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from medinstruct_core.io import write_json
from medinstruct_core.lineage import lineage_name
from medinstruct_core.params import Config, ParamsError, parse_section, read_params

__all__ = [
    "NullRun",
    "ProjectParams",
    "Stage",
    "StageSpec",
    "is_main_process",
    "lineage_name",
    "open_stage",
    "stage_main",
]


class ProjectParams(Config):
    """The top level of params.yaml. Sections are validated by the stage that reads them."""

    profile: str = "default"
    seed: int = Field(42, strict=True)
    llm: dict[str, Any] = Field(default_factory=dict)
    base_model: dict[str, Any] = Field(default_factory=dict)
    generate_instructions: dict[str, Any] = Field(default_factory=dict)
    generate_responses: dict[str, Any] = Field(default_factory=dict)
    curate: dict[str, Any] = Field(default_factory=dict)
    validate_: dict[str, Any] = Field(default_factory=dict, alias="validate")
    train: dict[str, Any] = Field(default_factory=dict)
    evaluate: dict[str, Any] = Field(default_factory=dict)
    mcq: dict[str, Any] = Field(default_factory=dict)
    review: dict[str, Any] = Field(default_factory=dict)


def is_main_process() -> bool:
    """True on rank 0 and in a plain single-process run (no RANK in the environment)."""
    return int(os.environ.get("RANK", "0")) == 0


class NullRun:
    """Stands in for the MLflow run where none is opened (other ranks, `--no-mlflow`)."""

    run_id = ""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@dataclass(frozen=True)
class StageSpec:
    """What a stage reads and writes. Names become `--flags` (underscores as dashes).

    `sections` maps a params section to its model. `inputs` and `outputs` are
    required path flags; `optional_inputs` and `optional_outputs` may be omitted. `metrics` adds a
    `--metrics` flag for the metrics JSON that `finish()` writes.
    """

    name: str
    sections: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()
    optional_outputs: tuple[str, ...] = ()
    metrics: bool = True
    description: str = ""

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=f"pipelines/{self.name}.py", description=self.description
        )
        parser.add_argument("--params", type=Path, default=Path("params.yaml"))
        for name in (*self.inputs, *self.outputs):
            parser.add_argument(f"--{name.replace('_', '-')}", type=Path, required=True)
        for name in (*self.optional_inputs, *self.optional_outputs):
            parser.add_argument(f"--{name.replace('_', '-')}", type=Path, default=None)
        if self.metrics:
            parser.add_argument("--metrics", type=Path, default=None, help="metrics JSON to write")
        parser.add_argument(
            "--no-mlflow",
            action="store_true",
            help="do not log an MLflow run (also MEDINSTRUCT_NO_MLFLOW=1)",
        )
        return parser


class Stage:
    """A running stage: its typed config, its paths, its MLflow run."""

    def __init__(self, spec: StageSpec, args: argparse.Namespace, params: ProjectParams,
                 sections: dict[str, BaseModel]) -> None:  # fmt: skip
        self.spec = spec
        self.name = spec.name
        self.args = args
        self.params = params
        self.seed = params.seed
        self.root = Path(os.path.abspath(args.params)).parent
        self._sections = sections
        self.run: Any = NullRun()
        self.main = is_main_process()

    def cfg(self, section: str) -> Any:
        """The validated model of a params section this stage declared."""
        return self._sections[section]

    def path(self, name: str) -> Path:
        """A declared path flag's value, as given (None for an omitted optional input)."""
        return getattr(self.args, name)  # type: ignore[no-any-return]

    def lineage(self, path: Path) -> str:
        return lineage_name(path, self.root)

    def input_paths(self) -> list[Path]:
        names = (*self.spec.inputs, *self.spec.optional_inputs)
        return [Path(os.path.abspath(p)) for p in (self.path(n) for n in names) if p is not None]

    def output_paths(self) -> list[Path]:
        names = (*self.spec.outputs, *self.spec.optional_outputs)
        paths = [p for p in (self.path(n) for n in names) if p is not None]
        if self.spec.metrics and self.args.metrics is not None:
            paths.append(self.args.metrics)
        return [Path(os.path.abspath(p)) for p in paths]

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self.run.log_metrics(metrics, step=step)

    def finish(self, metrics: Mapping[str, Any], message: str, code: int = 0) -> int:
        """Write the metrics JSON, log metrics and output md5s, print the stage's last line."""
        if not self.main:
            return code
        if self.spec.metrics and self.args.metrics is not None:
            write_json(self.args.metrics, dict(metrics))
        self.run.log_metrics(metrics)
        labels = {f"{self.name}.{k}": str(v) for k, v in metrics.items() if isinstance(v, str)}
        self.run.set_tags(labels)
        self.run.record_outputs(self.output_paths())
        spend = _spend_line(metrics)
        print(
            f"{self.name}: {message}{spend}",
            file=sys.stdout if code == 0 else sys.stderr,
            flush=True,
        )
        return code


def _spend_line(metrics: Mapping[str, Any]) -> str:
    """'; spent $x (all stages: $y)' when the stage made paid LLM calls (the one ledger)."""
    stage, total = metrics.get("llm.spend_usd_stage"), metrics.get("llm.spend_usd_total")
    if not isinstance(stage, int | float) or not isinstance(total, int | float):
        return ""
    answers, total_answers = (
        metrics.get("llm.spend_answers_stage"),
        metrics.get("llm.spend_answers_total"),
    )
    line = f"; LLM spend ${stage:.4f}"
    if isinstance(answers, int | float):
        line += f" for {int(answers):,} answers"
    batches = metrics.get("llm.spend_batches_stage")
    if isinstance(batches, int | float) and batches:
        line += (f" (batch ${float(metrics.get('llm.spend_usd_batch_stage') or 0):.4f} for "
                 f"{int(metrics.get('llm.spend_answers_batch_stage') or 0):,} answers in "
                 f"{int(batches):,} batches)")  # fmt: skip
    line += f" (ledger total ${total:.4f}"
    line += (
        f" for {int(total_answers):,} answers)" if isinstance(total_answers, int | float) else ")"
    )
    stored = metrics.get("llm.replies_from_store")
    if isinstance(stored, int | float) and stored:
        line += f"; {int(stored)} replies came with the data ($0)"
    return line


def _load(spec: StageSpec, args: argparse.Namespace) -> tuple[ProjectParams, dict[str, BaseModel]]:
    raw = read_params(args.params)
    # A section the stage itself declares is known even if the project model lacks it.
    extra = set(spec.sections) - {f.alias or n for n, f in ProjectParams.model_fields.items()}
    top = {k: v for k, v in raw.items() if k not in extra}
    params = parse_section(top, ProjectParams, where=str(args.params))
    sections = {}
    for section, model in spec.sections.items():
        if section not in raw:
            raise ParamsError(f"{args.params}: missing section '{section}'")
        sections[section] = parse_section(raw[section], model, where=f"{args.params}: {section}")
    return params, sections


def _section_params(sections: Mapping[str, BaseModel], seed: int) -> dict[str, Any]:
    return {"seed": seed, **{name: cfg for name, cfg in sections.items()}}


@contextlib.contextmanager
def open_stage(spec: StageSpec, argv: list[str] | None = None) -> Iterator[Stage]:
    """Parse the command line, load params, open the MLflow run (main process only)."""
    args = spec.parser().parse_args(argv)
    params, sections = _load(spec, args)
    stage = Stage(spec, args, params, sections)
    use_mlflow = (
        stage.main and not args.no_mlflow and os.environ.get("MEDINSTRUCT_NO_MLFLOW") != "1"
    )
    if not use_mlflow:
        yield stage
        return
    from medinstruct_core.tracking import stage_run

    config = _section_params(sections, params.seed)
    with stage_run(spec.name, root=stage.root, config=config, inputs=stage.input_paths()) as run:
        stage.run = run
        yield stage


def stage_main(spec: StageSpec) -> Callable[[Callable[[Stage], int]], Callable[..., int]]:
    """Decorate a stage body `body(stage) -> exit code` into the script's `main(argv=None)`.

    `main` opens the stage (arguments, params, MLflow run), runs the body and turns
    known failures into one clear line naming the file, record, key or URL (exit 2),
    and Ctrl-C into exit 130, with no traceback.
    """
    from medinstruct_core.cli import run_cli

    def decorate(body: Callable[[Stage], int]) -> Callable[..., int]:
        def main(argv: list[str] | None = None) -> int:
            def run() -> int:
                with open_stage(spec, argv) as stage:
                    return body(stage)

            return run_cli(run, spec.name)

        main.__doc__ = body.__doc__
        return main

    return decorate
