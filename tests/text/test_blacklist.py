"""The media blacklist on the labelled fixture: exact confusion counts, one set of patterns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medinstruct_core.records import Task
from medinstruct_text.rules import REASON_BLACKLISTED, FilterConfig, check_task_rules
from medinstruct_text.safety import MULTIMODAL_PATTERNS, first_match, scan_text

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "blacklist" / "labelled.jsonl"


def rows() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def is_media(row: dict) -> bool:
    return any(scan_text(row[c], MULTIMODAL_PATTERNS) for c in ("instruction", "input"))


def test_fixture_is_large_and_balanced() -> None:
    data = rows()
    assert len(data) == 307 and len({r["id"] for r in data}) == 307
    assert sum(r["media"] for r in data) == 137
    assert all(set(r) == {"id", "instruction", "input", "media"} for r in data)


def test_exact_confusion_counts_and_targets() -> None:
    data = rows()
    flagged = [(is_media(r), r["media"]) for r in data]
    tp = sum(f and m for f, m in flagged)
    fp = sum(f and not m for f, m in flagged)
    fn = sum(m and not f for f, m in flagged)
    assert (tp, fp, fn) == (136, 1, 1)
    assert tp / (tp + fp) >= 0.95
    # The patterns before the clinical-phrasing fixes (issue #16) scored (134, 21, 3)
    # here: precision 0.865, recall 0.978. Recall must not fall below that.
    assert tp / (tp + fn) >= 134 / 137


def test_the_known_misses_are_the_documented_ones() -> None:
    misses = {r["id"] for r in rows() if is_media(r) != r["media"]}
    # clin-024: "The graph shows..." inside an input describing a graph in text.
    # media-029: "the chart below" reads like the patient chart.
    assert misses == {"clin-024", "media-029"}


def test_rules_blacklist_and_gate_agree_on_every_instruction() -> None:
    """One set of patterns: the rule filter rejects exactly what the gate's family matches."""
    cfg = FilterConfig(safety_scan=False)
    for row in rows():
        task = Task(type="open QA", topic="t", view="nurse", difficulty=1,
                    instruction=row["instruction"])  # fmt: skip
        hit = check_task_rules(task, cfg)
        blacklisted = hit is not None and hit.reason == REASON_BLACKLISTED
        assert blacklisted == bool(scan_text(row["instruction"], MULTIMODAL_PATTERNS)), row["id"]


@pytest.mark.parametrize(
    ("text", "family", "matched"),
    [
        ("Draw a diagram of the nephron.", "multimodal_visual", "draw a diagram"),
        ("Sketch the brachial plexus.", "multimodal_visual", "sketch"),
        ("Which structure in Figure 2 is the SA node?", "multimodal_visual", "figure 2"),
        ("Play the sound of a gallop rhythm.", "multimodal_audio", "play the sound"),
        ("Check the NHS website for the criteria.", "multimodal_external", "check the nhs website"),
        ("Upload the CT so I can review it.", "multimodal_external", "upload"),
        (
            "Open this link and tell me whether it is reliable.",
            "multimodal_external",
            "open this link",
        ),
        ("Summarise the article at that link.", "multimodal_external", "that link"),
        ("Follow the link to the NICE guideline.", "multimodal_external", "follow the link"),
        ("Check the links below for trial results.", "multimodal_external", "check the links"),
        ("What does the X-ray image show?", "multimodal_visual", "the x-ray image"),
        ("Describe the rash in the pictures I sent.", "multimodal_visual", "the pictures"),
        ("Record a podcast about asthma.", "multimodal_audio", "record a podcast"),
        ("Tap the button below to book.", "multimodal_external", "tap the"),
    ],
)
def test_first_match_names_the_family_and_the_phrase(text: str, family: str, matched: str) -> None:
    hit = first_match(text, MULTIMODAL_PATTERNS)
    assert hit is not None and (hit[0], hit[1].lower()) == (family, matched)


@pytest.mark.parametrize(
    "text",
    [
        "Calculate the MAP from these vital signs.",
        "Summarise the nursing chart for the morning handover.",
        "Describe how to draw blood cultures correctly.",
        "Explain how to file an incident report.",
        "Draw up 40 mg of gentamicin and draw conclusions from the level.",
        "Explain what a forest plot summarises.",
        "The clinical picture suggests sepsis; body image concerns are common.",
        "Explain video-assisted thoracoscopic surgery.",
        "A mid-systolic click; absent bowel sounds; listen to the patient's concerns.",
        "Summarise this CT scan report for the GP.",
        # Issue #16: ordinary clinical phrasing the media filter used to drop.
        "Explain the mechanisms that link obesity to insulin resistance",
        "the evidence that links sleep apnea with atrial fibrillation",
        "Explore the link between stress and hypertension; these links matter.",
        "Why do T2-weighted images show oedema as bright? Poor self-image is common.",
        "Interpret these imaging findings: small left pleural effusion.",
        "See a GP if symptoms persist; watch for signs of bleeding.",
        "Record bowel sounds and any voice changes after thyroid surgery.",
        "Describe the video assisted thoracoscopic approach to pleurodesis.",
        "Make a chart entry for the declined dose.",
        "Help a patient figure out insulin timing; apply a figure-of-eight bandage.",
        "The picture is one of sepsis; the typical picture of nephrotic syndrome.",
        "Describe where to listen to the heart; does listening to music reduce anxiety?",
        "Using these figures, calculate the number needed to treat.",
        "Would you be justified in drawing which of the following conclusions?",
        "Rephrase the advice after a pleural tap below; an ascitic tap on a patient.",
    ],
)
def test_clinical_senses_match_no_media_pattern(text: str) -> None:
    assert first_match(text, MULTIMODAL_PATTERNS) is None
