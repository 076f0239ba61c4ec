"""The stage's reply store: paid replies travel with the data, and a clone re-runs for $0."""

import json
import shutil

import pytest

from medinstruct_core.io import DataError
from medinstruct_core.llm import ClientConfig, LLMClient, LLMRequest, ResponseCache, Sampling
from medinstruct_core.llm.cache import ReplyStore
from medinstruct_core.llm.config import Price
from medinstruct_core.llm.ledger import Ledger

PRICED = ClientConfig(
    backoff_initial_s=0.01, backoff_max_s=0.02, timeout_s=2.0, max_retries=1,
    free_endpoints=[], prices={"fake-model": Price(input=10.0, output=20.0)}, budget_usd=5.0,
)  # fmt: skip


def requests(n: int) -> list[LLMRequest]:
    return [
        LLMRequest(({"role": "user", "content": f"q{i}"},), Sampling(max_tokens=8), key=f"q{i}")
        for i in range(n)
    ]


def answer(fake, machine, store_dir, n=3):
    """One stage run on one machine: its own cache and ledger, the shared reply store."""
    store = ReplyStore(store_dir)
    cache = ResponseCache(machine / "responses.sqlite", store)
    ledger = Ledger(machine / "ledger.sqlite", PRICED.budget_usd)
    client = LLMClient(fake.endpoint(), PRICED, cache=cache, ledger=ledger, role="teacher")
    results = client.run(requests(n), progress=False)
    cache.close()
    spent = ledger.total_usd()
    ledger.close()
    return client, results, spent


def test_a_clone_with_the_store_sends_nothing_and_pays_nothing(fake_openai, tmp_path):
    store = tmp_path / "repo" / "data" / "replies" / "generate_instructions"
    _, mine, paid = answer(fake_openai, tmp_path / "me", store)
    assert len(fake_openai.seen()) == 3 and paid > 0
    assert len(list(store.glob("*.jsonl"))) == 1

    clone = tmp_path / "clone" / "replies"
    shutil.copytree(store, clone)  # what `dvc pull` restores on a teammate's machine
    teammate, results, spent = answer(fake_openai, tmp_path / "teammate", clone)
    assert len(fake_openai.seen()) == 3, "the clone sent requests"
    assert spent == 0.0 and teammate.stats.cost_usd == 0.0
    assert teammate.stats.store_hits == 3
    assert teammate.stats.as_metrics("llm.")["llm.replies_from_store"] == 3.0
    assert [r.text for r in results] == [r.text for r in mine] and all(r.ok for r in results)
    assert sorted(p.name for p in clone.glob("*.jsonl")) == sorted(p.name for p in store.glob("*"))


def test_segments_are_immutable_and_new_replies_get_a_new_one(fake_openai, tmp_path):
    store = tmp_path / "replies"
    answer(fake_openai, tmp_path / "m", store, n=2)
    [first] = store.glob("*.jsonl")
    before = first.read_bytes()
    answer(fake_openai, tmp_path / "m", store, n=4)  # 2 old (cached) + 2 new
    segments = sorted(store.glob("*.jsonl"))
    assert len(segments) == 2 and first.read_bytes() == before
    rows = [json.loads(line) for s in segments for line in s.read_text().splitlines()]
    assert len(rows) == 4 and len({r["key"] for r in rows}) == 4


def test_a_run_that_used_nothing_new_writes_nothing(fake_openai, tmp_path):
    store = tmp_path / "replies"
    answer(fake_openai, tmp_path / "m", store)
    answer(fake_openai, tmp_path / "m", store)
    assert len(list(store.glob("*.jsonl"))) == 1


def test_replies_paid_before_the_store_existed_are_exported_from_the_local_cache(
    fake_openai, tmp_path
):
    """A workspace whose cache predates the store: its next run fills the store, sending nothing."""
    cache = ResponseCache(tmp_path / "m" / "responses.sqlite")
    LLMClient(fake_openai.endpoint(), PRICED, cache=cache, role="t").run(
        requests(2), progress=False
    )
    cache.close()
    answer(fake_openai, tmp_path / "m", tmp_path / "replies", n=2)
    assert len(fake_openai.seen()) == 2
    assert len(ReplyStore(tmp_path / "replies")) == 2


def test_two_cold_runs_write_the_same_bytes(fake_openai, tmp_path):
    answer(fake_openai, tmp_path / "a", tmp_path / "ra")
    answer(fake_openai, tmp_path / "b", tmp_path / "rb")
    [a], [b] = (list((tmp_path / r).glob("*.jsonl")) for r in ("ra", "rb"))
    assert a.name == b.name and a.read_bytes() == b.read_bytes()


def test_a_broken_segment_names_the_file_and_line(tmp_path):
    (tmp_path / "0123.jsonl").write_text('{"key": "k", "value": {"text": "a"}}\n{"oops": 1}\n')
    with pytest.raises(DataError, match=r"0123\.jsonl: line 2"):
        ReplyStore(tmp_path)
