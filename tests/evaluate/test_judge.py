from collections.abc import Callable, Sequence

import pytest

from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import LLMRequest, LLMResult
from medinstruct_core.records import EvalItem
from medinstruct_eval.judge import (
    VERDICT_SCHEMA,
    build_judge_messages,
    build_requests,
    judge_answers,
    judge_panel,
    name_judges,
    parse_verdict,
    parse_winner,
    sampling_for,
)
from medinstruct_eval.metrics import compare

ITEM = EvalItem(id="q1", instruction="Is fever dangerous?", reference="Usually not.")
ITEM_WITH_INPUT = EvalItem(
    id="q2", instruction="Summarise.", input="45F, cough 3 days.", reference="A cough."
)

SYSTEM_START = "You are a physician comparing two answers to a medical question."
EXPECTED_USER_STRUCTURED = """[Question]
Is fever dangerous?

[Answer A]
Sometimes.
[End of Answer A]

[Answer B]
(empty answer)
[End of Answer B]

Reply with JSON: {"reason": one sentence, "winner": "A", "B" or "tie"}."""
EXPECTED_FORMAT_TEXT = """Explain your decision in one sentence. Then write a final line with exactly one of:
Winner: A
Winner: B
Winner: tie"""


# -- prompt ------------------------------------------------------------------------------
def test_structured_judge_prompt_is_exact():
    system, user = build_judge_messages(ITEM, " Sometimes. ", "  ")
    assert system["role"] == "system" and system["content"].startswith(SYSTEM_START)
    assert "The order of the answers is random and says nothing about quality." in system["content"]
    assert user == {"role": "user", "content": EXPECTED_USER_STRUCTURED}


def test_text_judge_prompt_asks_for_a_winner_line_and_shows_the_input():
    _, user = build_judge_messages(ITEM_WITH_INPUT, "x", "y", structured=False)
    assert user["content"].startswith(
        "[Question]\nSummarise.\n\n45F, cough 3 days.\n\n[Answer A]\nx\n"
    )
    assert user["content"].endswith(EXPECTED_FORMAT_TEXT)
    assert "JSON" not in user["content"]


# -- parsing -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "winner", "reason"),
    [
        ('{"reason": "More accurate.", "winner": "A"}', "A", "More accurate."),
        ('```json\n{"reason": "Same.", "winner": "tie"}\n```', "tie", "Same."),
        ('{"winner": "Answer B", "reason": "safer"}', "B", "safer"),
        ('{"winner": "b"}', "B", ""),
        ('{"winner": "B", "reason": "cut off mid-sent', "B", ""),
        ("B omits the red flags.\nWinner: A", "A", "B omits the red flags.\nWinner: A"),
        ("**Winner:** Answer B ", "B", "**Winner:** Answer B"),
        (
            "Winner: A at first glance, but\nWinner: tie",
            "tie",
            "Winner: A at first glance, but\nWinner: tie",
        ),
        ("The winner is B.", "B", "The winner is B."),
        ("winner = (A)", "A", "winner = (A)"),
    ],
)
def test_parse_winner_reads_json_and_text(text, winner, reason):
    assert parse_winner(text) == (winner, reason)


# Phrasings real judges use when they ignore the format (GPT-3.5/4, Claude, Llama judges,
# AlpacaEval's "Output (a)" and MT-Bench's "[[A]]" conventions).
@pytest.mark.parametrize(
    ("text", "winner"),
    [
        ("The winner is a tie.", "tie"),
        ("Output (a)", "A"),
        ("Output (b)", "B"),
        ("Both are equally good", "tie"),
        ("Neither", "tie"),
        ("Neither answer is better than the other.", "tie"),
        ("[[A]]", "A"),
        ("[[C]]", "tie"),
        ("Final verdict: [[B]]", "B"),
        ("I prefer Output (b).", "B"),
        ("It's a tie", "tie"),
        ("It is a draw.", "tie"),
        ("Winner: neither", "tie"),
        ("Answer A is better because it mentions the red flags.", "A"),
        ("Output (b) is clearly better.", "B"),
        ("Tie.", "tie"),
        ("B", "B"),
        ("**Answer A**", "A"),
        ("The better answer is A.", "A"),
        ("Response A is more detailed, but I would choose Response B.", "B"),
        ("Output (a) is too short.\nWinner: B", "B"),
        ("Both responses are equally accurate, so this is a tie.", "tie"),
        ("There is no clear winner.", "tie"),
        ("There is no clear winner, but Answer A is slightly better.", "A"),
        ("Answer A is better; neither mentions the dose.", "A"),
        ("Verdict: Output (b)", "B"),
    ],
)
def test_parse_winner_reads_real_judge_phrasings(text, winner):
    assert parse_winner(text)[0] == winner


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Both answers are fine.",
        "It is hard to call a winner and both are good.",
        '{"reason": "x", "winner": "C"}',
        '{"reason": "no winner key"}',
        "I prefer a shorter answer.",
        "A is a good answer.",
        "Winner: C",
    ],
)
def test_unreadable_replies_are_none(text):
    assert parse_winner(text) == (None, "")


