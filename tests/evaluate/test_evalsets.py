"""load_eval_set on our format and on small fixtures in each of AlpaCare's shapes."""

import json
from pathlib import Path

import pytest

from medinstruct_core.io import DataError
from medinstruct_eval.evalsets import load_eval_set, question_from_prompt

REPO = Path(__file__).resolve().parents[2]
ALPACARE = REPO / "tests" / "fixtures" / "alpacare"
REFS = ALPACARE / "reference_outputs"
COUGH = (
    "Hello doctor,I have had a dry cough for three weeks since a cold. I do not smoke. "
    "Should I worry?"
)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_our_eval_set_loads_unchanged():
    items = load_eval_set(REPO / "data" / "eval" / "eval_set.jsonl")
    assert len(items) == 42 and items[0].id == "eval-001"
    assert items[0].source == "medinstruct-eval-v1"


@pytest.mark.parametrize(
    ("reference", "field_start"),
    [
        ("gpt-4", "Breathlessness on exertion"),
        ("claude-2", "Possible causes include"),
        ("gpt-3.5-turbo", "These symptoms can point"),
        ("text-davinci-003", "It could be heart failure."),
        ("gpt-4-answer", "Breathlessness on exertion"),
    ],
)
def test_medinstruct_test_picks_one_reference_per_model(reference, field_start):
    items = load_eval_set(ALPACARE / "MedInstruct-test.jsonl", reference=reference)
    assert [i.id for i in items] == ["0", "1", "2"]
    assert items[0].reference.startswith(field_start)
    assert items[0].instruction.startswith("My father gets short of breath")
    assert items[0].input == ""
    assert items[0].source == f"MedInstruct-test.jsonl:{reference}"


def test_medinstruct_test_needs_a_known_reference():
    path = ALPACARE / "MedInstruct-test.jsonl"
    with pytest.raises(DataError, match=r"line 1: field 'reference': .*pick one with reference="):
        load_eval_set(path)
    with pytest.raises(DataError, match="unknown reference model 'gpt-5'"):
        load_eval_set(path, reference="gpt-5")


def test_icliniq_question_in_input_becomes_the_instruction():
    items = load_eval_set(REFS / "gpt-4" / "iCliniq_output.jsonl")
    assert (items[0].id, items[0].instruction, items[0].input) == ("0", COUGH, "")
    assert items[1].reference.startswith("Stop the antibiotic")
    assert items[0].source == "iCliniq_output.jsonl:gpt-4"  # the model from the directory name


def test_prompt_response_rows_yield_the_patients_question():
    items = load_eval_set(REFS / "claude-2" / "iCliniq_output.jsonl")
    assert [i.instruction for i in items] == [
        COUGH,
        "Hi doctor,My 6-year-old has a rash after starting amoxicillin. What should I do?",
    ]
    assert items[0].reference.startswith("A cough after a cold")
    # The same question as the gpt-4 file's row: both references line up by id.
    gpt4 = load_eval_set(REFS / "gpt-4" / "iCliniq_output.jsonl")
    assert [(i.id, i.instruction) for i in items] == [(i.id, i.instruction) for i in gpt4]


def test_instruction_input_response_and_output_shapes():
    claude = load_eval_set(REFS / "claude-2" / "medsi_output.jsonl", reference="claude-2")
    assert [(i.instruction, i.input, i.reference) for i in claude] == [
        ("List three common side effects of metformin.", "", "Nausea, diarrhoea and reduced appetite."),
        ("Summarise the result for the patient.", "HbA1c 48 mmol/mol",
         "Your average blood sugar is in the diabetes range."),
    ]  # fmt: skip
    gpt35 = load_eval_set(REFS / "gpt-3.5-turbo" / "medsi_output.jsonl")
    assert (gpt35[0].input, gpt35[0].reference) == (
        "",
        "Diarrhoea, nausea and abdominal discomfort.",
    )


@pytest.mark.parametrize(
    "prompt",
    [
        "Human: What is a normal resting heart rate?\n\nAssistant:",
        "### Human: What is a normal resting heart rate? ### Assistant:",
        "A chat.\nUSER: What is a normal resting heart rate?\nASSISTANT:",
        "Human: hi\n\nAssistant: hello\n\nHuman: What is a normal resting heart rate?\n\nAssistant:",
        "What is a normal resting heart rate?",
    ],
)
def test_question_from_prompt_handles_common_templates(prompt):
    assert question_from_prompt(prompt) == "What is a normal resting heart rate?"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"instruction": "q", "input": "", "output": "a"}, {"input": "", "output": "a"}],
            r"line 2: field 'instruction': empty question",
        ),
        (
            [{"instruction": "q", "output": "a"}, {"output": "a"}],
            "line 2: field 'instruction': missing question",
        ),
        (
            [{"instruction": "q", "output": "a"}, {"instruction": "q2"}],
            "line 2: field 'output': missing reference",
        ),
        ([{"instruction": "q", "response": "   "}], "line 1: field 'response': empty reference"),
        ([{"prompt": "Human: q\n\nAssistant:"}], "line 1: field 'response': missing reference"),
        (
            [{"prompt": "Human: \n\nAssistant:", "response": "a"}],
            "line 1: field 'prompt': no question",
        ),
        (
            [{"id": 0, "instruction": "q", "gpt-4-answer": "a"}, {"id": 1, "instruction": "q"}],
            "line 2: field 'gpt-4-answer': missing reference",
        ),
        (
            [{"instruction": "q", "output": 3}],
            "field 'output': reference answer must be a string, got int",
        ),
        ([{"question": "q", "answer": "a"}], "line 1: unknown eval-set shape"),
        ([{"id": "x", "instruction": "q", "reference": "r", "extra": 1}], "line 1: field 'extra'"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, rows, message):
    path = _write(tmp_path / "set.jsonl", rows)
    with pytest.raises(DataError, match=message) as caught:
        load_eval_set(path, reference="gpt-4" if "gpt-4-answer" in rows[0] else None)
    assert str(caught.value).startswith(str(path))


def test_extra_fields_of_alpacare_rows_are_ignored(tmp_path):
    path = _write(tmp_path / "set.jsonl", [{"instruction": "q", "output": "a", "generator": "x"}])
    assert load_eval_set(path)[0].model_dump() == {
        "id": "0", "instruction": "q", "input": "", "reference": "a", "source": "set.jsonl",
    }  # fmt: skip


def test_our_format_rejects_a_reference_choice():
    with pytest.raises(DataError, match="one reference per row"):
        load_eval_set(REPO / "data" / "eval" / "eval_set.jsonl", reference="gpt-4")
