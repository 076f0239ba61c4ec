"""Progress a person can read: reports at intervals with rate, ETA and spend (fake clock)."""

from __future__ import annotations

import sys
import types

import pytest

from medinstruct_core.llm.stats import (
    ClientStats,
    GoalProgress,
    Progress,
    ProgressReport,
    format_duration,
)
from medinstruct_core.llm.tracing import MlflowProgress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def progress(total: int, clock: Clock, reports: list[ProgressReport], **kw: float) -> Progress:
    return Progress(total, "responses", enabled=False, sink=reports.append, clock=clock, **kw)


def test_reports_every_interval_with_rate_and_eta_from_the_last_interval() -> None:
    clock, reports, stats = Clock(), [], ClientStats()
    bar = progress(1000, clock, reports, every_s=30.0, step_percent=0)
    for _ in range(300):  # 300 requests in the first 30 s: 10/s
        clock.now += 0.1
        bar.advance(stats, {})
    assert [r.done for r in reports] == [300]
    assert reports[0].rate_per_s == pytest.approx(10.0)
    assert reports[0].eta_s == pytest.approx(70.0)  # 700 left at 10/s
    for _ in range(60):  # the endpoint slows down to 2/s: the ETA follows at once
        clock.now += 0.5
        bar.advance(stats, {})
    assert [r.done for r in reports] == [300, 360]
    assert reports[1].rate_per_s == pytest.approx(2.0)
    assert reports[1].eta_s == pytest.approx(320.0)
    assert reports[1].elapsed_s == pytest.approx(60.0)


def test_percent_steps_report_only_after_the_minimum_gap() -> None:
    clock, reports, stats = Clock(), [], ClientStats()
    bar = progress(100, clock, reports, every_s=1000.0, step_percent=10.0, min_gap_s=5.0)
    for _ in range(100):  # one request a second: a 10% step every 10 s, past the 5 s gap
        clock.now += 1.0
        bar.advance(stats, {})
    assert [r.done for r in reports] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert reports[-1].eta_s == 0.0

    fast, fast_reports = Clock(), []
    bar = progress(100, fast, fast_reports, every_s=1000.0, step_percent=10.0, min_gap_s=5.0)
    for _ in range(100):  # 100 requests in 10 s: steps come faster than the gap allows
        fast.now += 0.1
        bar.advance(stats, {})
    assert [r.done for r in fast_reports] == [50, 100]


def test_close_sends_a_final_report_with_spend_and_the_clients_request_count() -> None:
    clock, reports = Clock(), []
    stats = ClientStats(requests=45, cache_hits=5, cost_usd=1.25)
    stats.spend_usd_stage, stats.spend_usd_total = 3.5, 10.0
    stats.failures["timeout"] = 2
    bar = progress(5, clock, reports, every_s=1000.0, step_percent=0)
    for _ in range(5):
        clock.now += 2.0
        bar.advance(stats, {})
    assert reports == []
    bar.close(stats)
    (last,) = reports
    assert (last.done, last.total, last.requests, last.cache_hits, last.failed) == (5, 5, 45, 5, 2)
    assert (last.cost_usd, last.spend_usd_stage, last.spend_usd_total) == (1.25, 3.5, 10.0)
    assert last.rate_per_s == pytest.approx(0.5)
    metrics = last.as_metrics("progress/responder.")
    assert metrics["progress/responder.percent"] == 100.0
    assert metrics["progress/responder.spend_usd_stage"] == 3.5
    assert last.line() == "responses 5/5 (100%), 0.5/s, ETA 0s, spent $3.50 (ledger $10.00)"


def test_nothing_done_means_no_report_and_an_unknown_eta() -> None:
    clock, reports = Clock(), []
    bar = progress(10, clock, reports)
    clock.now += 100.0
    assert bar.report(ClientStats()).eta_s == -1.0
    bar.close(ClientStats())
    assert reports == []


def test_goal_progress_across_rounds() -> None:
    clock = Clock()
    goal = GoalProgress(52_000, "tasks", clock=clock)
    clock.now += 100.0
    metrics = goal.update(13_000)
    assert metrics == {
        "progress/tasks.done": 13_000.0,
        "progress/tasks.total": 52_000.0,
        "progress/tasks.percent": 25.0,
        "progress/tasks.rate_per_s": 130.0,
        "progress/tasks.eta_s": 300.0,
    }
    assert goal.line() == "13,000/52,000 tasks (25%), 130.0/s, ETA 5m00s"


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.4, 187, 21_720)] == ["0s", "59s", "3m07s", "6h02m"]


def test_mlflow_progress_logs_metrics_stepped_by_requests_and_only_in_a_run(monkeypatch) -> None:
    calls = []
    active = {"run": None}
    fake = types.SimpleNamespace(
        log_metrics=lambda metrics, step: calls.append((metrics, step)),
        active_run=lambda: active["run"],
    )
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    report = ProgressReport("judge", 3, 10, 6.0, 0.5, 14.0, 33, 0, 0, 0.01, 0.02, 0.5)
    sink = MlflowProgress("judge")
    sink(report)
    assert calls == [] and sink.logged == 0  # no active run: nothing logged
    active["run"] = object()
    sink(report)
    ((metrics, step),) = calls
    assert step == 33
    assert metrics["progress/judge.done"] == 3.0 and metrics["progress/judge.eta_s"] == 14.0
    fake.log_metrics = lambda metrics, step: (_ for _ in ()).throw(RuntimeError("store down"))
    sink(report)  # a failing store is counted, never raised
    assert (sink.logged, sink.errors) == (1, 1)


def test_the_client_sends_its_progress_to_the_sink(fake_openai) -> None:
    from medinstruct_core.llm import ClientConfig, LLMClient, LLMRequest, Sampling

    client = LLMClient(fake_openai.endpoint(), ClientConfig(max_concurrency=2), role="responder")
    reports: list[ProgressReport] = []
    client.progress_sink = reports.append
    requests = [LLMRequest(({"role": "user", "content": f"q{i}"},), Sampling(max_tokens=8))
                for i in range(6)]  # fmt: skip
    client.run(requests, desc="responses", progress=False)
    client.run(requests[:2], desc="again", progress=False)
    # a fast run reports once, at its end; the step counts the client's requests over all runs
    assert [(r.desc, r.done, r.total, r.requests) for r in reports] == [
        ("responses", 6, 6, 6),
        ("again", 2, 2, 8),
    ]


def test_the_bar_postfix_is_formatted_at_most_every_fifth_of_a_second() -> None:
    clock, stats = Clock(), ClientStats()
    bar = Progress(1000, "responses", enabled=False, clock=clock)
    formatted = []
    bar.postfix = lambda *args, **kw: formatted.append(clock.now)  # type: ignore[method-assign]
    for _ in range(1000):  # 1000 replies in 1 s: 5 postfixes (+ the last one), not 1000
        clock.now += 0.001
        bar.advance(stats, {})
    assert len(formatted) == 6
