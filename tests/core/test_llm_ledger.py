"""The spend ledger: one budget across clients, stages and processes."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import medinstruct_core.llm.ledger as ledger_package
from medinstruct_core.llm import (
    BudgetExceeded,
    ClientConfig,
    Ledger,
    LLMClient,
    LLMRequest,
    LLMSection,
    Sampling,
    open_role,
)
from medinstruct_core.llm.config import Price
from medinstruct_core.llm.ledger import LEDGER_FILE, Spend
from medinstruct_core.llm.ledger.__main__ import main

PRICES = {"fake-model": Price(input=100.0, output=100.0)}  # $0.0001 per token
FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 5.0, "max_retries": 1}


def requests(n: int, prefix: str = "item", max_tokens: int = 5) -> list[LLMRequest]:
    # "item-NN" is 7 chars: 2 prompt tokens estimated, so the worst case is 2 + max_tokens.
    return [
        LLMRequest(({"role": "user", "content": f"{prefix}-{i:02d}"},),
                   Sampling(max_tokens=max_tokens), key=f"{prefix}-{i:02d}")
        for i in range(n)
    ]  # fmt: skip


def client(fake, ledger, stage, **overrides):
    cfg = ClientConfig(**{**FAST, "max_concurrency": 4, "prices": PRICES, **overrides})
    return LLMClient(fake.endpoint(), cfg, role="teacher", stage=stage, ledger=ledger)


# -- the ledger alone -------------------------------------------------------------------------
def test_reserve_commit_release_and_totals(tmp_path):
    with Ledger(tmp_path / LEDGER_FILE, budget_usd=1.0) as ledger:
        first = ledger.reserve(0.4)
        second = ledger.reserve(0.5)
        assert ledger.reserved_usd() == pytest.approx(0.9)
        with pytest.raises(
            BudgetExceeded, match=r"spent \$0.0000 \+ in flight \$0.9000.*cap \$1.0000"
        ):
            ledger.reserve(0.2)
        ledger.commit(first, role="judge", stage="evaluate", model="m", prompt_tokens=10,
                      completion_tokens=3, usd=0.1)  # fmt: skip
        ledger.release(second)
        assert (ledger.total_usd(), ledger.reserved_usd()) == (pytest.approx(0.1), 0.0)
        assert ledger.stage_usd("evaluate") == pytest.approx(0.1) and ledger.stage_usd("x") == 0.0
        ledger.reserve(0.9)  # 0.1 spent + 0.9 = the cap exactly: allowed
        ledger.reset()
        assert (ledger.total_usd(), ledger.reserved_usd()) == (0.0, 0.0)


def test_no_cap_never_refuses(tmp_path):
    with Ledger(tmp_path / LEDGER_FILE, budget_usd=None) as ledger:
        assert ledger.reserve(1e9).usd == 1e9


def test_reservations_of_a_dead_process_are_dropped(tmp_path):
    path = tmp_path / LEDGER_FILE
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with Ledger(path, budget_usd=1.0) as ledger:
        ledger.reserve(0.9)
        ledger._conn.execute("UPDATE reservations SET pid = ?", (int(dead.stdout),))
        assert ledger.reserve(0.9).usd == 0.9  # the dead process's 0.9 no longer counts


def test_cli_show_and_reset(tmp_path, capsys):
    with Ledger(tmp_path / LEDGER_FILE, budget_usd=None) as ledger:
        held = ledger.reserve(0.25)
        ledger.commit(held, role="responder", stage="generate_responses", model="gpt-4o-mini",
                      prompt_tokens=100, completion_tokens=50, usd=0.25)  # fmt: skip
    assert main(["show", "--cache-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "total $0.2500 for 1 answers" in shown
    assert (
        "generate_responses / responder / gpt-4o-mini [sync: 1 answers], 100 in + 50 out" in shown
    )
    assert main(["reset", "--cache-dir", str(tmp_path)]) == 0
    assert "reset (was $0.2500)" in capsys.readouterr().out
    with Ledger(tmp_path / LEDGER_FILE) as ledger:
        assert ledger.total_usd() == 0.0


# -- clients sharing one ledger ---------------------------------------------------------------
def run_two_stages_at_once(fake, path, cap):
    """Two clients, each with its own connection to the ledger file, in two threads:
    to sqlite this is the same as two processes. A client that got no answer at all
    (the other took the whole budget) raises BudgetExceeded: that is its result."""
    clients, threads, out = [], [], {}

    def stage_run(c, stage):
        try:
            out[stage] = c.run(requests(20, prefix=stage[:2]), progress=False)
        except BudgetExceeded as exc:
            out[stage] = exc

    for stage in ("generate_instructions", "evaluate"):
        c = client(fake, Ledger(path, cap), stage)
        clients.append(c)
        threads.append(threading.Thread(target=stage_run, args=(c, stage)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return clients, out


def test_two_stages_sharing_a_ledger_stop_at_the_shared_budget(fake_openai, tmp_path):
    fake_openai.usage = (2, 5)  # actual cost = reserved worst case = $0.0007 per reply
    fake_openai.latency_s = 0.02
    path = tmp_path / LEDGER_FILE
    clients, out = run_two_stages_at_once(fake_openai, path, cap=0.005)
    ran = {stage: results for stage, results in out.items() if isinstance(results, list)}
    answered = sum(r.ok for results in ran.values() for r in results)
    assert answered == 7 and len(fake_openai.seen()) == 7  # 7 * 0.0007 = 0.0049 <= 0.005
    with Ledger(path) as ledger:
        total = ledger.total_usd()
        assert total == pytest.approx(0.0049) and total <= 0.005
        assert ledger.stage_usd("generate_instructions") + ledger.stage_usd("evaluate") == (
            pytest.approx(total)
        )
        assert ledger.reserved_usd() == 0.0
    refused = [r for results in ran.values() for r in results if r.failure]
    assert {r.failure for r in refused} == {"budget_exhausted"}
    assert len(refused) == 20 * len(ran) - 7 and "cap $0.0050" in refused[0].error
    for c in clients:
        metrics = c.stats.as_metrics("llm.")
        assert metrics["llm.spend_usd_stage"] == pytest.approx(c.stats.cost_usd)
        assert metrics["llm.spend_usd_total"] <= total + 1e-12  # read at its own last commit


def test_overshoot_is_bounded_by_the_actual_cost_in_flight(fake_openai, tmp_path):
    # The server bills 50 prompt tokens where 2 were estimated: every reply costs $0.0055,
    # far above its $0.0007 reservation. The cap can then be overshot, but only by what
    # was in flight (at most 2 clients x 4 concurrent requests).
    fake_openai.usage = (50, 5)
    fake_openai.latency_s = 0.02
    path = tmp_path / LEDGER_FILE
    run_two_stages_at_once(fake_openai, path, cap=0.02)
    with Ledger(path) as ledger:
        assert ledger.total_usd() <= 0.02 + 8 * 0.0055


def test_a_new_stage_on_a_spent_budget_fails_until_the_ledger_is_reset(fake_openai, tmp_path):
    fake_openai.usage = (2, 5)
    path = tmp_path / LEDGER_FILE
    first = client(fake_openai, Ledger(path, 0.002), "generate_instructions")
    assert sum(r.ok for r in first.run(requests(5), progress=False)) == 2  # then budget_exhausted
    later = client(fake_openai, Ledger(path, 0.002), "generate_responses")
    with pytest.raises(BudgetExceeded, match=r"spent \$0.0014.*cap \$0.0020.*ledger reset"):
        later.run(requests(3, prefix="resp"), progress=False)
    assert len(fake_openai.seen()) == 2
    Ledger(path).reset()
    again = client(fake_openai, Ledger(path, 0.002), "generate_responses")
    assert [r.ok for r in again.run(requests(2, prefix="resp"), progress=False)] == [True, True]


def test_open_role_ledgers_paid_replies_but_not_cache_hits(fake_openai, tmp_path):
    fake_openai.usage = (2, 5)
    llm = LLMSection.model_validate(
        {"client": {**FAST, "prices": {"fake-model": {"input": 100.0, "output": 100.0}},
                    "budget_usd": 1.0},
         "teacher": {"endpoint": fake_openai.base_url, "model": "fake-model"}}
    )  # fmt: skip
    for _ in range(2):
        with open_role(llm, "teacher", root=tmp_path, stage="gen", env={}) as c:
            assert c.stage == "gen" and c.ledger.path == tmp_path / ".cache/llm" / LEDGER_FILE
            c.run(requests(3), progress=False)
    with Ledger(tmp_path / ".cache/llm" / LEDGER_FILE) as ledger:
        assert ledger.stage_usd("gen") == pytest.approx(3 * 0.0007)  # the rerun was all cache hits
        assert len(ledger.rows()) == 1 and ledger.rows()[0].answers == 3
    assert c.stats.as_metrics()["spend_usd_total"] == pytest.approx(3 * 0.0007)


# -- answers, running totals, migration -------------------------------------------------------
def test_a_batch_is_one_row_holding_many_answers_shown_apart(tmp_path, capsys):
    with Ledger(tmp_path / LEDGER_FILE, budget_usd=None) as ledger:
        for _ in range(2):
            ledger.commit(ledger.reserve(0.01), role="teacher", stage="gen", model="m",
                          prompt_tokens=10, completion_tokens=5, usd=0.01)  # fmt: skip
        ledger.commit(ledger.reserve(1.0), role="teacher", stage="gen", model="m",
                      prompt_tokens=5000, completion_tokens=2500, usd=0.5, batch=True,
                      answers=500)  # fmt: skip
        ledger.commit(ledger.reserve(0.1), role="judge", stage="evaluate", model="m",
                      prompt_tokens=1, completion_tokens=1, usd=0.1, batch=True, answers=7)  # fmt: skip
        gen = ledger.spend("gen")
        assert (gen.answers, gen.rows, gen.batch_answers, gen.batch_rows) == (502, 3, 500, 1)
        assert (gen.usd, gen.batch_usd, gen.sync_usd) == pytest.approx((0.52, 0.5, 0.02))
        assert gen.sync_answers == 2
        total = ledger.spend()
        assert (total.answers, total.batch_rows) == (509, 2)
        assert total.usd == pytest.approx(0.62) and ledger.total_usd() == pytest.approx(0.62)
    assert main(["show", "--cache-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "total $0.6200 for 509 answers (batch $0.6000 for 507 answers in 2 batches)" in shown
    assert "gen / teacher / m [sync: 2 answers], 20 in + 10 out tokens, $0.0200" in shown
    assert "gen / teacher / m [batch: 500 answers in 1 batches], 5000 in + 2500 out" in shown


OLD_SCHEMA = (
    "CREATE TABLE spend (id INTEGER PRIMARY KEY, time REAL NOT NULL, role TEXT NOT NULL, "
    "stage TEXT NOT NULL, model TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, "
    "completion_tokens INTEGER NOT NULL, usd REAL NOT NULL, batch INTEGER NOT NULL)",
    "CREATE TABLE reservations (id INTEGER PRIMARY KEY, usd REAL NOT NULL, "
    "created REAL NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL)",
)


def test_a_ledger_written_before_answers_and_totals_is_migrated(tmp_path):
    path = tmp_path / LEDGER_FILE
    with sqlite3.connect(path) as conn:
        for statement in OLD_SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO spend (time, role, stage, model, prompt_tokens, completion_tokens, "
            "usd, batch) VALUES (0, 'r', ?, 'm', 1, 1, ?, ?)",
            [("gen", 0.25, 0), ("gen", 0.5, 1), ("evaluate", 0.125, 0)],
        )
    conn.close()
    with Ledger(path, budget_usd=1.0) as ledger:
        # Old rows are one answer each (an old batch row undercounts: nothing better is known).
        assert ledger.spend("gen") == Spend(0.75, 2, 2, 0.5, 1, 1)
        assert ledger.spend() == Spend(0.875, 3, 3, 0.5, 1, 1)
        with pytest.raises(BudgetExceeded, match=r"spent \$0.8750"):
            ledger.reserve(0.2)
        ledger.commit(ledger.reserve(0.125), role="r", stage="gen", model="m", prompt_tokens=1,
                      completion_tokens=1, usd=0.125, batch=True, answers=40)  # fmt: skip
    with Ledger(path) as again:  # opening a migrated file changes nothing
        assert again.spend() == Spend(1.0, 43, 4, 0.625, 41, 2)
    with sqlite3.connect(path) as conn:  # a row written without the totals (older version)
        conn.execute(
            "INSERT INTO spend (time, role, stage, model, prompt_tokens, completion_tokens, "
            "usd, batch) VALUES (0, 'r', 'evaluate', 'm', 1, 1, 0.5, 0)"
        )
    conn.close()
    with Ledger(path) as healed:  # the next open sees the count disagree and rebuilds
        assert healed.spend() == Spend(1.5, 44, 5, 0.625, 41, 2)


# The child loads the ledger module alone (it needs only the standard library): importing
# medinstruct_core.llm would pull in the openai SDK, seconds per child on a busy box. It says
# "ready" once its ledger is open and starts committing on "go", so both children overlap.
COMMITTER = """
import importlib.util, random, sys
spec = importlib.util.spec_from_file_location("ledger", sys.argv[4])
ledger_module = sys.modules["ledger"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ledger_module)
path, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
with ledger_module.Ledger(path, budget_usd=None) as ledger:
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n if n else 10**9):
        usd = rng.random() / 1000
        batch = rng.random() < 0.2
        ledger.commit(ledger.reserve(2 * usd), role="r", stage=rng.choice(["a", "b", "c"]),
                      model="m", prompt_tokens=3, completion_tokens=2, usd=usd, batch=batch,
                      answers=rng.randint(2, 50) if batch else 1)