def test_parse_verdict_maps_positions_back_to_candidate_and_reference():
    a = '{"reason": "r", "winner": "A"}'
    b = "Winner: B"
    assert parse_verdict(a, "candidate_first").winner == "candidate"
    assert parse_verdict(a, "reference_first").winner == "reference"
    assert parse_verdict(b, "candidate_first").winner == "reference"
    assert parse_verdict(b, "reference_first").winner == "candidate"
    assert parse_verdict("Winner: tie", "reference_first").winner == "tie"
    verdict = parse_verdict(a, "candidate_first", item_id="q1", candidate="student")
    assert (verdict.item_id, verdict.candidate, verdict.order, verdict.reason) == (
        "q1",
        "student",
        "candidate_first",
        "r",
    )


def test_parse_verdict_keeps_unreadable_replies_as_invalid():
    verdict = parse_verdict(
        "I cannot decide.\nMaybe.", "candidate_first", item_id="q1", candidate="base"
    )
    assert verdict.winner == "invalid"
    assert verdict.reason == "unparseable: I cannot decide. Maybe."
    assert parse_verdict(None, "reference_first").winner == "invalid"


# -- the judge loop against a scripted client ------------------------------------------
class ScriptedClient:
    """Answers each request with `reply(request)`; records what it was sent."""

    def __init__(
        self, reply: Callable[[LLMRequest], str | None], response_mode: str = "json_schema"
    ):
        self.reply = reply
        self.response_mode = response_mode
        self.sent: list[LLMRequest] = []
        self.calls = 0

    def run(
        self, requests: Sequence[LLMRequest], *, desc: str = "", progress: bool = True
    ) -> list[LLMResult]:
        self.calls += 1
        self.sent.extend(requests)
        results = []
        for request in requests:
            text = self.reply(request)
            failed = text is None
            results.append(LLMResult(request=request, text=text, error="boom" if failed else None,
                                     failure="timeout" if failed else None))  # fmt: skip
        return results


def _answer_a(request: LLMRequest) -> str:
    user = request.messages[-1]["content"]
    return user.split("[Answer A]\n", 1)[1].split("\n[End of Answer A]", 1)[0]


def test_judge_sends_both_orders_and_maps_them_back():
    items = [ITEM, ITEM_WITH_INPUT]
    answers = {"student": ["S1", "S2"], "base": ["B1", "B2"]}

    # A judge that always prefers the student, wherever it is shown, and always
    # says "tie" for the base model.
    def reply(request: LLMRequest) -> str:
        shown_first = _answer_a(request)
        if request.key.split("/")[1] == "base":
            return '{"reason": "equal", "winner": "tie"}'
        return '{"reason": "better", "winner": "%s"}' % (
            "A" if shown_first.startswith("S") else "B"
        )

    client = ScriptedClient(reply)
    verdicts = judge_answers(
        client, items, answers, Sampling(temperature=0.0, max_tokens=64), progress=False
    )
    assert client.calls == 1 and len(client.sent) == 8
    assert [r.key for r in client.sent[:4]] == [
        "q1/student/candidate_first", "q1/student/reference_first",
        "q2/student/candidate_first", "q2/student/reference_first",
    ]  # fmt: skip
    assert [_answer_a(r) for r in client.sent[:2]] == ["S1", "Usually not."]
    assert all(r.json_schema == VERDICT_SCHEMA and r.sampling.max_tokens == 64 for r in client.sent)
    assert [(v.item_id, v.candidate, v.order, v.winner) for v in verdicts[:2]] == [
        ("q1", "student", "candidate_first", "candidate"),
        ("q1", "student", "reference_first", "candidate"),
    ]
    metrics = compare(verdicts, samples=0, seed=0)
    assert metrics["student_win_rate"] == 1.0 and metrics["base_win_rate"] == 0.5
    assert metrics["delta_win_rate"] == 0.5
    assert metrics["student_order_agreement"] == 1.0


