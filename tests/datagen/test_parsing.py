"""Teacher replies as models really write them, parsed with exact counts."""

from __future__ import annotations

from collections import Counter

import pytest

from medinstruct_core.records import Task
from medinstruct_datagen.parsing import (
    clean_value,
    parse_difficulty,
    parse_structured_tasks,
    parse_task_list,
    parse_task_list_detailed,
)

CLEAN_REPLY = """Here are the new tasks:

###
4. Type: Diagnosis
Topic: Cardiology
View: Physician
Difficulty: 4
Instruction: Identify the most likely diagnosis and the next step.
Input: A 58-year-old man has crushing chest pain for 40 minutes.
ECG: ST elevation in II, III and aVF.
###
5. Type: Explanation
Topic: Diabetes
View: Patient
Difficulty: 1
Instruction: Why do I need to check my feet every day?
Input: <noinput>
###
6. Type: Rewriting
Topic: Asthma
View: Caregiver
Difficulty: 2
Instruction: Rewrite this inhaler advice for a 10-year-old.
Input: Shake the inhaler, exhale fully, then inhale slowly while pressing the canister.
"""


def task(
    type_: str, topic: str, view: str, difficulty: int, instruction: str, input_: str = ""
) -> Task:
    return Task(
        type=type_,
        topic=topic,
        view=view,
        difficulty=difficulty,
        instruction=instruction,
        input=input_,
    )


def test_clean_reply_parses_every_field_exactly() -> None:
    result = parse_task_list_detailed(CLEAN_REPLY)
    assert result.rejects == Counter()
    assert result.tasks == [
        task(
            "Diagnosis", "Cardiology", "Physician", 4,
            "Identify the most likely diagnosis and the next step.",
            "A 58-year-old man has crushing chest pain for 40 minutes.\n"
            "ECG: ST elevation in II, III and aVF.",
        ),
        task("Explanation", "Diabetes", "Patient", 1, "Why do I need to check my feet every day?"),
        task(
            "Rewriting", "Asthma", "Caregiver", 2,
            "Rewrite this inhaler advice for a 10-year-old.",
            "Shake the inhaler, exhale fully, then inhale slowly while pressing the canister.",
        ),
    ]  # fmt: skip


def test_items_without_separators_do_not_leak_into_each_other() -> None:
    reply = CLEAN_REPLY.replace("###\n", "")
    result = parse_task_list_detailed(reply)
    assert result.rejects == Counter()
    assert [t.input for t in result.tasks] == [
        "A 58-year-old man has crushing chest pain for 40 minutes.\nECG: ST elevation in II, III and aVF.",
        "",
        "Shake the inhaler, exhale fully, then inhale slowly while pressing the canister.",
    ]
    assert result.tasks == parse_task_list(CLEAN_REPLY)


def test_everything_on_one_line_numbered_with_and_without_separators() -> None:
    line = (
        "1. Type: Classification Topic: Dermatology View: Nurse Difficulty: 3. "
        "Instruction: Classify this burn by depth. Input: Blistered, painful, red skin on the forearm. "
        "2. Type: Question answering Topic: Vitamin B12 View: Patient Difficulty: 2 "
        "Instruction: Which foods contain vitamin B12? Input: <noinput> ### "
        "3. Type: Summary Topic: Oncology View: Researcher Difficulty: 5 "
        "Instruction: Summarize the trial result. Input: 'Median survival rose from 11 to 14 months.'"
    )
    result = parse_task_list_detailed(line)
    assert result.rejects == Counter()
    assert result.tasks == [
        task("Classification", "Dermatology", "Nurse", 3, "Classify this burn by depth.",
             "Blistered, painful, red skin on the forearm."),
        task("Question answering", "Vitamin B12", "Patient", 2, "Which foods contain vitamin B12?"),
        task("Summary", "Oncology", "Researcher", 5, "Summarize the trial result.",
             "Median survival rose from 11 to 14 months."),
    ]  # fmt: skip


