"""Exact prompt text: a wording change must be a deliberate, reviewed edit of this file too."""

from __future__ import annotations

import json

import pytest

from medinstruct_core.records import Task
from medinstruct_datagen.parsing import parse_structured_tasks, parse_task_list
from medinstruct_datagen.prompting import (
    build_instruction_messages,
    build_response_messages,
    format_tasks_json,
    format_tasks_text,
    load_prompt,
)

EXAMPLES = [
    Task(
        type="Question answering",
        topic="Cardiology",
        view="Patient",
        difficulty=2,
        instruction="What does a high troponin level mean?",
    ),
    Task(
        type="Summarization",
        topic="Nephrology",
        view="Nurse",
        difficulty=3,
        instruction="Summarize the lab findings.",
        input="Creatinine 2.1 mg/dL, up from 1.0 last week.",
    ),
]

SYSTEM = (
    "You are an experienced physician and medical educator. You write clear, accurate and "
    "varied tasks that are used to train medical AI assistants."
)

INTRO = (
    "Write 4 new medical tasks. They will teach an AI model to follow medical instructions, "
    "so they must be realistic and different from each other and from the examples."
)

RULES = """Rules for the new tasks:
1. Medicine only. Every task must concern health, disease, clinical practice, medical science or medical education.
2. Vary the viewpoint, the topic and the format. Viewpoints include patients, family members, nurses, physicians, pharmacists, medical students and researchers. Use each of these formats at least once: a factual question, an explanation, a summary, a rewrite for a different reader, a classification, information extraction, a multiple-choice exam question and a piece of clinical writing (a note, a letter or a set of instructions).
3. Rate the difficulty of each task with a whole number from 1 (general knowledge) to 5 (specialist reasoning), and use the whole range.
4. Word the instructions differently from one another: mix questions with commands, and do not open two instructions with the same verb.
5. When a task needs material to work on, put it in the input: 50 to 200 words of realistic clinical context, such as a case description, test results, a medication list or an excerpt from a report. Many tasks need no input at all. Make the input lengths differ from task to task.
6. Write a USMLE-style question as a clinical vignette of more than 50 words followed by lettered answer choices.
7. Match the language to the viewpoint: everyday words for patients and families, precise clinical terms for professionals.
8. Every task must make sense on its own and be answerable in writing."""

TEXT_USER = f"""{INTRO}

{RULES}

Write every task in this exact format. Start each task with a line holding only ###, number the tasks from 3 to 6, and write <noinput> when a task has no input:

###
N. Type: the kind of task
Topic: the medical topic
View: whose viewpoint the task takes
Difficulty: a number from 1 to 5
Instruction: the instruction
Input: the context, or <noinput>

Example tasks:

###
1. Type: Question answering
Topic: Cardiology
View: Patient
Difficulty: 2
Instruction: What does a high troponin level mean?
Input: <noinput>
###
2. Type: Summarization
Topic: Nephrology
View: Nurse
Difficulty: 3
Instruction: Summarize the lab findings.
Input: Creatinine 2.1 mg/dL, up from 1.0 last week.

Now write tasks 3 to 6."""

STRUCTURED_USER = f"""{INTRO}

{RULES}

Reply with one JSON object and nothing else. Its only key, "tasks", holds a list of 4 task objects with these keys:
- "type": the kind of task
- "topic": the medical topic
- "view": whose viewpoint the task takes
- "difficulty": an integer from 1 to 5
- "instruction": the instruction
- "input": the context, or "" when the task has no input

Example tasks in the same format:

{{"tasks": [
  {{"type": "Question answering", "topic": "Cardiology", "view": "Patient", "difficulty": 2, "instruction": "What does a high troponin level mean?", "input": ""}},
  {{"type": "Summarization", "topic": "Nephrology", "view": "Nurse", "difficulty": 3, "instruction": "Summarize the lab findings.", "input": "Creatinine 2.1 mg/dL, up from 1.0 last week."}}
]}}"""

RESPONDER_SYSTEM = (
    "You are a careful medical assistant. Follow the instruction exactly and give an accurate "
    "answer that agrees with current clinical evidence and guidelines. Be complete but concise. "
    "If the answer depends on information you were not given, say what is missing. If a "
    "situation may be an emergency, tell the person to seek medical care at once."
)


def test_text_prompt_is_exact() -> None:
    messages = build_instruction_messages(EXAMPLES, 4, structured=False)
    assert messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": TEXT_USER},
    ]


def test_structured_prompt_is_exact() -> None:
    messages = build_instruction_messages(EXAMPLES, 4, structured=True)
    assert messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": STRUCTURED_USER},
    ]


def test_prompts_are_deterministic_and_differ_by_mode() -> None:
    text = build_instruction_messages(EXAMPLES, 12, structured=False)
    assert text == build_instruction_messages(EXAMPLES, 12, structured=False)
    assert text != build_instruction_messages(EXAMPLES, 12, structured=True)
    assert "number the tasks from 3 to 14" in text[1]["content"]


def test_example_renderings_round_trip_through_the_parsers() -> None:
    assert parse_task_list(format_tasks_text(EXAMPLES)) == EXAMPLES
    assert parse_structured_tasks(format_tasks_json(EXAMPLES)).tasks == EXAMPLES
    assert json.loads(format_tasks_json(EXAMPLES))["tasks"][0]["input"] == ""


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        build_instruction_messages(EXAMPLES, 0, structured=False)
    with pytest.raises(ValueError, match="at least one example"):
        build_instruction_messages([], 3, structured=True)


def test_response_messages_with_and_without_input() -> None:
    assert build_response_messages(EXAMPLES[0]) == [
        {"role": "system", "content": RESPONDER_SYSTEM},
        {"role": "user", "content": "What does a high troponin level mean?"},
    ]
    assert build_response_messages(EXAMPLES[1])[1] == {
        "role": "user",
        "content": "Summarize the lab findings.\n\nInput:\nCreatinine 2.1 mg/dL, up from 1.0 last week.",
    }


def test_templates_are_package_data() -> None:
    assert load_prompt("instruction_system.txt") == SYSTEM
    assert "$rules" in load_prompt("instructions_text.md")
