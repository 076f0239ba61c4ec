"""params.yaml models for LLM roles, the shared client and the embedded server."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from medinstruct_core.params import Config


class Sampling(Config):
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    seed: int | None = None


StructuredMode = Literal["auto", "json_schema", "json_object", "off"]


class RoleConfig(Config):
    """One LLM role (teacher, responder, judge).

    endpoint:
      - "auto": a remote endpoint when OPENAI_BASE_URL or the role's API key variable is set
        in the environment, else the embedded llama.cpp server;
      - "embedded": always the local llama.cpp server (model = the embedded alias);
      - "openai": api.openai.com (or OPENAI_BASE_URL when set);
      - an http(s) URL: any OpenAI-compatible server (vLLM, llama.cpp, TGI...).
    """

    endpoint: str = "auto"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    structured_output: StructuredMode = "auto"
    sampling: Sampling = Field(default_factory=Sampling)
    # Which local model serves this role when it runs embedded: a name from the
    # registry (medinstruct_core.llm.embedded: built-ins + llm.embedded.models).
    embedded_model: str = Field("smollm2-135m", min_length=1)
    # OpenAI Batch API (half price, results within 24 h): the role's requests go out as
    # JSONL batch files; ids are kept in the cache dir so a restart resumes polling.
    batch: bool = False
    batch_poll_s: float = Field(30.0, gt=0.0)

    @field_validator("structured_output", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` as False.
        return "off" if value is False else value


class Price(Config):
    """USD per 1M tokens."""

    input: float = Field(ge=0.0)
    output: float = Field(ge=0.0)


class ClientConfig(Config):
    """Knobs of the one LLM client shared by every stage."""

    max_concurrency: int = Field(4, ge=1)
    requests_per_minute: float = Field(0.0, ge=0.0, description="0 = unlimited")
    tokens_per_minute: float = Field(0.0, ge=0.0, description="0 = unlimited")
    max_retries: int = Field(5, ge=0)
    timeout_s: float = Field(120.0, gt=0.0)
    backoff_initial_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(60.0, ge=0.0)
    cache_dir: str = ".cache/llm"
    # Caps the ledger TOTAL (`<cache_dir>/ledger.sqlite`): every role, stage and process,
    # until the cap is raised or the ledger reset (`python -m medinstruct_core.llm.ledger reset`).
    budget_usd: float | None = Field(None, ge=0.0)
    # USD per 1M tokens by model name; a remote model without a price is refused.
    prices: dict[str, Price] = Field(default_factory=dict)
    # URL prefixes of endpoints that cost nothing (local servers): no price needed.
    free_endpoints: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1", "http://localhost"]
    )
    # Failed share of a stage's requests (budget refusals excluded) above which it fails.
    max_failure_rate: float = Field(0.2, ge=0.0, le=1.0)
    # Share of calls traced to MLflow; None = 1.0 for the embedded server, 0.01 for remote.
    trace_sample: float | None = Field(None, ge=0.0, le=1.0)


class EmbeddedModelEntry(Config):
    """A user-registered local model: any GGUF file on disk.

    `sha256`, when given, is checked before the server starts, so a swapped file
    fails loudly instead of answering (and filling the cache) as another model.
    """

    gguf: str = Field(min_length=1)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


# The keys `llm.embedded` had before the registry, with the only values that mean
# the same thing now (the built-in smollm2-135m); anything else must be migrated.
_LEGACY_EMBEDDED = {"gguf": "auto", "alias": "smollm2-135m-instruct"}


class EmbeddedConfig(Config):
    """The local llama.cpp servers, and user models added to the built-in registry.

    A role picks its model by name (`llm.<role>.embedded_model`); a stage starts
    one server per distinct model its roles use.
    """

    models: dict[str, EmbeddedModelEntry] = Field(default_factory=dict)
    n_ctx: int = Field(4096, ge=256)
    n_threads: int = Field(0, ge=0, description="0 = all cores")
    # llama-server slots: requests whose decoding steps run as one batch, each with its
    # own n_ctx of KV. More requests in flight than slots (llm.client.max_concurrency)
    # only queue in the server; fewer leave slots idle.
    parallel: int = Field(2, ge=1, le=64, description="1 = one request at a time")
    # Batch-invariant kernels (flash attention off, no prompt cache, a prompt never shares
    # a batch, no weight repacking above 3 slots; server.py has the measurements): a seeded reply is then byte-identical whatever else the server is
    # doing. false = llama.cpp's faster defaults, whose replies depend on arrival order.
    deterministic: bool = True
    startup_timeout_s: float = Field(60.0, gt=0.0)

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, value: object) -> object:
        """Accept the pre-registry defaults so old params files keep working; reject the rest."""
        if not isinstance(value, dict):
            return value
        for key, default in _LEGACY_EMBEDDED.items():
            if key in value and value[key] != default:
                raise ValueError(
                    f"'{key}' was replaced by the model registry: add the GGUF under "
                    "llm.embedded.models.<name>.gguf and set llm.<role>.embedded_model: <name>"
                )
        return {k: v for k, v in value.items() if k not in _LEGACY_EMBEDDED}


class LLMSection(Config):
    """The `llm:` section of params.yaml."""

    embedded: EmbeddedConfig = Field(default_factory=EmbeddedConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    teacher: RoleConfig = Field(default_factory=RoleConfig)
    responder: RoleConfig = Field(default_factory=RoleConfig)
    # One judge, or a panel: every judge judges every pair, and their agreement is reported.
    judge: RoleConfig | list[RoleConfig] = Field(default_factory=RoleConfig)

    def judges(self) -> list[RoleConfig]:
        return list(self.judge) if isinstance(self.judge, list) else [self.judge]

    def seeded(self, seed: int) -> LLMSection:
        """Every role's sampling seed defaults to the project's top-level `seed`."""

        def fill(role: RoleConfig) -> RoleConfig:
            if role.sampling.seed is not None:
                return role
            return role.model_copy(
                update={"sampling": role.sampling.model_copy(update={"seed": seed})}
            )

        judge = [fill(j) for j in self.judge] if isinstance(self.judge, list) else fill(self.judge)
        return self.model_copy(
            update={
                "teacher": fill(self.teacher),
                "responder": fill(self.responder),
                "judge": judge,
            }
        )