def test_unnumbered_items_on_one_line_are_split_at_a_repeated_type() -> None:
    line = (
        "Type: Advice Topic: Sleep View: Patient Difficulty: 1 Instruction: How can I sleep better? "
        "Input: <noinput> Type: Triage Topic: Fever View: Parent Difficulty: 2 "
        "Instruction: When should a feverish baby see a doctor? Input: <noinput>"
    )
    result = parse_task_list_detailed(line)
    assert [t.instruction for t in result.tasks] == [
        "How can I sleep better?",
        "When should a feverish baby see a doctor?",
    ]
    assert [t.input for t in result.tasks] == ["", ""]


def test_markdown_headings_bold_numbers_and_pipe_separated_fields() -> None:
    reply = (
        "Sure! Here are 2 new tasks:\n\n### Task 4\n**4. Type:** Diagnosis\n**Topic:** Cardiology\n"
        "**View:** Physician\n**Difficulty:** 3\n**Instruction:** Identify the rhythm.\n"
        "**Input:** HR 150, narrow complex, regular.\n\n"
        "5. Type: Education | Topic: Diabetes | View: Patient | Difficulty: 1 | "
        "Instruction: How do I use a glucometer? | Input: <noinput>"
    )
    result = parse_task_list_detailed(reply)
    assert result.rejects == Counter()
    assert result.tasks == [
        task("Diagnosis", "Cardiology", "Physician", 3, "Identify the rhythm.",
             "HR 150, narrow complex, regular."),
        task("Education", "Diabetes", "Patient", 1, "How do I use a glucometer?"),
    ]  # fmt: skip


def test_label_variants_markdown_and_difficulty_spellings() -> None:
    reply = """**Task 1**
1. **Task type:** Multiple choice
**Topic**: Pharmacology
- viewpoint: Medical student
DIFFICULTY: Level 3
**Instruction:** **Choose the drug that reverses heparin.**
Input: "A) Vitamin K B) Protamine sulfate C) Naloxone D) Flumazenil"

Task 2:
2. task_type: Extraction
Topic: Hematology
Point of view: Physician
Difficulty level: 4/5
Instructions: List every abnormal value.
Input: <no input>
"""
    result = parse_task_list_detailed(reply)
    assert result.rejects == Counter()
    assert result.tasks == [
        task("Multiple choice", "Pharmacology", "Medical student", 3,
             "Choose the drug that reverses heparin.",
             "A) Vitamin K B) Protamine sulfate C) Naloxone D) Flumazenil"),
        task("Extraction", "Hematology", "Physician", 4, "List every abnormal value."),
    ]  # fmt: skip


def test_per_field_numbering_in_the_alpaca_style() -> None:
    reply = (
        "1. Type: Explanation\n1. Topic: Renal\n1. View: Patient\n1. Difficulty: 2\n"
        "1. Instruction: What does dialysis do?\n1. Input: <noinput>\n"
        "2. Type: Writing\n2. Topic: Surgery\n2. View: Nurse\n2. Difficulty: 3\n"
        "2. Instruction: Write discharge instructions after a hernia repair.\n2. Input: <noinput>"
    )
    result = parse_task_list_detailed(reply)
    assert result.rejects == Counter()
    assert [(t.topic, t.instruction) for t in result.tasks] == [
        ("Renal", "What does dialysis do?"),
        ("Surgery", "Write discharge instructions after a hernia repair."),
    ]


def test_inline_label_words_in_values_stay_text() -> None:
    reply = (
        "###\n1. Type: Interpretation\nTopic: Transfusion\nView: Physician\nDifficulty: 3\n"
        "Instruction: Is this transfusion compatible?\n"
        "Input: Patient Blood Type: O negative. Donor unit type: A positive.\n###"
    )
    result = parse_task_list_detailed(reply)
    assert result.rejects == Counter()
    assert result.tasks[0].input == "Patient Blood Type: O negative. Donor unit type: A positive."


