"""The one LLM client: every stage (generation, answering, judging) talks through it.

Why it is built this way:
- async (`openai.AsyncOpenAI`) with a bounded number of requests in flight, so a
  2-core box can keep a remote API busy without threads;
- the SDK's own retries are off (`max_retries=0`): we retry one request at a time,
  so a failing item is never re-sent together with the others, and every retry
  obeys our rate limits, backoff and the server's Retry-After;
- every successful response is committed to the sqlite cache before anything
  else happens, so a killed stage resumes without paying twice;
- every paid reply goes into one sqlite ledger shared by all roles, stages and
  processes, and `budget_usd` caps the ledger total: a request is sent only once
  its worst-case cost is reserved there (see ledger.py);
- a remote model without a price is refused before anything is sent: an
  unpriced model would make the budget a silent no-op;
- a single failure never aborts a batch (each item comes back with `failure`
  set and is counted), but what retries cannot fix stops the stage at once:
  a refused key or exhausted quota (`EndpointRefused`), an unreachable endpoint
  (`EndpointUnreachable`), and too many failed items (`TooManyFailures`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openai

from medinstruct_core.llm.cache import ResponseCache, cache_key
from medinstruct_core.llm.config import ClientConfig, Price
from medinstruct_core.llm.ledger import BudgetExceeded, Ledger, Reservation
from medinstruct_core.llm.limits import Cooldown, TokenBucket, backoff_delay
from medinstruct_core.llm.stats import ClientStats, Progress, ProgressSink
from medinstruct_core.llm.tracing import LLMCall, OnCall
from medinstruct_core.llm.types import Endpoint, FailureReason, LLMRequest, LLMResult, ResponseMode
from medinstruct_core.llm.wire import (
    Completion,
    Failed,
    build_payload,
    classify,
    estimate_tokens,
    parse_completion,
    prompt_tokens_for,
)

log = logging.getLogger(__name__)

# A server asking for a longer pause than this is treated as asking for this
# long: a stray "Retry-After: 86400" must not freeze a stage for a day.
RETRY_AFTER_CAP_S = 600.0
# run() raises EndpointUnreachable once this many items in a row (each after all
# its retries) failed to connect, counted over the client's whole life (a stage
# calling run() in small rounds must trip it too): the server is down, and every
# further item would only burn its own retry budget. What was answered is cached.
UNREACHABLE_AFTER = 3
OPENAI_URL = "https://api.openai.com/v1"
# The stage and ledger spend in `stats` are re-read after a paid reply at most this
# often (seconds), and always when a run() ends.
SPEND_REFRESH_S = 1.0
# Chat completions are sent with the SDK's generic `post` and a body we built, not
# with `chat.completions.create(**body)`: `create` walks the body through its
# TypedDict transform (every message against every message type), which was a
# fifth of the client's CPU per request (0.4 of 2 ms) and changes nothing in a body
# of plain strings and numbers. The SDK is still the transport (base URL, auth
# headers, timeout, status errors as `openai.APIStatusError`), and `cast_to=str`
# hands back the raw body text, as `with_raw_response` did.
CHAT_PATH = "/chat/completions"

__all__ = [
    "BudgetExceeded",
    "ClientStats",
    "EndpointRefused",
    "EndpointUnreachable",
    "LLMClient",
    "TooManyFailures",
    "UnpricedModel",
]


class EndpointUnreachable(RuntimeError):
    """No request could even connect: wrong URL, server down, firewall."""


class EndpointRefused(RuntimeError):
    """The endpoint refuses every request (HTTP 401/403, 429 insufficient_quota):
    retrying cannot help, so the stage stops after the first such reply."""


class TooManyFailures(RuntimeError):
    """Every request of a run() failed, or more than `llm.client.max_failure_rate` of
    the client's requests did: the output would be too thin to be worth keeping."""


class UnpricedModel(RuntimeError):
    """A paid endpoint's model has no `llm.client.prices` entry: the budget could not hold."""


