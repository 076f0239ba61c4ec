"""A fault-injecting fake of the OpenAI files + batches API, over real HTTP.

The batch runner talks to it through the real `openai` SDK, so the multipart
upload, the JSONL formats and the batch life cycle are exercised as on the wire.
It implements only what the runner uses:

    POST /v1/files                  multipart upload (purpose "batch")
    GET  /v1/files/{id}/content     download an input, output or error file
    POST /v1/batches                create (validates the input file like OpenAI does)
    GET  /v1/batches/{id}           retrieve (each call advances the batch, see below)
    GET  /v1/batches                list (newest first; `limit` and the `after` cursor page it)

A batch stays "in_progress" for `polls_before_done` retrieves, then finishes on
the next one: every line is answered with an echo completion unless a fault says
otherwise. Faults, in a test::

    fake.fail_line("item-3", status=500)      # that line lands in the error file, once
    fake.expire_next(answered=2)              # next batch expires after answering 2 lines
    fake.hold()                               # batches never finish until release()
    fake.add_foreign_batches(150)             # other jobs' batches on the account (newer)
    fake.responder = lambda body, custom_id: "..."   # what every answered line says

Counters (`fake.calls`) and the ledger of answered lines (`fake.answered`) let a
test assert that nothing was submitted or paid for twice.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.fake_openai import default_responder

CHAT_URL = "/v1/chat/completions"


@dataclass
class _LineFault:
    when: str
    status: int
    times: int


@dataclass
class FakeBatchAPI:
    """The server's state. `usage` fixes every answered line's (prompt, completion) tokens."""

    usage: tuple[int, int] = (10, 5)
    polls_before_done: int = 1
    model: str = "fake-model"
    # (request body, custom_id) -> reply text; None: echo the prompt (default_responder)
    responder: Callable[[dict[str, Any], str], str] | None = None
    calls: Counter[str] = field(default_factory=Counter)  # route name -> HTTP calls
    answered: Counter[str] = field(default_factory=Counter)  # custom_id -> times answered (paid)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    _line_faults: list[_LineFault] = field(default_factory=list)
    _expire_next: list[int] = field(default_factory=list)
    _held: bool = False
    _polls: Counter[str] = field(default_factory=Counter)
    _ids: Any = field(default_factory=itertools.count)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeBatchAPI:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FakeBatchAPI:
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
                        cache_id="fake-batch")  # fmt: skip

    # -- scripting -------------------------------------------------------------------
    def fail_line(self, when: str, *, status: int = 500, times: int = 1) -> None:
        """The next `times` lines whose prompt contains `when` fail with HTTP `status`."""
        with self._lock:
            self._line_faults.append(_LineFault(when, status, times))

    def expire_next(self, *, answered: int) -> None:
        """The next batch to finish expires after answering only its first `answered` lines."""
        with self._lock:
            self._expire_next.append(answered)

    def hold(self) -> None:
        """Batches stay in progress (a long-running batch) until `release()`."""
        self._held = True

    def release(self) -> None:
        self._held = False

    @property
    def http_calls(self) -> int:
        return sum(self.calls.values())

    def submitted_ids(self) -> list[list[str]]:
        """The custom_ids of each created batch (foreign ones excluded), in creation order."""
        with self._lock:
            return [b["_custom_ids"] for b in self.batches.values() if not b.get("_foreign")]

    def add_foreign_batches(self, n: int) -> None:
        """`n` finished batches of other jobs on the same account, newer than any so far:
        they push this project's batches off the first page of `batches.list`."""
        with self._lock:
            upload = self.add_file(b"", "batch", "other.jsonl")
            for _ in range(n):
                batch = self.create_batch({"input_file_id": upload["id"], "endpoint": CHAT_URL,
                                           "completion_window": "24h",
                                           "metadata": {"job": "someone else"}})  # fmt: skip
                stored = self.batches[batch["id"]]
                stored["status"], stored["_foreign"] = "completed", True

    # -- files -----------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}"

    def add_file(self, data: bytes, purpose: str, filename: str) -> dict[str, Any]:
        with self._lock:
            obj: dict[str, Any] = {"id": self._new_id("file"), "object": "file", "bytes": len(data),
                   "created_at": int(time.time()), "filename": filename,
                   "purpose": purpose, "status": "processed"}  # fmt: skip
            self.files[obj["id"]] = {**obj, "_data": data}
            return obj

    # -- batches ---------------------------------------------------------------------
    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            batch: dict[str, Any] = {
                "id": self._new_id("batch"), "object": "batch", "endpoint": body.get("endpoint"),
                "input_file_id": body.get("input_file_id"),
                "completion_window": body.get("completion_window"), "status": "validating",
                "created_at": int(time.time()), "output_file_id": None, "error_file_id": None,
                "errors": None, "metadata": body.get("metadata"),
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
            }  # fmt: skip
            lines, problem = self._validate(batch)
            batch["_lines"], batch["_custom_ids"] = lines, [ln["custom_id"] for ln in lines]
            if problem:
                batch["status"] = "failed"
                batch["errors"] = {
                    "object": "list",
                    "data": [{"code": "invalid", "message": problem}],
                }
            else:
                batch["status"] = "in_progress"
                batch["request_counts"]["total"] = len(lines)
            self.batches[batch["id"]] = batch
            return _public(batch)

    def _validate(self, batch: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """Reject what OpenAI rejects: unknown file, wrong endpoint, bad or duplicate lines."""
        stored = self.files.get(str(batch["input_file_id"]))
        if stored is None or stored["purpose"] != "batch":
            return [], f"input file {batch['input_file_id']} not found or not purpose=batch"
        if batch["endpoint"] != CHAT_URL or batch["completion_window"] != "24h":
            return (
                [],
                f"unsupported endpoint/window {batch['endpoint']}/{batch['completion_window']}",
            )
        lines = [json.loads(raw) for raw in stored["_data"].decode().splitlines() if raw.strip()]
        ids = [ln.get("custom_id") for ln in lines]
        if len(set(ids)) != len(ids) or None in ids:
            return lines, "custom_id missing or duplicated"
        if any(ln.get("method") != "POST" or ln.get("url") != CHAT_URL for ln in lines):
            return lines, "every line needs method POST and url /v1/chat/completions"
        if len({ln["body"].get("model") for ln in lines}) != 1:
            return lines, "all lines of a batch must use one model"
        return lines, ""

    def retrieve_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            self._polls[batch_id] += 1
            running = batch["status"] == "in_progress" and not self._held
            if running and self._polls[batch_id] > self.polls_before_done:
                self._finish(batch)
            return _public(batch)

    def _finish(self, batch: dict[str, Any]) -> None:
        """Answer the lines: outputs, line failures and (for an expiring batch) expired lines."""
        answer_at_most = self._expire_next.pop(0) if self._expire_next else None
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for i, line in enumerate(batch["_lines"]):
            if answer_at_most is not None and i >= answer_at_most:
                errors.append(_expired_line(line["custom_id"]))
            else:
                row, ok = self._answer(line)
                (outputs if ok else errors).append(row)
        counts = batch["request_counts"]
        counts["completed"], counts["failed"] = len(outputs), len(errors)
        if outputs:
            batch["output_file_id"] = self._jsonl_file(outputs)
        if errors:
            batch["error_file_id"] = self._jsonl_file(errors)
        batch["status"] = "completed" if answer_at_most is None else "expired"

    def _answer(self, line: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        body, custom_id = line["body"], line["custom_id"]
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        code = self._line_status(prompt)
        if code != 200:
            error = {"error": {"message": f"fake HTTP {code}", "type": "fake", "code": None}}
            response = {"status_code": code, "request_id": "req-fake", "body": error}
            return {
                "id": "batch_req",
                "custom_id": custom_id,
                "response": response,
                "error": None,
            }, False
        self.answered[custom_id] += 1
        if self.responder is None:
            completion = self._completion(body)
        else:
            completion = self._chat_completion(body, self.responder(body, custom_id))
        response = {"status_code": 200, "request_id": "req-fake", "body": completion}
        return {
            "id": "batch_req",
            "custom_id": custom_id,
            "response": response,
            "error": None,
        }, True

    def _line_status(self, prompt: str) -> int:
        for fault in self._line_faults:
            if fault.times > 0 and fault.when in prompt:
                fault.times -= 1
                return fault.status
        return 200

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to one line (subclasses answer differently: sim_openai.SimOpenAI)."""
        return self._chat_completion(body, default_responder(body))

    def _chat_completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        prompt_tokens, completion_tokens = self.usage
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }  # fmt: skip

    def _jsonl_file(self, rows: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
        return str(self.add_file(data, "batch_output", "output.jsonl")["id"])

    def list_batches(self, *, after: str | None = None, limit: int = 20) -> dict[str, Any]:
        """One page, newest first, starting after the batch `after` (OpenAI's cursor)."""
        with self._lock:
            ids = list(reversed(self.batches))
            start = ids.index(after) + 1 if after in ids else 0
            page = [_public(self.batches[i]) for i in ids[start : start + limit]]
            has_more = start + limit < len(ids)
        return {"object": "list", "data": page, "has_more": has_more,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None}  # fmt: skip


def _expired_line(custom_id: str) -> dict[str, Any]:
    error = {"code": "batch_expired",
             "message": "This request could not be executed before the completion window expired."}  # fmt: skip
    return {"id": "batch_req", "custom_id": custom_id, "response": None, "error": error}


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """What goes over the wire: the stored object without its private `_` fields."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart/form-data body: name -> (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeBatchAPI:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr lines."""

    def _parts(self) -> list[str]:
        path = self.path.split("?", 1)[0].strip("/")
        return path.split("/")[1:] if path.startswith("v1") else path.split("/")

    def do_GET(self) -> None:
        parts = self._parts()
        if parts == ["batches"]:
            self._count("batches.list")
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            after = query.get("after", [None])[0]
            limit = max(1, min(100, int(query.get("limit", ["20"])[0])))
            self._send_json(200, self.fake.list_batches(after=after, limit=limit))
        elif len(parts) == 2 and parts[0] == "batches":
            self._count("batches.retrieve")
            self._send_found(self.fake.retrieve_batch(parts[1]), parts[1])
        elif len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            self._count("files.content")
            stored = self.fake.files.get(parts[1])
            if stored is None:
                self._send_found(None, parts[1])
            else:
                self._send_bytes(200, stored["_data"], "application/octet-stream")
        else:
            self._count("unknown")
            self._send_found(None, self.path)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self._parts()
        if parts == ["files"]:
            self._count("files.create")
            fields = parse_multipart(self.headers.get("Content-Type", ""), raw)
            filename, data = fields.get("file", (None, b""))
            purpose = fields.get("purpose", (None, b""))[1].decode()
            self._send_json(200, self.fake.add_file(data, purpose, filename or "upload.jsonl"))
        elif parts == ["batches"]:
            self._count("batches.create")
            self._send_json(200, self.fake.create_batch(json.loads(raw)))
        else:
            self._count("unknown")
            self._send_found(None, self.path)

    def _count(self, route: str) -> None:
        with self.fake._lock:
            self.fake.calls[route] += 1

    def _send_found(self, obj: dict[str, Any] | None, what: str) -> None:
        if obj is None:
            self._send_json(404, {"error": {"message": f"no such object or route: {what}"}})
        else:
            self._send_json(200, obj)

    def _send_json(self, code: int, obj: Any) -> None:
        self._send_bytes(code, json.dumps(obj).encode(), "application/json")

    def _send_bytes(self, code: int, data: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
