"""Benchmark: precision and recall of the media blacklist on labelled instructions.

Run with `python3 -m benchmarks.bench_blacklist` (`--verbose` lists the misses).
The fixture, tests/fixtures/blacklist/labelled.jsonl, holds medical instructions
labelled `media: true` (a real request for an image, audio, a drawing or
browsing) or `media: false` (a clinical use of a trigger word: MAP, the
nursing chart, draw blood, file a report, a graph described in text, ...).

Three filters are scored on it:

* `task rules`: what curate and the generation loop apply
  (`medinstruct_text.rules.check_task_rules`, reasons `blacklisted` or
  `unsafe_multimodal`, default `FilterConfig`);
* `gate multimodal`: the gate's safety family on instruction and input
  (the same patterns, so the two lines should agree);
* `word list (before)`: Alpaca's substring-style keyword list the project used
  before phrase matching, kept here as the baseline to beat.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medinstruct_core.records import Task
from medinstruct_text.rules import (
    REASON_BLACKLISTED,
    REASON_UNSAFE_MULTIMODAL,
    FilterConfig,
    check_task_rules,
)
from medinstruct_text.safety import MULTIMODAL_PATTERNS, scan_text

FIXTURE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "blacklist" / "labelled.jsonl"
)
MEDIA_REASONS = {REASON_BLACKLISTED, REASON_UNSAFE_MULTIMODAL}
# The keyword list the filters used before phrase matching (whole words, any sense).
# fmt: off
LEGACY_WORDS = (
    "image", "images", "picture", "pictures", "photo", "photos", "photograph", "graph",
    "graphs", "chart", "diagram", "flowchart", "draw", "drawing", "plot", "video", "videos",
    "audio", "music", "sound recording", "file", "files", "attachment", "attached", "map",
    "maps", "go to", "website", "click", "download", "upload",
)
# fmt: on


@dataclass(frozen=True)
class Item:
    id: str
    instruction: str
    input: str
    media: bool


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int
    tn: int
    misses: tuple[str, ...]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def load_items(path: Path = FIXTURE) -> list[Item]:
    """The labelled fixture, one Item per JSONL line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Item(**json.loads(line)) for line in lines if line.strip()]


def rules_flag(cfg: FilterConfig) -> Callable[[Item], bool]:
    """True when the shared task rules reject the item as a media request."""

    def flag(item: Item) -> bool:
        task = Task(type="open QA", topic="medicine", view="nurse", difficulty=2,
                    instruction=item.instruction, input=item.input)  # fmt: skip
        hit = check_task_rules(task, cfg)
        return hit is not None and hit.reason in MEDIA_REASONS

    return flag


def gate_flag(item: Item) -> bool:
    """True when the gate's multimodal family matches the instruction or the input."""
    return any(scan_text(text, MULTIMODAL_PATTERNS) for text in (item.instruction, item.input))


def legacy_flag() -> Callable[[Item], bool]:
    words = "|".join(r"\s+".join(map(re.escape, w.split())) for w in LEGACY_WORDS)
    pattern = re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
    return lambda item: pattern.search(item.instruction) is not None


def score(items: Sequence[Item], flag: Callable[[Item], bool]) -> Score:
    """Confusion counts of `flag` against the `media` labels; misses named by id."""
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    misses = []
    for item in items:
        flagged = flag(item)
        key = ("t" if flagged == item.media else "f") + ("p" if flagged else "n")
        counts[key] += 1
        if flagged != item.media:
            misses.append(f"{'FP' if flagged else 'FN'} {item.id}: {item.instruction}")
    return Score(**counts, misses=tuple(misses))


def microseconds_per_item(items: Sequence[Item], flag: Callable[[Item], bool], reps: int) -> float:
    started = time.perf_counter()
    for _ in range(reps):
        for item in items:
            flag(item)
    return (time.perf_counter() - started) / (reps * len(items)) * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--reps", type=int, default=3, help="timing repetitions")
    parser.add_argument("--verbose", action="store_true", help="list false positives/negatives")
    args = parser.parse_args(argv)
    items = load_items(args.fixture)
    n_media = sum(item.media for item in items)
    print(f"bench_blacklist: {len(items)} instructions, {n_media} media requests, "
          f"{len(items) - n_media} clinical uses ({args.fixture.name})")  # fmt: skip
    filters = {
        "task rules": rules_flag(FilterConfig()),
        "gate multimodal": gate_flag,
        "word list (before)": legacy_flag(),
    }
    for name, flag in filters.items():
        result = score(items, flag)
        speed = microseconds_per_item(items, flag, args.reps)
        print(f"  {name:<20} precision {result.precision:.3f}  recall {result.recall:.3f}  "
              f"(tp {result.tp}, fp {result.fp}, fn {result.fn}, tn {result.tn}; "
              f"{speed:.0f} us/item)")  # fmt: skip
        if args.verbose:
            for line in result.misses:
                print(f"      {line}")


if __name__ == "__main__":
    main()
