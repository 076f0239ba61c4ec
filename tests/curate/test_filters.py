"""Each rule filter on its own, then the curate step on a small fixture with exact counts."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from medinstruct_core.params import ParamsError, parse_section
from medinstruct_core.records import Example, Task, Usage
from medinstruct_curate.curate import REASON_DUPLICATE, CurateConfig, curate
from medinstruct_text.rules import (
    ALL_RULE_REASONS,
    REASON_BAD_START,
    REASON_BLACKLISTED,
    REASON_EMPTY_OUTPUT,
    REASON_INPUT_REPEATS_INSTRUCTION,
    REASON_REFUSAL,
    REASON_TOO_LONG,
    REASON_TOO_SHORT,
    REASON_TRUNCATED,
    REASON_UNSAFE_MULTIMODAL,
    REASON_UNSAFE_PHI,
    REASON_UNSAFE_REFUSAL,
    TASK_RULE_REASONS,
    FilterConfig,
    RuleHit,
    apply_rules,
    apply_task_rules,
    check_rules,
    check_task_rules,
)

GOOD_INSTRUCTION = "Explain how metformin lowers blood glucose in type 2 diabetes."
GOOD_OUTPUT = (
    "Metformin mainly reduces hepatic glucose production and improves insulin sensitivity."
)


def make_example(id: str = "ex-0", **fields: Any) -> Example:
    values: dict[str, Any] = {
        "type": "explanation",
        "topic": "endocrinology",
        "view": "patient",
        "difficulty": 2,
        "instruction": GOOD_INSTRUCTION,
        "output": GOOD_OUTPUT,
    }
    values.update(fields)
    return Example(id=id, **values)


CFG = FilterConfig()


def test_good_example_passes_every_rule() -> None:
    assert apply_rules(make_example(), CFG) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"truncated": True}, REASON_TRUNCATED),
        ({"finish_reason": "length"}, REASON_TRUNCATED),
        ({"output": "   "}, REASON_EMPTY_OUTPUT),
        ({"output": ""}, REASON_EMPTY_OUTPUT),
        ({"instruction": "Define hypertension."}, REASON_TOO_SHORT),
        ({"instruction": " ".join(["word"] * 151)}, REASON_TOO_LONG),
        ({"instruction": '"Explain the causes of anemia in children."'}, REASON_BAD_START),
        ({"instruction": "- Explain the causes of anemia in children."}, REASON_BAD_START),
        ({"instruction": "¿Qué causa la anemia en los niños pequeños?"}, REASON_BAD_START),
        (
            {"instruction": "Describe the lesion in the attached image of the skin."},
            REASON_BLACKLISTED,
        ),
        ({"instruction": "Draw a diagram of the cardiac conduction system."}, REASON_BLACKLISTED),
        (
            {"instruction": "Go   to the hospital website and list the clinic hours."},
            REASON_BLACKLISTED,
        ),
        (
            {"instruction": "Summarize what the PHOTO shows for the referring doctor."},
            REASON_BLACKLISTED,
        ),
        ({"instruction": "Listen to the recording and name the murmur."}, REASON_BLACKLISTED),
        ({"instruction": "Open the attached PDF and list the doses."}, REASON_BLACKLISTED),
        (
            {
                "instruction": "Summarize this discharge note.",
                "input": "summarize this discharge note",
            },
            REASON_INPUT_REPEATS_INSTRUCTION,
        ),
        (
            {
                "instruction": "List three common side effects of lisinopril in adults.",
                "input": "List three common side effects of lisinopril in older adults",
            },
            REASON_INPUT_REPEATS_INSTRUCTION,
        ),
        ({"output": "As an AI language model, I cannot examine you."}, REASON_REFUSAL),
        ({"output": "I’m sorry, but I can’t   help with that."}, REASON_REFUSAL),
        ({"output": "I cannot provide medical advice. Please see a doctor."}, REASON_REFUSAL),
    ],
)
def test_each_rule_rejects_with_its_reason(fields: dict[str, Any], reason: str) -> None:
    assert apply_rules(make_example(**fields), CFG) == reason


@pytest.mark.parametrize(
    "fields",
    [
        {"instruction": "Define essential hypertension briefly."},  # exactly 3 words: allowed
        {"instruction": " ".join(["word"] * 150)},
        {"instruction": "3 causes of microcytic anemia, explained for a nurse."},
        {
            "instruction": "Explain why imaging is ordered after a head injury."
        },  # 'imaging' != 'image'
        {"instruction": "Describe the mapping of dermatomes in the lower limb."},
        # Clinical senses of the old blacklist's words (the false positives).
        {"instruction": "Calculate the MAP from these vital signs.", "input": "BP 92/58 mmHg"},
        {"instruction": "Summarise the nursing chart for the morning handover."},
        {"instruction": "Explain how to draw blood cultures without contaminating them."},
        {"instruction": "Explain how to file an incident report after a medication error."},
        {"instruction": "Describe music therapy and its evidence in dementia care."},
        {"instruction": "Summarize this discharge note.", "input": "<noinput>"},
        {"instruction": "Summarize this discharge note.", "input": "Patient admitted with CAP."},
        {"output": "I'm sorry to hear about your symptoms; rest and fluids usually help."},
        {"finish_reason": "stop", "truncated": False},
    ],
)
def test_near_misses_pass(fields: dict[str, Any]) -> None:
    assert apply_rules(make_example(**fields), CFG) is None


def test_first_failing_rule_wins_and_detail_names_the_cause() -> None:
    example = make_example(instruction="Plot it.", output="", truncated=True)
    assert check_rules(example, CFG).reason == REASON_TRUNCATED  # type: ignore[union-attr]
    hit = check_rules(make_example(instruction="Describe this chest X-ray image now."), CFG)
    assert hit is not None
    assert (hit.reason, hit.detail) == (
        REASON_BLACKLISTED,
        "multimodal_visual: 'this chest x-ray image'",
    )


def test_config_changes_the_rules() -> None:
    cfg = FilterConfig(min_instruction_words=1, max_instruction_words=5, blacklist=["metformin"])
    assert apply_rules(make_example(instruction="Define hypertension."), cfg) is None
    assert apply_rules(make_example(instruction="Explain metformin."), cfg) == REASON_BLACKLISTED
    assert apply_rules(make_example(), cfg) == REASON_TOO_LONG
    no_refusals = FilterConfig(refusal_patterns=[], safety_scan=False)
    assert apply_rules(make_example(output="As an AI language model, no."), no_refusals) is None


def test_filter_config_rejects_unknown_keys() -> None:
    with pytest.raises(ParamsError, match="blacklistt"):
        parse_section({"blacklistt": []}, FilterConfig, where="params.yaml: curate.filters")


def test_rule_counts_on_a_mixed_batch() -> None:
    batch = [
        make_example(id="ok1"),
        make_example(id="t1", finish_reason="length"),
        make_example(id="t2", truncated=True),
        make_example(id="e1", output=""),
        make_example(id="s1", instruction="Hi there"),
        make_example(id="b1", instruction="Click the link and read the leaflet."),
        make_example(id="r1", output="As an AI language model I can't diagnose."),
        make_example(id="ok2", instruction="Outline first aid for a minor burn at home."),
    ]
    reasons = Counter(apply_rules(ex, CFG) for ex in batch)
    assert reasons == Counter(
        {None: 2, REASON_TRUNCATED: 2, REASON_EMPTY_OUTPUT: 1, REASON_TOO_SHORT: 1,
         REASON_BLACKLISTED: 1, REASON_REFUSAL: 1}
    )  # fmt: skip


# --- curate -----------------------------------------------------------------

SEEDS = [
    "List the common symptoms of iron deficiency anemia in adults.",
    "Explain the difference between type 1 and type 2 diabetes.",
]


def curate_fixture() -> list[Example]:
    return [
        make_example("g1", instruction="Describe first aid for a sprained ankle at home."),
        make_example("d_seed", instruction="List the common symptoms of iron deficiency anemia in children."),
        make_example("trunc", instruction="Explain how asthma inhalers work for a child.", truncated=True),
        # Same text as the truncated one: it must survive, since filters run before dedup.
        make_example("g2", instruction="Explain how asthma inhalers work for a child."),
        make_example("d_g1", instruction="Describe first aid for a sprained ankle at home quickly."),
        make_example("refuse", instruction="What causes migraines in teenagers?", output="As an AI language model, no."),
        make_example("g3", instruction="What causes migraines in teenagers?", usage=Usage(prompt_tokens=7)),
        make_example("short", instruction="Anemia?"),
    ]  # fmt: skip


def test_curate_filters_then_dedups_against_seeds_and_kept() -> None:
    result = curate(curate_fixture(), SEEDS, CurateConfig())
    assert [ex.id for ex in result.kept] == ["g1", "g2", "g3"]
    rejected = {r.id: (r.reason, r.detail) for r in result.rejected}
    assert [r.id for r in result.rejected] == ["d_seed", "trunc", "d_g1", "refuse", "short"]
    assert rejected["d_seed"] == (REASON_DUPLICATE, "duplicate of seed[0] (rougeL=0.900)")
    assert rejected["d_g1"] == (REASON_DUPLICATE, "duplicate of g1 (rougeL=0.947)")
    assert rejected["trunc"][0] == REASON_TRUNCATED
    assert rejected["refuse"][0] == REASON_REFUSAL
    assert rejected["short"][0] == REASON_TOO_SHORT
    assert result.kept[2].usage.prompt_tokens == 7


def test_curate_report_counts_every_reason() -> None:
    report = curate(curate_fixture(), SEEDS, CurateConfig()).report()
    assert report["n_in"] == 8
    assert report["n_kept"] == 3
    assert report["n_rejected"] == 5
    assert report["yield"] == pytest.approx(3 / 8)
    assert report["by_reason"] == {
        **dict.fromkeys(ALL_RULE_REASONS, 0),
        REASON_TRUNCATED: 1,
        REASON_TOO_SHORT: 1,
        REASON_REFUSAL: 1,
        REASON_DUPLICATE: 2,
    }


def test_rejected_records_keep_every_field() -> None:
    examples = curate_fixture()
    result = curate(examples, SEEDS, CurateConfig())
    by_id = {ex.id: ex for ex in examples}
    for rejected in result.rejected:
        fields = rejected.model_dump(exclude={"reason", "detail"})
        assert fields == by_id[rejected.id].model_dump()


def test_curate_without_seed_dedup_and_with_a_stricter_threshold() -> None:
    loose = curate(curate_fixture(), SEEDS, CurateConfig(dedup_against_seeds=False))
    assert [ex.id for ex in loose.kept] == ["g1", "d_seed", "g2", "g3"]
    strict = curate(curate_fixture(), SEEDS, CurateConfig(rouge_threshold=0.96))
    assert [ex.id for ex in strict.kept] == ["g1", "d_seed", "g2", "d_g1", "g3"]


def test_curate_of_nothing_reports_zero_yield() -> None:
    report = curate([], SEEDS, CurateConfig()).report()
    assert (report["n_in"], report["n_kept"], report["yield"]) == (0, 0, 0.0)


def test_curate_config_nests_filter_config() -> None:
    cfg = parse_section(
        {"rouge_threshold": 0.6, "filters": {"min_instruction_words": 5}},
        CurateConfig,
        where="p: curate",
    )
    assert (cfg.rouge_threshold, cfg.filters.min_instruction_words) == (0.6, 5)
    with pytest.raises(ParamsError, match=r"filters\.min_words"):
        parse_section({"filters": {"min_words": 5}}, CurateConfig, where="p: curate")


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("input", "See https://example.org/scan for the image.", "unsafe_multimodal"),
        ("output", "Call the clinic at 555-123-4567 for results.", "unsafe_phi"),
        ("input", "Jane Miller, DOB 03/14/1954, has chest pain.", "unsafe_phi"),
        ("instruction", "As an AI language model, summarize the asthma plan.", "unsafe_refusal"),
    ],
)
def test_gate_safety_patterns_are_applied_by_curate(field, text, reason):
    base = {"id": "x1", "type": "open QA", "topic": "asthma", "view": "nurse", "difficulty": 2,
            "instruction": "Summarize the asthma action plan for this patient.", "input": "",
            "output": "Use the reliever inhaler and seek care if symptoms worsen."}  # fmt: skip
    example = Example(**{**base, field: text})
    assert apply_rules(example, FilterConfig()) == reason
    assert apply_rules(example, FilterConfig(safety_scan=False)) in (None, "refusal", "blacklisted")


# --- task rules: the part shared with the generation loop ---------------------


def make_task(**fields: Any) -> Task:
    values: dict[str, Any] = {"type": "explanation", "topic": "endocrinology", "view": "patient",
                              "difficulty": 2, "instruction": GOOD_INSTRUCTION}  # fmt: skip
    values.update(fields)
    return Task(**values)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"instruction": "Define hypertension."}, REASON_TOO_SHORT),
        ({"instruction": " ".join(["word"] * 151)}, REASON_TOO_LONG),
        ({"instruction": "- Explain the causes of anaemia in children."}, REASON_BAD_START),
        ({"instruction": "Draw the brachial plexus and label its cords."}, REASON_BLACKLISTED),
        ({"instruction": "Visit the CDC website and summarise the guidance."}, REASON_BLACKLISTED),
        ({"instruction": "Summarize this note.", "input": "summarize this note"},
         REASON_INPUT_REPEATS_INSTRUCTION),
        ({"input": "Call 555-201-4477 for the results."}, REASON_UNSAFE_PHI),
        ({"instruction": "As an AI language model, explain insulin."}, REASON_UNSAFE_REFUSAL),
        ({"input": "See the attached photo of the rash."}, REASON_UNSAFE_MULTIMODAL),
    ],
)  # fmt: skip
def test_task_rules_judge_a_task_without_output(fields: dict[str, Any], reason: str) -> None:
    assert apply_task_rules(make_task(**fields), CFG) == reason
    assert reason in TASK_RULE_REASONS


def test_task_rules_pass_a_good_task_and_ignore_output_rules() -> None:
    assert check_task_rules(make_task(), CFG) is None
    # An example's output problems are not task problems.
    assert apply_task_rules(make_example(output="", truncated=True), CFG) is None
    assert apply_rules(make_example(output="", truncated=True), CFG) == REASON_TRUNCATED


def test_example_order_state_then_task_then_output_text() -> None:
    media_and_refusal = make_example(instruction="Describe the rash in this photo for me.",
                                     output="As an AI language model, I cannot see images.")  # fmt: skip
    assert apply_rules(media_and_refusal, CFG) == REASON_BLACKLISTED
    phi_output = make_example(output="Email j.doe@mail.example.com for your results.")
    hit = check_rules(phi_output, CFG)
    assert hit == RuleHit(REASON_UNSAFE_PHI, "output matches email")
    refusal_output = make_example(output="I am not a doctor, but rest may help.")
    assert apply_rules(refusal_output, CFG) == REASON_UNSAFE_REFUSAL
    assert apply_rules(refusal_output, FilterConfig(safety_scan=False)) is None


def test_task_rule_counts_on_a_mixed_batch_of_generated_tasks() -> None:
    batch = [
        make_task(),
        make_task(instruction="Calculate the MAP from these vital signs.", input="BP 92/58"),
        make_task(instruction="Summarise the nursing chart for handover."),
        make_task(instruction="Explain how to file an incident report."),
        make_task(instruction="Look at this image of the wound and grade it."),
        make_task(instruction="Search online for the nearest pharmacy."),
        make_task(instruction="Hi there"),
        make_task(input="Seen at 42 Willow Creek Road yesterday."),
    ]
    reasons = Counter(apply_task_rules(task, CFG) for task in batch)
    assert reasons == Counter({None: 4, REASON_BLACKLISTED: 2, REASON_TOO_SHORT: 1,
                               REASON_UNSAFE_PHI: 1})  # fmt: skip


def test_curate_and_generation_share_one_task_rule_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """check_rules (curate) delegates the task part to check_task_rules (generation)."""
    import medinstruct_text.rules as rules

    monkeypatch.setattr(rules, "check_task_rules", lambda task, cfg: RuleHit("blacklisted", "stub"))
    result = curate([make_example("a"), make_example("b", truncated=True)], [], CurateConfig())
    assert [(r.id, r.reason, r.detail) for r in result.rejected] == [
        ("a", "blacklisted", "stub"),
        ("b", REASON_TRUNCATED, "finish_reason=stop"),
    ]


def test_extra_blacklist_phrases_are_whole_words_only() -> None:
    cfg = FilterConfig(blacklist=["tele health"])
    assert FilterConfig().blacklist == []
    assert apply_task_rules(
        make_task(instruction="Plan a tele  health visit for asthma."), cfg
    ) == (REASON_BLACKLISTED)
    assert (
        apply_task_rules(make_task(instruction="Plan a telehealth visit for asthma."), cfg) is None
    )
