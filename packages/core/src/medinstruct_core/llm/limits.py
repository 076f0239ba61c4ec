"""Rate limits, backoff and Retry-After parsing for the LLM client.

Everything here is plain arithmetic on a clock, with no asyncio primitives, so
one limiter can serve several event loops (each `LLMClient.run()` call starts
its own) and stays correct across them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

Clock = Callable[[], float]


class TokenBucket:
    """A token bucket that hands out *reservations* instead of blocking.

    `reserve(n)` takes `n` tokens at once (the level may go negative) and returns
    how long the caller must wait before using them. Reserving first and sleeping
    afterwards makes the limiter first-come-first-served with no lock: there is no
    `await` between checking and taking. A request larger than the bucket simply
    waits until the debt is repaid, so it can never deadlock.

    The burst capacity is one second's worth of tokens: an endpoint that allows
    600 rpm is sent 10 requests at once, not 600, which keeps us inside the
    shorter windows many providers also enforce.
    """

    def __init__(self, per_minute: float, *, clock: Clock = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0 (use no bucket for 'unlimited')")
        self._rate = per_minute / 60.0
        self._capacity = max(1.0, self._rate)
        self._level = self._capacity
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self._capacity, self._level + (now - self._stamp) * self._rate)
        self._stamp = now

    def reserve(self, amount: float) -> float:
        """Take `amount` tokens; return the seconds to wait before they are usable."""
        self._refill()
        self._level -= amount
        return max(0.0, -self._level / self._rate)

    def adjust(self, delta: float) -> None:
        """Charge `delta` more tokens (negative = refund) once the true usage is known."""
        self._refill()
        self._level = min(self._capacity, self._level - delta)


class Cooldown:
    """A shared 'do not send before' time, set when the server says to back off.

    One 429 with Retry-After pauses every worker, not only the one that got it,
    so we stop hammering a server that has already told us it is overloaded.
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0
        self._level = 0  # 429s without Retry-After since the last success

    def extend(self, seconds: float) -> None:
        self._until = max(self._until, self._clock() + seconds)

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    def backoff(self, initial_s: float, max_s: float, rng: random.Random) -> float:
        """A 429 without Retry-After: pause everyone for the next shared backoff step.

        The step grows only with 429s received after the current pause ended: the
        other workers' requests that were already in flight when the first 429 came
        back report the same overload and must not double the pause again.
        """
        remaining = self.remaining()
        if remaining > 0:
            return remaining
        delay = backoff_delay(self._level, initial_s, max_s, rng)
        self._level += 1
        self.extend(delay)
        return delay

    def settle(self) -> None:
        """A request went through: the next 429 starts the backoff from its first step."""
        self._level = 0


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter' for retry number `attempt` (0-based).

    Half the delay is fixed and half random: retries of requests that failed
    together spread out (no thundering herd), yet never collapse to ~0 s the way
    full jitter can.
    """
    ceiling = min(max_s, initial_s * (2.0**attempt))
    return ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0)


def retry_after_s(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from `retry-after-ms` or `Retry-After`.

    `Retry-After` may be a number of seconds or an HTTP-date (RFC 9110). Returns
    None when absent or unparseable, so the caller falls back to its own backoff.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _as_float(lowered.get("retry-after-ms"))
    if millis is not None:
        return max(0.0, millis / 1000.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _as_float(raw)
    if seconds is not None:
        return max(0.0, seconds)
    return _seconds_until_http_date(raw, now=time.time() if now is None else now)


def _as_float(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw.strip())
    except ValueError:
        return None


def _seconds_until_http_date(raw: str, *, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
