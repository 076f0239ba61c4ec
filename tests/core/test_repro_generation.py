"""Reproducibility on the real embedded server (slow: two fresh SmolLM2 servers).

Two cold runs must give the same replies even when the requests reach the server
in another order or concurrently. llama-server decodes requests of its parallel
slots in shared batches, reuses cached KV prefixes, and draws an unseeded request
from its own RNG; so a reply is reproducible only when every request carries its
own seed (and each slot keeps its own KV stream, see server.py). This pins that
contract at T=1, with the default 2 slots and 4 requests in flight.
"""

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from medinstruct_core.llm.config import EmbeddedConfig, Sampling
from medinstruct_core.llm.server import embedded_server
from medinstruct_core.llm.types import Endpoint, LLMRequest
from medinstruct_core.llm.wire import build_payload

PROMPTS = (
    "Write one exam question about asthma.",
    "Write one exam question about asthma in children.",  # shares a long prefix with the first
    "List two symptoms of anaemia.",
    "Explain what a beta blocker does, in one sentence.",
)


def requests() -> list[LLMRequest]:
    """T=1 sampling, so any change of seed or of numerics shows in the text."""
    return [
        LLMRequest(
            ({"role": "user", "content": prompt},),
            Sampling(temperature=1.0, top_p=1.0, max_tokens=48, seed=1000 + i),
            key=f"r{i}",
            sample_index=i,
        )
        for i, prompt in enumerate(PROMPTS)
    ]


def serve(order: list[int], concurrent: bool) -> dict[int, str]:
    """Replies by request index from a fresh server, sent in `order`."""
    cfg = EmbeddedConfig(n_ctx=1024, n_threads=2)
    batch = requests()
    with embedded_server(cfg) as server:
        endpoint = Endpoint(server.url, server.alias, "embedded", "off", "EMPTY")
        client = openai.OpenAI(base_url=server.url, api_key="EMPTY", max_retries=0, timeout=300)

        def ask(i: int) -> tuple[int, str]:
            reply = client.chat.completions.create(**build_payload(endpoint, batch[i]))
            return i, reply.choices[0].message.content or ""

        if concurrent:
            with ThreadPoolExecutor(max_workers=4) as pool:
                return dict(pool.map(ask, order))
        return dict(map(ask, order))


@pytest.mark.slow
def test_replies_do_not_depend_on_order_or_concurrency():
    first = serve([0, 1, 2, 3], concurrent=False)
    second = serve([3, 1, 0, 2], concurrent=True)
    assert all(first.values()), first
    assert second == first
    assert len(set(first.values())) == 4  # the seeds differ, and so do the prompts' replies
