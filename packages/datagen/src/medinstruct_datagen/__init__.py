"""medinstruct_datagen: seed tasks, teacher prompts and Self-Instruct task generation."""

from medinstruct_datagen.seeds import load_seed_tasks, seed_stats

__all__ = ["load_seed_tasks", "seed_stats"]
