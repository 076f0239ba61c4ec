"""A canonical taxonomy for task `type` and `view`, and a cleaner for `topic`.

Why: the teacher writes labels freely, so one task type shows up as `triage`,
`Triage,`, `**Triage**` and `triage task`, and a view as `Patient's
perspective` or `clinical note writing with bold text,` (a type pasted into
the wrong field). Counting those as distinct labels inflates the diversity the
gate measures and makes the type/view plots unreadable. The paper's figures
count canonical labels, so do we.

The taxonomy is the seed set's 29 types and 42 views (data/seeds/seed_tasks.jsonl)
plus the labels of the paper's public seed file (AlpaCare `med_seed.json`,
167 tasks: 10 types, 84 free-text views). Every paper type is a synonym of a seed
type; the paper's views add `student`, `expert`, `clinician`, `physician`,
`resident`, `epidemiologist`, `geneticist`, `pathologist`, `radiographer`,
`health educator`, `policy maker`, `bioethicist`, `psychologist`,
`medical writer` and `general public`, and map the rest onto these (see
`TYPE_SYNONYMS` and `VIEW_SYNONYMS`, the documented synonyms).

Matching (`resolve`), after `normalize_label` (case, markup, punctuation,
`Q&A` -> `qa`, `-isation` -> `-ization`, possessive `'s` and
filler words such as a trailing `perspective`/`view` or `task`):

1. the whole label is a canonical name or a synonym;
2. the same with a plural last word made singular (`Summarizations`);
3. a multi-word label that starts (types) or ends (views) with a known label:
   `clinical note writing with bold text` is `clinical note writing`,
   `Registered Nurse` is `nurse`; a view `X of Y` is tried as `X` first
   (`Parent of teenager` is `caregiver`). Types then try the end, views the start.

Anything else is `other`; `stored_label` keeps the original text next to it
(`other: <original>`), because the record models have no field for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "OTHER",
    "TYPE_SYNONYMS",
    "VIEW_SYNONYMS",
    "LabelMatch",
    "canonical_label",
    "canonical_labels",
    "canonical_share",
    "canonical_type",
    "canonical_view",
    "clean_label_text",
    "clean_topic",
    "is_canonical",
    "normalize_label",
    "plot_label",
    "resolve",
    "stored_label",
]

OTHER = "other"
Column = Literal["type", "view"]

# Canonical name (the seed set's spelling) -> synonyms, written in normalised
# form (lower case, words separated by single spaces, no punctuation).
TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "USMLE-style QA": ("usmle qa", "usmle", "usmle style", "usmle question", "usmle style question",
                       "usmle vignette", "board style qa", "board style question", "board exam question",
                       "board question", "board style vignette"),
    "open QA": ("qa", "open qa", "open ended qa", "question answering", "open question",
                "open ended question", "open ended question answering", "short answer",
                "short answer question", "factual question", "factual qa", "knowledge question",
                "medical qa", "general qa", "question"),
    "text generation": ("generation", "writing", "content generation", "essay", "essay writing",
                        "paragraph writing", "creative writing", "content writing"),
    "chat": ("conversation", "chat simulation", "role play", "roleplay", "conversational",
             "chatbot"),
    "multiple-choice QA": ("multiple choice qa", "multiple choice", "multiple choice question",
                           "multiple choice question answering", "mcq", "multi choice qa",
                           "single best answer", "multiple choice questions"),
    "summarization": ("summary", "summarize", "summarise", "summarizing", "abstract", "abstract writing"),
    "classification": ("classify", "categorization", "categorize", "categorise"),
    "multi-hop reasoning": ("multi hop reasoning", "multiple hop reasoning", "multihop reasoning",
                            "multi hop", "multi step reasoning", "multistep reasoning",
                            "complex reasoning"),
    "single-hop reasoning": ("single hop reasoning", "single hop", "one hop reasoning",
                             "single step reasoning", "simple reasoning"),
    "information extraction": ("extraction", "data extraction", "entity extraction", "extract",
                               "named entity recognition", "ner"),
    "patient education": ("health education", "patient teaching", "patient information",
                          "education", "health literacy"),
    "differential diagnosis": ("diagnosis", "ddx", "differential", "diagnostic reasoning",
                               "diagnostics"),
    "treatment planning": ("treatment plan", "management plan", "management planning",
                           "treatment recommendation", "care planning", "care plan",
                           "therapy planning", "management", "treatment"),
    "calculation": ("dose calculation", "dosage calculation", "drug calculation", "math",
                    "computation", "calculate", "clinical calculation"),
    "rewrite": ("rewriting", "rephrase", "rephrasing", "paraphrase", "paraphrasing",
                "simplification"),
    "medication counseling": ("medication counselling", "drug counseling", "counseling",
                              "counselling", "medication advice", "medication education"),
    "triage": ("triaging", "urgency assessment"),
    "explanation": ("explain", "concept explanation"),
    "comparison": ("compare", "compare and contrast", "contrast"),
    "true or false": ("true false", "true or false question", "yes or no", "yes no"),
    "translation to lay language": ("lay translation", "lay language translation",
                                    "lay language", "plain language translation",
                                    "translation to plain language", "layman translation",
                                    "translation"),
    "fill in the blank": ("fill in the blanks", "cloze", "gap fill", "fill in"),
    "clinical note writing": ("note writing", "clinical documentation", "documentation",
                              "soap note", "soap note writing", "progress note", "clinical note",
                              "medical note writing"),
    "critique": ("critical appraisal", "appraisal", "critical analysis"),
    "error correction": ("correction", "error detection", "error identification",
                         "proofreading"),
    "case report writing": ("case report", "case presentation"),
    "dialogue continuation": ("dialog continuation", "conversation continuation",
                              "dialogue completion", "continue the dialogue"),
    "ranking": ("rank", "prioritization", "prioritize", "prioritise", "ordering"),
    "question generation": ("quiz generation", "question writing", "exam question writing",
                            "quiz creation", "generate questions"),
}  # fmt: skip

VIEW_SYNONYMS: dict[str, tuple[str, ...]] = {
    # The seed set's views.
    "patient": ("patient perspective",),
    "nurse": ("registered nurse", "rn", "staff nurse", "ward nurse", "clinical nurse",
              "icu nurse", "intensive care nurse", "intensive care unit nurse", "nursing staff"),
    "medical student": ("med student", "student medicine", "usmle student", "medical training",
                        "student doctor", "medical trainee", "medical school student"),
    "general practitioner": ("gp", "family physician", "family doctor", "primary care physician",
                             "primary care doctor", "primary care clinician", "pcp",
                             "family medicine physician"),
    "pharmacist": ("clinical pharmacist", "community pharmacist", "hospital pharmacist"),
    "researcher": ("scientist", "medical researcher", "clinical researcher", "research scientist",
                   "investigator"),
    "emergency physician": ("emergency doctor", "er doctor", "er physician", "ed physician",
                            "emergency medicine physician"),
    "medical educator": ("educator", "professor", "medical professor", "med school professor",
                         "medical school professor", "tutor", "medicine tutor", "lecturer",
                         "teacher", "educationist", "clinical educator"),
    "nursing student": ("student nurse",),
    "public health worker": ("public health official", "public health officer",
                             "public health expert", "public health professional",
                             "public health specialist", "community health worker",
                             "public health"),
    "physiotherapist": ("physical therapist", "physio"),
    "caregiver": ("carer", "family caregiver", "family member", "family", "parent", "mother",
                  "father", "relative", "spouse", "guardian"),
    "cardiologist": (),
    "internal medicine resident": ("im resident",),
    "midwife": (),
    "pediatrician": ("paediatrician", "pediatric doctor"),
    "paramedic": ("emt", "emergency medical technician"),
    "dietitian": ("dietician", "nutritionist"),
    "oncologist": (),
    "radiologist": (),
    "surgeon": (),
    "infectious disease specialist": ("infectious diseases specialist", "id specialist",
                                      "infectious disease physician"),
    "psychiatrist": (),
    "genetic counselor": ("genetic counsellor",),
    "pharmacy student": (),
    "endocrinologist": (),
    "gastroenterologist": (),
    "pulmonologist": ("respiratory physician", "chest physician"),
    "rheumatologist": (),
    "nurse practitioner": ("np",),
    "dermatologist": (),
    "triage nurse": (),
    "intensivist": ("critical care physician", "icu doctor", "icu physician"),
    "school nurse": (),
    "pediatric nurse": ("paediatric nurse",),
    "hospital physician": ("hospitalist",),
    "nurse educator": (),
    "clinical pharmacologist": (),
    "geriatrician": (),
    "nephrologist": (),
    "neurologist": (),
    "palliative care physician": ("palliative care doctor", "hospice physician"),
    # The paper's views that the seed set lacks.
    "student": ("high school student", "highschool student"),
    "expert": ("medical expert", "expert clinician", "disease expert", "specialist",
               "specialist doctor", "subject matter expert"),
    "clinician": ("healthcare provider", "health care provider", "healthcare professional",
                  "health professional", "medical practitioner", "practitioner", "provider",
                  "medical professional", "healthcare worker", "health care worker"),
    "physician": ("doctor", "medical doctor", "md", "attending physician"),
    "resident": ("medical resident", "resident doctor", "intern", "intern doctor",
                 "junior doctor", "house officer", "trainee doctor"),
    "epidemiologist": (),
    "geneticist": (),
    "pathologist": (),
    "radiographer": ("x ray technician", "radiology technician", "radiologic technologist"),
    "health educator": (),
    "policy maker": ("policymaker", "health policy maker", "government official",
                     "health administrator", "hospital administrator", "administrator"),
    "bioethicist": ("ethicist", "medical ethicist"),
    "psychologist": ("psychotherapist", "clinical psychologist", "mental health professional"),
    "medical writer": ("health writer", "medical journalist"),
    "general public": ("public", "layperson", "lay person", "layman", "general audience",
                       "community member", "citizen"),
}  # fmt: skip

_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {"type": TYPE_SYNONYMS, "view": VIEW_SYNONYMS}
# Words that say nothing about the label itself.
_LEADING_FILLER = re.compile(
    r"^(?:(?:from )?(?:the )?(?:perspective|point of view|viewpoint) of |as |a |an |the )+"
)
_TRAILING_FILLER = {
    "type": re.compile(r"(?: tasks?| type| question type)+$"),
    "view": re.compile(r"(?: perspective| view| viewpoint| point of view| pov)+$"),
}
_TAGS = re.compile(r"<[^<>]*>")
_MARKUP = re.compile(r"[*_`#~]+")
_QA = re.compile(r"\bq\s*(?:&|and|/)\s*a\b")
_POSSESSIVE = re.compile(r"['’]s\b")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_EDGE_PUNCT = " \t\r\n.,;:!?-–—|/\\\"'“”‘’[]{}<>"
_OTHER_PREFIX = re.compile(r"^\s*other\s*[:(-]\s*", re.IGNORECASE)
# Labels that already say "unknown": stored as plain "other", with no original.
_NO_LABEL = frozenset(
    {"other", "others", "unknown", "misc", "miscellaneous", "none", "n a", "na", "not applicable"}
)


@dataclass(frozen=True)
class LabelMatch:
    """A label mapped onto the taxonomy: the canonical name (or "other") and the cleaned original."""

    canonical: str
    original: str
    rule: str  # exact, plural, partial, other: how the match was found (for debugging)

    @property
    def known(self) -> bool:
        return self.canonical != OTHER


def clean_label_text(text: str) -> str:
    """The label as written, minus HTML tags, markdown, stray edge punctuation and extra spaces.

    Case is kept: this is the text shown next to `other` and in topics.
    """
    value = unicodedata.normalize("NFKC", text)
    value = _MARKUP.sub(" ", _TAGS.sub(" ", value))
    value = " ".join(value.split())
    return value.strip(_EDGE_PUNCT)


def clean_topic(text: str) -> str:
    """A topic without markup and trailing punctuation (`<b>Cardiology</b>,` -> `Cardiology`).

    Returns "" when nothing is left (a topic of only markup); callers decide
    what to store then.
    """
    return clean_label_text(text)


def normalize_label(text: str, column: Column) -> str:
    """The comparable form of a label: lower case, ASCII words, single spaces, no filler."""
    value = clean_label_text(text).lower()
    value = _QA.sub(" qa ", value.replace("q&a", " qa "))
    value = _POSSESSIVE.sub("", value)
    value = " ".join(_NON_WORD.sub(" ", value).split())
    value = value.replace("isation", "ization").replace("ising", "izing")
    value = _LEADING_FILLER.sub("", value)
    stripped = _TRAILING_FILLER[column].sub("", value)
    return stripped or value


@lru_cache(maxsize=2)
def _index(column: Column) -> dict[str, str]:
    """Normalised name or synonym -> canonical name."""
    index: dict[str, str] = {}
    for canonical, synonyms in _SYNONYMS[column].items():
        for name in (canonical, *synonyms):
            index.setdefault(" ".join(_NON_WORD.sub(" ", name.lower()).split()), canonical)
    return index


def _singular(words: str) -> str | None:
    head, _, last = words.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        last = last[:-1]
    else:
        return None
    return f"{head} {last}".strip()


def _lookup(words: str, index: dict[str, str]) -> str | None:
    if words in index:
        return index[words]
    singular = _singular(words)
    return index.get(singular) if singular else None


def _partial(words: str, index: dict[str, str], column: Column) -> str | None:
    """The longest known label at the start or end of a multi-word label (see module doc)."""
    tokens = words.split()
    candidates: list[str] = []
    if column == "view" and " of " in words:
        candidates.append(words.split(" of ", 1)[0])
    starts = [" ".join(tokens[:n]) for n in range(len(tokens) - 1, 0, -1)]
    ends = [" ".join(tokens[-n:]) for n in range(len(tokens) - 1, 0, -1)]
    candidates += starts + ends if column == "type" else ends + starts
    for candidate in candidates:
        found = _lookup(candidate, index)
        if found is not None:
            return found
    return None


def resolve(label: object, column: Column) -> LabelMatch:
    """Map one `type` or `view` label onto the taxonomy (see the module docstring)."""
    if not isinstance(label, str):
        return LabelMatch(OTHER, "", "other")
    return _resolve_text(label, column)


@lru_cache(maxsize=8192)
def _resolve_text(label: str, column: Column) -> LabelMatch:
    """Memoised: a dataset repeats a few hundred labels tens of thousands of times."""
    if _OTHER_PREFIX.match(label):  # already stored as "other: <original>"
        return LabelMatch(OTHER, clean_label_text(_OTHER_PREFIX.sub("", label)), "other")
    original = clean_label_text(label)
    words = normalize_label(label, column)
    if words in _NO_LABEL:
        return LabelMatch(OTHER, "", "other")
    index = _index(column)
    if words in index:
        return LabelMatch(index[words], original, "exact")
    found = _lookup(words, index)
    if found is not None:
        return LabelMatch(found, original, "plural")
    found = _partial(words, index, column) if " " in words else None
    if found is not None:
        return LabelMatch(found, original, "partial")
    return LabelMatch(OTHER, original, "other")


def canonical_label(label: object, column: Column) -> str:
    """The canonical name of a label, or "other"."""
    return resolve(label, column).canonical


def canonical_type(label: object) -> str:
    """The canonical task type (`Triage,` -> `triage`, `USMLE style Q&A` -> `USMLE-style QA`)."""
    return canonical_label(label, "type")


def canonical_view(label: object) -> str:
    """The canonical view (`Registered Nurse` -> `nurse`, `Parent of teenager` -> `caregiver`)."""
    return canonical_label(label, "view")


def stored_label(label: str, column: Column) -> str:
    """What a record keeps: the canonical name, or `other: <original>` for an unknown label."""
    match = resolve(label, column)
    if match.known:
        return match.canonical
    return f"{OTHER}: {match.original}" if match.original else OTHER


def is_canonical(label: object, column: Column) -> bool:
    """True when the label maps onto the taxonomy (not "other")."""
    return resolve(label, column).known


def canonical_labels(labels: Iterable[object], column: Column) -> list[str]:
    """Canonical names for a column of labels (non-strings become "other")."""
    return [canonical_label(label, column) for label in labels]


def canonical_share(labels: Iterable[object], column: Column) -> float:
    """Share of labels that map onto the taxonomy; 1.0 for no labels (nothing is off it)."""
    values = list(labels)
    if not values:
        return 1.0
    return sum(is_canonical(label, column) for label in values) / len(values)


def plot_label(column: str, value: object) -> object:
    """The value a distribution plot counts: canonical type/view, cleaned topic, else as is."""
    if column in ("type", "view"):
        return canonical_label(value, column)  # type: ignore[arg-type]
    if column == "topic" and isinstance(value, str):
        return clean_topic(value) or OTHER
    return value
