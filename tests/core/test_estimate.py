"""The cost before the spend: spans, prices, request counts, measured replies, the budget verdict."""

from __future__ import annotations

import io
import json
import math

import pytest

from medinstruct_core.llm.cache import ResponseCache
from medinstruct_core.llm.config import ClientConfig, LLMSection, Price, RoleConfig, Sampling
from medinstruct_core.llm.estimate import (
    Budget,
    BudgetWouldExceed,
    Estimate,
    ReplyLengths,
    Span,
    announce,
    cached_reply_tokens,
    cost_usd,
    read_budget,
    reply_shape,
    role_estimate,
    role_price,
    same_model,
    stage_line,
)
from medinstruct_core.llm.ledger import LEDGER_FILE, Ledger
from medinstruct_core.records import EvalItem, Task
from medinstruct_datagen.config import GenerateInstructionsConfig, GenerateResponsesConfig
from medinstruct_datagen.estimate import (
    estimate_instructions,
    instruction_requests,
    measured_yield,
    responses_role,
)
from medinstruct_eval.config import EvaluateConfig
from medinstruct_eval.estimate import judge_role

GPT4 = Price(input=30.0, output=60.0)
KEY = {"OPENAI_API_KEY": "sk-test"}


def seeds(n: int = 5) -> list[Task]:
    return [Task(type="open QA", topic="cardiology", view="nurse", difficulty=1 + i % 5,
                 instruction=f"Explain how drug number {i} lowers blood pressure.", input="")
            for i in range(n)]  # fmt: skip


def paper_llm(**client: object) -> LLMSection:
    return LLMSection(
        client=ClientConfig(prices={"gpt-4": GPT4, "gpt-3.5-turbo": Price(input=0.5, output=1.5)},
                            budget_usd=100.0, **client),  # type: ignore[arg-type]
        teacher=RoleConfig(endpoint="openai", model="gpt-4", sampling=Sampling(max_tokens=3072)),
        responder=RoleConfig(endpoint="openai", model="gpt-3.5-turbo", structured_output="off",
                             sampling=Sampling(max_tokens=1024)),
        judge=RoleConfig(endpoint="openai", model="gpt-4", sampling=Sampling(max_tokens=128)),
    )  # fmt: skip


def test_span_arithmetic_and_cost() -> None:
    requests, tokens = Span(10, 20, 40), Span(100, 150, 1000)
    assert requests * tokens == Span(1000, 3000, 40_000)
    assert Span(1, 2, 3) + Span(1, 1, 1) == Span(2, 3, 4)
    with pytest.raises(ValueError, match="out of order"):
        Span(3, 2, 1)
    assert cost_usd(1_000_000, 500_000, GPT4) == pytest.approx(60.0)
    assert cost_usd(1_000_000, 500_000, GPT4, batch=True) == pytest.approx(30.0)


def test_reply_lengths_never_pass_max_tokens() -> None:
    assert ReplyLengths(low=100, mean=300).span(1024) == Span(100, 300, 1024)
    assert ReplyLengths(low=100, mean=300).span(200) == Span(100, 200, 200)
    measured = ReplyLengths.from_tokens(list(range(1, 101)), "cache")
    assert (measured.low, measured.mean, measured.count) == (10, 50.5, 100)


def test_instruction_requests_in_whole_rounds_capped_by_max_requests() -> None:
    cfg = GenerateInstructionsConfig(num_tasks=52_000, tasks_per_request=12, max_requests=12_000,
                                     requests_per_round=64)  # fmt: skip
    # best 0.9 -> 4,815 -> 76 rounds = 4,864; expected 0.7 -> 6,191 -> 97 rounds = 6,208
    assert instruction_requests(cfg, None) == Span(4_864, 6_208, 12_000)
    # a measured yield of 0.95 is both the best case and the expectation
    assert instruction_requests(cfg, 0.95) == Span(4_608, 4_608, 12_000)
    small = GenerateInstructionsConfig(num_tasks=20, tasks_per_request=12, max_requests=3,
                                       requests_per_round=2)  # fmt: skip
    assert instruction_requests(small, None) == Span(2, 3, 3)


