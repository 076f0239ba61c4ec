"""Batch API mode against a fake /v1/files + /v1/batches server (real HTTP on 127.0.0.1)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import medinstruct_core.llm.batch as batch_module
from medinstruct_core.llm import ClientConfig, LLMClient, LLMRequest, ResponseCache, Sampling
from medinstruct_core.llm.batch import (
    BATCH_PRICE_FACTOR,
    SHA256_TAG,
    BatchPending,
    BatchRecord,
    BatchRunner,
    run_batch,
    uses_batch_api,
)
from medinstruct_core.llm.cache import cache_key
from medinstruct_core.llm.config import Price
from medinstruct_core.llm.ledger import BudgetExceeded, Ledger
from tests.fakes.fake_batch import FakeBatchAPI

PRICE = Price(input=2.0, output=8.0)  # USD per 1M tokens, listed (synchronous) price
USAGE = (10, 5)  # tokens the fake bills per answered line
LINE_USD = (USAGE[0] * PRICE.input + USAGE[1] * PRICE.output) / 1e6 * BATCH_PRICE_FACTOR

CHILD = """
import sys
from pathlib import Path
from medinstruct_core.llm import ClientConfig, Endpoint, LLMClient, LLMRequest, ResponseCache, Sampling
from medinstruct_core.llm.batch import run_batch
base_url, cache_path, n = sys.argv[1:]
endpoint = Endpoint(base_url, "fake-model", "remote", "off", "sk-child", cache_id="fake-batch")
reqs = [LLMRequest(({"role": "user", "content": f"item-{i:02d}"},), Sampling(max_tokens=8),
                   key=f"item-{i:02d}") for i in range(int(n))]
with ResponseCache(Path(cache_path)) as cache:
    run_batch(LLMClient(endpoint, ClientConfig(), cache=cache, role="child"), reqs, poll_s=0.02)
