"""OpenAI Batch API mode for one role (`llm.<role>.batch: true`).

Why a second way to send the same requests: the Batch API answers within 24 h
at half the price, which is what a 50k-instruction generation or a full judge
pass wants. `run_batch(client, requests)` takes the `LLMRequest`s that
`client.run()` takes and returns the same `LLMResult`s in the same order, so a
stage swaps one call for the other and nothing downstream changes.

Why it is built this way:
- the `custom_id` of each JSONL line is the request's cache key, and every
  answered line goes into the client's content-addressed `ResponseCache`, so a
  batch answer and a live answer to the same request are the same cache row;
- each submission is recorded in `<cache_dir>/batches/<input_file_id>.json`
  (atomically) right after the upload, with the sha256 of the uploaded JSONL
  (the intent), and again, with the batch id, before polling starts. A crash,
  Ctrl-C or kill -9 leaves that record behind, and the next run resumes polling
  it instead of paying again. The batch itself carries that sha256 in its
  `metadata` (`medinstruct_sha256`). A record killed between `batches.create` and
  writing the id has no batch id: the WHOLE batch list of the account is paged
  through (the SDK's `after` cursor, 100 a page) for a batch on its input file,
  else one tagged with its sha256, before anything is created, so even that
  window never submits twice, however many newer batches the account holds;
- the worst case of every line (full `max_tokens`, batch price) is reserved in
  the ledger before the batch is created, so `budget_usd` holds even if every
  line runs to `max_tokens`; lines past what the budget allows are not sent
  (`budget_exhausted`). Each batch is then committed as ONE ledger row at its
  actual batch price (half the listed price), its `answers` column holding the
  number of paid lines: per-line reservations would cost O(lines^2), as the
  ledger sums its open reservations on every reserve. A kill before that
  commit is ledgered by the resumed run;
- request lists over `max_lines` / `max_bytes` are split into several batches,
  all submitted before any is polled;
- failed lines (HTTP 408/409/429/5xx, unparsable bodies) and expired lines are
  re-sent, and only those, for at most `max_rounds` submissions per line.
  Client errors (400, 401...) and lines of a cancelled or invalid batch come
  back as failures at once: re-sending them would fail the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import openai
from pydantic import ValidationError

from medinstruct_core.io import DataError, write_json
from medinstruct_core.llm.cache import ResponseCache, cache_key
from medinstruct_core.llm.config import ClientConfig, Sampling
from medinstruct_core.llm.ledger import BudgetExceeded, Ledger
from medinstruct_core.llm.types import Endpoint, FailureReason, LLMRequest, LLMResult
from medinstruct_core.llm.wire import (
    RETRYABLE_STATUS,
    BadResponse,
    Completion,
    build_payload,
    estimate_tokens,
    parse_completion,
)
from medinstruct_core.params import Config

log = logging.getLogger(__name__)

# The Batch API bills every token at half the synchronous price.
BATCH_PRICE_FACTOR = 0.5
CHAT_URL: Final = "/v1/chat/completions"
# The Batch API `metadata` key tagging a batch with the sha256 of its input JSONL.
SHA256_TAG: Final = "medinstruct_sha256"
COMPLETION_WINDOW: Final = "24h"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
RETRYABLE_LINE_STATUS = RETRYABLE_STATUS | {429}
# parse_completion uses the request only to estimate tokens a server left out;
# lines of a resumed batch that this run did not ask for get this stand-in.
_UNKNOWN_REQUEST = LLMRequest(messages=(), sampling=Sampling())

__all__ = [
    "BatchPending",
    "BatchRecord",
    "BatchRunner",
    "LedgerLike",
    "run_batch",
    "uses_batch_api",
]


class BatchPending(RuntimeError):
    """`max_wait_s` passed while a batch was still running. Its record stays in the
    cache directory: running the stage again resumes polling it."""


class LedgerLike(Protocol):
    """What the runner needs of `medinstruct_core.llm.ledger.Ledger` (tests pass fakes).
    `reserve` raises `BudgetExceeded` when `usd` more could break the cap."""

    def reserve(self, usd: float) -> Any: ...

    def commit(self, reservation: Any, *, role: str, stage: str, model: str,
               prompt_tokens: int, completion_tokens: int, usd: float,
               batch: bool = False, answers: int = 1) -> None: ...  # fmt: skip

    def release(self, reservation: Any) -> None: ...


class BatchRecord(Config):
    """One submitted batch as persisted in `<cache_dir>/batches/`: enough to resume it."""

    input_file_id: str
    batch_id: str | None = None  # None: killed before the batch id was written
    content_sha256: str = ""  # of the uploaded JSONL; "" in records of older versions
    lines: dict[str, float]  # custom_id (= cache key) -> worst-case USD reserved for it
    model: str
    created: float


@dataclasses.dataclass(frozen=True)
class _LineFailure:
    reason: FailureReason
    message: str
    retryable: bool


@dataclasses.dataclass
class _RunState:
    """What one `run()` learns: paid answers, failures and submissions per cache key."""

    todo: dict[str, LLMRequest]  # uncached keys -> their first request, in input order
    paid: dict[str, LLMResult] = dataclasses.field(default_factory=dict)
    failed: dict[str, _LineFailure] = dataclasses.field(default_factory=dict)
    tries: Counter[str] = dataclasses.field(default_factory=Counter)
    held: dict[str, Any] = dataclasses.field(default_factory=dict)  # input file id -> reservation
    refused: bool = False  # the budget said no once: nothing new is sent after that


class BatchRunner:
    """Sends one role's requests through the Batch API; same in/out as `LLMClient.run`.

    `client` supplies the endpoint, config, cache, role, stats (and ledger, when it has
    one); the runner never sends a synchronous chat request itself. `max_lines` and
    `max_bytes` split a large request list into several batches (OpenAI's limits are
    50,000 lines and 200 MB per input file).
    """

    def __init__(
        self,
        client: Any,
        *,
        ledger: LedgerLike | None = None,
        stage: str = "",
        poll_s: float = 30.0,
        max_rounds: int = 3,
        max_wait_s: float | None = None,
        max_lines: int = 50_000,
        max_bytes: int = 190_000_000,
        batch_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_poll: Callable[[Any], None] | None = None,
    ) -> None:
        if client.cache is None:
            raise ValueError(
                f"{client.where}: batch mode needs the response cache (results land there)"
            )
        if client.endpoint.kind == "embedded":
            raise ValueError(
                f"{client.where}: batch: true needs a remote endpoint with a Batch API"
            )
        if max_rounds < 1 or poll_s < 0 or max_lines < 1:
            raise ValueError(f"need max_rounds >= 1, poll_s >= 0, max_lines >= 1; got "
                             f"{max_rounds}, {poll_s}, {max_lines}")  # fmt: skip
        self.client = client
        self.endpoint: Endpoint = client.endpoint
        self.config: ClientConfig = client.config
        self.cache: ResponseCache = client.cache
        self.ledger = _ledger_of(client, ledger)
        self.stage = stage or getattr(client, "stage", "")
        self.poll_s, self.max_rounds, self.max_wait_s = poll_s, max_rounds, max_wait_s
        self.max_lines, self.max_bytes = max_lines, max_bytes
        self.batch_dir = batch_dir or self.cache.path.parent / "batches"
        self.sleep, self.on_poll = sleep, on_poll
        self._sdk: openai.OpenAI | None = None
        self._check_price()

    # -- the one public call -----------------------------------------------------------
    def run(
        self,
        requests: Sequence[LLMRequest],
        *,
        on_result: Callable[[LLMResult], None] | None = None,
        desc: str = "",
        progress: bool = True,
    ) -> list[LLMResult]:
        """Answer every request; results in input order. `desc`/`progress` exist for
        call compatibility with `LLMClient.run` (polling is logged, not drawn)."""
        requests = list(requests)
        keys = [cache_key(self.endpoint, r) for r in requests]
        state = _RunState(todo=self._uncached(keys, requests))
        try:
            self._resume(state, set(keys))
            self._rounds(state)
        finally:
            self._release_all(state)
            self._close()
        results = self._assemble(state, keys, requests)
        for result in results:
            self.client.stats.record(result)
            if on_result is not None:
                on_result(result)
        return results

    def _uncached(self, keys: list[str], requests: list[LLMRequest]) -> dict[str, LLMRequest]:
        todo: dict[str, LLMRequest] = {}
        for key, request in zip(keys, requests, strict=True):
            if key not in todo and self.cache.get(key) is None:
                todo[key] = request
        return todo

    # -- rounds --------------------------------------------------------------------------
    def _resume(self, state: _RunState, keys: set[str]) -> None:
        """Finish every recorded batch that holds a requested line, before sending anything.

        Cached lines count too: a run killed after caching a batch's answers but before
        ledgering it left its record behind, and finishing it ledgers what was paid.
        """
        for path, record in self._records():
            if not record.lines.keys() & keys:
                continue
            log.info("%s: resuming batch %s (%s)", self.client.where, record.batch_id or "?", path)
            record = self._ensure_created(path, record)
            self._hold_resumed(state, record)
            self._finish(state, path, record)

    def _rounds(self, state: _RunState) -> None:
        # Each pass submits every line still owed an answer; tries only grow, so this ends.
        for _ in range(self.max_rounds):
            send = [key for key in state.todo if self._owed(state, key)]
            submitted = [
                sent for chunk in self._chunks(state, send)
                if (sent := self._submit(state, chunk)) is not None
            ]  # fmt: skip
            if not submitted:
                return
            for path, record in submitted:  # all are running server-side while we wait
                self._finish(state, path, record)

    def _owed(self, state: _RunState, key: str) -> bool:
        failure = state.failed.get(key)
        retry_ok = failure is None or failure.retryable
        return key not in state.paid and retry_ok and state.tries[key] < self.max_rounds

    def _chunks(self, state: _RunState, send: list[str]) -> Iterator[dict[str, bytes]]:
        """The JSONL lines of `send`, split at `max_lines` lines or `max_bytes` bytes."""
        chunk: dict[str, bytes] = {}
        size = 0
        for key in send:
            row = {"custom_id": key, "method": "POST", "url": CHAT_URL,
                   "body": build_payload(self.endpoint, state.todo[key])}  # fmt: skip
            line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
            if chunk and (len(chunk) >= self.max_lines or size + len(line) > self.max_bytes):
                yield chunk
                chunk, size = {}, 0
            chunk[key], size = line, size + len(line)
        if chunk:
            yield chunk

    # -- budget --------------------------------------------------------------------------
    def _hold(self, worst: list[float]) -> tuple[int, Any]:
        """Reserve the worst case of the longest prefix of lines the budget allows.

        One reservation per batch, not per line: the ledger sums its open reservations
        on every call, so 50,000 per-line reservations would take minutes. The prefix
        is found by bisection over refused reservations (~16 tries for 50,000 lines).
        """
        totals = list(itertools.accumulate(worst))
        low, high, mid = 0, len(totals), len(totals)  # most batches fit whole: try that first
        while low < high:
            try:
                reservation = self.ledger.reserve(totals[mid - 1])
            except BudgetExceeded:
                high = mid - 1
            else:
                if mid == high:
                    return mid, reservation
                self.ledger.release(reservation)
                low = mid
            mid = (low + high + 1) // 2
        if low == 0:
            return 0, None
        try:
            return low, self.ledger.reserve(totals[low - 1])
        except BudgetExceeded:  # another process took the room meanwhile
            return 0, None

    def _hold_resumed(self, state: _RunState, record: BatchRecord) -> None:
        """A resumed batch is billed whatever we do: hold its cost if the budget allows,
        and collect it either way (its cost is then ledgered without a prior hold)."""
        try:
            state.held[record.input_file_id] = self.ledger.reserve(sum(record.lines.values()))
        except BudgetExceeded as exc:
            log.warning(
                "%s: resumed batch over budget, collecting anyway: %s", self.client.where, exc
            )

    def _refuse(self, state: _RunState, keys: list[str]) -> None:
        if not keys:
            return
        state.refused = True
        self.client.budget_exhausted = True
        cap = self.config.budget_usd
        message = f"{self.client.where}: budget_usd={cap} reached (ledger); line not sent"
        for key in keys:
            state.failed[key] = _LineFailure("budget_exhausted", message, False)

    def _release_all(self, state: _RunState) -> None:
        """Free what is still held (an interrupted run): a resumed run reserves again."""
        for name in list(state.held):
            self.ledger.release(state.held.pop(name))

    def _worst_usd(self, request: LLMRequest) -> float:
        max_tokens = request.sampling.max_tokens
        return self._cost(estimate_tokens(request) - max_tokens, max_tokens, self.endpoint.model)

    def _cost(self, prompt_tokens: int, completion_tokens: int, model: str) -> float:
        """Batch price: `BATCH_PRICE_FACTOR` times `config.prices` (USD per 1M tokens)."""
        price = self.config.prices.get(self.endpoint.model) or self.config.prices.get(model)
        if price is None:
            return 0.0  # only free endpoints get here (see _check_price)
        listed = (prompt_tokens * price.input + completion_tokens * price.output) / 1e6
        return listed * BATCH_PRICE_FACTOR

    def _check_price(self) -> None:
        """A paid endpoint without a price would make the budget meaningless: refuse it."""
        url = self.endpoint.base_url or "https://api.openai.com/v1"
        free = url.startswith(tuple(self.config.free_endpoints))
        if not free and self.endpoint.model not in self.config.prices:
            raise ValueError(
                f"{self.client.where}: no price for model {self.endpoint.model!r} in "
                "llm.client.prices; batch costs could not be budgeted"
            )

    # -- submitting ----------------------------------------------------------------------
    def _submit(self, state: _RunState, chunk: dict[str, bytes]) -> tuple[Path, BatchRecord] | None:
        """Hold the budget, upload the JSONL, record it, create the batch, record its id."""
        keys = list(chunk)
        worst = [self._worst_usd(state.todo[key]) for key in keys]
        fits, reservation = (0, None) if state.refused else self._hold(worst)
        self._refuse(state, keys[fits:])
        if fits == 0:
            return None
        data = b"".join(chunk[key] for key in keys[:fits])
        digest = hashlib.sha256(data).hexdigest()
        try:
            upload = self._client().files.create(
                file=("batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
        except BaseException:
            self.ledger.release(reservation)
            raise
        state.held[upload.id] = reservation
        lines = dict(zip(keys[:fits], worst[:fits], strict=True))
        record = BatchRecord(input_file_id=upload.id, lines=lines, model=self.endpoint.model,
                             created=time.time(), content_sha256=digest)  # fmt: skip
        path = self.batch_dir / f"{upload.id}.json"
        write_json(path, record.model_dump(mode="json"))  # from here on a kill is resumable
        self.client.stats.api_calls += fits
        return path, self._create(path, record)

    def _create(self, path: Path, record: BatchRecord) -> BatchRecord:
        metadata = {"role": self.client.role or "", "stage": self.stage or ""}
        if record.content_sha256:
            metadata[SHA256_TAG] = record.content_sha256
        batch = self._client().batches.create(
            input_file_id=record.input_file_id, endpoint=CHAT_URL,
            completion_window=COMPLETION_WINDOW, metadata=metadata,
        )  # fmt: skip
        record = record.model_copy(update={"batch_id": batch.id})
        write_json(path, record.model_dump(mode="json"))
        log.info(
            "%s: submitted batch %s with %d lines", self.client.where, batch.id, len(record.lines)
        )
        return record

    def _ensure_created(self, path: Path, record: BatchRecord) -> BatchRecord:
        """A record without a batch id: adopt the server's batch for it, else create one."""
        if record.batch_id is not None:
            return record
        found = self._find_batch(record)
        if found is None:
            return self._create(path, record)
        log.info("%s: adopting batch %s for %s", self.client.where, found, record.input_file_id)
        record = record.model_copy(update={"batch_id": found})
        write_json(path, record.model_dump(mode="json"))
        return record

    def _find_batch(self, record: BatchRecord) -> str | None:
        """The id of a batch made from this record: on its input file, else the newest one
        tagged with its content hash (the same request set). Pages through the WHOLE list:
        iterating the SDK's page follows the `after` cursor until `has_more` is false."""
        tagged: str | None = None
        for batch in self._client().batches.list(limit=100):
            if batch.input_file_id == record.input_file_id:
                return str(batch.id)
            tag = (batch.metadata or {}).get(SHA256_TAG)
            if tagged is None and record.content_sha256 and tag == record.content_sha256:
                tagged = str(batch.id)
        return tagged

    def _records(self) -> Iterator[tuple[Path, BatchRecord]]:
        """Pending records, oldest file name first. A malformed one is an error naming it."""
        for path in sorted(self.batch_dir.glob("*.json")):
            try:
                yield path, BatchRecord.model_validate_json(path.read_text(encoding="utf-8"))
            except ValidationError as exc:
                raise DataError(f"{path}: not a batch record ({exc.errors()[0]['msg']}); "
                                "move it away to submit its lines again") from None  # fmt: skip

    # -- waiting and collecting ----------------------------------------------------------
    def _finish(self, state: _RunState, path: Path, record: BatchRecord) -> None:
        batch = self._poll(record)
        paid = self._collect(state, batch, record)
        self._ledger_batch(state, record.input_file_id, paid)
        for key in record.lines:
            state.tries[key] += 1
        done = self.batch_dir / "done"
        done.mkdir(parents=True, exist_ok=True)
        path.replace(done / path.name)  # answers cached and ledgered; kept for audit

    def _poll(self, record: BatchRecord) -> Any:
        assert record.batch_id is not None
        started = time.monotonic()
        while True:
            batch = self._client().batches.retrieve(record.batch_id)
            if self.on_poll is not None:
                self.on_poll(batch)
            counts = batch.request_counts
            log.info("%s: batch %s %s (%s/%s done)", self.client.where, batch.id, batch.status,
                     getattr(counts, "completed", "?"), getattr(counts, "total", "?"))  # fmt: skip
            if batch.status in TERMINAL:
                return batch
            if self.max_wait_s is not None and time.monotonic() - started >= self.max_wait_s:
                raise BatchPending(
                    f"{self.client.where}: batch {batch.id} still {batch.status} after "
                    f"{self.max_wait_s:.0f}s; run again to resume it (record in {self.batch_dir})"
                )
            self.sleep(self.poll_s)

    def _collect(self, state: _RunState, batch: Any, record: BatchRecord) -> list[Completion]:
        """Settle every line of a finished batch (paid, failed, or missing from its files);
        return what was paid for."""
        latency = max(0.0, time.time() - record.created)
        rows = self._rows_by_key(batch, record)
        paid = [
            done for key, row in rows.items()
            if (done := self._settle(state, key, row, latency)) is not None
        ]  # fmt: skip
        for key in record.lines.keys() - rows.keys():
            state.failed[key] = _missing(batch)
        return paid

    def _rows_by_key(self, batch: Any, record: BatchRecord) -> dict[str, dict[str, Any]]:
        """Output and error lines by custom_id; malformed, unknown and repeated ones are counted."""
        rows: dict[str, dict[str, Any]] = {}
        rejects: Counter[str] = Counter()
        for file_id in (batch.output_file_id, batch.error_file_id):
            text = self._client().files.content(file_id).text if file_id else ""
            for line in filter(str.strip, text.splitlines()):
                row = _json_object(line)
                key = row.get("custom_id") if row is not None else None
                if row is None:
                    rejects["not_a_json_object"] += 1
                elif key not in record.lines or key in rows:
                    rejects["unknown_or_repeated_custom_id"] += 1
                else:
                    rows[str(key)] = row
        if rejects:
            log.warning(
                "%s: batch %s: rejected lines %s", self.client.where, batch.id, dict(rejects)
            )
        return rows

    def _settle(
        self, state: _RunState, key: str, row: dict[str, Any], latency: float
    ) -> Completion | None:
        response = row.get("response") or {}
        code = response.get("status_code")
        if code is None:
            state.failed[key] = _error_failure(row.get("error"))
            return None
        if code != 200:
            state.failed[key] = _status_failure(int(code), response.get("body"))
            return None
        request = state.todo.get(key, _UNKNOWN_REQUEST)
        try:
            done = parse_completion(json.dumps(response.get("body")), request, self.endpoint.model)
        except BadResponse as exc:
            message = f"batch line {key[:12]}: {exc}"
            state.failed[key] = _LineFailure("bad_response", message, exc.retryable)
            return None
        self._pay(state, key, done, latency)
        return done

    def _pay(self, state: _RunState, key: str, done: Completion, latency: float) -> None:
        """Into the cache at once: a kill after this loses nothing paid for."""
        self.cache.put(key, _cache_row(done))
        state.failed.pop(key, None)
        if key in state.todo:
            state.paid[key] = LLMResult(
                request=state.todo[key], text=done.text, finish_reason=done.finish_reason,
                prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                attempts=state.tries[key] + 1, latency_s=latency, model=done.model,
                cost_usd=self._cost(done.prompt_tokens, done.completion_tokens, done.model),
            )  # fmt: skip

    def _ledger_batch(self, state: _RunState, name: str, paid: list[Completion]) -> None:
        """One ledger row per batch at the batch price (see `_hold` for why not per line).

        Every paid line counts, cached before or not: the batch was billed for all of them.
        A kill before this commit leaves nothing ledgered and the resumed run ledgers it.
        The hold leaves `state.held` only once committed or released (else run() frees it).
        """
        reservation = state.held.get(name)
        if not paid:
            if reservation is not None:
                self.ledger.release(reservation)  # OpenAI bills only answered lines
            state.held.pop(name, None)
            return
        if reservation is None:  # a resumed batch the budget refused: paid all the same
            try:
                reservation = self.ledger.reserve(0.0)
            except BudgetExceeded:
                log.warning("%s: a resumed batch's cost could not be ledgered (ledger over "
                            "its cap)", self.client.where)  # fmt: skip
                return
        model = Counter(done.model for done in paid).most_common(1)[0][0]
        self.ledger.commit(
            reservation, role=self.client.role or "", stage=self.stage or "", model=model,
            prompt_tokens=sum(d.prompt_tokens for d in paid),
            completion_tokens=sum(d.completion_tokens for d in paid),
            usd=sum(self._cost(d.prompt_tokens, d.completion_tokens, d.model) for d in paid),
            batch=True, answers=len(paid),
        )  # fmt: skip
        state.held.pop(name, None)
        self._refresh_spend()

    def _refresh_spend(self) -> None:
        """The stage's and the ledger's spend into the client's stats, as after a live reply."""
        if getattr(self.client, "ledger", None) is self.ledger and hasattr(
            self.client, "_refresh_spend"
        ):
            self.client._refresh_spend()  # the same fields a live reply refreshes, answers included
        elif isinstance(self.ledger, Ledger):
            self.client.stats.spend_usd_stage = self.ledger.stage_usd(self.stage or "")
            self.client.stats.spend_usd_total = self.ledger.total_usd()

    # -- results -------------------------------------------------------------------------
    def _assemble(
        self, state: _RunState, keys: list[str], requests: list[LLMRequest]
    ) -> list[LLMResult]:
        """Input order; a key asked twice is paid once and the repeat is a cache hit."""
        results: list[LLMResult] = []
        handed: set[str] = set()
        for key, request in zip(keys, requests, strict=True):
            paid = state.paid.get(key)
            if paid is not None and key not in handed:
                handed.add(key)
                results.append(dataclasses.replace(paid, request=request))
                continue
            stored = self.cache.get(key)
            if stored is not None:
                results.append(_cached_result(stored, request, self.endpoint.model))
                continue
            failure = state.failed.get(key) or _LineFailure("http_error", "no answer", False)
            results.append(LLMResult(request=request, text=None, error=failure.message,
                                     failure=failure.reason, attempts=state.tries[key],
                                     model=self.endpoint.model))  # fmt: skip
        return results

    # -- the SDK -------------------------------------------------------------------------
    def _client(self) -> openai.OpenAI:
        """A synchronous SDK client, made on first use (a fully cached run sends nothing).
        The SDK's own retries stay on: these are a handful of control calls, not items."""
        if self._sdk is None:
            self._sdk = openai.OpenAI(
                base_url=self.endpoint.base_url, api_key=self.endpoint.api_key or "EMPTY",
                max_retries=self.config.max_retries, timeout=self.config.timeout_s,
            )  # fmt: skip
        return self._sdk

    def _close(self) -> None:
        sdk, self._sdk = self._sdk, None
        if sdk is not None:
            sdk.close()


