"""The GX quality gate on the committed fixtures, the verb-object parser, and the CLI.

Great Expectations (~4 s) and spaCy (~2 s, tests/gate/conftest.py) are loaded once; each
gate run then takes 1-3 s, so every fixture is validated once and shared.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from medinstruct_gate.config import GateConfig
from medinstruct_gate.gate import GateResult, run_gate
from medinstruct_gate.verbs import root_verb_object, verb_objects

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "gate"
CLI = ROOT / "pipelines" / "validate.py"

# fixture -> (the only failing family, text that must appear in the summary)
BAD = {
    "bad_schema_missing_output.jsonl": (
        "schema",
        [
            "FAIL schema: expect_column_values_to_not_be_null(output, output_not_null) 2 of 40 rows",
            "FAIL schema: expect_column_values_to_be_between(output_words) 1 of 40 rows outside [1, 1000]",
        ],
    ),
    "bad_difficulty.jsonl": (
        "schema",
        [
            "FAIL schema: expect_column_values_to_be_in_set(difficulty, difficulty_range) 1 of 40 rows; e.g. line 10 (id bad-010): 7"
        ],
    ),
    "bad_duplicates.jsonl": (
        "diversity",
        [
            "FAIL diversity: expect_column_values_to_be_between(max_pairwise_rouge_l) observed 0.9655 > 0.7",
            "near-duplicate: ROUGE-L 0.966 > 0.7: line 1 (id bad-001) ~ line 2 (id bad-002)",
        ],
    ),
    "bad_low_diversity.jsonl": (
        "diversity",
        ["FAIL diversity: expect_column_values_to_be_between(max_type_share) observed 0.6 > 0.4"],
    ),
    "bad_phi.jsonl": (
        "safety",
        [
            "FAIL safety: expect_column_values_to_not_match_regex_list(input, phi) 4 of 40 rows matching phone, mrn, street_address, date_of_birth, name_with_dob",
            "FAIL safety: expect_column_values_to_not_match_regex_list(output, phi) 2 of 40 rows matching email, ssn",
        ],
    ),
    "bad_refusal.jsonl": (
        "safety",
        [
            "FAIL safety: expect_column_values_to_not_match_regex_list(output, refusal) 2 of 40 rows matching refusal_as_an_ai, refusal_cannot_help"
        ],
    ),
    "bad_multimodal.jsonl": (
        "safety",
        [
            "FAIL safety: expect_column_values_to_not_match_regex_list(instruction, multimodal) 2 of 40 rows matching multimodal_visual, multimodal_audio"
        ],
    ),
}


@pytest.fixture(scope="module")
def gate(nlp) -> Callable[[str], GateResult]:
    """Run the gate with default thresholds once per fixture file."""
    cache: dict[str, GateResult] = {}

    def run(name: str) -> GateResult:
        if name not in cache:
            cache[name] = run_gate(FIXTURES / name, GateConfig(), nlp=nlp)
        return cache[name]

    return run


def test_good_fixture_passes_every_suite(gate) -> None:
    result = gate("good.jsonl")
    assert result.success, "\n".join(result.summary())
    assert [(s.name, s.success) for s in result.suites.values()] == [
        ("schema", True),
        ("diversity", True),
        ("diversity_metrics", True),
        ("safety", True),
    ]
    assert result.failures() == [] and result.summary()[0] == "GATE PASSED: 48/48 expectations met"
    assert result.metrics["n_rows"] == 40 and result.metrics["max_type_share"] == 0.175
    assert result.metrics["verb_object_pairs"] >= 30
    # Fewer rows than `sample_size`: the sampled metrics are measured on all 40.
    assert result.metrics["sample_rows"] == 40 and len(result.diversity.verb_objects) == 40


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_fixture_fails_only_its_family(gate, name: str) -> None:
    family, expected_lines = BAD[name]
    result = gate(name)
    summary = "\n".join(result.summary())
    assert not result.success
    assert result.failed_families() == {family}, summary
    for expected in expected_lines:
        assert expected in summary


def test_metrics_json_is_flat_and_numeric(gate) -> None:
    metrics = gate("bad_low_diversity.jsonl").metrics_json()
    assert metrics["success"] is False and metrics["diversity_metrics_success"] is False
    assert metrics["expectations_failed"] == 1 and metrics["expectations_evaluated"] == 48
    assert all(isinstance(v, int | float | bool) for v in metrics.values())
    json.dumps(metrics)


def test_empty_file_reports_rows_and_columns_without_errors(tmp_path: Path, nlp) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    lines = run_gate(path, nlp=nlp).failures()
    assert "FAIL schema: expect_table_row_count_to_be_between(min_rows) observed 0 < 10" in lines
    assert any("missing columns ['difficulty', 'id', 'input'" in line for line in lines)
    assert not any(line.startswith("ERROR") for line in lines)


def test_dataframe_input_with_schema_problems(nlp) -> None:
    rows = [json.loads(line) for line in (FIXTURES / "good.jsonl").read_text().splitlines()]
    frame = (
        pd.DataFrame(rows).drop(columns=["topic"]).astype({"difficulty": object, "type": object})
    )
    frame.loc[2, "difficulty"] = "3"  # a string, as in the raw AlpaCare seed file
    frame.loc[5, "type"] = 5
    result = run_gate(frame, nlp=nlp)
    summary = "\n".join(result.summary())
    assert result.failed_families() == {"schema"}, summary
    assert "missing columns ['topic']" in summary
    assert (
        "expect_column_values_to_be_of_type(type, type_is_str) 1 of 40 rows; e.g. row 5 (id good-006): 5"
        in summary
    )
    assert (
        "expect_column_values_to_be_in_set(difficulty, difficulty_range) 1 of 40 rows; e.g. row 2 (id good-003): '3'"
        in summary
    )


def test_large_n_path_still_catches_near_duplicates(nlp) -> None:
    cfg = GateConfig.model_validate({"diversity": {"exact_rouge_max_n": 2}})
    result = run_gate(FIXTURES / "bad_duplicates.jsonl", cfg, nlp=nlp)
    assert result.metrics["rouge_exact"] == 0 and result.metrics["max_pairwise_rouge_l"] > 0.9
    assert result.failed_families() == {"diversity"}


def test_thresholds_come_from_config(gate, nlp) -> None:
    loose = GateConfig.model_validate({"diversity": {"max_type_share": 0.65}})
    assert run_gate(FIXTURES / "bad_low_diversity.jsonl", loose, nlp=nlp).success
    assert not gate("bad_low_diversity.jsonl").success


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("Compute the mean arterial pressure from the reading below.", ("compute", "pressure")),
        ("List the features in this note that indicate risk.", ("list", "feature")),
        ("Explain what high blood pressure is.", ("explain", "pressure")),
        ("What are the warning signs of a detached retina?", None),
    ],
)
def test_root_verb_object(nlp, text: str, pair) -> None:
    assert verb_objects([text], nlp) == [pair]
    assert root_verb_object(nlp("")) is None


def test_fixtures_are_in_sync_with_their_generator() -> None:
    module = _load_module(FIXTURES / "make_bad_fixtures.py")
    good = module.read_good()
    for name, mutate in module.BAD.items():
        rows = json.loads(json.dumps(good))
        mutate(rows)
        committed = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]
        assert [{**r, "id": c["id"]} for r, c in zip(rows, committed, strict=True)] == committed, (
            name
        )


# --- CLI -----------------------------------------------------------------------


def _load_module(path: Path) -> ModuleType:
    """Import a script that is not on sys.path (pipelines/, the fixture generator)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli_main() -> Callable[[list[str]], int]:
    return _load_module(CLI).main