"""


class FakeLedger:
    """Records the ledger calls; refuses reservations past `cap` like the real one."""

    def __init__(self, cap: float | None = None) -> None:
        self.cap, self.held, self.next_id = cap, {}, 0
        self.commits: list[dict] = []
        self.released = 0

    def reserve(self, usd: float) -> int:
        spent = sum(c["usd"] for c in self.commits)
        if self.cap is not None and spent + sum(self.held.values()) + usd > self.cap:
            raise BudgetExceeded("fake cap")
        self.next_id += 1
        self.held[self.next_id] = usd
        return self.next_id

    def commit(self, reservation: int, **row) -> None:
        del self.held[reservation]
        self.commits.append(row)

    def release(self, reservation: int) -> None:
        del self.held[reservation]
        self.released += 1


@pytest.fixture
def fake() -> Iterator[FakeBatchAPI]:
    with FakeBatchAPI(usage=USAGE) as server:
        yield server


@pytest.fixture
def cache(tmp_path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "llm" / "responses.sqlite") as c:
        yield c


def requests(n: int, **extra) -> list[LLMRequest]:
    return [
        LLMRequest(({"role": "user", "content": f"item-{i:02d}"},), Sampling(max_tokens=8),
                   key=f"item-{i:02d}", **extra)
        for i in range(n)
    ]  # fmt: skip


def client(fake, cache, *, response_mode="off", **config) -> LLMClient:
    cfg = ClientConfig(prices={"fake-model": PRICE}, max_retries=0, **config)
    return LLMClient(fake.endpoint(response_mode=response_mode), cfg, cache=cache, role="judge")


def runner(fake, cache, ledger=None, **options) -> BatchRunner:
    llm = client(fake, cache)
    return BatchRunner(llm, ledger=ledger or FakeLedger(), stage="evaluate", poll_s=0.01, **options)


def key_of(fake, request: LLMRequest) -> str:
    return cache_key(fake.endpoint(), request)


# -- the happy path ---------------------------------------------------------------------
def test_full_batch_lands_in_cache_and_a_rerun_sends_nothing(fake, cache, tmp_path):
    ledger = FakeLedger()
    reqs = requests(5)
    results = runner(fake, cache, ledger).run(reqs)
    assert [r.text for r in results] == [f"echo: item-{i:02d}" for i in range(5)]
    assert [r.request.key for r in results] == [r.key for r in reqs]
    assert not any(r.cached for r in results) and all(r.attempts == 1 for r in results)
    assert len(cache) == 5
    assert fake.calls["files.create"] == 1 and fake.calls["batches.create"] == 1
    assert fake.submitted_ids() == [[key_of(fake, r) for r in reqs]]  # custom_id = cache key
    # One ledger row for the batch, holding its 5 answers, at the batch price; nothing
    # left reserved.
    [row] = ledger.commits
    assert row["usd"] == pytest.approx(5 * LINE_USD) and not ledger.held
    assert row["answers"] == 5
    assert (row["prompt_tokens"], row["completion_tokens"]) == (5 * USAGE[0], 5 * USAGE[1])
    assert all(
        c["batch"] and c["role"] == "judge" and c["stage"] == "evaluate" for c in ledger.commits
    )
    assert sum(r.cost_usd for r in results) == pytest.approx(5 * LINE_USD)
    # The record moved to done/ once its answers were cached.
    assert not list((tmp_path / "llm" / "batches").glob("*.json"))
    assert len(list((tmp_path / "llm" / "batches" / "done").glob("*.json"))) == 1

    calls = fake.http_calls
    again = runner(fake, cache, ledger).run(reqs)
    assert fake.http_calls == calls  # not a single HTTP request
    assert all(r.cached and r.ok for r in again) and len(ledger.commits) == 1


def test_batch_answers_are_the_clients_cache_rows(fake, cache):
    """A live client run after a batch run is all cache hits: one cache, one key layout."""
    runner(fake, cache).run(requests(3))
    llm = client(fake, cache)
    results = llm.run(requests(3), progress=False)
    assert all(r.cached for r in results) and llm.stats.api_calls == 0


def test_stats_count_lines_and_costs(fake, cache):
    llm = client(fake, cache)
    run_batch(llm, requests(4), ledger=FakeLedger(), poll_s=0.01)
    assert llm.stats.requests == 4 and llm.stats.api_calls == 4
    assert llm.stats.prompt_tokens == 4 * USAGE[0] and llm.stats.cost_usd == pytest.approx(
        4 * LINE_USD
    )


def test_duplicate_requests_are_one_line(fake, cache):
    reqs = requests(2) + requests(1)
    results = runner(fake, cache).run(reqs)
    assert fake.calls["batches.create"] == 1 and len(fake.submitted_ids()[0]) == 2
    assert [r.cached for r in results] == [False, False, True]
    assert results[2].text == "echo: item-00"


def test_judge_structured_output_goes_into_the_lines(fake, cache):
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}}
    llm = client(fake, cache, response_mode="json_schema")
    reqs = requests(2, json_schema=schema, schema_name="verdict")
    results = run_batch(llm, reqs, ledger=FakeLedger(), poll_s=0.01)
    assert [json.loads(r.text) for r in results] == [{"echo": "item-00"}, {"echo": "item-01"}]
    line = json.loads(next(iter(fake.files.values()))["_data"].decode().splitlines()[0])
    assert line["body"]["response_format"]["json_schema"]["name"] == "verdict"


# -- faults -----------------------------------------------------------------------------
def test_a_failed_line_is_resent_alone(fake, cache):
    ledger = FakeLedger()
    reqs = requests(5)
    fake.fail_line("item-02", status=500)
    results = runner(fake, cache, ledger).run(reqs)
    assert all(r.ok for r in results)
    assert fake.submitted_ids()[1] == [key_of(fake, reqs[2])]  # only the failed line
    assert [r.attempts for r in results] == [1, 1, 2, 1, 1]
    assert fake.answered[key_of(fake, reqs[2])] == 1 and sum(fake.answered.values()) == 5
    assert [c["usd"] for c in ledger.commits] == pytest.approx([4 * LINE_USD, LINE_USD])
    assert not ledger.held and ledger.released == 0


def test_expired_batch_resends_only_its_unanswered_lines(fake, cache):
    reqs = requests(5)
    fake.expire_next(answered=2)
    results = runner(fake, cache).run(reqs)
    assert all(r.ok for r in results)
    assert fake.submitted_ids()[1] == [key_of(fake, r) for r in reqs[2:]]
    assert len(fake.submitted_ids()) == 2 and set(fake.answered.values()) == {1}


def test_client_error_line_is_not_resent(fake, cache):
    fake.fail_line("item-01", status=400)
    results = runner(fake, cache).run(requests(3))
    assert fake.calls["batches.create"] == 1
    assert results[1].failure == "http_error" and "HTTP 400" in (results[1].error or "")
    assert results[0].ok and results[2].ok and len(cache) == 2


def test_resends_stop_after_max_rounds(fake, cache):
    fake.fail_line("item-00", status=503, times=10)
    [result] = runner(fake, cache, max_rounds=2).run(requests(1))
    assert fake.calls["batches.create"] == 2
    assert result.failure == "http_error" and result.attempts == 2 and len(cache) == 0


# -- interruptions ----------------------------------------------------------------------
def _interrupt_on_first_poll(batch) -> None:
    raise KeyboardInterrupt


def test_interrupted_poll_resumes_the_same_batch(fake, cache, tmp_path):
    ledger = FakeLedger()
    fake.hold()
    with pytest.raises(KeyboardInterrupt):
        runner(fake, cache, ledger, on_poll=_interrupt_on_first_poll).run(requests(4))
    [record] = (tmp_path / "llm" / "batches").glob("*.json")
    assert json.loads(record.read_text())["batch_id"] == "batch-0001"
    assert not ledger.held  # an interrupted run gives its reservations back

    fake.release()
    results = runner(fake, cache, ledger).run(requests(4))
    assert all(r.ok for r in results)
    assert fake.calls["batches.create"] == 1 and fake.calls["files.create"] == 1
    assert ledger.commits[0]["usd"] == pytest.approx(4 * LINE_USD) and not ledger.held


def test_max_wait_leaves_a_resumable_record(fake, cache, tmp_path):
    fake.hold()
    with pytest.raises(BatchPending, match="run again to resume"):
        runner(fake, cache, max_wait_s=0.05).run(requests(2))
    fake.release()
    assert all(r.ok for r in runner(fake, cache).run(requests(2)))
    assert fake.calls["batches.create"] == 1


def test_resume_also_collects_lines_no_longer_requested(fake, cache):
    """A resumed batch is paid in full: every line is cached, even if this run asks for fewer."""
    fake.hold()
    with pytest.raises(KeyboardInterrupt):
        runner(fake, cache, on_poll=_interrupt_on_first_poll).run(requests(3))
    fake.release()
    results = runner(fake, cache).run(requests(1))
    assert results[0].ok and len(cache) == 3 and fake.calls["batches.create"] == 1


def test_kill_between_upload_and_create_adopts_the_servers_batch(fake, cache, tmp_path):
    """The record is written before batches.create; a kill right after create leaves it
    without a batch id, and the rerun finds the batch by its input file instead of paying twice."""
    real = runner(fake, cache)
    created: list[str] = []

    def create_then_die(path, record):
        batch = real._client().batches.create(input_file_id=record.input_file_id,
                                              endpoint="/v1/chat/completions", completion_window="24h")  # fmt: skip
        created.append(batch.id)
        raise KeyboardInterrupt

    real._create = create_then_die
    with pytest.raises(KeyboardInterrupt):
        real.run(requests(2))
    [record] = (tmp_path / "llm" / "batches").glob("*.json")
    assert json.loads(record.read_text())["batch_id"] is None
    results = runner(fake, cache).run(requests(2))
    assert all(r.ok for r in results)
    assert fake.calls["batches.create"] == 1 and created == ["batch-0001"]


def _die_on_writing_the_batch_id(monkeypatch) -> None:
    """Kill the run right after batches.create, before the record gets the batch id."""
    real_write = batch_module.write_json

    def write(path, obj) -> None:
        if obj.get("batch_id"):
            raise KeyboardInterrupt
        real_write(path, obj)

    monkeypatch.setattr(batch_module, "write_json", write)


def test_kill_between_create_and_record_pages_the_whole_list_and_pays_once(
    fake, cache, tmp_path, monkeypatch
):
    """Over 100 newer batches on the account push ours off the first page of the list:
    the rerun must page on (the `after` cursor) to find it, and create nothing."""
    reqs = requests(4)
    with monkeypatch.context() as patch:
        _die_on_writing_the_batch_id(patch)
        with pytest.raises(KeyboardInterrupt):
            runner(fake, cache).run(reqs)
    [path] = (tmp_path / "llm" / "batches").glob("*.json")
    record = json.loads(path.read_text())
    assert record["batch_id"] is None and fake.calls["batches.create"] == 1
    [ours] = fake.batches.values()
    data = fake.files[record["input_file_id"]]["_data"]
    assert record["content_sha256"] == hashlib.sha256(data).hexdigest()
    assert ours["metadata"][SHA256_TAG] == record["content_sha256"]  # the batch is tagged
    fake.add_foreign_batches(150)

    results = runner(fake, cache).run(reqs)
    assert all(r.ok and not r.cached for r in results)
    assert fake.calls["batches.create"] == 1 and fake.calls["files.create"] == 1
    assert fake.calls["batches.list"] == 2  # 100 foreign batches, then ours on page 2
    assert len(fake.answered) == 4 and set(fake.answered.values()) == {1}


def test_a_record_is_matched_by_its_content_tag_when_its_file_is_unknown(fake, cache):
    """The metadata tag identifies the request set even where the input file id does not."""
    first = runner(fake, cache)
    first.run(requests(2))
    [batch] = fake.batches.values()
    record = BatchRecord(input_file_id="file-lost", lines={}, model="fake-model", created=0.0,
                         content_sha256=batch["metadata"][SHA256_TAG])  # fmt: skip
    fake.add_foreign_batches(120)
    assert runner(fake, cache)._find_batch(record) == batch["id"]
    unknown = record.model_copy(update={"content_sha256": "0" * 64})
    assert runner(fake, cache)._find_batch(unknown) is None


class DiesOnCommit(FakeLedger):
    def commit(self, reservation: int, **row) -> None:
        raise KeyboardInterrupt  # killed after the answers were cached, before the ledger row


def test_kill_while_collecting_ledgers_the_batch_on_resume(fake, cache):
    ledger = DiesOnCommit()
    with pytest.raises(KeyboardInterrupt):
        runner(fake, cache, ledger).run(requests(5))
    assert len(cache) == 5 and not ledger.commits and not ledger.held
    again = FakeLedger()
    results = runner(fake, cache, again).run(requests(5))
    # Every line is now a cache hit, yet the batch is ledgered exactly once, in full.
    assert all(r.cached for r in results) and fake.calls["batches.create"] == 1
    assert [c["usd"] for c in again.commits] == pytest.approx([5 * LINE_USD])


def test_large_request_lists_are_split_into_batches(fake, cache):
    ledger = FakeLedger()
    results = runner(fake, cache, ledger, max_lines=2).run(requests(5))
    assert all(r.ok for r in results)
    assert [len(ids) for ids in fake.submitted_ids()] == [2, 2, 1]
    assert len(ledger.commits) == 3 and not ledger.held


def _wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the child"
        time.sleep(0.05)


def _recorded_batch_id(batch_dir: Path) -> str | None:
    for path in batch_dir.glob("*.json"):
        return json.loads(path.read_text()).get("batch_id")
    return None


@pytest.mark.slow  # a child interpreter importing the SDK: ~3-7 s on a busy 2-core box
def test_kill_9_while_polling_then_resume_submits_nothing_new(fake, cache, tmp_path):
    fake.hold()
    args = [fake.base_url, str(cache.path), "6"]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], stderr=subprocess.PIPE)
    batch_dir = tmp_path / "llm" / "batches"
    _wait_for(lambda: _recorded_batch_id(batch_dir) and fake.calls["batches.retrieve"] >= 2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    fake.release()
    results = runner(fake, cache).run(requests(6))
    assert all(r.ok for r in results) and not any(r.cached for r in results)
    assert fake.calls["batches.create"] == 1 and fake.calls["files.create"] == 1
    assert len(fake.answered) == 6 and set(fake.answered.values()) == {1}


# -- budget and refusals ----------------------------------------------------------------
@pytest.mark.parametrize("fit", [0, 1, 4, 6, 7])
def test_budget_submits_the_longest_prefix_that_fits(fake, cache, fit):
    llm = client(fake, cache)
    worst = BatchRunner(llm, ledger=FakeLedger())._worst_usd(requests(1)[0])
    ledger = FakeLedger(cap=(fit + 0.5) * worst)
    results = run_batch(llm, requests(7), ledger=ledger, poll_s=0.01)
    assert sum(r.ok for r in results) == fit
    assert all(r.failure == "budget_exhausted" for r in results[fit:])
    assert [len(ids) for ids in fake.submitted_ids()] == ([fit] if fit else [])
    assert not ledger.held and llm.budget_exhausted == (fit < 7)


def test_real_ledger_never_exceeds_its_cap(fake, cache, tmp_path):
    llm = client(fake, cache)
    worst = BatchRunner(llm, ledger=FakeLedger())._worst_usd(requests(1)[0])
    with Ledger(tmp_path / "ledger.sqlite", budget_usd=2.5 * worst) as ledger:
        results = run_batch(llm, requests(4), ledger=ledger, poll_s=0.01)
        assert [r.ok for r in results] == [True, True, False, False]
        assert ledger.total_usd() == pytest.approx(2 * LINE_USD) and ledger.reserved_usd() == 0
        spend = ledger.spend()
        assert (spend.answers, spend.batch_answers, spend.batch_rows) == (2, 2, 1)
        assert llm.stats.spend_usd_total == pytest.approx(2 * LINE_USD)  # refreshed by the runner
        assert ledger.total_usd() <= 2.5 * worst
        # A second stage run sends nothing new: the cap still holds.
        again = run_batch(client(fake, cache), requests(4), ledger=ledger, poll_s=0.01)
        assert [r.failure for r in again[2:]] == ["budget_exhausted"] * 2
        assert len(fake.submitted_ids()) == 1


def test_embedded_and_unpriced_endpoints_are_refused(fake, cache):
    import dataclasses

    llm = client(fake, cache)
    llm.endpoint = dataclasses.replace(llm.endpoint, kind="embedded")
    with pytest.raises(ValueError, match="remote endpoint"):
        BatchRunner(llm)
    paid = client(fake, cache)
    paid.endpoint = dataclasses.replace(paid.endpoint, base_url="https://api.example.com/v1")
    paid.config = ClientConfig()
    with pytest.raises(ValueError, match="no price"):
        BatchRunner(paid)


def test_uses_batch_api_tells_a_batch_role_from_a_live_one(fake, cache):
    live, batched = client(fake, cache), client(fake, cache)
    batched.run = BatchRunner(batched, ledger=FakeLedger()).run  # as roles.py does it
    assert uses_batch_api(batched) and not uses_batch_api(live)
