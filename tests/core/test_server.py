"""The embedded default: a real llama.cpp server, reached only through the openai SDK."""

import os

import openai
import pytest

from medinstruct_core.llm.config import EmbeddedConfig
from medinstruct_core.llm.server import EmbeddedServerError, embedded_server


@pytest.mark.slow
def test_embedded_server_answers_chat_and_stops_on_error():
    cfg = EmbeddedConfig(n_ctx=1024)
    with pytest.raises(RuntimeError, match="boom"), embedded_server(cfg) as url:
        client = openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=60)
        reply = client.chat.completions.create(
            model=cfg.alias,
            messages=[{"role": "user", "content": "Name one symptom of asthma."}],
            max_tokens=16,
        )
        assert reply.choices[0].message.content.strip()
        raise RuntimeError("boom")
    with pytest.raises(openai.APIConnectionError):  # the server is gone after the block
        openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=5).models.list()


def test_missing_gguf_is_a_clear_error(tmp_path):
    with (
        pytest.raises(EmbeddedServerError, match="file not found"),
        embedded_server(EmbeddedConfig(gguf=str(tmp_path / "x.gguf"))),
    ):
        pass


def test_server_crash_at_start_is_reported(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf")
    with (
        pytest.raises(EmbeddedServerError, match="exited with code"),
        embedded_server(EmbeddedConfig(gguf=str(bad))),
    ):
        pass
    assert os.path.exists(bad)