def test_measured_yield_from_the_last_runs_metrics(tmp_path) -> None:
    assert measured_yield(tmp_path) is None
    (tmp_path / "metrics").mkdir()
    path = tmp_path / "metrics" / "generate_instructions.json"
    path.write_text(json.dumps({"keep_yield": 0.83, "tasks_requested": 1200}))
    assert measured_yield(tmp_path) == 0.83
    path.write_text(json.dumps({"keep_yield": 0.0, "tasks_requested": 0}))
    assert measured_yield(tmp_path) is None


def test_role_price_is_what_the_client_charges() -> None:
    client = paper_llm().client
    auto = RoleConfig(endpoint="auto", model="gpt-4")
    assert role_price(auto, client, {}) is None  # no key: the embedded server
    assert role_price(auto, client, KEY) == GPT4
    assert role_price(RoleConfig(endpoint="openai", model="gpt-4"), client, {}) == GPT4
    # The client charges a priced model on any URL, a local one too (a fake of a paid API
    # is budgeted that way); an unpriced model on a free local URL costs nothing.
    local = RoleConfig(endpoint="http://127.0.0.1:8000/v1", model="gpt-4")
    assert role_price(local, client, KEY) == GPT4
    unpriced = RoleConfig(endpoint="http://127.0.0.1:8000/v1", model="my-local-llama")
    assert role_price(unpriced, client, KEY) is None


def test_reply_shapes_and_model_names() -> None:
    assert reply_shape('{"tasks": [{"type": "x"}]}') == "tasks"
    assert (
        reply_shape("###\n1. Type: a\nInstruction: x\n###\n2. Type: b\nInstruction: y") == "tasks"
    )
    assert reply_shape('{"reason": "A is right.", "winner": "A"}') == "verdict"
    assert reply_shape("B is complete.\nWinner: B") == "verdict"
    assert reply_shape("Metformin is the first-line drug.") == "answer"
    assert same_model("gpt-4-0613", "gpt-4") and same_model("gpt-4", "gpt-4")
    assert not same_model("gpt-4o", "gpt-4")


def test_cached_replies_are_measured_by_shape_and_model(tmp_path) -> None:
    client = ClientConfig(cache_dir="cache")
    with ResponseCache(tmp_path / "cache" / "responses.sqlite") as cache:
        for i in range(30):
            cache.put(f"a{i}", {"text": "An answer.", "model": "gpt-3.5-turbo-0125",
                                "completion_tokens": 100 + i})  # fmt: skip
        cache.put(
            "v",
            {"text": '{"winner": "A", "reason": "x"}', "model": "gpt-4", "completion_tokens": 9},
        )
        cache.put("t", {"text": '{"tasks": []}', "model": "gpt-4", "completion_tokens": 900})
    tokens = cached_reply_tokens(tmp_path, client, "gpt-3.5-turbo", "answer")
    assert sorted(tokens) == list(range(100, 130))  # the dated model name counts as the model
    assert cached_reply_tokens(tmp_path, client, "gpt-4", "verdict") == [9]
    assert cached_reply_tokens(tmp_path, client, "gpt-4", "tasks") == [900]
    assert cached_reply_tokens(tmp_path, client, "gpt-4", "answer") == []
    llm = paper_llm(cache_dir="cache")
    role = responses_role(seeds(), GenerateResponsesConfig(), llm, root=tmp_path, env=KEY)
    assert role.note.endswith("replies: 30 cached replies")
    assert role.completion_tokens == Span(5 * 102, 5 * 114.5, 5 * 1024)


def test_stage_estimate_prompts_come_from_the_stage_and_the_ledger_sets_the_budget(
    tmp_path,
) -> None:
    llm = paper_llm()
    cfg = GenerateInstructionsConfig(num_tasks=120, tasks_per_request=12, max_requests=40,
                                     requests_per_round=4)  # fmt: skip
    estimate = estimate_instructions(seeds(), cfg, llm, root=tmp_path, env=KEY)
    (role,) = estimate.roles
    assert role.requests == Span(12, 16, 40)  # 120 / (12 x 0.9) -> 12; / (12 x 0.7) -> 15 -> 16
    # the real teacher prompt (rules and examples): one mean per request, times the requests
    assert role.prompt_tokens.low > 12 * 300
    assert role.prompt_tokens.high / 40 == pytest.approx(role.prompt_tokens.low / 12)
    assert role.completion_tokens.high == 40 * 3072
    assert estimate.budget == Budget(0.0, 0.0, 100.0)
    with Ledger(tmp_path / ".cache" / "llm" / LEDGER_FILE, 100.0) as ledger:
        ledger.commit(ledger.reserve(95.0), role="teacher", stage="x", model="gpt-4",
                      prompt_tokens=1, completion_tokens=1, usd=95.0)  # fmt: skip
    assert read_budget(tmp_path, llm.client).remaining_usd == pytest.approx(5.0)