def test_position_biased_judge_shows_up_as_disagreement():
    client = ScriptedClient(lambda r: "Because.\nWinner: A", response_mode="off")
    verdicts = judge_answers(client, [ITEM], {"student": ["S1"]}, Sampling(), progress=False)
    assert all(r.json_schema is None for r in client.sent)
    assert "Winner: tie" in client.sent[0].messages[-1]["content"]
    assert [v.winner for v in verdicts] == ["candidate", "reference"]
    metrics = compare(verdicts, samples=0, seed=0)
    assert metrics["student_win_rate"] == 0.5
    assert metrics["student_first_position_rate"] == 1.0
    assert metrics["student_order_agreement"] == 0.0


def test_failed_and_unreadable_replies_are_counted_as_invalid():
    replies = {"candidate_first": None, "reference_first": "no idea"}
    client = ScriptedClient(lambda r: replies[r.key.rsplit("/", 1)[1]])
    verdicts = judge_answers(client, [ITEM], {"student": ["S1"]}, Sampling(), progress=False)
    assert [v.winner for v in verdicts] == ["invalid", "invalid"]
    assert verdicts[0].reason == "request failed (timeout): boom"
    assert verdicts[1].reason == "unparseable: no idea"
    metrics = compare(verdicts, samples=100, seed=0)
    assert metrics["student_invalid_rate"] == 1.0 and metrics["student_win_rate"] is None
    assert metrics["student_win_rate_ci_low"] is None


def test_build_requests_rejects_mismatched_answers():
    with pytest.raises(ValueError, match="1 answers for 2 items"):
        build_requests([ITEM, ITEM_WITH_INPUT], {"student": ["only one"]}, Sampling(), "off")
    with pytest.raises(ValueError, match="must not contain '/'"):
        build_requests([ITEM], {"a/b": ["x"]}, Sampling(), "off")


def test_judge_through_the_real_client_and_a_fake_server(fake_openai, tmp_path):
    """The schema and messages survive the real client and wire format."""
    import json

    from medinstruct_core.llm.client import LLMClient
    from medinstruct_core.llm.config import ClientConfig

    def responder(body):
        assert body["response_format"]["json_schema"]["schema"] == VERDICT_SCHEMA
        first = body["messages"][-1]["content"].split("[Answer A]\n", 1)[1]
        return json.dumps(
            {"reason": "r", "winner": "B" if first.startswith("Usually not.") else "A"}
        )

    fake_openai.responder = responder
    client = LLMClient(
        fake_openai.endpoint(response_mode="json_schema"), ClientConfig(max_retries=0)
    )
    verdicts = judge_answers(client, [ITEM], {"student": ["S"]}, Sampling(), progress=False)
    assert [v.winner for v in verdicts] == ["candidate", "candidate"]


# -- the panel: several judges, typed verdicts, the cache ------------------------------
def test_panel_names_judges_and_records_lengths_and_eval_set():
    items = [ITEM, ITEM_WITH_INPUT]
    answers = {"student": ["S1 long answer", "S2"]}
    first = ScriptedClient(lambda r: '{"reason": "r", "winner": "A"}')
    second = ScriptedClient(lambda r: "Winner: tie", response_mode="off")
    verdicts = judge_panel(
        {"strict": first, "lenient": second}, items, answers, Sampling(),
        eval_set="medinstruct", progress=False,
    )  # fmt: skip
    assert len(verdicts) == 8
    assert [(v.judge, v.item_id, v.order, v.winner) for v in verdicts[:2]] == [
        ("strict", "q1", "candidate_first", "candidate"),
        ("strict", "q1", "reference_first", "reference"),
    ]
    assert {v.winner for v in verdicts if v.judge == "lenient"} == {"tie"}
    assert {v.eval_set for v in verdicts} == {"medinstruct"}
    assert (verdicts[0].candidate_chars, verdicts[0].reference_chars) == (14, 12)
    assert (verdicts[2].candidate_chars, verdicts[2].reference_chars) == (2, 8)
    # Each judge gets the prompt its endpoint can honour: schema or a "Winner:" line.
    assert all(r.json_schema == VERDICT_SCHEMA for r in first.sent)
    assert all(r.json_schema is None for r in second.sent)