def run_batch(
    client: Any,
    requests: Sequence[LLMRequest],
    *,
    on_result: Callable[[LLMResult], None] | None = None,
    **options: Any,
) -> list[LLMResult]:
    """`BatchRunner(client, **options).run(requests)`: the drop-in for `client.run(requests)`."""
    return BatchRunner(client, **options).run(requests, on_result=on_result)


def _ledger_of(client: Any, ledger: LedgerLike | None) -> LedgerLike:
    """The given ledger, else the client's, else an in-memory one enforcing `budget_usd`."""
    if ledger is not None:
        return ledger
    own = getattr(client, "ledger", None)
    return own if own is not None else Ledger(Path(":memory:"), client.config.budget_usd)


# -- line outcomes -------------------------------------------------------------------------
def _status_failure(code: int, body: Any) -> _LineFailure:
    error = body.get("error") if isinstance(body, dict) else None
    detail = str(error.get("message"))[:300] if isinstance(error, dict) else ""
    reason: FailureReason = "rate_limited" if code == 429 else "http_error"
    return _LineFailure(reason, f"batch line HTTP {code}: {detail}", code in RETRYABLE_LINE_STATUS)


def _error_failure(error: Any) -> _LineFailure:
    """A line with an `error` and no response: expired, or a server-side problem."""
    code = str(error.get("code")) if isinstance(error, dict) else "unknown"
    message = str(error.get("message"))[:300] if isinstance(error, dict) else ""
    if code == "batch_expired":
        return _LineFailure("timeout", f"batch line expired: {message}", True)
    return _LineFailure(
        "http_error", f"batch line error {code}: {message}", code != "batch_cancelled"
    )


