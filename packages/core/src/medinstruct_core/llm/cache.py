"""Content-addressed response cache (sqlite, WAL).

Why sqlite and not DVC: responses are paid for one by one, and a stage killed
half-way (Ctrl-C, OOM, kill -9) must not pay for them again. Each response is
committed in its own transaction, so everything answered before the kill is
on disk, and a rerun only sends what is missing. The file lives under
`llm.client.cache_dir`, outside every DVC `outs`, so `dvc repro` never deletes it.

The key covers everything that changes the answer (see `cache_key`) and never
the API key: the same prompt sent with another key is the same response.

That cache is per machine. What travels with the data is the stage's **reply
store** (`ReplyStore`, a DVC out with `persist: true`, e.g. `data/replies/<stage>/`):
the replies that made the stage's outputs, as immutable, content-named JSONL
segments. `dvc push` sends only new segments, `dvc pull` brings them to a
teammate's clone, and a re-run there answers from them: no request, no cost.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medinstruct_core.io import DataError, write_text
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


class ReplyStore:
    """The replies that made a stage's outputs, versioned with them (a DVC out, `persist: true`).

    On disk: `<dir>/<sha256[:16]>.jsonl` segments, one `{"key", "value"}` object a line,
    sorted by key, named by their content. A segment is written once and never changed,
    so `dvc push` after a larger run sends only the new segment, and two cold runs that
    received the same replies write the same bytes. `persist: true` keeps DVC from
    deleting the folder before the stage runs; replies of earlier params stay in it
    (delete the folder and re-run to keep only what the current outputs used: the
    machine's own cache answers, so that costs nothing either).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._replies: dict[str, dict[str, Any]] = dict(self._read())
        self._new: dict[str, dict[str, Any]] = {}
        self.hits = 0

    def _read(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for segment in sorted(self.root.glob("*.jsonl")) if self.root.is_dir() else ():
            for number, line in enumerate(segment.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    row = json.loads(line)
                    yield str(row["key"]), dict(row["value"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise DataError(
                        f"{segment}: line {number}: not a reply record ({{key, value}}): {exc}"
                    ) from exc

    def __len__(self) -> int:
        return len(self._replies)

    def __contains__(self, key: str) -> bool:
        return key in self._replies

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._replies.get(key)
        if value is not None:
            self.hits += 1
        return value

    def add(self, key: str, value: dict[str, Any]) -> None:
        """Remember a reply this stage used that the store lacks (written by `flush`)."""
        if key not in self._replies:
            self._new[key] = value

    def flush(self) -> Path | None:
        """Write the new replies as one segment (atomically); None when there were none."""
        if not self._new:
            return None
        lines = [
            json.dumps({"key": k, "value": self._new[k]}, ensure_ascii=False, sort_keys=True)
            for k in sorted(self._new)
        ]
        body = "\n".join(lines) + "\n"
        path = self.root / f"{hashlib.sha256(body.encode('utf-8')).hexdigest()[:16]}.jsonl"
        write_text(path, body)
        self._replies.update(self._new)
        self._new = {}
        return path


class ResponseCache:
    """key -> JSON object, one row per response, durable as soon as `put` returns.

    With a `store` (the stage's `ReplyStore`), a miss here is looked up there, and
    every reply the stage uses that the store lacks is added to it on `close`.
    """

    def __init__(self, path: Path, store: ReplyStore | None = None) -> None:
        self.path = Path(path)
        self.store = store
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
            if row is not None:
                value = dict(json.loads(row[0]))
                if self.store is not None:
                    self.store.add(key, value)
                return value
            return None if self.store is None else self.store.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        blob = json.dumps(value, ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, value, created) VALUES (?, ?, ?)",
                (key, blob, time.time()),
            )
            self._conn.commit()  # one transaction per response: a kill loses nothing paid for
            if self.store is not None:
                self.store.add(key, value)

    @property
    def store_hits(self) -> int:
        """Replies answered from the stage's reply store (they came with the data: $0)."""
        return 0 if self.store is None else self.store.hits

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self.store is not None:
                self.store.flush()
            self._conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
