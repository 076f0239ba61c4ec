import json

import pytest

from medinstruct_core.io import DataError, atomic_open, read_jsonl, write_jsonl
from medinstruct_core.records import Example, Task


def test_write_then_read_roundtrip(tmp_path):
    path = tmp_path / "out" / "tasks.jsonl"
    tasks = [
        Task(type="open QA", topic="asthma", view="patient", difficulty=2, instruction=f"Q{i}?")
        for i in range(3)
    ]
    assert write_jsonl(path, tasks) == 3
    assert read_jsonl(path, Task) == tasks


def test_interrupted_write_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), atomic_open(path) as handle:
        handle.write("half a reco")
        raise KeyboardInterrupt
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]  # no temp file left behind


def test_bad_json_names_file_and_line(tmp_path):
    path = tmp_path / "x.jsonl"
    good = {"type": "t", "topic": "t", "view": "v", "difficulty": 1, "instruction": "i"}
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(DataError, match=r"x\.jsonl: line 2: invalid JSON"):
        read_jsonl(path, Task)


def test_bad_field_names_file_line_and_field(tmp_path):
    path = tmp_path / "ex.jsonl"
    good = {
        "id": "e1",
        "type": "t",
        "topic": "t",
        "view": "v",
        "difficulty": 3,
        "instruction": "i",
        "output": "o",
    }
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "difficulty": 9}) + "\n")
    with pytest.raises(DataError, match=r"ex\.jsonl: line 2: field 'difficulty'"):
        read_jsonl(path, Example)


def test_noinput_variants_normalize_to_empty():
    for raw in ["<noinput>", "<No Input>", '"<noinput>"', "N/A", " none "]:
        assert (
            Task(type="t", topic="t", view="v", difficulty="3", instruction="i", input=raw).input
            == ""
        )