def test_name_judges_uses_models_and_deduplicates():
    class WithModel(ScriptedClient):
        def __init__(self, model: str):
            super().__init__(lambda r: "Winner: A")
            self.endpoint = type("E", (), {"model": model})()

    named = name_judges([WithModel("gpt-4o"), WithModel("gpt-4o"), ScriptedClient(lambda r: "")])
    assert list(named) == ["gpt-4o", "gpt-4o#2", "judge3"]


def test_sampling_for_one_or_per_judge():
    one = Sampling(temperature=0.0)
    assert sampling_for(one, "x") is one
    per = {"a": Sampling(max_tokens=5)}
    assert sampling_for(per, "a").max_tokens == 5
    with pytest.raises(KeyError, match="no sampling given for judge 'b'"):
        sampling_for(per, "b")


def _fake_judge(fake_openai, model: str, cache, response_mode: str = "json_schema"):
    from medinstruct_core.llm.client import LLMClient
    from medinstruct_core.llm.config import ClientConfig
    from medinstruct_core.llm.types import Endpoint

    endpoint = Endpoint(fake_openai.base_url, model, "remote", response_mode, "sk-test",
                        cache_id="fake")  # fmt: skip
    return LLMClient(endpoint, ClientConfig(max_retries=0, max_concurrency=4), cache=cache)


def test_a_rerun_with_nothing_changed_makes_no_judge_call(fake_openai, tmp_path):
    """Two judges on the real client + fake server; the second run is answered from the cache."""
    import json

    from medinstruct_core.llm.cache import ResponseCache

    def responder(body):
        if body.get("response_format"):
            return json.dumps({"reason": "r", "winner": "A"})
        return "Both are fine.\nWinner: B"

    fake_openai.responder = responder
    items, answers = [ITEM, ITEM_WITH_INPUT], {"student": ["S1", "S2"], "base": ["B1", "B2"]}

    def run() -> list:
        with ResponseCache(tmp_path / "responses.sqlite") as cache:
            judges = [_fake_judge(fake_openai, "judge-a", cache),
                      _fake_judge(fake_openai, "judge-b", cache, response_mode="off")]  # fmt: skip
            return judge_panel(judges, items, answers, Sampling(temperature=0.0), progress=False)

    first = run()
    sent = len(fake_openai.seen())
    assert sent == 16  # 2 judges x 2 candidates x 2 items x 2 orders
    assert {v.judge for v in first} == {"judge-a", "judge-b"}
    assert [v.winner for v in first if v.judge == "judge-b"][:2] == ["reference", "candidate"]
    assert all(
        "response_format" not in s.body for s in fake_openai.seen() if s.body["model"] == "judge-b"
    )
    second = run()
    assert len(fake_openai.seen()) == sent
    assert second == first


@pytest.mark.parametrize(
    ("mode", "bounded"), [("json_object", True), ("json_schema", False), ("off", None)]
)
def test_local_grammar_bounds_the_reason_and_remote_schemas_stay_plain(mode, bounded):
    """llama.cpp turns the schema into a grammar, so only there is the reason length-bounded;
    OpenAI's strict subset gets the plain schema, and free text gets none."""
    (request, *_) = build_requests([ITEM], {"student": ["S1"]}, Sampling(), mode)
    if bounded is None:
        assert request.json_schema is None
        assert "Winner: tie" in request.messages[-1]["content"]
        return
    reason = request.json_schema["properties"]["reason"]
    assert ("maxLength" in reason) is bounded
    assert request.json_schema["properties"]["winner"] == VERDICT_SCHEMA["properties"]["winner"]
    assert '"winner"' in request.messages[-1]["content"]
