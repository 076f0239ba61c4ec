"""Resolve an LLM role from params + environment into a ready client.

Resolution order for `endpoint: auto` (the default): OPENAI_BASE_URL, then the
role's API key variable (OPENAI_API_KEY unless renamed), else the embedded
llama.cpp server. Keys are read from the environment only, never from params.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from medinstruct_core.llm.cache import ResponseCache
from medinstruct_core.llm.client import LLMClient
from medinstruct_core.llm.config import LLMSection, RoleConfig
from medinstruct_core.llm.server import embedded_server, resolve_gguf
from medinstruct_core.llm.types import Endpoint, ResponseMode

OPENAI_URL = "https://api.openai.com/v1"


def wants_embedded(role: RoleConfig, env: Mapping[str, str]) -> bool:
    if role.endpoint == "embedded":
        return True
    if role.endpoint == "auto":
        return not (env.get("OPENAI_BASE_URL") or env.get(role.api_key_env))
    return False


def _response_mode(role: RoleConfig, base_url: str | None, embedded: bool) -> ResponseMode:
    if role.structured_output != "auto":
        return role.structured_output
    if embedded:
        return "json_object"  # llama.cpp enforces {"type": "json_object", "schema": ...}
    if base_url is None or base_url.startswith(OPENAI_URL):
        return "json_schema"  # OpenAI structured outputs
    return "json_schema"  # vLLM and most OpenAI-compatible servers accept json_schema


def resolve_remote(role: RoleConfig, env: Mapping[str, str]) -> Endpoint:
    if role.endpoint.startswith(("http://", "https://")):
        base_url: str | None = role.endpoint.rstrip("/")
    else:
        base_url = env.get("OPENAI_BASE_URL") or None
    # Local servers (vLLM, llama.cpp) accept any key; the SDK insists on one.
    key = env.get(role.api_key_env) or ("EMPTY" if base_url else "")
    if not key:
        raise RuntimeError(
            f"role endpoint '{role.endpoint}' needs an API key in ${role.api_key_env} (environment only)"
        )
    mode = _response_mode(role, base_url, False)
    return Endpoint(base_url, role.model, "remote", mode, key, cache_id=base_url or OPENAI_URL)


@contextlib.contextmanager
def open_role(
    llm: LLMSection, role_name: str, *, root: Path, env: Mapping[str, str] | None = None
) -> Iterator[LLMClient]:
    """Yield a client for `role_name`, starting the embedded server if the role needs it."""
    env = os.environ if env is None else env
    role: RoleConfig = getattr(llm, role_name)
    cache = ResponseCache(root / llm.client.cache_dir / "responses.sqlite")
    try:
        if wants_embedded(role, env):
            with embedded_server(llm.embedded) as url:
                endpoint = Endpoint(
                    url,
                    llm.embedded.alias,
                    "embedded",
                    _response_mode(role, url, True),
                    "EMPTY",
                    cache_id=f"embedded/{resolve_gguf(llm.embedded).name}",
                )
                yield LLMClient(endpoint, llm.client, cache=cache, role=role_name)
        else:
            yield LLMClient(resolve_remote(role, env), llm.client, cache=cache, role=role_name)
    finally:
        cache.close()
