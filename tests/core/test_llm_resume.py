"""kill -9 a stage mid-batch, rerun it, and check nothing paid for is lost or bought twice."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.fakes.fake_openai import HANG

N, ANSWERED_BEFORE_KILL, CONCURRENCY = 30, 12, 4
DRIVER = Path(__file__).resolve().parents[1] / "fakes" / "run_batch.py"


def cached_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        except sqlite3.OperationalError:  # table not created yet
            return 0


def wait_for(predicate, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the child"
        time.sleep(0.05)


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_kill_9_mid_batch_then_resume_loses_nothing_and_pays_nothing_twice(fake_openai, tmp_path):
    cache, first_out, second_out = (
        tmp_path / "c.sqlite",
        tmp_path / "first.jsonl",
        tmp_path / "second.jsonl",
    )
    # Items from ANSWERED_BEFORE_KILL on never get an answer in the first run, so the
    # kill lands at a known point: 12 answered and cached, 4 in flight, 14 not sent.
    for i in range(ANSWERED_BEFORE_KILL, N):
        fake_openai.plan(HANG, times=None, when=f"item-{i:03d}")

    def start(out: Path) -> subprocess.Popen:
        args = [fake_openai.base_url, str(cache), str(out), str(N), str(CONCURRENCY)]
        return subprocess.Popen([sys.executable, str(DRIVER), *args], stderr=subprocess.PIPE)

    child = start(first_out)
    # 16 seen = 12 answered + 4 hung; each worker sends its next request only after the
    # previous result was cached and written, so all 12 are on disk by then.
    in_flight = ANSWERED_BEFORE_KILL + CONCURRENCY
    wait_for(
        lambda: cached_rows(cache) == ANSWERED_BEFORE_KILL and len(fake_openai.seen()) == in_flight
    )
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    fake_openai.clear_plan()
    child = start(second_out)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr.decode()

    keys = [f"item-{i:03d}" for i in range(N)]
    second = read_rows(second_out)
    assert sorted(r["key"] for r in second) == keys  # complete, no duplicates
    assert all(r["text"] == f"echo: {r['key']}" for r in second)
    assert sum(r["cached"] for r in second) == ANSWERED_BEFORE_KILL
    paid = read_rows(first_out) + [r for r in second if not r["cached"]]
    assert sorted(r["key"] for r in paid) == keys  # the union of paid answers: each item once

    answered = fake_openai.answered_keys()
    assert len(answered) == N and set(answered.values()) == {1}  # no answer was bought twice
    # Sent twice: only the requests in flight, unanswered, when the child was killed.
    sent = Counter(s.key for s in fake_openai.seen())
    resent = {s.prompt for s in fake_openai.seen() if sent[s.key] > 1}
    assert resent == {
        f"item-{i:03d}" for i in range(ANSWERED_BEFORE_KILL, ANSWERED_BEFORE_KILL + CONCURRENCY)
    }
