"""Content-addressed response cache (sqlite, WAL).

Why sqlite and not DVC: responses are paid for one by one, and a stage killed
half-way (Ctrl-C, OOM, kill -9) must not pay for them again. Each response is
committed in its own transaction, so everything answered before the kill is
on disk, and a rerun only sends what is missing. The file lives under
`llm.client.cache_dir`, outside every DVC `outs`, so `dvc repro` never deletes it.

The key covers everything that changes the answer (see `cache_key`) and never
the API key: the same prompt sent with another key is the same response.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from medinstruct_core.llm.types import Endpoint, LLMRequest

# Bump when the key layout changes, so old entries stop matching instead of lying.
KEY_VERSION = 1


def cache_key(endpoint: Endpoint, request: LLMRequest) -> str:
    """sha256 over what determines a response: server identity, model, prompt, sampling,
    schema, structured-output dialect and sample index. Never the API key."""
    material: dict[str, Any] = {
        "v": KEY_VERSION,
        # The embedded server's URL has a random port, hence `cache_id`; fall back to
        # the URL for endpoints built without one.
        "endpoint": endpoint.cache_id or endpoint.base_url or "",
        "model": endpoint.model,
        "messages": [dict(m) for m in request.messages],
        "sampling": request.sampling.model_dump(mode="json"),
        "json_schema": request.json_schema,
        "schema_name": request.schema_name if request.json_schema is not None else None,
        "response_mode": endpoint.response_mode,
        "sample_index": request.sample_index,
    }
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """key -> JSON object, one row per response, durable as soon as `put` returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared across threads behind a lock: `run()` may execute
        # its event loop on a worker thread when the caller already has one.
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL+NORMAL survives a process kill
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses "
            "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._conn.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, key: str, value: dict[str, Any]) -> None:
        blob = json.dumps(value, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                (key, blob, time.time()),
            )
            self._conn.commit()  # one transaction per response: a kill loses nothing paid for

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
