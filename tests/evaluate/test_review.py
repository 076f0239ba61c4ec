"""Blinded clinician review: export, the filled-CSV round trip, and named errors on bad sheets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from medinstruct_core.io import read_jsonl
from medinstruct_core.records import EvalItem
from medinstruct_eval import review
from medinstruct_eval.review import ReviewAnswer, ReviewError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "review"
SEED = 3  # the seed the committed blinded.csv / key.json / filled.csv were exported with


@pytest.fixture
def answers() -> list[ReviewAnswer]:
    return read_jsonl(FIXTURES / "answers.jsonl", ReviewAnswer)


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _filled_with(tmp_path: Path, edit) -> Path:
    header, rows = _rows(FIXTURES / "filled.csv")
    header = edit(header, rows) or header
    return _write(tmp_path / "filled.csv", header, rows)


def test_export_is_deterministic_and_matches_the_fixture(
    answers: list[ReviewAnswer], tmp_path: Path
) -> None:
    summary = review.export_review(answers, tmp_path / "r.csv", tmp_path / "k.json", seed=SEED)
    assert summary == {"items": 4, "models": ["base", "student"], "labels": ["A", "B"]}
    assert (tmp_path / "r.csv").read_bytes() == (FIXTURES / "blinded.csv").read_bytes()
    assert json.loads((tmp_path / "k.json").read_text()) == json.loads(
        (FIXTURES / "key.json").read_text()
    )


def test_export_hides_model_names_and_leaves_ratings_blank(
    answers: list[ReviewAnswer], tmp_path: Path
) -> None:
    review.export_review(answers, tmp_path / "r.csv", tmp_path / "k.json", seed=SEED)
    header, rows = _rows(tmp_path / "r.csv")
    assert header == [
        "item", "instruction", "input", "answer_A", "answer_B",
        "A_correct", "A_helpful", "B_correct", "B_helpful", "comment",
    ]  # fmt: skip
    text = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "student" not in text and "base" not in text
    assert all(row[c] == "" for row in rows for c in ("A_correct", "B_helpful", "comment"))


def test_seed_changes_the_blinding(answers: list[ReviewAnswer], tmp_path: Path) -> None:
    review.export_review(answers, tmp_path / "a.csv", tmp_path / "a.json", seed=0)
    key0 = json.loads((tmp_path / "a.json").read_text())["items"]
    key3 = json.loads((FIXTURES / "key.json").read_text())["items"]
    labels0 = {i: v["labels"]["A"] for i, v in key0.items()}
    labels3 = {i: v["labels"]["A"] for i, v in key3.items()}
    assert labels0 != labels3
    assert sorted(labels3.values()) == ["base", "base", "student", "student"]


def test_num_items_exports_a_seeded_sample(answers: list[ReviewAnswer], tmp_path: Path) -> None:
    summary = review.export_review(
        answers, tmp_path / "r.csv", tmp_path / "k.json", seed=SEED, num_items=2
    )
    assert summary["items"] == 2
    _, rows = _rows(tmp_path / "r.csv")
    assert [r["item"] for r in rows] == ["r4", "r1"]  # the first two of seed 3's order


def test_round_trip_rates_with_wilson_intervals() -> None:
    results = review.import_review(FIXTURES / "filled.csv", FIXTURES / "key.json")
    assert results["items"] == 4
    student, base = results["models"]["student"], results["models"]["base"]
    assert student["correct"] == {"n": 4, "yes": 4, "rate": 1.0, "ci": [0.510109, 1.0]}
    assert student["helpful"]["yes"] == 3 and student["helpful"]["rate"] == 0.75
    assert base["correct"] == {"n": 4, "yes": 1, "rate": 0.25, "ci": [0.045587, 0.699358]}
    assert base["helpful"]["yes"] == 1
    flat = review.flat_metrics(results)
    assert flat["review/student/helpful_rate"] == 0.75 and flat["review/items"] == 4.0


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _filled_with(tmp_path, lambda header, rows: [h for h in header if h != "B_helpful"])
    with pytest.raises(ReviewError, match=r"filled.csv: missing column\(s\): B_helpful$"):
        review.import_review(path, FIXTURES / "key.json")


def test_bad_value_names_row_and_column(tmp_path: Path) -> None:
    def edit(header: list[str], rows: list[dict[str, str]]) -> None:
        rows[1]["A_correct"] = "maybe"

    path = _filled_with(tmp_path, edit)
    with pytest.raises(ReviewError) as info:
        review.import_review(path, FIXTURES / "key.json")
    assert info.value.problems == [
        f"{path}: row 2 (item 'r1') column A_correct: 'maybe' is not a rating "
        "(use 1/0, yes/no or y/n)"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def edit(header: list[str], rows: list[dict[str, str]]) -> None:
        rows[0]["B_helpful"] = ""  # blank rating
        rows[1]["answer_B"] = "An edited answer."  # text changed after export
        rows[2]["item"] = "r9"  # not in the key (so r3 is missing)
        rows[3]["item"] = "r4"  # duplicate (so r2 is missing)

    path = _filled_with(tmp_path, edit)
    with pytest.raises(ReviewError) as info:
        review.import_review(path, FIXTURES / "key.json")
    problems = info.value.problems
    assert len(problems) == 5
    assert "row 1 (item 'r4') column B_helpful: '' is not a rating" in problems[0]
    assert "row 2 (item 'r1') column answer_B: answer text was changed" in problems[1]
    assert "row 3 (item 'r9') column item: not an item" in problems[2]
    assert "row 4 (item 'r4') column item: item appears twice" in problems[3]
    assert problems[4].endswith("items missing from the CSV: r2, r3")


def test_spreadsheet_line_endings_do_not_count_as_edits(tmp_path: Path) -> None:
    def edit(header: list[str], rows: list[dict[str, str]]) -> None:
        rows[0]["answer_A"] = "  " + rows[0]["answer_A"] + "\r\n"

    path = _filled_with(tmp_path, edit)
    assert review.import_review(path, FIXTURES / "key.json")["items"] == 4


def test_missing_key_and_bad_key(tmp_path: Path) -> None:
    with pytest.raises(ReviewError, match="review key not found"):
        review.import_review(FIXTURES / "filled.csv", tmp_path / "absent.json")
    (tmp_path / "k.json").write_text('{"seed": 1}')
    with pytest.raises(ReviewError, match=r"k\.json: not a review key"):
        review.import_review(FIXTURES / "filled.csv", tmp_path / "k.json")


def test_every_item_needs_an_answer_from_every_model(
    answers: list[ReviewAnswer], tmp_path: Path
) -> None:
    partial = [a for a in answers if not (a.item_id == "r2" and a.model == "base")]
    with pytest.raises(ReviewError, match="item 'r2': no answer from base"):
        review.export_review(partial, tmp_path / "r.csv", tmp_path / "k.json", seed=0)
    only_one = [a for a in answers if a.model == "student"]
    with pytest.raises(ReviewError, match="at least 2 models"):
        review.export_review(only_one, tmp_path / "r.csv", tmp_path / "k.json", seed=0)
    assert not (tmp_path / "r.csv").exists()


def test_review_answers_joins_items_and_adds_the_reference() -> None:
    items = [EvalItem(id="q1", instruction="What is anaemia?", reference="Low haemoglobin.")]

    class Answer:  # the shape of answer.CandidateAnswer
        item_id, candidate, answer = "q1", "student", "Too few red cells."

    rows = review.review_answers(items, [Answer()], reference_name="reference")
    assert [(r.model, r.answer) for r in rows] == [
        ("student", "Too few red cells."),
        ("reference", "Low haemoglobin."),
    ]
    assert rows[1].instruction == "What is anaemia?"


def test_wilson_interval() -> None:
    assert review.wilson_interval(0, 0) is None
    low, high = review.wilson_interval(5, 10)
    assert low == pytest.approx(0.236593, abs=1e-6) and high == pytest.approx(0.763407, abs=1e-6)
    assert review.wilson_interval(0, 10)[0] == 0.0
