import dataclasses
import sqlite3

import pytest

from medinstruct_core.llm.cache import ResponseCache, cache_key
from medinstruct_core.llm.config import Sampling
from medinstruct_core.llm.types import Endpoint, LLMRequest

ENDPOINT = Endpoint(
    "http://127.0.0.1:1/v1", "m", "remote", "json_schema", "sk-secret-key", cache_id="srv"
)
REQUEST = LLMRequest(({"role": "user", "content": "hi"},), Sampling(max_tokens=10), key="a")


def test_key_ignores_the_api_key_caller_id_and_url_when_cache_id_is_set():
    other = dataclasses.replace(ENDPOINT, api_key="sk-other", base_url="http://127.0.0.1:2/v1")
    assert cache_key(other, dataclasses.replace(REQUEST, key="b")) == cache_key(ENDPOINT, REQUEST)


@pytest.mark.parametrize(
    "change",
    [
        lambda e, r: (dataclasses.replace(e, cache_id="other"), r),
        lambda e, r: (dataclasses.replace(e, model="m2"), r),
        lambda e, r: (dataclasses.replace(e, response_mode="json_object"), r),
        lambda e, r: (e, dataclasses.replace(r, messages=({"role": "user", "content": "ho"},))),
        lambda e, r: (e, dataclasses.replace(r, sampling=Sampling(max_tokens=11))),
        lambda e, r: (e, dataclasses.replace(r, sampling=Sampling(max_tokens=10, seed=1))),
        lambda e, r: (e, dataclasses.replace(r, sampling=Sampling(max_tokens=10, temperature=0.5))),
        lambda e, r: (e, dataclasses.replace(r, json_schema={"type": "object"})),
        lambda e, r: (e, dataclasses.replace(r, sample_index=1)),
    ],
)
def test_key_changes_with_everything_that_changes_the_answer(change):
    assert cache_key(*change(ENDPOINT, REQUEST)) != cache_key(ENDPOINT, REQUEST)


def test_put_is_durable_across_reopen(tmp_path):
    path = tmp_path / "sub" / "responses.sqlite"
    with ResponseCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", {"text": "answer", "prompt_tokens": 3})
        cache.put("k2", {"text": "other"})
        assert len(cache) == 2
    with ResponseCache(path) as cache:
        assert cache.get("k") == {"text": "answer", "prompt_tokens": 3}


def test_cache_uses_wal_and_is_readable_while_open(tmp_path):
    path = tmp_path / "responses.sqlite"
    with ResponseCache(path) as cache:
        cache.put("k", {"text": "x"})
        reader = sqlite3.connect(path)  # another process would see the row as soon as put() returns
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert reader.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 1
        reader.close()
