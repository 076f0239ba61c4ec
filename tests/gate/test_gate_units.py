"""Fast tests of the gate's building blocks: patterns, metrics, config, report text, plots.

No Great Expectations and no spaCy here (see test_gate.py for those).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
from rouge_score import rouge_scorer

from medinstruct_core.params import ParamsError
from medinstruct_gate.config import GateConfig, load_gate_config
from medinstruct_gate.data import (
    METRIC_COLUMNS,
    canonical_label_shares,
    load_examples_frame,
    with_word_counts,
)
from medinstruct_gate.diversity import (
    distinct_n,
    max_share,
    mean_pairwise_rouge,
    nearest_rouge,
    nearest_rouge_exact,
    nearest_rouge_indexed,
    sample_pairs,
)
from medinstruct_gate.plots import (
    OTHER,
    plot_dataset,
    top_counts,
    verb_object_table,
    write_plot_data,
)
from medinstruct_gate.report import bound_text, row_label, snippet
from medinstruct_text.safety import (
    MULTIMODAL_PATTERNS,
    PHI_PATTERNS,
    REFUSAL_PATTERNS,
    scan_text,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gate"
ALL_PATTERNS = {**PHI_PATTERNS, **REFUSAL_PATTERNS, **MULTIMODAL_PATTERNS}


def good_rows() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "good.jsonl").read_text().splitlines()]


# --- safety patterns -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to j.doe@mail.example.com today.", ["email"]),
        ("Call (555) 201-4477 for results.", ["phone"]),
        ("Phone 555-201-4477.", ["phone"]),
        ("SSN 123-45-6789", ["ssn"]),
        ("MRN: 8812345", ["mrn"]),
        ("medical record number #A1234567", ["mrn"]),
        ("She lives at 42 Willow Creek Road.", ["street_address"]),
        ("Seen at 1600 Pennsylvania Avenue", ["street_address"]),
        ("date of birth: 1980-02-01", ["date_of_birth"]),
        ("John Smith, DOB 01/02/1980, presents with cough.", ["date_of_birth", "name_with_dob"]),
        ("Mary Jones (born March 3, 1950)", ["date_of_birth", "name_with_dob"]),
        ("As an AI language model, I have no opinions.", ["refusal_as_an_ai"]),
        ("I'm sorry, but I can't help with that.", ["refusal_cannot_help"]),
        ("I cannot provide medical advice.", ["refusal_cannot_help"]),
        ("I am not a doctor, but rest may help.", ["refusal_not_a_doctor"]),
        ("Draw a diagram of the nephron.", ["multimodal_visual"]),
        ("Describe the attached image of the rash.", ["multimodal_visual"]),
        ("Plot the growth curve for this child.", ["multimodal_visual"]),
        ("Listen to the heart sounds and name the murmur.", ["multimodal_audio"]),
        ("Summarize the audio recording of the consultation.", ["multimodal_audio"]),
        ("Go to the website and list the warnings.", ["multimodal_external"]),
    ],
)
def test_each_pattern_fires_on_its_own_kind(text: str, expected: list[str]) -> None:
    assert scan_text(text, ALL_PATTERNS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Draw blood for a full blood count before the first dose.",
        "Calculate the volume to draw up for the ordered dose.",
        "Compute the MAP from a blood pressure of 120/80 mmHg.",
        "Document the findings in the patient's chart.",
        "Music therapy can reduce anxiety in dementia.",
        "Watch for signs of bleeding; listen to the patient's concerns.",
        "Imaging with a CT scan is indicated; photosensitivity is a side effect.",
        "Reference range 150-400 x10^9/L; give 7,500 units; born at 32 weeks.",
        "Take 2 tablets three times a day for 10 days.",
        "Consult your doctor if symptoms persist.",
    ],
)
def test_ordinary_medical_text_is_not_flagged(text: str) -> None:
    assert scan_text(text, ALL_PATTERNS) == []


def test_good_fixture_texts_match_no_pattern() -> None:
    hits = {
        (row["id"], column): scan_text(row[column], ALL_PATTERNS)
        for row in good_rows()
        for column in ("instruction", "input", "output")
    }
    assert {key: names for key, names in hits.items() if names} == {}


# --- diversity metrics -----------------------------------------------------


def test_nearest_rouge_matches_rouge_score_all_pairs() -> None:
    texts = [row["instruction"] for row in good_rows()][:25]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    brute = max(
        scorer.score(texts[i], texts[j])["rougeL"].fmeasure
        for i in range(len(texts))
        for j in range(i + 1, len(texts))
    )
    report = nearest_rouge_exact(texts, threshold=0.7, chunk=4)  # chunks smaller than n
    assert report.max_score == brute
    assert report.n_rows_over == 0 and report.pairs == []


def test_near_duplicates_are_found_by_both_paths() -> None:
    texts = [
        "List the symptoms of asthma in adults.",
        "Explain how insulin lowers glucose.",
        "List the main symptoms of asthma in adults.",
        "Name three causes of anemia.",
    ]
    exact = nearest_rouge(texts, threshold=0.7, exact_max_n=10)
    indexed = nearest_rouge(texts, threshold=0.7, exact_max_n=3)
    assert exact.exact and not indexed.exact
    assert [(p.row_a, p.row_b) for p in exact.pairs] == [(0, 2)]
    assert [(p.row_a, p.row_b) for p in indexed.pairs] == [(0, 2)]
    assert exact.max_score == indexed.max_score == pytest.approx(2 * 7 / 15)
    assert exact.n_rows_over == indexed.n_rows_over == 2


def test_indexed_path_without_violations_reports_the_threshold_bound() -> None:
    report = nearest_rouge_indexed(["a b c d", "e f g h"], threshold=0.7)
    assert report.max_score == 0.7 and report.pairs == [] and not report.exact


def test_nearest_rouge_on_fewer_than_two_texts_is_zero() -> None:
    assert nearest_rouge(["only one"], 0.7, 10).max_score == 0.0


def test_sample_pairs_is_seeded_and_distinct() -> None:
    first = sample_pairs(100, 50, seed=3)
    assert first == sample_pairs(100, 50, seed=3)
    assert first != sample_pairs(100, 50, seed=4)
    assert len(set(first)) == 50 and all(i < j for i, j in first)
    assert sample_pairs(4, 50, seed=0) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_mean_pairwise_rouge_equals_exact_mean_when_all_pairs_fit() -> None:
    texts = ["a b c", "a b d", "x y z"]
    # F(a b c, a b d) = 2/3; the other two pairs share nothing.
    assert mean_pairwise_rouge(texts, k=10, seed=0) == pytest.approx((2 / 3) / 3)
    rng = random.Random(0)
    many = [" ".join(rng.choice("abcdefgh") for _ in range(6)) for _ in range(60)]
    assert 0.0 < mean_pairwise_rouge(many, k=200, seed=1) < 1.0


def test_distinct_2_counts_unique_bigrams_over_all_texts() -> None:
    # bigrams: (a b) (b c) | (a b) (b d) -> 3 unique of 4
    assert distinct_n(["A b c.", "a B d"], 2) == 0.75
    assert distinct_n(["one"], 2) == 0.0


def test_canonical_label_shares_are_exact_and_take_the_worse_column() -> None:
    frame = pd.DataFrame(
        {
            "type": ["triage", "Triage,", "poetry", None, "open QA"],
            "view": ["nurse", "Registered Nurse", "patient", "Parent of teenager", "astronaut"],
        }
    )
    assert canonical_label_shares(frame) == {
        "canonical_type_share": 0.6,
        "canonical_view_share": 0.8,
        "canonical_label_share": 0.6,
    }
    assert canonical_label_shares(frame.drop(columns=["type"]))["canonical_label_share"] == 0.8
    assert canonical_label_shares(pd.DataFrame()) == {"canonical_label_share": 1.0}
    assert "canonical_label_share" in METRIC_COLUMNS
    good = canonical_label_shares(load_examples_frame(FIXTURES / "good.jsonl"))
    assert good["canonical_label_share"] == 1.0


def test_max_share() -> None:
    assert max_share(["x", "x", "y", "z"]) == 0.5
    assert max_share([]) == 0.0


# --- config ------------------------------------------------------------------


def test_config_defaults_and_missing_section(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("train: {}\n")
    assert load_gate_config(params) == GateConfig()
    assert load_gate_config(None) == GateConfig()


def test_canonical_label_share_threshold_defaults_to_0_8(tmp_path: Path) -> None:
    assert GateConfig().diversity.min_canonical_label_share == 0.8
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  diversity: {min_canonical_label_share: 0.9}\n")
    assert load_gate_config(params).diversity.min_canonical_label_share == 0.9
    with pytest.raises(ValueError, match="min_canonical_label_share"):
        GateConfig.model_validate({"diversity": {"min_canonical_label_share": 1.5}})


def test_config_reads_nested_schema_key(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  schema: {min_rows: 3}\n  diversity: {max_type_share: 0.5}\n")
    cfg = load_gate_config(params)
    assert cfg.schema_.min_rows == 3 and cfg.diversity.max_type_share == 0.5


def test_config_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  diversity: {max_type_shar: 0.5}\n")
    with pytest.raises(
        ParamsError, match=r"params.yaml: validate: unknown key 'diversity.max_type_shar'"
    ):
        load_gate_config(params)


def test_config_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError, match="min_instruction_words"):
        GateConfig.model_validate({"schema": {"min_instruction_words": 200}})


def test_named_params_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_gate_config(tmp_path / "nope.yaml")


# --- data loading and report text --------------------------------------------


def test_frame_is_indexed_by_line_and_counts_words(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"instruction": "a b c", "output": null}\n\n{"instruction": "d"}\n')
    frame = with_word_counts(load_examples_frame(path))
    assert list(frame.index) == [1, 3] and frame.index.name == "line"
    assert frame["instruction_words"].tolist() == [3.0, 1.0]
    assert frame["output_words"].isna().all() and frame["input_words"].isna().all()


def test_report_helpers() -> None:
    frame = pd.DataFrame({"id": ["a", "b"]}, index=pd.Index([4, 9], name="line"))
    assert row_label(frame, {"output": None, "line": 9}) == "line 9 (id b)"
    assert row_label(None, 3) == "row 3"
    assert bound_text(0.62, {"max_value": 0.35}) == "observed 0.62 > 0.35"
    assert bound_text(2, {"min_value": 3}) == "observed 2 < 3"
    assert snippet(float("nan")) == "null"
    long = "x " * 80 + "call 555-201-4477 now"
    assert "555-201-4477" in snippet(long, [PHI_PATTERNS["phone"]])


# --- plots -------------------------------------------------------------------


def test_top_counts_buckets_the_rest() -> None:
    assert top_counts(["a", "b", "a", "c", "d"], 2) == [("a", 2), ("b", 1), (OTHER, 2)]
    assert top_counts([3, 1, 1], 5, by_label=True) == [("1", 2), ("3", 1)]


def test_verb_object_table_groups_objects_per_verb() -> None:
    pairs = [("list", "symptom")] * 3 + [
        ("list", "cause"),
        ("list", "sign"),
        ("explain", "cause"),
        None,
        ("name", None),
    ]
    table = verb_object_table(pairs, top_verbs=5, top_objects=1)
    assert table.values.tolist() == [
        ["list", "symptom", 3],
        ["list", OTHER, 2],
        ["explain", "cause", 1],
    ]


def test_plots_and_plot_data_are_written(tmp_path: Path) -> None:
    frame = load_examples_frame(FIXTURES / "good.jsonl")
    pairs = [("explain", "cause"), ("list", "symptom"), ("list", "sign"), None]
    pngs = plot_dataset(frame, pairs, tmp_path, top_n=5)
    csvs = write_plot_data(frame, pairs, tmp_path, top_n=5)
    assert sorted(p.name for p in pngs) == [
        "difficulty.png",
        "topic.png",
        "type.png",
        "verb_objects.png",
        "view.png",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    difficulty = pd.read_csv(tmp_path / "difficulty_counts.csv")
    assert difficulty.values.tolist() == [[1, 6], [2, 14], [3, 12], [4, 5], [5, 3]]
    assert len(csvs) == 5
    # Type and view are plotted as canonical labels ("question answering" is open QA).
    types = pd.read_csv(tmp_path / "type_counts.csv")
    assert types.values.tolist()[:2] == [["open QA", 7], ["calculation", 5]]
    assert types["count"].sum() == 40


def test_plots_count_junk_labels_as_canonical_or_other(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "type": ["Triage,", "triage", "**Triage**", "poetry", "Summarizations"],
            "view": ["Registered Nurse", "nurse", "Patient's Perspective", "patient", "???"],
            "topic": ["<b>Cardiology</b>,", "Cardiology", "<b>", "renal", "renal."],
        }
    )
    write_plot_data(frame, [], tmp_path, top_n=5)
    read = {c: pd.read_csv(tmp_path / f"{c}_counts.csv").values.tolist() for c in frame.columns}
    assert read["type"] == [["triage", 3], ["other", 1], ["summarization", 1]]
    assert read["view"] == [["nurse", 2], ["patient", 2], ["other", 1]]
    assert read["topic"] == [["Cardiology", 2], ["renal", 2], ["other", 1]]