def _missing(batch: Any) -> _LineFailure:
    """Why a line is in neither file, from the batch's final status."""
    if batch.status == "expired":
        return _LineFailure("timeout", f"batch {batch.id} expired before this line ran", True)
    if batch.status == "cancelled":
        return _LineFailure("http_error", f"batch {batch.id} was cancelled", False)
    if batch.status == "failed":
        errors = getattr(batch.errors, "data", None) or []
        detail = "; ".join(str(getattr(e, "message", e)) for e in errors)[:300]
        return _LineFailure("http_error", f"batch {batch.id} failed: {detail}", False)
    return _LineFailure("bad_response", f"batch {batch.id}: line missing from its output", True)


def _json_object(line: str) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _cache_row(done: Completion) -> dict[str, Any]:
    """The same row layout `LLMClient` writes, so either path can read the other's answers."""
    return {"text": done.text, "finish_reason": done.finish_reason,
            "prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "model": done.model}  # fmt: skip


def _cached_result(stored: dict[str, Any], request: LLMRequest, model: str) -> LLMResult:
    return LLMResult(
        request=request, text=stored["text"],
        finish_reason=stored.get("finish_reason", "unknown"),
        prompt_tokens=int(stored.get("prompt_tokens", 0)),
        completion_tokens=int(stored.get("completion_tokens", 0)),
        cached=True, model=stored.get("model", model),
    )  # fmt: skip


def uses_batch_api(client: Any) -> bool:
    """Whether `client.run` sends through the Batch API (`llm.<role>.batch: true`: roles.py
    replaces the client's `run` with a `BatchRunner`'s), so a caller can plan its requests
    for few, large batches instead of many rounds that each wait for a batch."""
    return isinstance(getattr(client.run, "__self__", None), BatchRunner)
