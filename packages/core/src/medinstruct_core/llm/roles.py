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
from medinstruct_core.llm.ledger import LEDGER_FILE, Ledger
from medinstruct_core.llm.server import embedded_server
from medinstruct_core.llm.tracing import attach_tracer
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
    llm: LLMSection,
    role_name: str,
    *,
    root: Path,
    stage: str = "",
    env: Mapping[str, str] | None = None,
) -> Iterator[LLMClient]:
    """Yield a client for `role_name`, starting the embedded server if the role needs it.

    Its paid replies go to the project's one ledger (`<cache_dir>/ledger.sqlite`)
    under `stage`, and `llm.client.budget_usd` caps that ledger's total.
    """
    env = os.environ if env is None else env
    role: RoleConfig = getattr(llm, role_name)
    cache_dir = root / llm.client.cache_dir
    cache = ResponseCache(cache_dir / "responses.sqlite")
    ledger = Ledger(cache_dir / LEDGER_FILE, llm.client.budget_usd)

    def client_for(endpoint: Endpoint) -> LLMClient:
        """Every client of this role is built the same way, whichever endpoint serves it:
        the shared cache and ledger, and MLflow tracing while a stage's run is active."""
        client = LLMClient(
            endpoint, llm.client, cache=cache, role=role_name, stage=stage, ledger=ledger
        )
        attach_tracer(client, only_in_run=True)
        return client

    try:
        if wants_embedded(role, env):
            # One server for the role's registry model; the cache is keyed by the
            # model file's sha256, so a new port or a renamed file still hits.
            with embedded_server(llm.embedded, role.embedded_model) as server:
                endpoint = Endpoint(
                    server.url,
                    server.alias,
                    "embedded",
                    _response_mode(role, server.url, True),
                    "EMPTY",
                    cache_id=server.cache_id,
                )
                yield client_for(endpoint)
        else:
            yield client_for(resolve_remote(role, env))
    finally:
        ledger.close()
        cache.close()
