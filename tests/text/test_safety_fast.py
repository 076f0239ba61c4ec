"""The fast path of the safety patterns decides and matches exactly like `re.search`.

`scan_text` and `first_match` split the media families into branches and skip a branch
whose required literals are absent (medinstruct_text.safety). These tests compare them
with the reference (`re.search` of each whole pattern) on the labelled fixture and on a
few thousand synthetic texts built from the patterns' own trigger words."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from medinstruct_text.safety import (
    MULTIMODAL_PATTERNS,
    PHI_PATTERNS,
    REFUSAL_PATTERNS,
    _fold,
    first_match,
    required_literals,
    scan_text,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "blacklist" / "labelled.jsonl"
FAMILIES = {"phi": PHI_PATTERNS, "refusal": REFUSAL_PATTERNS, "multimodal": MULTIMODAL_PATTERNS}

# Words that open or close the patterns' branches, clinical look-alikes, and filler.
TRIGGERS = (
    "draw", "sketch", "diagram", "flow chart", "flowchart", "image", "images", "the picture",
    "clinical picture", "photo", "video", "audio", "listen to", "listen to the patient",
    "website", "web page", "link", "the link between", "links below", "this link", "click",
    "tap", "pleural tap", "upload", "download the", "open the", "attached", "this", "these",
    "the following", "figure 2", "fig. 3", "these figures", "using these figures", "scan",
    "this CT scan report", "screenshot", "labelled diagram", "with a diagram", "take a photo",
    "show me what", "looks like", "google", "youtube", "online", "the internet", "map",
    "MAP", "chart", "the nursing chart", "plot", "plot the", "graph", "create a", "make an",
    "record", "recording", "the recording of vital", "podcast", "play the sound", "sing a song",
    "transcribe the audio", "hear this", "http://x.org", "www.nhs.uk", "go to the app",
    "visit our site", "follow the link", "on the website", "search online", "as an AI",
    "I'm sorry, but I can't help", "I am not a doctor", "john@example.com", "555-123-4567",
    "(555) 123-4567", "123-45-6789", "MRN: 1234567", "patient id 88812345", "12 Baker Street",
    "DOB 01/02/1990", "born on March 3, 1950", "John Smith, DOB", "Mary Jones (born",
    "draw blood", "draw up", "draw conclusions", "how to draw", "body image", "image-guided",
    "T2-weighted images", "video-assisted", "heart sounds", "watch for", "figure out",
    "pictures", "the picture is", "illustrated guide", "3D model", "mind map", "slide deck",
    "PowerPoint deck", "visual aid", "infographic", "Ƙ", "ſketch", "İmage", "dıagram",
    "\u212aelvin", "’", "—", "\n", ",", ".", "?", "  ",
)  # fmt: skip
FILLER = (
    "the", "a", "an", "patient", "of", "for", "to", "and", "explain", "describe", "what",
    "is", "nurse", "blood", "pressure", "with", "on", "in", "how", "should", "you", "my",
    "that", "which", "about", "from", "results", "report", "findings", "below", "above",
)  # fmt: skip


def reference_scan(text: str, patterns: dict[str, str]) -> list[str]:
    return [name for name, regex in patterns.items() if re.search(regex, text)]


def reference_first(text: str, patterns: dict[str, str]) -> tuple[str, str] | None:
    for name, regex in patterns.items():
        match = re.search(regex, text)
        if match is not None:
            return name, match.group(0)
    return None


def fixture_texts() -> list[str]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    return [row[c] for row in rows for c in ("instruction", "input") if row[c]]


def synthetic_texts(n: int, seed: int) -> list[str]:
    """Random mixes of trigger words, filler and fixture fragments, in random case."""
    rng = random.Random(seed)
    fragments = [w for text in fixture_texts() for w in text.split()]
    texts = []
    for _ in range(n):
        words = [
            rng.choice(
                TRIGGERS if rng.random() < 0.3 else FILLER if rng.random() < 0.6 else fragments
            )
            for _ in range(rng.randint(1, 30))
        ]
        text = " ".join(words)
        case = rng.random()
        texts.append(text.upper() if case < 0.1 else text.title() if case < 0.2 else text)
    return texts


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fixture_decisions_and_matches_are_the_reference(family: str) -> None:
    patterns = FAMILIES[family]
    texts = fixture_texts()
    assert len(texts) == 334
    for text in texts:
        assert scan_text(text, patterns) == reference_scan(text, patterns), text
        assert first_match(text, patterns) == reference_first(text, patterns), text


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_synthetic_decisions_and_matches_are_the_reference(family: str) -> None:
    patterns = FAMILIES[family]
    texts = synthetic_texts(3000, seed=16)
    flagged = 0
    for text in texts:
        expected = reference_scan(text, patterns)
        assert scan_text(text, patterns) == expected, text
        assert first_match(text, patterns) == reference_first(text, patterns), text
        flagged += bool(expected)
    # The texts exercise both sides: many match, many do not.
    assert 0.05 * len(texts) < flagged < 0.95 * len(texts)


def test_required_literals_are_needed_by_every_match() -> None:
    assert required_literals(r"(?i)\b(?:draw|sketch)s?\b") == (frozenset({"draw", "sketch"}),)
    assert required_literals(r"ab(?:cd|ef)+x?") == (
        frozenset({"ab"}),
        frozenset({"cd", "ef"}),
    )
    # Optional parts, classes and alternations with a literal-free branch give nothing.
    assert required_literals(r"(?:foo)?\d+") == ()
    assert required_literals(r"(?:foo|\d)") == ()
    assert required_literals(r"(?-i:abc)") == ()


def test_ignorecase_matches_ascii_letters_only_as_the_fold_assumes() -> None:
    """`re` (?i) matches an ASCII letter with its cases and exactly these four others;
    the fast path's lowered text must agree, or a literal check could miss a match."""
    others = {}
    letters = {c: re.compile("(?i)" + c) for c in "abcdefghijklmnopqrstuvwxyz"}
    for code in (0x130, 0x131, 0x17F, 0x212A, 0xDF, 0x1E9E, 0xFB01, 0x3A3, 0x212B):
        for letter, regex in letters.items():
            if regex.fullmatch(chr(code)):
                others[code] = letter
    assert others == {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}


@pytest.mark.slow
def test_ignorecase_fold_over_all_of_unicode() -> None:
    """For every character, the ASCII letters its folded form holds are exactly the
    letters `re` (?i) matches it with (so a literal check never misses a match)."""
    letters = {c: re.compile("(?i)" + c) for c in "abcdefghijklmnopqrstuvwxyz"}
    for code in range(0x80, 0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        by_re = {letter for letter, regex in letters.items() if regex.fullmatch(char)}
        by_fold = {c for c in _fold(char) if c in letters}
        assert by_re == by_fold, hex(code)
