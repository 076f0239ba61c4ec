"""A max_steps run tokenizes only the rows it can draw (medinstruct_train.sft)."""

from __future__ import annotations

from medinstruct_train.sft import TrainConfig, rows_a_run_sees, rows_to_tokenize


def rows(n: int) -> list[dict[str, str]]:
    return [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(n)]


def test_rows_a_run_sees_is_steps_times_rows_per_step() -> None:
    cfg = TrainConfig(max_steps=4, per_device_train_batch_size=2, gradient_accumulation_steps=3)
    assert rows_a_run_sees(cfg, world_size=1) == 24
    assert rows_a_run_sees(cfg, world_size=2) == 48


def test_epochs_runs_and_packing_see_every_row() -> None:
    assert rows_a_run_sees(TrainConfig(max_steps=-1), world_size=1) is None
    assert rows_a_run_sees(TrainConfig(max_steps=4, packing=True), world_size=1) is None


def test_a_seeded_sample_in_file_order() -> None:
    data = rows(100)
    first = rows_to_tokenize(data, 8, seed=1)
    assert len(first) == 8 and first == rows_to_tokenize(data, 8, seed=1)
    assert first != rows_to_tokenize(data, 8, seed=2)
    indices = [int(r["prompt"][1:]) for r in first]
    assert indices == sorted(indices) and len(set(indices)) == 8


def test_no_limit_or_a_limit_above_the_rows_keeps_them_all() -> None:
    data = rows(5)
    assert rows_to_tokenize(data, None, seed=1) is data
    assert rows_to_tokenize(data, 5, seed=1) is data
    assert rows_to_tokenize(data, 50, seed=1) is data