def test_announce_prints_one_line_and_fails_only_when_the_low_end_cannot_fit() -> None:
    role = role_estimate(stage="generate_responses", role="responder", model="gpt-4",
                         requests=Span(1000, 1000, 1000), prompt_tokens_per_request=Span(100, 100, 100),
                         replies=ReplyLengths(200, 300), max_tokens=1000, price=GPT4)  # fmt: skip
    # low: 1000 x (100 x 30 + 200 x 60) / 1e6 = $15; expected $21; high $63
    assert (role.usd.low, role.usd.expected, role.usd.high) == pytest.approx((15.0, 21.0, 63.0))
    out = io.StringIO()
    fits = Estimate([role], Budget(spent_usd=50.0, reserved_usd=0.0, cap_usd=100.0))
    announce("generate_responses", fits, out)
    assert out.getvalue() == (
        "generate_responses: estimate: 1,000 responder requests to gpt-4; expected $21.00 "
        "(range $15.00-$63.00); budget left $50.00; the high end would reach the cap\n"
    )
    short = Estimate([role], Budget(spent_usd=90.0, reserved_usd=0.0, cap_usd=100.0))
    with pytest.raises(
        BudgetWouldExceed,
        match=r"low end of the estimate, \$15.00 not yet paid for, is more than the \$10.00",
    ):
        announce("generate_responses", short, io.StringIO())
    assert Estimate([role], Budget(0.0, 0.0, None)).budget.remaining_usd == math.inf


def test_free_roles_cost_nothing_and_say_so() -> None:
    role = role_estimate(stage="generate_responses", role="responder", model="smollm2",
                         requests=Span.exactly(20), prompt_tokens_per_request=Span.exactly(50),
                         replies=ReplyLengths(10, 20), max_tokens=64, price=None)  # fmt: skip
    estimate = Estimate([role], Budget(25.0, 0.0, 25.0))
    assert estimate.usd == Span(0.0, 0.0, 0.0) and estimate.fits()
    assert stage_line("generate_responses", estimate).endswith(
        "no paid LLM requests (embedded or free endpoint)"
    )


def test_judge_requests_cover_candidates_both_orders_and_calibration(tmp_path) -> None:
    items = [EvalItem(id=f"e{i}", instruction="What lowers LDL?", input="", reference="Statins do.")
             for i in range(10)]  # fmt: skip
    calibration = tmp_path / "calibration.jsonl"
    rows = [{"id": f"c{i}", "kind": "other_question", "instruction": "Q?", "good": "Good.", "bad": "Bad."}
            for i in range(4)]  # fmt: skip
    calibration.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = EvaluateConfig.model_validate(
        {
            "num_items": 0,
            "max_new_tokens": 100,
            "calibration": {"path": str(calibration), "num_items": None},
        }
    )
    llm = paper_llm()
    role = judge_role(llm.judge, [items], cfg, llm, root=tmp_path, env=KEY)  # type: ignore[arg-type]
    assert role.requests == Span.exactly((10 * 2 + 4) * 2)  # 2 candidates, both orders, calibration
    assert role.prompt_tokens.high - role.prompt_tokens.expected == pytest.approx(10 * 2 * 2 * 100)
    assert role.completion_tokens.high == 48 * 128


def test_what_a_stage_already_paid_for_is_not_new_spend() -> None:
    role = role_estimate(stage="generate_responses", role="responder", model="gpt-4",
                         requests=Span.exactly(1000), prompt_tokens_per_request=Span.exactly(100),
                         replies=ReplyLengths(200, 300), max_tokens=1000, price=GPT4)  # fmt: skip
    # a killed run paid $12 of its $15 low end; its rerun gets those replies from the cache
    rerun = Estimate([role], Budget(90.0, 0.0, 100.0, {"generate_responses": 12.0}))
    assert rerun.new_spend_low == pytest.approx(3.0) and rerun.fits()
    out = io.StringIO()
    announce("generate_responses", rerun, out)
    assert "$12.00 already paid by earlier runs (cached)" in out.getvalue()
    assert not Estimate([role], Budget(90.0, 0.0, 100.0, {"curate": 12.0})).fits()
