"""Trainer callbacks: per-step loss history, forwarded to a sink (MLflow) as it happens.

We log to MLflow ourselves (`report_to="none"`) instead of using transformers'
MLflow integration: that integration opens or reuses a run by itself, logs
~170 TrainingArguments params and, under `accelerate launch`, can race between
processes. A sink called only on the main process keeps one run per stage,
nested the way medinstruct_core.tracking expects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

StepSink = Callable[[dict[str, float], int], None]
# Keys of the final summary log (train_runtime, train_loss...), not per-step metrics.
_SUMMARY_PREFIX = "train_"


def step_metrics(logs: dict[str, Any]) -> dict[str, float]:
    """The numeric, per-step entries of a Trainer log record."""
    return {
        key: float(value)
        for key, value in logs.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and not key.startswith(_SUMMARY_PREFIX)
        and math.isfinite(float(value))
    }


class LossHistory(TrainerCallback):
    """Collect (step, loss, ...) at every logging step; optionally forward each record to `sink`."""

    def __init__(self, sink: StepSink | None = None) -> None:
        self.points: list[dict[str, float]] = []
        self.eval_points: list[dict[str, float]] = []
        self._sink = sink

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs:
            return
        metrics = step_metrics(logs)
        if "loss" in logs:
            self.points.append({"step": float(state.global_step), **metrics})
        elif "eval_loss" in logs:
            self.eval_points.append({"step": float(state.global_step), **metrics})
        else:
            return
        if self._sink is not None and state.is_world_process_zero and metrics:
            self._sink(metrics, int(state.global_step))

    def loss_rows(self) -> list[dict[str, float]]:
        """(step, loss) rows, the shape of the DVC plot CSV."""
        rows = [{"step": int(p["step"]), "loss": p["loss"]} for p in self.points if "loss" in p]
        return rows
