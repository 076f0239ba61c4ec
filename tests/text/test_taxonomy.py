"""The canonical label taxonomy: seed and paper labels, synonyms, junk, shares, topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medinstruct_text.taxonomy import (
    OTHER,
    TYPE_SYNONYMS,
    VIEW_SYNONYMS,
    canonical_labels,
    canonical_share,
    canonical_type,
    canonical_view,
    clean_topic,
    is_canonical,
    plot_label,
    resolve,
    stored_label,
)

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds" / "seed_tasks.jsonl"


def seed_rows() -> list[dict]:
    return [json.loads(line) for line in SEEDS.read_text().splitlines() if line.strip()]


def test_every_seed_type_and_view_is_its_own_canonical_label() -> None:
    rows = seed_rows()
    types, views = {r["type"] for r in rows}, {r["view"] for r in rows}
    assert (len(types), len(views)) == (29, 42)
    assert types <= set(TYPE_SYNONYMS) and views <= set(VIEW_SYNONYMS)
    assert all(canonical_type(t) == t for t in types)
    assert all(canonical_view(v) == v for v in views)
    assert canonical_share([r["type"] for r in rows], "type") == 1.0


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        # The paper's seed file spells its 10 types in 28 ways.
        ("Open Q&A", "open QA"),
        ("Open-ended Q&A", "open QA"),
        ("USMLE Style Q&A", "USMLE-style QA"),
        ("Multiple Choice Q&A", "multiple-choice QA"),
        ("Multiple-Hop Reasoning", "multi-hop reasoning"),
        ("Single Hop Reasoning", "single-hop reasoning"),
        ("Summarizations", "summarization"),
        ("Rewrite Task", "rewrite"),
        ("Classification Task", "classification"),
        ("Text Generation", "text generation"),
        # Junk seen in generated data.
        ("triage,", "triage"),
        ("**Triage**", "triage"),
        ("<b>Summarisation</b>", "summarization"),
        ("clinical note writing with bold text,", "clinical note writing"),
        ("Differential Diagnoses", "differential diagnosis"),
        ("question answering", "open QA"),
        ("essay about asthma", "text generation"),
        ("<b>", OTHER),
        ("poetry", OTHER),
        ("", OTHER),
    ],
)
def test_types_map_onto_the_taxonomy(label: str, expected: str) -> None:
    assert canonical_type(label) == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Medical Student", "medical student"),
        ("Patient's Perspective", "patient"),
        ("Patient’s Perspective", "patient"),
        ("Registered Nurse", "nurse"),
        ("Intensive Care Unit (ICU) Nurse", "nurse"),
        ("Parent of teenager", "caregiver"),
        ("Primary Care Physician", "general practitioner"),
        ("Physical Therapist", "physiotherapist"),
        ("Genetic Counsellor", "genetic counselor"),
        ("Doctor", "physician"),
        ("Experts", "expert"),
        ("Radiation Oncologist", "oncologist"),
        ("x-ray Technician", "radiographer"),
        ("from the perspective of a pharmacist", "pharmacist"),
        ("clinical note writing with bold text,", OTHER),
        ("Medical School Admissions Officer", OTHER),
    ],
)
def test_views_map_onto_the_taxonomy(label: str, expected: str) -> None:
    assert canonical_view(label) == expected


def test_match_rule_is_reported() -> None:
    assert resolve("Triage.", "type").rule == "exact"
    assert resolve("Classifications", "type").rule == "plural"
    assert resolve("Registered Nurse", "view").rule == "exact"
    assert resolve("Pathology Resident", "view").rule == "partial"
    assert resolve(None, "view") == resolve(3, "view")
    assert resolve(None, "view").canonical == OTHER


def test_stored_label_keeps_the_original_of_an_unknown_label() -> None:
    assert stored_label("Triage,", "type") == "triage"
    assert stored_label("**Wound photo review**;", "type") == "other: Wound photo review"
    assert stored_label("<i></i>", "type") == OTHER
    # Idempotent: a stored label maps to the same thing again.
    assert stored_label("other: Wound photo review", "type") == "other: Wound photo review"
    assert canonical_type("other: summarization") == OTHER
    assert [stored_label(x, "view") for x in ("Other", "unknown.", "N/A")] == [OTHER, OTHER, OTHER]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<b>", ""),
        ("<b>Cardiology</b>", "Cardiology"),
        ("**Infectious diseases**,", "Infectious diseases"),
        ("  pharmacology.  ", "pharmacology"),
        ("`Nephrology`;", "Nephrology"),
        ("Anatomy/ Radiology", "Anatomy/ Radiology"),
        ("HIV (AIDS)", "HIV (AIDS)"),
    ],
)
def test_clean_topic_strips_markup_and_trailing_punctuation(raw: str, clean: str) -> None:
    assert clean_topic(raw) == clean


def test_canonical_share_counts_exactly() -> None:
    labels = ["triage", "Triage,", "poetry", None, "USMLE style Q&A"]
    assert canonical_labels(labels, "type") == ["triage", "triage", OTHER, OTHER, "USMLE-style QA"]
    assert canonical_share(labels, "type") == pytest.approx(3 / 5)
    assert canonical_share([], "view") == 1.0
    assert is_canonical("nurse", "view") and not is_canonical("nurse", "type")


def test_plot_label_per_column() -> None:
    assert plot_label("type", "Triage,") == "triage"
    assert plot_label("view", "Registered Nurse") == "nurse"
    assert plot_label("topic", "<b>Cardiology</b>.") == "Cardiology"
    assert plot_label("topic", "<b>") == OTHER
    assert plot_label("difficulty", 3) == 3