def test_answers_and_chatter_do_not_end_up_in_the_input() -> None:
    reply = (
        "###\n1. Type: QA\nTopic: Gout\nView: Patient\nDifficulty: 1\n"
        "Instruction: What triggers a gout flare?\nInput: <noinput>\nOutput: Alcohol, purines.\n"
        "###\n2. Type: QA\nTopic: Anemia\nView: Patient\nDifficulty: 1\n"
        "Instruction: Why am I tired when I have anemia?\nInput: <noinput>\n\n"
        "I hope these tasks are useful for your dataset!"
    )
    result = parse_task_list_detailed(reply)
    assert result.rejects == Counter()
    assert [t.input for t in result.tasks] == ["", ""]


@pytest.mark.parametrize(
    ("tail", "truncated_flag", "kept", "rejects"),
    [
        # Cut before Instruction: lacks fields and ends mid-way -> truncated.
        (
            "###\n3. Type: Summary\nTopic: Stroke\nView: Nurse\nDifficulty: 2\nInstr",
            False,
            2,
            {"truncated": 1},
        ),
        # Cut inside the instruction, no Input label yet -> truncated.
        (
            "###\n3. Type: Summary\nTopic: Stroke\nView: Nurse\nDifficulty: 2\n"
            "Instruction: Summarize the signs of a",
            False,
            2,
            {"truncated": 1},
        ),
        # Cut right after "Input:" (empty last field) -> truncated.
        (
            "###\n3. Type: Summary\nTopic: Stroke\nView: Nurse\nDifficulty: 2\n"
            "Instruction: Summarize the signs.\nInput:",
            False,
            2,
            {"truncated": 1},
        ),
        # Every field present: the parser alone cannot tell the input was cut -> kept ...
        (
            "###\n3. Type: Summary\nTopic: Stroke\nView: Nurse\nDifficulty: 2\n"
            "Instruction: Summarize the signs.\nInput: A 70-year-old woman with sudden",
            False,
            3,
            {},
        ),
        # ... unless the caller says the reply hit the token limit.
        (
            "###\n3. Type: Summary\nTopic: Stroke\nView: Nurse\nDifficulty: 2\n"
            "Instruction: Summarize the signs.\nInput: A 70-year-old woman with sudden",
            True,
            2,
            {"truncated": 1},
        ),
        # A final item missing Instruction that ends cleanly is a schema violation, not a cut.
        (
            "###\n3. Type: Summary\nTopic: Stroke\nView: Nurse\nDifficulty: 2\nInput: <noinput>",
            False,
            2,
            {"schema_violation": 1},
        ),
        # A final item closed by ### was finished, even in a reply that then hit the limit.
        (
            "###\n3. Type: Summary\nTopic: Stroke\nView: Nurse\nDifficulty: 2\n"
            "Instruction: Summarize the signs.\nInput: <noinput>\n###\n",
            True,
            3,
            {},
        ),
    ],
)
def test_truncated_last_item(
    tail: str, truncated_flag: bool, kept: int, rejects: dict[str, int]
) -> None:
    head = CLEAN_REPLY.split("###\n6.")[0].replace("Here are the new tasks:\n\n", "")
    result = parse_task_list_detailed(head + tail, truncated=truncated_flag)
    assert len(result.tasks) == kept
    assert result.rejects == Counter(rejects)
    assert [t.topic for t in result.tasks[:2]] == ["Cardiology", "Diabetes"]


def test_schema_violations_are_counted_per_item() -> None:
    items = [
        "1. Type: QA\nTopic: ENT\nView: Patient\nDifficulty: 7\nInstruction: Why do ears pop?\nInput: <noinput>",
        "2. Type: QA\nTopic: ENT\nView: Patient\nDifficulty: 4/10\nInstruction: What is tinnitus?\nInput: <noinput>",
        "3. Type: QA\nTopic: ENT\nView: Patient\nDifficulty: hard\nInstruction: What is vertigo?\nInput: <noinput>",
        "4. Type: QA\nTopic: ENT\nDifficulty: 2\nInstruction: What is otitis?\nInput: <noinput>",
        "5. Type: QA\nTopic: ENT\nView: Patient\nDifficulty: 2\nInstruction: \nInput: <noinput>",
        "6. Type: QA\nTopic: ENT\nView: Patient\nDifficulty: 2 (easy)\nInstruction: What is a sinus?\nInput: <noinput>",
    ]
    result = parse_task_list_detailed("\n###\n".join(items))
    assert result.rejects == Counter({"schema_violation": 5})
    assert [t.instruction for t in result.tasks] == ["What is a sinus?"]


