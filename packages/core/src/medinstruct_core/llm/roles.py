"""Resolve an LLM role from params + environment into a ready client.

Resolution order for `endpoint: auto` (the default): OPENAI_BASE_URL, then the
role's API key variable (OPENAI_API_KEY unless renamed), else the embedded
llama.cpp server. Keys are read from the environment only, never from params.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from medinstruct_core.llm.cache import ReplyStore, ResponseCache
from medinstruct_core.llm.client import LLMClient
from medinstruct_core.llm.config import LLMSection, RoleConfig, Sampling
from medinstruct_core.llm.ledger import LEDGER_FILE, Ledger
from medinstruct_core.llm.server import ServerPool
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


@dataclass
class _Shared:
    """What every client a stage opens shares: one cache, one ledger, one server per model."""

    llm: LLMSection
    root: Path
    stage: str
    env: Mapping[str, str]
    cache: ResponseCache
    ledger: Ledger
    servers: ServerPool

    def client(self, role: RoleConfig, role_name: str) -> LLMClient:
        if wants_embedded(role, self.env):
            # The cache is keyed by the model file's sha256, so a new port or a renamed
            # file still hits; roles on the same model share one server.
            server = self.servers.get(role.embedded_model)
            mode = _response_mode(role, server.url, True)
            endpoint = Endpoint(
                server.url, server.alias, "embedded", mode, "EMPTY", cache_id=server.cache_id
            )
        else:
            endpoint = resolve_remote(role, self.env)
        client = LLMClient(endpoint, self.llm.client, cache=self.cache, role=role_name,
                           stage=self.stage, ledger=self.ledger)  # fmt: skip
        attach_tracer(client, only_in_run=True)
        if role.batch:
            from medinstruct_core.llm.batch import BatchRunner

            # Same call, same results, same cache: the role's requests go out as Batch API
            # files instead (half price), so no stage code knows the difference.
            client.run = BatchRunner(client, poll_s=role.batch_poll_s).run  # type: ignore[method-assign]
        return client


@contextlib.contextmanager
def _shared(
    llm: LLMSection, root: Path, stage: str, env: Mapping[str, str] | None, replies: Path | None
) -> Iterator[_Shared]:
    cache_dir = root / llm.client.cache_dir
    store = ReplyStore(replies) if replies is not None else None
    cache = ResponseCache(cache_dir / "responses.sqlite", store)
    ledger = Ledger(cache_dir / LEDGER_FILE, llm.client.budget_usd)
    env = os.environ if env is None else env
    try:
        with ServerPool(llm.embedded) as servers:
            yield _Shared(llm, root, stage, env, cache, ledger, servers)
            log_server_metrics(servers)
    finally:
        ledger.close()
        cache.close()


def log_server_metrics(servers: ServerPool) -> dict[str, float]:
    """The embedded servers' own counters, from their `/metrics`, on the stage's MLflow run
    as `server.<model>.<name>` (prompt_tokens_total, tokens_predicted_total, tokens/s...).

    What llama.cpp itself counted, beside the client's view (`llm.*`). Cumulative since
    the server started, which is this stage's start. Best effort: a server that cannot
    answer, or no active run, logs nothing rather than failing a finished stage."""
    import mlflow

    from medinstruct_core.llm.embedded import EmbeddedServerError

    try:
        values = {f"server.{model}.{key}": value
                  for model, counters in servers.metrics().items()
                  for key, value in counters.items()}  # fmt: skip
    except EmbeddedServerError:
        return {}
    if values and mlflow.active_run() is not None:
        mlflow.log_metrics(values)
    return values


def _flush_traces(clients: Iterable[LLMClient]) -> None:
    """Traces are written asynchronously: flush before the stage's MLflow run ends."""
    for client in clients:
        flush = getattr(client.on_call, "flush", None)
        if flush is not None:
            flush()


@contextlib.contextmanager
def open_role(
    llm: LLMSection,
    role_name: str,
    *,
    root: Path,
    stage: str = "",
    env: Mapping[str, str] | None = None,
    replies: Path | None = None,
) -> Iterator[LLMClient]:
    """Yield a client for `role_name`, starting the embedded server if the role needs it.

    Its paid replies go to the project's one ledger (`<cache_dir>/ledger.sqlite`)
    under `stage`, and `llm.client.budget_usd` caps that ledger's total. A role with
    `batch: true` sends its requests through the OpenAI Batch API. `replies` is the
    stage's reply store (a DVC out): it answers before the endpoint is asked, and
    receives every reply the stage used when the role is closed.
    """
    role: RoleConfig = getattr(llm, role_name)
    with _shared(llm, root, stage, env, replies) as shared:
        client = shared.client(role, role_name)
        yield client
        _flush_traces([client])


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base#2`, `base#3`... when a panel holds the same model twice."""
    name, n = base, 2
    while name in taken:
        name, n = f"{base}#{n}", n + 1
    return name


@contextlib.contextmanager
def open_judges(
    llm: LLMSection,
    *,
    root: Path,
    stage: str = "",
    env: Mapping[str, str] | None = None,
    replies: Path | None = None,
) -> Iterator[tuple[dict[str, LLMClient], dict[str, Sampling]]]:
    """The judge panel (`llm.judge`: one role or a list): {name: client}, {name: sampling}.
    `replies` as in `open_role`."""
    with _shared(llm, root, stage, env, replies) as shared:
        clients: dict[str, LLMClient] = {}
        sampling: dict[str, Sampling] = {}
        for role in llm.judges():
            client = shared.client(role, "judge")
            # named by the model that actually serves it (the embedded alias when local)
            name = unique_name(client.endpoint.model, set(clients))
            clients[name], sampling[name] = client, role.sampling
        yield clients, sampling
        _flush_traces(clients.values())
