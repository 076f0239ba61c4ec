"""A fault-injecting fake of the OpenAI chat-completions API, over real HTTP.

Tests need to see what the client does on the wire (retries, Retry-After,
timeouts, truncated bodies), so this is a real server on 127.0.0.1 with a
random port, not a mock of the SDK. Each request is recorded (body, a key
derived from it, the fault applied, whether a completion was delivered), so a
test can assert that a request was never sent twice.

In a test (the `fake_openai` fixture in tests/conftest.py starts one)::

    fake_openai.plan(status(429, retry_after="1"), times=2, when="item-3")
    fake_openai.plan(SLOW(5.0))             # the next request, whatever it is
    client = LLMClient(fake_openai.endpoint(), ClientConfig(...))

As a process (benchmarks, smoke runs)::

    python3 -m tests.fakes.fake_openai --latency 0.2   # prints the base URL, serves until killed
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

FaultKind = Literal["ok", "status", "slow", "truncated", "non_json", "length", "hang", "drop"]
Responder = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Fault:
    """What the fake does with one request.

    ok        a normal completion (after the server's fixed latency)
    status    HTTP `status` with an OpenAI-style error body and `headers`
    slow      a normal completion, but only after `delay_s` (use > client timeout)
    truncated HTTP 200 whose JSON body is cut in half (a well-formed HTTP message)
    non_json  HTTP 200 with an HTML body, as proxies send
    length    a normal completion with finish_reason "length"
    hang      never answers (until the server stops): the request is lost in flight
    drop      closes the connection after the headers, mid-body
    """

    kind: FaultKind
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    message: str = ""  # error message of a `status` fault (default "fake HTTP <code>")
    code: str | None = None  # `error.code` of a `status` fault (e.g. "insufficient_quota")


def status(
    code: int,
    *,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    message: str = "",
    error_code: str | None = None,
) -> Fault:
    headers = []
    if retry_after is not None:
        headers.append(("Retry-After", retry_after))
    if retry_after_ms is not None:
        headers.append(("retry-after-ms", retry_after_ms))
    return Fault("status", status=code, headers=tuple(headers), message=message, code=error_code)


def SLOW(delay_s: float) -> Fault:
    return Fault("slow", delay_s=delay_s)


TRUNCATED = Fault("truncated")
NON_JSON = Fault("non_json")
LENGTH = Fault("length")
HANG = Fault("hang")
DROP = Fault("drop")
OK = Fault("ok")
# OpenAI's billing error: HTTP 429 that no wait cures (the account has no credit left).
QUOTA = status(
    429,
    error_code="insufficient_quota",
    message="You exceeded your current quota, please check your plan and billing details.",
)


@dataclass
class Seen:
    """One request as the server received it."""

    body: dict[str, Any]
    key: str  # sha256 of the canonical JSON body: equal bodies, equal keys
    prompt: str  # every message's content, joined: what `when=` matches against
    fault: FaultKind
    arrived: float  # time.monotonic() on arrival
    authorization: str = ""
    answered: bool = False  # a completion (200, JSON) was written to the socket


@dataclass
class _Rule:
    fault: Fault
    times: int | None  # None = forever
    when: str | None


def default_responder(body: dict[str, Any]) -> str:
    """Echo the last message; JSON when structured output was asked for."""
    last = str(body.get("messages", [{}])[-1].get("content", ""))
    if body.get("response_format"):
        return json.dumps({"echo": last})
    return f"echo: {last}"


def body_key(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass
class FakeOpenAI:
    """The server. `latency_s` delays every answer; `usage` fixes the token counts."""

    latency_s: float = 0.0
    responder: Responder = default_responder
    usage: tuple[int, int] | None = None
    model: str = "fake-model"
    peak_in_flight: int = 0  # most chat requests being handled at the same moment
    _in_flight: int = 0
    _rules: list[_Rule] = field(default_factory=list)
    _seen: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        # A short poll interval makes stop() (and so every test teardown) quick.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hung and slow handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "call start() first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def endpoint(self, *, response_mode: str = "off", api_key: str = "sk-fake-key") -> Any:
        """An `Endpoint` for this server (imported lazily: the fake itself needs no project code)."""
        from medinstruct_core.llm.types import Endpoint

        return Endpoint(self.base_url, self.model, "remote", response_mode, api_key,  # type: ignore[arg-type]
                        cache_id="fake")  # fmt: skip

    # -- scripting -------------------------------------------------------------------
    def plan(self, fault: Fault, *, times: int | None = 1, when: str | None = None) -> None:
        """The next `times` requests whose prompt contains `when` (any if None) get `fault`.

        Rules are tried in the order they were added; the first live match wins, and
        requests no rule matches are answered normally.
        """
        with self._lock:
            self._rules.append(_Rule(fault, times, when))

    def clear_plan(self) -> None:
        with self._lock:
            self._rules.clear()

    def _pick(self, prompt: str) -> Fault:
        with self._lock:
            for rule in self._rules:
                if rule.times == 0 or (rule.when is not None and rule.when not in prompt):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule.fault
        return OK

    # -- what happened ---------------------------------------------------------------
    def seen(self, when: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if when is None or when in s.prompt]

    def answered_keys(self) -> Counter[str]:
        """How many completions were delivered per request body."""
        return Counter(s.key for s in self.seen() if s.answered)

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _mark_answered(self, seen: Seen) -> None:
        with self._lock:
            seen.answered = True

    # -- responses -------------------------------------------------------------------
    def completion(self, body: dict[str, Any], finish_reason: str) -> dict[str, Any]:
        text = self.responder(body)
        chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        prompt_tokens, completion_tokens = self.usage or (
            max(1, chars // 4),
            max(1, len(text) // 4),
        )
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # Headers and body go out in two writes; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms), which would swamp the latencies we inject.
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr lines."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": self.fake.model, "object": "model"}]}
            )
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        body = json.loads(raw)
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        fault = self.fake._pick(prompt)
        seen = Seen(body, body_key(body), prompt, fault.kind, time.monotonic(),
                    self.headers.get("Authorization", ""))  # fmt: skip
        self.fake._record(seen)
        self.fake._enter()
        try:
            self._serve(fault, body, seen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout, kill): nothing delivered
        finally:
            self.fake._leave()

    def _serve(self, fault: Fault, body: dict[str, Any], seen: Seen) -> None:
        stopping = self.fake._stopping
        if fault.kind == "hang":
            stopping.wait()
            self.close_connection = True
            return
        delay = fault.delay_s if fault.kind == "slow" else self.fake.latency_s
        if delay and stopping.wait(delay):
            self.close_connection = True
            return
        if fault.kind == "status":
            message = fault.message or f"fake HTTP {fault.status}"
            error = {"error": {"message": message, "type": "fake", "code": fault.code}}
            self._send_json(fault.status, error, headers=fault.headers)
        elif fault.kind == "non_json":
            self._send_bytes(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif fault.kind == "truncated":
            data = json.dumps(self.fake.completion(body, "stop")).encode()
            self._send_bytes(200, data[: len(data) // 2], "application/json")
        elif fault.kind == "drop":
            self._drop(body)
        else:
            finish = "length" if fault.kind == "length" else "stop"
            self._send_json(200, self.fake.completion(body, finish))
            self.fake._mark_answered(seen)

    def _drop(self, body: dict[str, Any]) -> None:
        """Promise a full body, send half, close: the client sees a broken connection."""
        data = json.dumps(self.fake.completion(body, "stop")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _send_json(self, code: int, obj: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send_bytes(code, json.dumps(obj).encode(), "application/json", headers)

    def _send_bytes(
        self, code: int, data: bytes, ctype: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI chat-completions API.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(latency_s=args.latency).start()
    print(fake.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
