from pathlib import Path

import pytest

from medinstruct_core.io import read_jsonl
from medinstruct_core.params import ParamsError, load_section, parse_section
from medinstruct_core.records import EvalItem, Verdict
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.report import answer_records, eval_table, select_items

REPO = Path(__file__).resolve().parents[2]


def test_params_yaml_evaluate_section_validates():
    cfg = load_section(REPO / "params.yaml", "evaluate", EvaluateConfig)
    assert cfg.num_items >= 0 and cfg.max_new_tokens >= 1 and cfg.batch_size >= 1


def test_unknown_evaluate_key_is_an_error():
    with pytest.raises(ParamsError, match="unknown key 'num_itmes'"):
        parse_section({"num_itmes": 3}, EvaluateConfig, where="params.yaml: evaluate")


def test_the_shipped_eval_set_is_valid_and_varied():
    items = read_jsonl(REPO / "data" / "eval" / "eval_set.jsonl", EvalItem)
    assert len(items) == 42
    assert [i.id for i in items] == [f"eval-{n:03d}" for n in range(1, 43)]
    assert {i.source for i in items} == {"medinstruct-eval-v1"}
    assert all(60 <= len(i.reference.split()) <= 150 for i in items)
    assert sum(bool(i.input) for i in items) == 14
    assert sum("multiple-choice" in i.instruction for i in items[:16]) == 4


def test_select_items_takes_a_prefix_and_rejects_duplicate_ids():
    items = [EvalItem(id=f"q{n}", instruction="x", reference="y") for n in range(5)]
    assert [i.id for i in select_items(items, 2)] == ["q0", "q1"]
    assert len(select_items(items, 0)) == 5
    with pytest.raises(ValueError, match="record 3: field 'id': duplicate id 'q0'"):
        select_items([*items[:2], items[0]], 0)


def test_answer_records_and_eval_table_line_up():
    items = [
        EvalItem(id="q1", instruction="a?", reference="ra"),
        EvalItem(id="q2", instruction="b?", input="ctx", reference="rb"),
    ]
    answers = {"student": ["s1", "s2"], "base": ["b1", "b2"]}
    records = answer_records(items, answers, {"student": "models/student/merged"})
    assert [(r.item_id, r.candidate, r.answer, r.model_dir) for r in records] == [
        ("q1", "student", "s1", "models/student/merged"), ("q2", "student", "s2", "models/student/merged"),
        ("q1", "base", "b1", ""), ("q2", "base", "b2", ""),
    ]  # fmt: skip
    verdicts = [Verdict(item_id="q2", candidate="base", order="reference_first", winner="tie")]
    table = eval_table(items, answers, verdicts)
    assert table[1] == {
        "item_id": "q2", "instruction": "b?", "input": "ctx",
        "student_answer": "s2", "student_candidate_first": "", "student_reference_first": "",
        "base_answer": "b2", "base_candidate_first": "", "base_reference_first": "tie",
        "reference": "rb",
    }  # fmt: skip


def test_answer_records_keep_the_template_and_prompt_of_each_answer():
    from medinstruct_eval.answer import ModelAnswers

    items = [EvalItem(id="q1", instruction="a?", reference="ra")]
    answers = {
        "student": ModelAnswers(["s1"], "alpaca", ["### Instruction:\na?\n\n### Response:\n"]),
        "base": ModelAnswers(["b1"], "chat_template", ["<|im_start|>user\na?<|im_end|>\n"]),
    }
    records = answer_records(items, answers, {})
    assert [(r.candidate, r.answer, r.prompt_format, r.prompt) for r in records] == [
        ("student", "s1", "alpaca", "### Instruction:\na?\n\n### Response:\n"),
        ("base", "b1", "chat_template", "<|im_start|>user\na?<|im_end|>\n"),
    ]
    assert eval_table(items, answers, [])[0]["base_answer"] == "b1"


def test_eval_table_gives_each_judge_of_a_panel_its_own_columns():
    from medinstruct_eval.judge import PanelVerdict

    items = [EvalItem(id="q1", instruction="a?", reference="ra")]
    verdicts = [
        PanelVerdict(item_id="q1", candidate="student", order="candidate_first", winner="tie", judge="j1"),
        PanelVerdict(item_id="q1", candidate="student", order="candidate_first", winner="candidate", judge="j2"),
    ]  # fmt: skip
    row = eval_table(items, {"student": ["s1"]}, verdicts)[0]
    assert (row["student_candidate_first_j1"], row["student_candidate_first_j2"]) == (
        "tie",
        "candidate",
    )
    assert row["student_reference_first_j2"] == ""
