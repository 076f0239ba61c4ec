import pytest

from medinstruct_core.records import Example
from medinstruct_train.prompting import format_prompt, to_prompt_completion


def _example(instruction: str, input: str, output: str) -> Example:
    return Example(
        id="x",
        type="t",
        topic="t",
        view="v",
        difficulty=1,
        instruction=instruction,
        input=input,
        output=output,
    )


def test_prompt_without_input_is_the_alpaca_no_input_format():
    assert format_prompt("List two causes of anaemia.") == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n"
        "### Instruction:\nList two causes of anaemia.\n\n"
        "### Response:\n"
    )


def test_prompt_with_input_is_the_alpaca_input_format():
    assert format_prompt("Interpret the result.", "Hb 9 g/dL") == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nInterpret the result.\n\n"
        "### Input:\nHb 9 g/dL\n\n"
        "### Response:\n"
    )


def test_blank_input_selects_the_no_input_variant_and_fields_are_stripped():
    assert format_prompt("  Define sepsis. ", "   \n") == format_prompt("Define sepsis.")


def test_prompt_completion_appends_eos_to_the_output():
    row = to_prompt_completion(
        _example("Define sepsis.", "", "A dysregulated response to infection."), "</s>"
    )
    assert row == {
        "prompt": format_prompt("Define sepsis."),
        "completion": "A dysregulated response to infection.</s>",
    }


def test_noinput_marker_in_a_record_gives_the_no_input_prompt():
    row = to_prompt_completion(_example("Define sepsis.", "<noinput>", "Infection."), "<|im_end|>")
    assert "### Input:" not in row["prompt"]


def test_prompt_completion_refuses_an_empty_eos():
    with pytest.raises(ValueError, match="eos_token"):
        to_prompt_completion(_example("a b c", "", "d"), "")
