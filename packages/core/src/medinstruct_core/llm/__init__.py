"""The one LLM client shared by every stage, its cache, limits and role resolution.

Import what you need from here:

    from medinstruct_core.llm import LLMClient, LLMRequest, ResponseCache, open_role
"""

from medinstruct_core.llm.cache import ResponseCache, cache_key
from medinstruct_core.llm.client import BudgetExceeded, EndpointUnreachable, LLMClient
from medinstruct_core.llm.config import ClientConfig, LLMSection, RoleConfig, Sampling
from medinstruct_core.llm.roles import open_role
from medinstruct_core.llm.stats import ClientStats
from medinstruct_core.llm.types import Endpoint, FailureReason, LLMRequest, LLMResult, ResponseMode

__all__ = [
    "BudgetExceeded",
    "ClientConfig",
    "ClientStats",
    "Endpoint",
    "EndpointUnreachable",
    "FailureReason",
    "LLMClient",
    "LLMRequest",
    "LLMResult",
    "LLMSection",
    "ResponseCache",
    "ResponseMode",
    "RoleConfig",
    "Sampling",
    "cache_key",
    "open_role",
]
