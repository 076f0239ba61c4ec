import random
from email.utils import formatdate

import pytest

from medinstruct_core.llm.limits import Cooldown, TokenBucket, backoff_delay, retry_after_s


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_one_second_burst_then_paces_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(600, clock=clock)  # 10 per second, burst of 10
    waits = [bucket.reserve(1) for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.1)
    assert waits[11] == pytest.approx(0.2)
    clock.now += 1.2  # the debt of 2 is repaid, 10 more tokens have accrued
    assert bucket.reserve(1) == 0.0


def test_bucket_request_larger_than_capacity_waits_instead_of_deadlocking():
    clock = FakeClock()
    bucket = TokenBucket(60, clock=clock)  # 1 token per second, capacity 1
    assert bucket.reserve(5) == pytest.approx(4.0)


def test_bucket_adjust_refunds_unused_tokens():
    clock = FakeClock()
    bucket = TokenBucket(6000, clock=clock)  # 100/s
    bucket.reserve(100)
    assert bucket.reserve(50) == pytest.approx(0.5)
    bucket.adjust(-150)  # both used nothing
    assert bucket.reserve(100) == 0.0


def test_cooldown_is_the_latest_deadline():
    clock = FakeClock()
    cooldown = Cooldown(clock=clock)
    cooldown.extend(2.0)
    cooldown.extend(1.0)
    assert cooldown.remaining() == pytest.approx(2.0)
    clock.now += 3
    assert cooldown.remaining() == 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),  # ms wins: more precise
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert retry_after_s(headers) == expected


def test_retry_after_http_date():
    now = 1_700_000_000.0
    assert retry_after_s(
        {"Retry-After": formatdate(now + 7, usegmt=True)}, now=now
    ) == pytest.approx(7.0)
    assert retry_after_s({"Retry-After": formatdate(now - 7, usegmt=True)}, now=now) == 0.0


def test_backoff_grows_exponentially_within_jitter_and_cap():
    rng = random.Random(0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (6, 10.0)]:
        delays = [backoff_delay(attempt, 1.0, 10.0, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not constant


def test_shared_backoff_grows_per_episode_not_per_concurrent_429():
    clock = FakeClock()
    cooldown = Cooldown(clock=clock)
    rng = random.Random(0)
    first = cooldown.backoff(1.0, 8.0, rng)
    assert 0.5 <= first <= 1.0 and cooldown.remaining() == pytest.approx(first)
    # Three more workers report the same overload while the pause holds: no escalation.
    assert [cooldown.backoff(1.0, 8.0, rng) for _ in range(3)] == [pytest.approx(first)] * 3
    clock.now += first
    second = cooldown.backoff(1.0, 8.0, rng)  # a new 429 after the pause: the next step
    assert 1.0 <= second <= 2.0
    clock.now += second
    cooldown.settle()  # a success: back to the first step
    assert 0.5 <= cooldown.backoff(1.0, 8.0, rng) <= 1.0
