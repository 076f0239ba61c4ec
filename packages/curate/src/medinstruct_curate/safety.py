"""Patterns for content that must not reach training data.

Three families, each a dict of name -> regex so that a gate failure names the
exact kind of problem:

* PHI: identifiers a synthetic dataset should never contain (e-mails, phone
  numbers, SSN- and MRN-like numbers, street addresses, dates of birth). A
  teacher model that copies such strings from its pretraining data would leak
  them into the fine-tuned model.
* refusals: responder boilerplate ("As an AI language model...") that teaches
  the student to refuse or to talk about itself instead of answering.
* multimodal: instructions a text-only model cannot satisfy (draw, look at the
  image, listen to the audio), the Self-Instruct keyword filter adapted to
  medicine, where "map" (mean arterial pressure), "chart" (the patient record)
  and "draw blood" are ordinary words.

The regexes use Python `re` syntax with inline flags and only non-capturing
groups, because Great Expectations' pandas engine applies them with
`Series.str.contains`, which warns on capturing groups.
"""

from __future__ import annotations

import re

PHI_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b",
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "mrn": r"(?i)\b(?:MRN|medical record (?:number|no\.?)|patient id)\s*(?:is\s*)?[:#]?\s*[A-Z]{0,3}\d{5,}\b",
    "street_address": (
        r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}"
        r"(?:Street|St\.|Avenue|Ave\.?|Road|Rd\.|Boulevard|Blvd\.?|Lane|Drive|Court|Place|Way)(?=\W|$)"
    ),
    "date_of_birth": (
        r"(?i)\b(?:DOB|D\.O\.B\.?|date of birth|born(?: on)?)\s*[:,-]?\s*"
        r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}"
        r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4})"
    ),
    "name_with_dob": (
        r"\b[A-Z][a-z]+\s+[A-Z][a-z]+\s*(?:,\s*|\(\s*)?(?:DOB|D\.O\.B\b|date of birth)"
        r"|\b[A-Z][a-z]+\s+[A-Z][a-z]+\s*[,(]\s*born\b"
    ),
}

REFUSAL_PATTERNS: dict[str, str] = {
    "refusal_as_an_ai": r"(?i)\bas an? (?:ai|artificial intelligence)\b(?: (?:language )?model| assistant)?",
    "refusal_cannot_help": (
        r"(?i)\bI(?:['’]m| am)? (?:sorry,? (?:but )?)?(?:I )?"
        r"(?:can(?:no|['’])t|am unable to|['’]m unable to|am not able to)"
        r" (?:help|assist|provide|answer|comply|give|offer)\b"
    ),
    "refusal_not_a_doctor": r"(?i)\bI(?:['’]m| am) (?:not a (?:doctor|medical professional|physician)|just an ai)\b",
}

MULTIMODAL_PATTERNS: dict[str, str] = {
    "multimodal_visual": (
        r"(?i)\b(?:draw(?:ing)?|sketch|paint)\b(?!\s+(?:up|blood|a blood|some blood|samples?|conclusions?))"
        r"|\b(?:image|picture|photo(?:graph)?|video|diagram|flowchart|illustration|infographic)s?\b"
        r"|\bgraph(?:s|ed)?\b|\bplot (?:a|the|these|this)\b"
    ),
    "multimodal_audio": (
        r"(?i)\b(?:audio|sound clips?|voice recordings?|podcasts?)\b"
        r"|\blisten(?:ing)? to (?:the |this |these |an? )?"
        r"(?:audio|recording|sound|clip|heart sounds|lung sounds|breath sounds)"
    ),
    "multimodal_external": (
        r"(?i)\b(?:go to|visit|open|browse) (?:the |this )?(?:website|url|link|web ?page)\b"
        r"|https?://|\b(?:attached|uploaded) (?:file|document|pdf|scan)\b"
    ),
}


def safety_patterns(
    check_phi: bool, check_refusals: bool, check_multimodal: bool
) -> dict[str, dict[str, str]]:
    """The enabled families, as family -> {name: regex}."""
    families: dict[str, dict[str, str]] = {}
    if check_phi:
        families["phi"] = PHI_PATTERNS
    if check_refusals:
        families["refusal"] = REFUSAL_PATTERNS
    if check_multimodal:
        families["multimodal"] = MULTIMODAL_PATTERNS
    return families


# Which text columns each family inspects: PHI can hide anywhere; a refusal is
# the responder's (or a confused teacher's) voice; only the task itself can ask
# for an image (an output mentioning "diagram" is harmless).
FAMILY_COLUMNS: dict[str, tuple[str, ...]] = {
    "phi": ("instruction", "input", "output"),
    "refusal": ("instruction", "output"),
    "multimodal": ("instruction", "input"),
}


def scan_text(text: str, patterns: dict[str, str]) -> list[str]:
    """Names of the patterns that occur in `text` (for filters and debugging)."""
    return [name for name, regex in patterns.items() if re.search(regex, text)]
