"""medinstruct_datagen: seed tasks, teacher prompts and Self-Instruct task generation."""

from medinstruct_datagen.seeds import load_seed_tasks, seed_stats

__all__ = ["load_seed_tasks", "seed_stats"]

# Prompts, parsing and configs: pure and cheap to import.
from medinstruct_core.records import GeneratedTask, Task
from medinstruct_datagen.config import (
    GenerateInstructionsConfig,
    GenerateResponsesConfig,
)
from medinstruct_datagen.parsing import (
    ParseResult,
    parse_structured_tasks,
    parse_task_list,
    parse_task_list_detailed,
)
from medinstruct_datagen.prompting import (
    build_instruction_messages,
    build_response_messages,
)
from medinstruct_datagen.schema import task_list_schema

# The generation loops import the LLM client (openai) and the ROUGE-L dedup
# (rapidfuzz, numpy); load them on first use so `import medinstruct_datagen`
# stays cheap for code that only needs seeds, prompts or parsers.
_LAZY = {
    "generate_instructions": "medinstruct_datagen.instructions",
    "GenerationResult": "medinstruct_datagen.instructions",
    "generate_responses": "medinstruct_datagen.responses",
    "ResponseResult": "medinstruct_datagen.responses",
    "plot_distributions": "medinstruct_datagen.plots",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medinstruct_datagen' has no attribute {name!r}")


__all__ += [
    "GenerateInstructionsConfig",
    "GenerateResponsesConfig",
    "GeneratedTask",
    "GenerationResult",
    "ParseResult",
    "ResponseResult",
    "Task",
    "build_instruction_messages",
    "build_response_messages",
    "generate_instructions",
    "generate_responses",
    "parse_structured_tasks",
    "parse_task_list",
    "parse_task_list_detailed",
    "plot_distributions",
    "task_list_schema",
]
