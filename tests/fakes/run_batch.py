"""Drive LLMClient.run() from a separate process (for the kill -9 / resume test).

    python3 tests/fakes/run_batch.py BASE_URL CACHE_PATH OUT_JSONL N CONCURRENCY

Sends N requests ("item-000" ...) through the client with the sqlite cache and
appends one JSON line per result to OUT_JSONL as soon as it arrives, flushed,
so a killed run leaves behind exactly what it had received.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from medinstruct_core.llm import (
    ClientConfig,
    Endpoint,
    LLMClient,
    LLMRequest,
    ResponseCache,
    Sampling,
)


def main(argv: list[str]) -> None:
    base_url, cache_path, out_path, n, concurrency = argv
    endpoint = Endpoint(base_url, "fake-model", "remote", "off", "sk-child", cache_id="fake")
    config = ClientConfig(
        max_concurrency=int(concurrency), backoff_initial_s=0.01, backoff_max_s=0.05
    )
    requests = [
        LLMRequest(
            ({"role": "user", "content": f"item-{i:03d}"},),
            Sampling(max_tokens=8),
            key=f"item-{i:03d}",
        )
        for i in range(int(n))
    ]
    with ResponseCache(Path(cache_path)) as cache, open(out_path, "a", encoding="utf-8") as out:

        def write(result) -> None:  # type: ignore[no-untyped-def]
            row = {"key": result.request.key, "text": result.text, "cached": result.cached}
            out.write(json.dumps(row) + "\n")
            out.flush()

        LLMClient(endpoint, config, cache=cache, role="child").run(
            requests, on_result=write, progress=False
        )


if __name__ == "__main__":
    main(sys.argv[1:])
