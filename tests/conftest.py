"""Fixtures shared by every test area. Keep each fixture small; add yours below."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.fakes` must import the same way under `pytest` and `python -m pytest`.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fakes.fake_openai import FakeOpenAI  # noqa: E402


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fault-injecting fake OpenAI server on 127.0.0.1 (see tests/fakes/fake_openai.py)."""
    with FakeOpenAI() as fake:
        yield fake
