import json
from pathlib import Path

import pytest

from medinstruct_eval.answer import (
    ModelDirError,
    answer_model,
    clean_answer,
    generate_answers,
    is_tuned,
    load_model,
    render_prompts,
    resolve_model_dir,
    resolve_prompt_format,
)
from medinstruct_train.prompting import format_prompt


def test_clean_answer_cuts_at_the_next_alpaca_header_and_trims():
    text = "  Drink water.\nRest.\n\n### Instruction:\nWhat next?\n### Response:\nNo."
    assert clean_answer(text) == "Drink water.\nRest."
    assert clean_answer("Fine as is. ") == "Fine as is."
    assert clean_answer("### Response:\nonly a header") == ""


def test_resolve_model_dir_accepts_weights_or_an_adapter(tmp_path: Path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text("{}")
    assert resolve_model_dir(tmp_path / "base") == tmp_path / "base"
    (tmp_path / "student" / "adapter").mkdir(parents=True)
    (tmp_path / "student" / "adapter" / "adapter_config.json").write_text("{}")
    assert resolve_model_dir(tmp_path / "student") == tmp_path / "student"


def test_resolve_model_dir_names_the_problem(tmp_path: Path):
    with pytest.raises(ModelDirError, match="missing: model directory not found"):
        resolve_model_dir(tmp_path / "missing")
    with pytest.raises(ModelDirError, match=r"neither model weights \(config.json\) nor adapter/"):
        resolve_model_dir(tmp_path)


def _manual_answer(model_dir: Path, instruction: str, input: str, max_new_tokens: int) -> str:
    """Reference implementation for one prompt: no padding, no batching."""
    import torch

    model, tokenizer = load_model(model_dir)
    encoded = tokenizer(format_prompt(instruction, input), return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    return clean_answer(
        tokenizer.decode(out[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    )


@pytest.mark.slow
def test_batched_answers_match_one_at_a_time_in_input_order(tiny_model_dir, items):
    batched = generate_answers(tiny_model_dir, items, max_new_tokens=6, batch_size=2, device="cpu")
    single = generate_answers(tiny_model_dir, items, max_new_tokens=6, batch_size=1, device="cpu")
    assert len(batched) == 3
    assert batched == single
    assert not any("Below is an instruction" in answer for answer in batched)


@pytest.mark.slow
def test_answers_are_only_the_new_tokens_and_deterministic(tiny_model_dir, items):
    answers = generate_answers(tiny_model_dir, items, max_new_tokens=6, batch_size=3, device="cpu")
    expected = [_manual_answer(tiny_model_dir, it.instruction, it.input, 6) for it in items]
    assert answers == expected
    assert (
        generate_answers(tiny_model_dir, items, max_new_tokens=6, batch_size=3, device="cpu")
        == answers
    )


@pytest.mark.slow
def test_adapter_only_student_is_merged_on_load(tiny_model_dir, tmp_path, items):
    """train.merge_adapter: false leaves adapter/ + sidecar; a fresh LoRA (B = 0) changes nothing."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    student = tmp_path / "student"
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]),
    )
    peft_model.save_pretrained(student / "adapter")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(
        student
    )  # as train's save_student does
    (student / "medinstruct_train.json").write_text(json.dumps({"base_dir": str(tiny_model_dir)}))
    assert generate_answers(student, items[:2], 4, 2, device="cpu") == generate_answers(
        tiny_model_dir, items[:2], 4, 2, device="cpu"
    )


def test_no_items_loads_nothing(tmp_path):
    assert generate_answers(tmp_path / "not-there", [], max_new_tokens=4, batch_size=1) == []


# -- fair prompting: each model through its own template -----------------------------------
class ChatTokenizer:
    """The part of a tokenizer that prompting uses, with a visible chat template."""

    def __init__(self, template: str | None):
        self.chat_template = template

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        turns = "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages)
        return turns + "<|assistant|>"


def test_prompt_format_resolution():
    with_chat, without = ChatTokenizer("{{ messages }}"), ChatTokenizer(None)
    assert resolve_prompt_format(with_chat, "auto") == "chat_template"
    assert resolve_prompt_format(without, "auto") == "alpaca"
    assert resolve_prompt_format(with_chat, "alpaca") == "alpaca"
    assert resolve_prompt_format(with_chat, "chat") == "chat_template"
    with pytest.raises(ModelDirError, match="models/base: prompt format 'chat' but the tokenizer"):
        resolve_prompt_format(without, "chat", "models/base")
    # a model this project tuned answers through the template it learned, whatever its tokenizer
    assert resolve_prompt_format(with_chat, "auto", tuned=True) == "alpaca"
    assert resolve_prompt_format(with_chat, "chat", tuned=True) == "chat_template"
    assert resolve_prompt_format(with_chat, "none") == "none"


def test_is_tuned_reads_trains_sidecar(tmp_path: Path):
    assert not is_tuned(tmp_path)
    (tmp_path / "medinstruct_train.json").write_text("{}")
    assert is_tuned(tmp_path)


def test_render_prompts_per_format(items):
    chat = render_prompts(ChatTokenizer("x"), items[:2], "chat_template")
    assert chat == [
        "<|user|>What is anaemia?<|end|><|assistant|>",
        "<|user|>Summarise the note in one sentence for the patient.\n\n58M, chest pain on "
        "exertion for 2 weeks, relieved by rest. ECG normal.<|end|><|assistant|>",
    ]
    alpaca = render_prompts(ChatTokenizer("x"), items[:2], "alpaca")
    assert alpaca == [format_prompt(i.instruction, i.input) for i in items[:2]]
    bare = render_prompts(ChatTokenizer("x"), items[:2], "none")
    assert bare == ["What is anaemia?", items[1].instruction + "\n\n" + items[1].input]


@pytest.mark.slow
def test_base_answers_through_its_chat_template_and_records_it(tiny_model_dir, items):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tokenizer.chat_template  # SmolLM2-Instruct ships one
    chat = answer_model(tiny_model_dir, items, 4, 2, device="cpu", prompt_format="auto")
    assert chat.prompt_format == "chat_template"
    assert chat.prompts[0].startswith("<|im_start|>") and "What is anaemia?" in chat.prompts[0]
    assert chat.prompts[0].endswith("<|im_start|>assistant\n")
    alpaca = answer_model(tiny_model_dir, items, 4, 2, device="cpu", prompt_format="alpaca")
    assert alpaca.prompt_format == "alpaca" and alpaca.prompts[0] == format_prompt(
        "What is anaemia?"
    )
    assert alpaca.texts == generate_answers(tiny_model_dir, items, 4, 2, device="cpu")
    # The chat prompt is tokenized without a second BOS: one-at-a-time equals batched.
    single = answer_model(tiny_model_dir, items, 4, 1, device="cpu", prompt_format="auto")
    assert single.texts == chat.texts