def test_cli_good_file_writes_docs_plots_metrics(tmp_path: Path, capsys) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("validate: {}\n")
    argv = [
        "--input",
        str(FIXTURES / "good.jsonl"),
        "--params",
        str(params),
        "--docs-dir",
        str(tmp_path / "gate"),
        "--plots-dir",
        str(tmp_path / "plots"),
        "--metrics",
        str(tmp_path / "m.json"),
    ]
    assert _cli_main()(argv) == 0
    assert "GATE PASSED" in capsys.readouterr().out
    index = (tmp_path / "gate" / "index.html").read_text()
    assert "medinstruct_schema" in index and "medinstruct_safety" in index
    assert len(list((tmp_path / "gate" / "validations").rglob("*.html"))) == 4
    assert (tmp_path / "gate" / "summary.txt").read_text().startswith("GATE PASSED")
    assert {p.name for p in (tmp_path / "plots").iterdir()} >= {
        "type.png",
        "verb_objects.png",
        "verb_objects.csv",
    }
    assert json.loads((tmp_path / "m.json").read_text())["success"] is True


def test_cli_bad_file_exits_1_with_summary_on_stderr(tmp_path: Path, capsys) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("validate: {}\n")  # an empty section: the defaults
    assert _cli_main()(["--input", str(FIXTURES / "bad_phi.jsonl"), "--params", str(params)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("validate: GATE FAILED")
    assert "expect_column_values_to_not_match_regex_list(output, phi)" in err


def test_cli_bad_params_exit_2_before_gx(tmp_path: Path, capsys) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("validate: {schema: {min_rowz: 1}}\n")
    assert _cli_main()(["--input", str(FIXTURES / "good.jsonl"), "--params", str(params)]) == 2
    assert "unknown key 'schema.min_rowz'" in capsys.readouterr().err


def test_cli_missing_validate_section_exit_2_naming_it(tmp_path: Path, capsys) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("train: {}\n")
    assert _cli_main()(["--input", str(FIXTURES / "good.jsonl"), "--params", str(params)]) == 2
    assert "missing section 'validate'" in capsys.readouterr().err


def test_cli_missing_input_exit_2(tmp_path: Path, capsys) -> None:
    assert (
        _cli_main()(["--input", str(tmp_path / "none.jsonl"), "--params", str(tmp_path / "p.yaml")])
        == 2
    )


@pytest.mark.slow
def test_cli_subprocess_exit_codes(tmp_path: Path) -> None:
    bad = subprocess.run(
        [
            sys.executable,
            str(CLI),
            "--input",
            str(FIXTURES / "bad_refusal.jsonl"),
            "--docs-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert bad.returncode == 1, bad.stderr
    assert (
        "FAIL safety: expect_column_values_to_not_match_regex_list(output, refusal)" in bad.stderr
    )
    assert (tmp_path / "d" / "index.html").exists()
