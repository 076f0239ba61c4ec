"""Seed tasks: composition of the committed seed file, and the loader's formats and errors."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from rouge_score import rouge_scorer, tokenizers

from medinstruct_core.io import DataError
from medinstruct_core.records import Task
from medinstruct_datagen import load_seed_tasks, seed_stats

SEED_FILE = Path(__file__).resolve().parents[2] / "data" / "seeds" / "seed_tasks.jsonl"
FIELDS = ["type", "topic", "view", "difficulty", "instruction", "input"]
REQUIRED_TYPES = {
    "open QA",
    "USMLE-style QA",
    "multiple-choice QA",
    "text generation",
    "chat",
    "rewrite",
    "summarization",
    "classification",
    "single-hop reasoning",
    "multi-hop reasoning",
}


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def seeds() -> list[Task]:
    return load_seed_tasks(SEED_FILE)


# --------------------------------------------------------------------------- composition


def test_seed_file_has_at_least_170_tasks(seeds: list[Task]) -> None:
    assert len(seeds) >= 170


def test_raw_lines_use_our_format_exactly() -> None:
    for lineno, line in enumerate(SEED_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        obj = json.loads(line)
        assert list(obj) == FIELDS, f"line {lineno}"
        assert type(obj["difficulty"]) is int, f"line {lineno}"
        assert obj["input"] != "<noinput>", f"line {lineno}"


def test_task_types_cover_required_names(seeds: list[Task]) -> None:
    types = {task.type for task in seeds}
    assert len(types) >= 25
    assert types >= REQUIRED_TYPES, REQUIRED_TYPES - types


def test_topics_and_views_are_diverse(seeds: list[Task]) -> None:
    assert len({task.topic for task in seeds}) >= 40
    assert len({task.view for task in seeds}) >= 15


def test_every_difficulty_present_with_a_spread(seeds: list[Task]) -> None:
    counts = Counter(task.difficulty for task in seeds)
    assert set(counts) == {1, 2, 3, 4, 5}
    assert min(counts.values()) >= 5
    assert max(counts.values()) <= 0.5 * len(seeds)


def test_input_share_and_input_lengths(seeds: list[Task]) -> None:
    with_input = [task for task in seeds if task.input]
    assert len(with_input) >= 0.45 * len(seeds)
    too_short_or_long = [
        (words(t.input), t.instruction[:50]) for t in with_input if not 50 <= words(t.input) <= 200
    ]
    assert too_short_or_long == []


def test_usmle_items_have_long_stem_and_choices_a_to_e(seeds: list[Task]) -> None:
    usmle = [task for task in seeds if task.type == "USMLE-style QA"]
    assert len(usmle) >= 5
    for task in usmle:
        letters = re.findall(r"^([A-E])[.)] \S", task.input, flags=re.MULTILINE)
        assert letters == list("ABCDE"), task.instruction
        stem = re.split(r"\n[A-E][.)] ", task.input, maxsplit=1)[0]
        assert words(stem) > 50, task.instruction


def test_patient_view_instructions_are_first_person(seeds: list[Task]) -> None:
    patient = [task for task in seeds if task.view == "patient"]
    assert len(patient) >= 10
    first_person = re.compile(r"\b(I|I'm|I've|my|me)\b")
    assert [t.instruction for t in patient if not first_person.search(t.instruction)] == []


def test_no_personal_identifiers(seeds: list[Task]) -> None:
    """Cases are synthetic: no e-mails, phone numbers, dates of birth or titled names."""
    patterns = [
        r"[\w.]+@[\w.]+\.\w+",
        r"\b\d{3}[-. ]\d{3}[-. ]\d{4}\b",
        r"\b\d{1,2}/\d{1,2}/\d{2,4}\b",
        r"\b(DOB|date of birth)\b",
        r"\b(Mr|Mrs|Ms|Dr)\.? [A-Z][a-z]+",
    ]
    for task in seeds:
        text = f"{task.instruction}\n{task.input}"
        for pattern in patterns:
            assert not re.search(pattern, text, flags=re.IGNORECASE), (pattern, text[:80])


def test_instructions_distinct_and_no_pair_above_rouge_l_0_7(seeds: list[Task]) -> None:
    instructions = [task.instruction for task in seeds]
    assert len(set(instructions)) == len(instructions)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    tokenizer = tokenizers.DefaultTokenizer(use_stemmer=False)
    bags = [Counter(tokenizer.tokenize(text)) for text in instructions]
    lengths = [sum(bag.values()) for bag in bags]
    close = []
    for i, j in itertools.combinations(range(len(instructions)), 2):
        # ROUGE-L F = 2*LCS/(len_a+len_b) and LCS <= shared-token count: skip pairs
        # that cannot reach 0.7, score the rest exactly with rouge_score.
        shared = sum((bags[i] & bags[j]).values())
        if 2 * shared / (lengths[i] + lengths[j]) <= 0.7:
            continue
        score = scorer.score(instructions[i], instructions[j])["rougeL"].fmeasure
        if score > 0.7:
            close.append((round(score, 3), instructions[i], instructions[j]))
    assert close == []


def test_seed_stats_on_real_file(seeds: list[Task]) -> None:
    stats = seed_stats(seeds)
    assert stats["n"] == len(seeds)
    assert sum(stats[f"difficulty_{level}"] for level in range(1, 6)) == len(seeds)
    assert stats["input_share"] >= 0.45
    assert 50 <= stats["input_words_min"] <= stats["input_words_max"] <= 200


# --------------------------------------------------------------------------- loader: formats

ALPACARE_RECORDS = [
    {
        "topic": "Neurology",
        "view": "Student",
        "type": "Open Q&A",
        "instruction": "Explain what causes a migraine aura.",
        "input": "<noinput>",
        "difficulty": "1",
    },
    {
        "topic": "Pharmacology",
        "view": "Pharmacist",
        "type": "Classification",
        "instruction": "Classify these drugs by class.",
        "input": "Amlodipine, ramipril, bisoprolol",
        "difficulty": "3",
    },
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_our_jsonl(tmp_path: Path) -> None:
    rows = [
        {"type": "chat", "topic": "sleep", "view": "patient", "difficulty": 2,
         "instruction": "Help me sleep better.", "input": ""},
        {"type": "triage", "topic": "cardiology", "view": "nurse", "difficulty": 5,
         "instruction": "Triage this caller.", "input": "Chest pain for 30 minutes."},
    ]  # fmt: skip
    path = write(tmp_path / "ours.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    tasks = load_seed_tasks(path)
    assert [t.model_dump() for t in tasks] == rows


def test_loads_alpacare_json_list(tmp_path: Path) -> None:
    path = write(tmp_path / "med_seed.json", json.dumps(ALPACARE_RECORDS, indent=4))
    tasks = load_seed_tasks(path)
    assert len(tasks) == 2
    assert tasks[0].input == ""
    assert tasks[0].difficulty == 1
    assert tasks[1].difficulty == 3
    assert tasks[1].input == "Amlodipine, ramipril, bisoprolol"
    assert tasks[1].type == "Classification"


def test_loads_alpacare_records_as_jsonl(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(r) for r in ALPACARE_RECORDS)
    tasks = load_seed_tasks(write(tmp_path / "med_seed.jsonl", text))
    assert [(t.difficulty, t.input) for t in tasks] == [
        (1, ""),
        (3, "Amlodipine, ramipril, bisoprolol"),
    ]


def test_json_list_detected_despite_leading_whitespace_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "seed.txt"
    path.write_bytes(b"\xef\xbb\xbf\n   " + json.dumps(ALPACARE_RECORDS).encode())
    assert len(load_seed_tasks(path)) == 2


def test_allow_listed_extra_keys_are_dropped(tmp_path: Path) -> None:
    record = {**ALPACARE_RECORDS[0], "id": "seed_task_0", "name": "migraine_aura"}
    tasks = load_seed_tasks(write(tmp_path / "seed.json", json.dumps([record])))
    assert tasks[0].instruction == "Explain what causes a migraine aura."


def test_missing_input_means_no_input(tmp_path: Path) -> None:
    record = {k: v for k, v in ALPACARE_RECORDS[0].items() if k != "input"}
    assert load_seed_tasks(write(tmp_path / "seed.json", json.dumps([record])))[0].input == ""


def test_seed_stats_exact_counts() -> None:
    tasks = [
        Task(type="chat", topic="a", view="patient", difficulty=1, instruction="x", input=""),
        Task(type="chat", topic="b", view="nurse", difficulty=1, instruction="y", input="one two three"),
        Task(type="rewrite", topic="b", view="nurse", difficulty=4, instruction="z", input="one two"),
        Task(type="triage", topic="c", view="nurse", difficulty=5, instruction="w", input=""),
    ]  # fmt: skip
    assert seed_stats(tasks) == {
        "n": 4,
        "n_types": 3,
        "n_topics": 3,
        "n_views": 2,
        "input_share": 0.5,
        "input_words_min": 2,
        "input_words_max": 3,
        "difficulty_1": 2,
        "difficulty_2": 0,
        "difficulty_3": 0,
        "difficulty_4": 1,
        "difficulty_5": 1,
    }


def test_seed_stats_of_empty_list_is_all_zero() -> None:
    stats = seed_stats([])
    assert stats["n"] == 0
    assert stats["input_share"] == 0.0
    assert stats["input_words_max"] == 0


# --------------------------------------------------------------------------- loader: errors


def alpacare(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {**ALPACARE_RECORDS[1], **changes}
    return {k: v for k, v in record.items() if v is not None}


def assert_error(path: Path, *fragments: str) -> str:
    with pytest.raises(DataError) as info:
        load_seed_tasks(path)
    message = str(info.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_bad_difficulty_in_json_list_names_file_index_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad_diff.json", json.dumps([ALPACARE_RECORDS[0], alpacare(difficulty="7")])
    )
    assert_error(path, "record 1", "difficulty", "'7'")


def test_bad_difficulty_in_jsonl_names_line_number(tmp_path: Path) -> None:
    lines = [json.dumps(ALPACARE_RECORDS[0]), "", json.dumps(alpacare(difficulty="7"))]
    assert_error(write(tmp_path / "bad_diff.jsonl", "\n".join(lines)), "line 3", "difficulty")


@pytest.mark.parametrize("value", [0, 6, True, 2.5, "three", "", None])
def test_other_bad_difficulties_rejected(tmp_path: Path, value: object) -> None:
    record = {**ALPACARE_RECORDS[0], "difficulty": value}
    assert_error(write(tmp_path / "d.json", json.dumps([record])), "record 0", "difficulty")


def test_missing_instruction_names_field(tmp_path: Path) -> None:
    path = write(tmp_path / "no_instr.json", json.dumps([alpacare(instruction=None)]))
    assert_error(path, "record 0", "instruction", "missing")


def test_blank_instruction_names_field(tmp_path: Path) -> None:
    path = write(tmp_path / "blank.jsonl", json.dumps(alpacare(instruction="   ")))
    assert_error(path, "line 1", "instruction")


def test_non_string_field_names_field(tmp_path: Path) -> None:
    path = write(tmp_path / "num_topic.json", json.dumps([ALPACARE_RECORDS[0], alpacare(topic=5)]))
    assert_error(path, "record 1", "topic", "string")


def test_unknown_extra_key_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "typo.json", json.dumps([alpacare(instrucion="typo")]))
    assert_error(path, "record 0", "instrucion", "unknown")


def test_jsonl_line_that_is_not_json(tmp_path: Path) -> None:
    text = json.dumps(ALPACARE_RECORDS[0]) + "\n{not json at all\n"
    assert_error(write(tmp_path / "broken.jsonl", text), "line 2", "invalid JSON")


def test_truncated_json_list(tmp_path: Path) -> None:
    text = json.dumps(ALPACARE_RECORDS, indent=2)[:-40]
    assert_error(write(tmp_path / "truncated.json", text), "invalid JSON", "line")


def test_json_list_of_non_objects(tmp_path: Path) -> None:
    path = write(tmp_path / "strings.json", json.dumps(["a task", "another"]))
    assert_error(path, "record 0", "expected a JSON object", "str")


def test_jsonl_line_that_is_a_list(tmp_path: Path) -> None:
    text = json.dumps(ALPACARE_RECORDS[0]) + "\n" + json.dumps([1, 2]) + "\n"
    assert_error(write(tmp_path / "listline.jsonl", text), "line 2", "expected a JSON object")


def test_pretty_printed_top_level_object(tmp_path: Path) -> None:
    path = write(tmp_path / "wrapped.json", json.dumps({"tasks": ALPACARE_RECORDS}, indent=2))
    assert_error(path, "top level", "dict")


@pytest.mark.parametrize("text", ["", "  \n\n ", "[]", " [ ] \n"])
def test_empty_file_or_empty_list_is_an_error(tmp_path: Path, text: str) -> None:
    assert_error(write(tmp_path / "empty.json", text), "no records")


def test_missing_file(tmp_path: Path) -> None:
    assert_error(tmp_path / "absent.jsonl", "not found")


def test_jsonl_string_with_unicode_line_separator_is_one_record(tmp_path: Path) -> None:
    record = {**ALPACARE_RECORDS[1], "input": "first part\u2028second part, still the same field"}
    text = json.dumps(record, ensure_ascii=False) + "\r\n"
    tasks = load_seed_tasks(write(tmp_path / "u2028.jsonl", text))
    assert len(tasks) == 1
    assert "second part" in tasks[0].input