"""
LEDGER_SOURCE = str(Path(ledger_package.__file__))


def start_committers(path, seeds, n: int) -> list[subprocess.Popen]:
    """Committer processes on one ledger file, started together once all are ready."""
    Ledger(path).close()
    children = [
        subprocess.Popen([sys.executable, "-c", COMMITTER, str(path), str(seed), str(n),
                          LEDGER_SOURCE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for seed in seeds
    ]  # fmt: skip
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    return children


def assert_totals_match_the_rows(path) -> int:
    """The running totals against SUM() over the spend rows, per stage and overall."""
    with Ledger(path) as ledger:
        conn = ledger._conn
        for stage in ("a", "b", "c", None):
            where, args = ("WHERE stage = ?", (stage,)) if stage else ("", ())
            usd, answers, rows, batch_usd, batch_answers, batch_rows = conn.execute(
                "SELECT SUM(usd), SUM(answers), COUNT(*), SUM(usd * batch), "
                f"SUM(answers * batch), SUM(batch) FROM spend {where}",
                args,
            ).fetchone()
            spend = ledger.spend(stage)
            assert (spend.answers, spend.rows) == (answers, rows)
            assert (spend.batch_answers, spend.batch_rows) == (batch_answers, batch_rows)
            assert (spend.usd, spend.batch_usd) == pytest.approx((usd, batch_usd), rel=1e-12)
        return int(rows)


def test_totals_equal_sum_after_many_commits_from_two_processes(tmp_path):
    path = tmp_path / LEDGER_FILE
    children = start_committers(path, (1, 2), 1500)
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    assert assert_totals_match_the_rows(path) == 3000
    with Ledger(path) as ledger:
        assert ledger.reserved_usd() == 0.0


def test_totals_stay_exact_when_committers_are_killed(tmp_path):
    path = tmp_path / LEDGER_FILE
    children = start_committers(path, (3, 4), 0)
    time.sleep(0.3)
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert assert_totals_match_the_rows(path) > 100
    with Ledger(path) as ledger:  # opening it drops the killed committers' reservations
        assert ledger.reserved_usd() == 0.0