@pytest.mark.parametrize("reply", ["", "   ", "I'm sorry, I can't help with that.", "### ### ###"])
def test_replies_without_items_are_parse_errors(reply: str) -> None:
    result = parse_task_list_detailed(reply)
    assert result.tasks == []
    assert result.rejects == Counter({"parse_error": 1})
    assert result.failed


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ("3", 3), (" 5 ", 5), ("3/5", 3), ("4 / 5", 4), ("Level 2", 2), ("2 out of 5", 2),
     ("1 (basic)", 1), (0, None), (6, None), ("4/10", None), ("2.5", None), ("easy", None),
     (True, None), (None, None), (4.0, 4)],
)  # fmt: skip
def test_parse_difficulty(value: object, expected: int | None) -> None:
    assert parse_difficulty(value) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('"quoted"', "quoted"), ("“curly”", "curly"), ("**bold**", "bold"), ('"A" or "B"', '"A" or "B"'),
     ("  plain  ", "plain"), ("'it''s'", "'it''s'"), ("Cardiology |", "Cardiology")],
)  # fmt: skip
def test_clean_value(raw: str, expected: str) -> None:
    assert clean_value(raw) == expected


STRUCTURED = """```json
{"tasks": [
  {"type": "QA", "topic": "Sepsis", "view": "Physician", "difficulty": 4,
   "instruction": "List the sepsis bundle steps.", "input": ""},
  {"type": "Summary", "topic": "COPD", "view": "Nurse", "difficulty": "3",
   "instruction": "Summarize the note.", "input": "Line one
line two"},
  {"type": "QA", "topic": "COPD", "view": "Nurse", "difficulty": 9,
   "instruction": "Bad level.", "input": ""},
  {"type": "QA", "topic": "COPD", "difficulty": 2, "instruction": "No view.", "input": ""},
  {"Type": "QA", "Topic": "Gout", "Viewpoint": "Patient", "difficulty": 2,
   "instruction": "Extra keys are ignored.", "input": "<noinput>", "output": "an answer"}
]}
```"""


def test_structured_reply_with_raw_newlines_and_fences() -> None:
    result = parse_structured_tasks(STRUCTURED)
    assert result.format == "json"
    assert result.rejects == Counter({"schema_violation": 2})
    assert result.tasks == [
        task("QA", "Sepsis", "Physician", 4, "List the sepsis bundle steps."),
        task("Summary", "COPD", "Nurse", 3, "Summarize the note.", "Line one\nline two"),
        task("QA", "Gout", "Patient", 2, "Extra keys are ignored."),
    ]


def test_structured_reply_cut_off_keeps_complete_objects() -> None:
    cut = STRUCTURED.split('{"type": "QA", "topic": "COPD", "view"')[0].removeprefix("```json\n")
    cut += '{"type": "QA", "topic": "COPD", "view": "Nu'
    result = parse_structured_tasks(cut)
    assert [t.topic for t in result.tasks] == ["Sepsis", "COPD"]
    assert result.rejects == Counter({"truncated": 1})


@pytest.mark.parametrize(
    ("reply", "rejects", "n_tasks"),
    [
        ("not json at all", {"parse_error": 1}, 0),
        ('{"items": 3}', {"parse_error": 1}, 0),
        (
            '{"tasks": [{"type": "a", "topic": "b", "view": "c", "difficulty": 1, '
            '"instruction": "d", "input": ""}, {broken}]}',
            {"parse_error": 1},
            1,
        ),
        (
            '[{"type": "a", "topic": "b", "view": "c", "difficulty": 1, "instruction": "d", "input": ""}]',
            {},
            1,
        ),
        ('{"tasks": ["just a string"]}', {"schema_violation": 1}, 0),
    ],
)
def test_structured_malformed_replies(reply: str, rejects: dict[str, int], n_tasks: int) -> None:
    result = parse_structured_tasks(reply)
    assert result.rejects == Counter(rejects)
    assert len(result.tasks) == n_tasks
