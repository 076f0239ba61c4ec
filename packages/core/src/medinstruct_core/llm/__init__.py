"""The one LLM client shared by every stage, its cache, limits and role resolution.

Import what you need from here:

    from medinstruct_core.llm import LLMClient, LLMRequest, ResponseCache, open_role
"""

from medinstruct_core.llm.cache import ResponseCache, cache_key
from medinstruct_core.llm.client import (
    EndpointRefused,
    EndpointUnreachable,
    LLMClient,
    TooManyFailures,
    UnpricedModel,
)
from medinstruct_core.llm.config import ClientConfig, LLMSection, RoleConfig, Sampling
from medinstruct_core.llm.ledger import BudgetExceeded, Ledger, Reservation
from medinstruct_core.llm.roles import open_role
from medinstruct_core.llm.stats import ClientStats
from medinstruct_core.llm.tracing import LLMCall, MlflowTracer, attach_tracer
from medinstruct_core.llm.types import Endpoint, FailureReason, LLMRequest, LLMResult, ResponseMode

__all__ = [
    "BudgetExceeded",
    "ClientConfig",
    "ClientStats",
    "Endpoint",
    "EndpointRefused",
    "EndpointUnreachable",
    "FailureReason",
    "LLMCall",
    "LLMClient",
    "LLMRequest",
    "LLMResult",
    "LLMSection",
    "Ledger",
    "MlflowTracer",
    "Reservation",
    "ResponseCache",
    "ResponseMode",
    "RoleConfig",
    "Sampling",
    "TooManyFailures",
    "UnpricedModel",
    "attach_tracer",
    "cache_key",
    "open_role",
]
