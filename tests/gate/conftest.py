"""Fixtures shared by the gate tests: one spaCy pipeline per session (about 2 s to load)."""

from __future__ import annotations

import pytest

from medinstruct_gate.verbs import load_spacy


@pytest.fixture(scope="session")
def nlp():
    return load_spacy()