class _LoopState:
    """What must belong to one event loop: the SDK's HTTP pool, the in-flight
    semaphore and the table of identical requests already on their way."""

    def __init__(self, endpoint: Endpoint, config: ClientConfig) -> None:
        self.loop = asyncio.get_running_loop()
        self.sdk = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or "EMPTY",  # local servers ignore it; the SDK wants one
            max_retries=0,
            timeout=config.timeout_s,
        )
        self.slots = asyncio.Semaphore(config.max_concurrency)
        self.inflight: dict[str, asyncio.Future[LLMResult]] = {}
        # Until the endpoint has answered once, one attempt at a time: a wrong key
        # or an exhausted quota is then found with 1 request, not max_concurrency.
        self.probe = asyncio.Lock()


class LLMClient:
    """Chat completions against one endpoint, with cache, limits, retries, budget and stats.

    `ledger` is the shared spend ledger (open_role passes `<cache_dir>/ledger.sqlite`);
    without one, a priced client keeps an in-memory ledger capped at `config.budget_usd`.
    `stage` names the stage in the ledger. `on_call` (e.g. a `tracing.MlflowTracer`)
    is called with an `LLMCall` after every answered request, paid or cached.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        config: ClientConfig,
        *,
        cache: ResponseCache | None = None,
        role: str = "",
        stage: str = "",
        ledger: Ledger | None = None,
        on_call: OnCall | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.config = config
        self.cache = cache
        self.role = role
        self.stage = stage
        self.on_call = on_call
        self.stats = ClientStats()
        self.budget_exhausted = False
        self._price = self._check_price()
        if ledger is None and self._price is not None:
            ledger = Ledger(Path(":memory:"), config.budget_usd)
        self.ledger = ledger
        self._rpm = TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        self._tpm = TokenBucket(config.tokens_per_minute) if config.tokens_per_minute else None
        self._cooldown = Cooldown()
        self._rng = random.Random()  # jitter only: nothing reproducible depends on it
        self._budget_message = ""
        self._ever_answered = False
        self._probed = False  # an attempt got through to the server (any answer but a refusal)
        self._refused: EndpointRefused | None = None
        self._connect_streak = 0  # items in a row that failed to connect, across run() calls
        self._state: _LoopState | None = None
        self._progress: Progress | None = None
        # Gets a ProgressReport at intervals during run() (tracing.MlflowProgress: metrics).
        self.progress_sink: ProgressSink | None = None
        self._postfix: dict[str, Any] = {}
        self._spend_read_at = 0.0
        self._refresh_spend()

    @property
    def free(self) -> bool:
        """Whether the endpoint costs nothing: the embedded server or a `free_endpoints` URL."""
        url = self.endpoint.base_url or OPENAI_URL
        return self.endpoint.kind == "embedded" or url.startswith(tuple(self.config.free_endpoints))

    def _check_price(self) -> Price | None:
        """The model's price; refuse a paid endpoint without one before anything is sent."""
        model = self.endpoint.model
        price = self.config.prices.get(model)
        if price is None and not self.free:
            url = self.endpoint.base_url or OPENAI_URL
            raise UnpricedModel(
                f"LLM {self.role or 'llm'} @ {url}: model '{model}' has no price, so "
                f"llm.client.budget_usd could not hold: set llm.client.prices.{model} "
                "(USD per 1M tokens: {input: ..., output: ...}) in params.yaml, or add the "
                "URL to llm.client.free_endpoints if it is a free local server"
            )
        return price

    @property
    def response_mode(self) -> ResponseMode:
        return self.endpoint.response_mode

    @property
    def where(self) -> str:
        """How errors name this client: role and URL, never the key."""
        url = self.endpoint.base_url or "https://api.openai.com/v1"
        return f"{self.role or 'llm'} @ {url} ({self.endpoint.model})"

    def set_postfix(self, **values: Any) -> None:
        """Extra fields for the progress bar (e.g. `kept=123` from an on_result callback)."""
        self._postfix.update(values)
        if self._progress is not None:
            self._progress.postfix(self.stats, self._postfix)

    # -- one request -----------------------------------------------------------------
    async def acomplete(self, request: LLMRequest) -> LLMResult:
        """Answer one request: from the cache if possible, else from the endpoint."""
        started_ns = time.time_ns()
        state = self._loop_state()
        key = cache_key(self.endpoint, request)
        result = self._from_cache(key, request)
        if result is None:
            pending = state.inflight.get(key)
            if pending is not None:  # the same request is already on its way: share it
                shared = await asyncio.shield(pending)
                result = dataclasses.replace(
                    shared, request=request, cached=shared.ok, cost_usd=0.0
                )
            else:
                result = await self._fetch_shared(state, key, request)
        self.stats.record(result)
        if self.on_call is not None and result.ok:
            self.on_call(self._call_record(key, request, result, started_ns))
        return result

    def _call_record(
        self, key: str, request: LLMRequest, result: LLMResult, started_ns: int
    ) -> LLMCall:
        """What `on_call` sees: the exchange with the key scrubbed from every text."""
        messages = tuple({k: self._scrub(str(v)) for k, v in m.items()} for m in request.messages)
        return LLMCall(
            key=key, role=self.role, stage=self.stage, model=result.model or self.endpoint.model,
            messages=messages, reply=self._scrub(result.text or ""),
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            latency_s=result.latency_s, cache_hit=result.cached,
            start_ns=started_ns, end_ns=time.time_ns(),
        )  # fmt: skip

    async def _fetch_shared(self, state: _LoopState, key: str, request: LLMRequest) -> LLMResult:
        future: asyncio.Future[LLMResult] = state.loop.create_future()
        state.inflight[key] = future
        try:
            result = await self._fetch(state, request)
            if result.ok and self.cache is not None:
                self.cache.put(key, _cache_value(result))  # committed before anyone sees it
            future.set_result(result)
            return result
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody may be waiting on it
            raise
        finally:
            del state.inflight[key]

    def _from_cache(self, key: str, request: LLMRequest) -> LLMResult | None:
        if self.cache is None:
            return None
        before = self.cache.store_hits
        stored = self.cache.get(key)
        if self.cache.store_hits > before:
            self.stats.store_hits += 1  # came with the data (the stage's reply store): $0
        if stored is None:
            return None
        return LLMResult(
            request=request,
            text=stored["text"],
            finish_reason=stored.get("finish_reason", "unknown"),
            prompt_tokens=int(stored.get("prompt_tokens", 0)),
            completion_tokens=int(stored.get("completion_tokens", 0)),
            cached=True,
            model=stored.get("model", self.endpoint.model),
        )

    async def _fetch(self, state: _LoopState, request: LLMRequest) -> LLMResult:
        async with state.slots:
            try:
                reservation = self._reserve(request)
            except BudgetExceeded as exc:
                return self._failure(request, "budget_exhausted", f"{self.where}: {exc}", 0)
            result: LLMResult | None = None
            try:
                result = await self._with_retries(state, request)
                return result
            finally:
                self._settle(reservation, result)

    async def _with_retries(self, state: _LoopState, request: LLMRequest) -> LLMResult:
        failed: Failed | None = None
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                await asyncio.sleep(self._retry_delay(attempt - 1, failed))
            estimate = await self._wait_turn(request)
            outcome = await self._attempt(state, request)
            if isinstance(outcome, LLMResult):
                self._settle_tokens(estimate, outcome.prompt_tokens + outcome.completion_tokens)
                self._cooldown.settle()
                outcome.attempts = attempt + 1
                return outcome
            self._settle_tokens(estimate, 0)  # a failed call used no tokens: refund them
            failed = outcome
            log.debug("%s: attempt %d failed: %s", request.key, attempt + 1, failed.message)
            if not failed.retryable:
                break
        assert failed is not None
        message = failed.message
        if failed.retryable:
            message += f" (gave up after {attempt + 1} attempts)"
        return self._failure(request, failed.reason, message, attempt + 1)

    def _retry_delay(self, retry: int, failed: Failed | None) -> float:
        if failed is not None and failed.retry_after_s is not None:
            wait = min(failed.retry_after_s, RETRY_AFTER_CAP_S)
            self._cooldown.extend(wait)  # the server is overloaded for everyone, not just us
            return wait
        if failed is not None and failed.reason == "rate_limited":
            # No Retry-After: still overloaded for everyone, so one shared backoff.
            return self._cooldown.backoff(
                self.config.backoff_initial_s, self.config.backoff_max_s, self._rng
            )
        return backoff_delay(
            retry, self.config.backoff_initial_s, self.config.backoff_max_s, self._rng
        )

    async def _wait_turn(self, request: LLMRequest) -> int:
        """Wait for the cooldown and the rpm/tpm buckets; return the tokens reserved."""
        estimate = estimate_tokens(request)
        waits = [self._cooldown.remaining()]
        if self._rpm is not None:
            waits.append(self._rpm.reserve(1))
        if self._tpm is not None:
            waits.append(self._tpm.reserve(estimate))
        delay = max(waits)
        if delay > 0:
            await asyncio.sleep(delay)
        remaining = self._cooldown.remaining()  # a 429 elsewhere may have paused us meanwhile
        if remaining > 0:
            await asyncio.sleep(remaining)
        return estimate

    def _settle_tokens(self, estimate: int, actual: int) -> None:
        if self._tpm is not None:
            self._tpm.adjust(actual - estimate)

    async def _attempt(self, state: _LoopState, request: LLMRequest) -> LLMResult | Failed:
        """One HTTP call, alone while the endpoint is unproven. Returns the result, or why
        it failed; raises EndpointRefused (now and for every later call) on a refusal."""
        if self._refused is not None:
            raise self._refused
        if not self._probed:
            async with state.probe:
                if self._refused is not None:
                    raise self._refused
                if not self._probed:  # the waiters behind the probe send in parallel
                    outcome = await self._send(state, request)
                    self._probed = True
                    return outcome
        return await self._send(state, request)

    async def _send(self, state: _LoopState, request: LLMRequest) -> LLMResult | Failed:
        self.stats.api_calls += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.config.timeout_s):  # total deadline, not per read
                body = await state.sdk.post(
                    CHAT_PATH, body=build_payload(self.endpoint, request), cast_to=str
                )
            completion = parse_completion(body, request, self.endpoint.model)
        except Exception as exc:
            failed = classify(exc, self._scrub(f"{self.where} request {request.key!r}"))
            failed = dataclasses.replace(failed, message=self._scrub(failed.message))
            if failed.refused:
                self._refused = EndpointRefused(
                    " ".join(failed.message.split()) + "; retrying cannot fix this, stage stopped"
                )
                raise self._refused from None
            return failed
        self._ever_answered = True
        return self._success(request, completion, time.monotonic() - started)

    # -- results ---------------------------------------------------------------------
    def _success(self, request: LLMRequest, done: Completion, latency_s: float) -> LLMResult:
        cost = self._cost(done.prompt_tokens, done.completion_tokens, done.model)
        return LLMResult(
            request=request,
            text=done.text,
            finish_reason=done.finish_reason,
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
            latency_s=latency_s,
            model=done.model,
            cost_usd=cost,
        )

    def _failure(
        self, request: LLMRequest, reason: FailureReason, message: str, attempts: int
    ) -> LLMResult:
        return LLMResult(request=request, text=None, error=message, failure=reason,
                         attempts=attempts, model=self.endpoint.model)  # fmt: skip

    def _cost(self, prompt_tokens: int, completion_tokens: int, model: str = "") -> float:
        """USD from `config.prices` (per 1M tokens); unpriced free endpoints cost 0."""
        price = self._price or self.config.prices.get(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price.input + completion_tokens * price.output) / 1e6

    def _reserve(self, request: LLMRequest) -> Reservation | None:
        """Reserve the worst-case cost of `request` in the ledger (None: nothing to pay).

        Counting in-flight requests at their worst case (full `max_tokens`) makes
        `budget_usd` a hard cap even with many requests in flight, in every process
        sharing the ledger. Once it says no, it stays no for this client, so a stage
        stops cleanly instead of trickling small requests. Raises BudgetExceeded.
        """
        if self.ledger is None or self._price is None:
            return None
        if self.budget_exhausted:
            raise BudgetExceeded(self._budget_message)
        model = self.endpoint.model
        worst = self._cost(prompt_tokens_for(request, model), request.sampling.max_tokens)
        try:
            return self.ledger.reserve(worst)
        except BudgetExceeded as exc:
            log.warning("%s: %s", self.where, exc)
            self.budget_exhausted, self._budget_message = True, str(exc)
            raise

    def _settle(self, reservation: Reservation | None, result: LLMResult | None) -> None:
        """Commit the actual cost of a paid reply, or release what an unpaid one reserved."""
        if reservation is None or self.ledger is None:
            return
        if result is None or not result.ok:
            self.ledger.release(reservation)
            return
        self.ledger.commit(
            reservation, role=self.role, stage=self.stage, model=result.model,
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            usd=result.cost_usd,
        )  # fmt: skip
        if time.monotonic() - self._spend_read_at >= SPEND_REFRESH_S:
            self._refresh_spend()

    def _refresh_spend(self) -> None:
        """Read this stage's and the ledger's spend into `stats` (O(stages), see ledger.py).

        After a paid reply at most every SPEND_REFRESH_S, and when a run() ends: two reads
        per reply would add a fifth to the ledger's cost per request, for numbers that are
        only watched (progress reports, metrics).
        """
        self._spend_read_at = time.monotonic()
        if self.ledger is not None:
            stage, total = self.ledger.spend(self.stage), self.ledger.spend()
            self.stats.spend_usd_total, self.stats.spend_answers_total = total.usd, total.answers
            self.stats.spend_usd_stage, self.stats.spend_answers_stage = stage.usd, stage.answers
            self.stats.spend_usd_batch_stage = stage.batch_usd
            self.stats.spend_answers_batch_stage = stage.batch_answers
            self.stats.spend_batches_stage = stage.batch_rows

    def _scrub(self, text: str) -> str:
        key = self.endpoint.api_key
        return text.replace(key, "***") if key and len(key) >= 4 else text

    # -- batches ---------------------------------------------------------------------
    def run(
        self,
        requests: Sequence[LLMRequest],
        *,
        on_result: Callable[[LLMResult], None] | None = None,
        desc: str = "",
        progress: bool = True,
    ) -> list[LLMResult]:
        """Answer every request; results come back in input order.

        `on_result` is called once per result as it completes (completion order), on
        the thread running the loop; an exception it raises aborts the batch (every
        answer so far is already in the cache). Failed items come back with `failure`
        set, unless what failed cannot be cured by going on: then run() raises
        EndpointRefused (bad key, no quota), EndpointUnreachable, BudgetExceeded (the
        budget was spent before this client got any answer) or TooManyFailures (every
        item of this run failed, or more than `max_failure_rate` of the client's items).
        """
        batch = _Batch(self, list(requests), on_result)
        coro = self._run_batch(batch, desc or self.role or "llm", progress)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        # Called from async code (e.g. a notebook): run our loop on a worker thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coro).result()

    async def _run_batch(self, batch: _Batch, desc: str, progress: bool) -> list[LLMResult]:
        self._progress = Progress(
            len(batch.requests), desc, enabled=progress, sink=self.progress_sink
        )
        self._progress.postfix(self.stats, self._postfix)
        workers = [asyncio.create_task(batch.worker()) for _ in range(self.config.max_concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._progress.close(self.stats)
            self._progress = None
            self._refresh_spend()
            await self.aclose()
        results = batch.ordered()
        self._check_failures(results)
        return results

    def _check_failures(self, results: list[LLMResult]) -> None:
        """Raise when a run's failures say the stage cannot produce anything worth keeping.

        Budget refusals are not failures (stopping at the cap is the point of a cap)
        unless nothing at all was answered: then the stage would write an empty output.
        """
        counted = [r for r in results if r.failure != "budget_exhausted"]
        if results and not counted and self._lifetime_counted() == 0:
            raise BudgetExceeded(self._budget_message or f"{self.where}: budget reached")
        failed = [r for r in counted if r.failure is not None]
        if not failed:
            return
        if all(r.failure == "connection" for r in counted) and not self._ever_answered:
            raise EndpointUnreachable(self._unreachable(len(failed), failed[-1].error))
        total = self._lifetime_counted()
        bad = self.stats.failed - self.stats.failures["budget_exhausted"]
        limit = self.config.max_failure_rate
        if len(failed) == len(counted) or bad > limit * total:
            raise TooManyFailures(
                f"LLM {self.where}: {len(failed)} of {len(counted)} requests of this run failed; "
                f"{bad} of {total} for this client ({self.stats.describe_failures()}), "
                f"over llm.client.max_failure_rate={limit:g}. Last error: {failed[-1].error}"
            )

    def _lifetime_counted(self) -> int:
        return self.stats.requests - self.stats.failures["budget_exhausted"]

    def _check_reachable(self, result: LLMResult) -> None:
        """Count items in a row that failed to connect, over the client's whole life."""
        if result.cached:
            return
        if result.failure != "connection":
            self._connect_streak = 0
            return
        self._connect_streak += 1
        if self._connect_streak >= UNREACHABLE_AFTER:
            raise EndpointUnreachable(self._unreachable(self._connect_streak, result.error))

    def _unreachable(self, n: int, error: str | None) -> str:
        which = "the last" if self._ever_answered else "the first"
        return (
            f"LLM endpoint {self.where} is unreachable: {which} {n} requests all failed to "
            f"connect after {self.config.max_retries} retries each (last error: {error}). "
            "Is the server running and the URL right?"
        )

    def _on_batch_result(self, result: LLMResult) -> None:
        if self._progress is not None:
            self._progress.advance(self.stats, self._postfix)

    async def aclose(self) -> None:
        """Close the HTTP pool of the current loop (run() does this itself)."""
        state, self._state = self._state, None
        if state is not None:
            await state.sdk.close()

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            self._state = _LoopState(self.endpoint, self.config)
        return self._state


class _Batch:
    """One run(): a queue of (index, request), workers that drain it, results by index."""

    def __init__(
        self,
        client: LLMClient,
        requests: list[LLMRequest],
        on_result: Callable[[LLMResult], None] | None,
    ) -> None:
        self.client = client
        self.requests = requests
        self.on_result = on_result
        self.results: list[LLMResult | None] = [None] * len(requests)
        self._next = iter(enumerate(requests))

    async def worker(self) -> None:
        # Pulling from one shared iterator issues requests in input order, which keeps
        # a resumed run's cache hits contiguous and the progress ETA honest.
        for index, request in self._next:
            result = await self.client.acomplete(request)
            self.results[index] = result
            self.client._check_reachable(result)
            self.client._on_batch_result(result)
            if self.on_result is not None:
                self.on_result(result)

    def ordered(self) -> list[LLMResult]:
        missing = [i for i, r in enumerate(self.results) if r is None]
        if missing:
            raise RuntimeError(f"internal error: no result for items {missing[:5]}")
        return [r for r in self.results if r is not None]


def _cache_value(result: LLMResult) -> dict[str, Any]:
    """What a cache row holds: the answer and its token counts, nothing about the key."""
    return {
        "text": result.text,
        "finish_reason": result.finish_reason,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "model": result.model,
    }
