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
  image, listen to the audio, go to a website). This is also the rule filters'
  blacklist (`medinstruct_text.rules`), so curate, the generation loop and the
  gate share one set of patterns. They match phrases, never substrings, because
  in medicine "MAP" (mean arterial pressure), "chart" (the patient record),
  "draw blood" and "file a report" are ordinary words.

The regexes use Python `re` syntax with inline flags and only non-capturing
groups, because Great Expectations' pandas engine applies them with
`Series.str.contains`, which warns on capturing groups.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

try:  # the regex parser, to derive each pattern's required literals (see _compiled)
    _const: Any = importlib.import_module("re._constants")
    _parser: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - other interpreters: every regex simply runs
    _const = _parser = None

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

# --- Requests for other media ----------------------------------------------
#
# Phrases, never bare words: a media noun counts only where the task asks to
# make one, points at one ("the image", "this video", "attached photo") or asks
# to listen, watch or browse. Clinical senses are left alone on purpose: MAP
# (mean arterial pressure), the (nursing, fluid, growth) chart, draw blood / draw
# up / draw conclusions, file a report, a graph or plot described in words,
# "clinical picture", "body image", "image-guided", video-assisted surgery,
# heart/breath/bowel sounds, a mid-systolic click, listening to patients, "that link
# obesity to...", "the link between", "T2-weighted images show", "record bowel
# sounds", "watch for", "figure out", "using these figures" (numbers).
# tests/fixtures/blacklist/labelled.jsonl measures the trade-off (`make bench`).

# Up to four words between a verb and its object; a preposition or a clause word
# ends the object phrase ("a script for a video" is a script, not a video).
_GAP = (
    r"(?:(?!(?:for|about|to|in|on|from|into|that|which|and|or|explaining|describing)\b)"
    r"[\w'’-]+\s+){0,4}?"
)
_WORDS_0_2 = r"(?:[\w-]+\s+){0,2}?"
# After a pointed-at noun, words that make it text: "this CT scan report".
_TEXTUAL_FOLLOWER = (
    r"(?![\w-]|\s+(?:reports?|results?|findings?|requests?|forms?|descriptions?|summar(?:y|ies)"
    r"|data|values|text|transcripts?|consultations?|calls?|visits?|appointments?|archiving"
    r"|described|reported|interpretation|assisted|laryngoscop\w*|capsule|eeg|fluoroscop\w*"
    r"|telemetry|monitoring|urodynamic\w*)\b)"
)
_PICTURE = (
    r"(?<!clinical )(?<!blood )(?<!bigger )(?<!full )(?<!complete )(?<!whole )(?<!overall )"
    r"(?<!clear )(?<!typical )(?<!classic )(?<!radiological )(?<!radiographic )"
    r"(?<!biochemical )(?<!haematological )(?<!hematological )(?<!histological )(?<!fuller )"
    r"(?<!broader )(?<!wider )(?<!accurate )(?<!true )(?<!mixed )(?<!symptom )pictures?"
    # "the picture is one of sepsis": the presentation, not an image.
    r"(?!\s+(?:is|was|fits|suggests|points|remains|becomes|changes|evolves|resembles)\b)"
)
# Things a text model cannot make.
_MADE = "".join(
    [
        r"(?:diagrams?|flow ?charts?|(?:bar|pie|line|scatter|flow|gantt|organi[sz]ational)",
        r" (?:charts?|graphs?)|graphs?|plots?|",
        _PICTURE,
        r"|images?|photo(?:graph)?s?|illustrations?|drawings?|sketch(?:es)?|infographics?",
        r"|posters?|cartoons?|comics?|logos?|icons?|animations?|videos?|gifs?",
        r"|(?:powerpoint|slide) (?:slides?|decks?|presentations?)|slides(?:hows?)?|slide decks?",
        r"|(?:concept|mind|heat|route|street|world|floor|road) maps?|3d models?",
        r"|visuali[sz]ations?|visual (?:aids?|guides?|timelines?|summar(?:y|ies)|representations?)",
        r"|illustrated [\w-]+)\b",
    ]
)
_MAKE_VERB = (
    r"\b(?<!how to )(?:draw|sketch|paint|create|make|generate|produce|design|render|build"
    r"|construct|prepare|include|add|insert|provide|illustrate|show|give me|send me|send us)\s+"
)
# Things a text model cannot look at, when the task points at one.
_SEEN = "".join(
    [
        r"(?:images?|",
        _PICTURE,
        r"|photo(?:graph)?s?|diagrams?|illustrations?|drawings?|sketch(?:es)?|screenshots?",
        r"|graphs?|plots?|figure|videos?|video clips?|clips?|radiographs?)",
    ]
)
_POINTER = (
    r"\b(?:this|these|that|those|attached|following|above|below|accompanying|provided|uploaded"
    r"|enclosed|included|shown|adjacent|here is (?:a|an|my|the)|here are (?:some|my|the))\s+"
)
# Plural "figures" after "using/from/with these" or before "to calculate" are numbers.
_FIGURES = (
    r"(?<!using )(?<!from )(?<!with )(?<!given )(?:\bthe\s+|"
    + _POINTER
    + _WORDS_0_2
    + r")figures\b"
    r"(?!\s*,?\s*(?:to\s+)?(?:calculate|compute|work out|estimate|determine|for|on|from)\b)"
)
# "draw" in its clinical and figurative senses: draw blood, draw up a dose,
# draw conclusions, draw on experience, a comparison, a distinction.
_DRAW_CLINICAL = (
    r"(?!\s+(?:(?:which|what)\s+(?:[\w-]+\s+){0,4}?(?:conclusions?|inferences?|lessons?)"
    r"|up|out|on|upon|from|in|into|for|back|near|attention|breath"
    r"|(?:(?:a|an|the|some|any|more|your|their|his|her|this|these|those|such|clear|firm|valid"
    r"|useful|reasonable|my|our)\s+)?(?:[\w-]+\s+)?(?:blood|bloods|samples?|specimens?|cultures?"
    r"|labs?|levels?|gas(?:es)?|conclusions?|comparisons?|distinctions?|parallels?|inferences?"
    r"|lessons?|insights?|attention|lines? between|fluid|aspirates?|tubes?|syringes?|medications?"
    r"|doses?|insulin|vials?)\b))"
)
_VISUAL = [
    _MAKE_VERB + _GAP + _MADE,
    r"\b(?<!how to )(?<!blood )(?:draw|sketch)(?:s|ing)?\b" + _DRAW_CLINICAL,
    r"\b(?<!how to )(?:plot|graph)(?:s|ted|ting)?\s+"
    r"(?:the|these|this|that|a|an|her|his|their|your|my|our|each|all)\b",
    r"\b(?:draw|create|make|generate|produce|design|show|sketch)\s+(?:me\s+)?an?\s+"
    r"(?:[\w-]+\s+)?(?:maps?|charts?)\b"
    r"(?!\s+(?:entry|entries|notes?|reviews?|audits?|checks?|documentation)\b)",
    _POINTER + _WORDS_0_2 + _SEEN + _TEXTUAL_FOLLOWER,
    _POINTER + _WORDS_0_2 + r"scans?" + _TEXTUAL_FOLLOWER,
    r"\bthe\s+" + _SEEN + _TEXTUAL_FOLLOWER,
    r"\bfig(?:ure)?\.?\s*\d+[a-z]?\b",
    _FIGURES,
    # An image pointed at with a determiner ("the X-ray image", "my scan images"); generic
    # ones are physics or radiology teaching ("MRI produces images", "T2-weighted images").
    r"\b(?:the|this|these|those|that|my|your|his|her|their|our)\s+(?:[\w-]+\s+){0,2}?"
    r"(?<!body )(?<!body-)(?<!self )(?<!self-)(?<!mirror-)(?<!mirror )images?\b"
    r"(?!-|\s+(?:quality|guided|intensifiers?|acquisition|reconstruction|artefacts?|artifacts?"
    r"|described|reported|findings|reports?|interpretation)\b)",
    r"\bscreenshots?\b",
    r"\blabell?ed\s+(?:diagram|drawing|picture|sketch|illustration|figure)s?\b",
    r"\bwith\s+an?\s+(?:[\w-]+\s+)?(?:diagrams?|drawings?|sketch(?:es)?|illustrations?"
    r"|infographics?|photos?)\b",
    r"\b(?<!how to )take\s+(?:a|an|some)\s+(?:[\w-]+\s+)?(?:photo|picture|video)s?\b",
    r"\bshow me (?:what|how)\b[^.?!]{0,60}\blooks? like\b",
]
_AUDIO = [
    # Listening to anything but people ("listen to the patient's concerns").
    r"\b(?<!how to )(?<!where to )(?<!when to )listen(?:ing)?\s+to\b"
    r"(?!\s+(?:(?:the|your|my|their|his|her|our|a|an)\s+)?"
    r"(?:patients?|patient's|families|family|relatives?|carers?|caregivers?|parents?|concerns?"
    r"|body|bodies|advice|staff|colleagues?|people|what|how|them|him|her|me|you|others"
    r"|(?:(?:relaxing|calming|soothing|soft|classical|familiar|favourite|favorite)\s+)?music)\b)",
    r"\b(?:audio|sound|voice|video)\s+(?:recordings?|clips?|files?|memos?|notes?|messages?"
    r"|tracks?)\b",
    r"\baudio\b(?![-\s]?visual)",
    r"\bhear\s+(?:this|these|that|my)\b",
    r"\brecord(?:s|ed|ing)?\s+(?:[\w'’-]+\s+){0,3}?(?:audio|videos?|yourself|podcasts?"
    r"|clips?|vlogs?)\b(?![-\s]?(?:assisted|visual)\b)",
    r"\bplay(?:s|ing)?\s+(?:me\s+)?(?:(?:the|this|a|an|some|that)\s+)?"
    + _WORDS_0_2
    + r"(?:sounds?|audio|recordings?|clips?|videos?|songs?|music|tunes?|tracks?|tones?)\b",
    r"\b(?:compose|sing|hum|perform)\s+(?:(?:a|an|the|some|me)\s+)?(?:[\w-]+\s+){0,3}?"
    r"(?:music|songs?|melod(?:y|ies)|tunes?|jingles?|lullab(?:y|ies))\b",
    r"\btranscribe\s+(?:the|this|my|our)\s+(?:[\w-]+\s+)?(?:audio|recording|call|dictation"
    r"|voicemail|tape)s?\b",
    _POINTER + _WORDS_0_2 + r"(?:recordings?|podcasts?|tapes?|voicemails?|voice ?memos?)\b",
    r"\bthe\s+(?:voicemails?|voice ?memos?|recordings?|podcasts?)\b"
    r"(?!\s+of\s+(?:vital|obs|observations|blood|fluids?|weights?|temperatures?|pain)\b)",
]
# "link" the noun of a web page, not the association ("the link between stress and
# hypertension", "the links of the chain").
_LINK = r"links?\b(?!\s+(?:between|with|among|amongst|of|in\s+the\s+chain)\b)"
# After "this/that/these link(s)", a noun reading needs a noun's follower: a mark or the
# end, a place word, a conjunction, a verb, or "to" a web thing; "that links obesity to
# insulin resistance" and "pathways that link X and Y" are the verb.
_LINK_POINTED = (
    r"links?(?=\s*(?:[^\w\s]|$)|\s+(?:below|above|here|provided|shared|given|sent|posted|and|or"
    r"|which|is|are|was|will|should|opens?|leads?|takes?|goes)\b|\s+to\s+(?:the|this|a|an|our|your"
    r"|their)\s+(?:[\w-]+\s+){0,2}?(?:website|site|page|article|guidelines?|document|video"
    r"|paper|study|pdf|form|portal|resource|survey|trial|report|leaflet|app)s?\b)"
)
_WEB_PLACE = (
    r"(?:website|web ?site|web ?page|webpage|site|page|url|" + _LINK + r"|portal|app|tab|menu"
    r"|settings|home ?page|dashboard)\b"
)
_DETERMINER = r"(?:(?:the|this|our|your|a|an|their)\s+)?"
_EXTERNAL = [
    r"https?://|\bwww\.[\w-]+",
    r"\b(?:go|navigate|head|proceed|return)\s+(?:back\s+)?to\s+"
    + _DETERMINER
    + r"(?:[\w'’.-]+\s+){0,2}?"
    + _WEB_PLACE,
    r"\b(?<!how to )(?:visit|open|browse|access|check|consult|search|explore|use|log ?in(?:to)?"
    r"|sign ?in(?:to)?)\s+" + _DETERMINER + r"(?:[\w'’.-]+\s+){0,2}?"
    r"(?:website|web ?site|web ?page|webpage|url|" + _LINK + r"|hyperlinks?|online\s+[\w-]+|app)\b",
    r"\bfollow(?:ing)?\s+(?:the|this|that|these|those|a|an|my|our|your)\s+(?:[\w-]+\s+){0,2}?"
    + _LINK,
    r"\bon\s+(?:the|their|our|your|its|a|an|this)\s+(?:[\w'’.-]+\s+){0,2}?"
    r"(?:website|web ?site|web ?page|webpage|internet|web)\b",
    r"\b(?<!how to )(?:browse|search|surf|scour|check|find|look)\b(?:\s+\S+){0,6}?\s+"
    r"(?:online|on the (?:internet|web)|the (?:internet|web))\b",
    r"\b(?:on|using|use|via|with|search|check)\s+(?:google|bing|youtube|pubmed|the internet"
    r"|the web)\b",
    r"\bgoogle maps\b|\byoutube\b|\bon (?:a|the) map\b|\b(?:using|use|with|check) (?:a|the"
    r"|an online) map\b",
    # "a pleural tap below", "an ascitic tap on a cirrhotic patient": the procedure, not a screen.
    r"\b(?<!a )(?<!the )(?<!pleural )(?<!ascitic )(?<!spinal )(?<!lumbar )(?<!joint )"
    r"(?<!diagnostic )(?<!therapeutic )(?<!pericardial )(?<!suprapubic )(?<!bladder )"
    r"(?:click|tap|double-click)(?:\s+on)?\s+(?:the|this|here|below|that|a|an|link|button"
    r"|icon)\b",
    r"\b(?<!how to )(?:(?:download|upload|save|export)(?:s|ed|ing)?|attach(?:es|ing)?)\s+"
    r"(?:\S+\s+){0,4}?(?:files?|pdfs?|documents?|attachments?|spreadsheets?|apps?|reports?"
    r"|images?|photos?|pictures?|scans?|videos?|recordings?|guidelines?|leaflets?|forms?)\b",
    r"\bupload(?:ed|ing|s)?\b",
    r"\bopen\s+(?:(?:the|this|that|a|an|my|your|our)\s+)?"
    + _WORDS_0_2
    + r"(?:pdfs?|spreadsheets?|attachments?|links?|files?|documents?|websites?|urls?|apps?"
    r"|excel)\b",
    r"\b(?:attached|uploaded|enclosed|linked)\s+"
    + _WORDS_0_2
    + r"(?:files?|pdfs?|spreadsheets?|documents?|attachments?|links?)\b",
    _POINTER + _WORDS_0_2 + r"(?:urls?|pdfs?|spreadsheets?)\b",
    _POINTER + _WORDS_0_2 + _LINK_POINTED,
]

MULTIMODAL_PATTERNS: dict[str, str] = {
    "multimodal_visual": "(?i)" + "|".join(_VISUAL),
    "multimodal_audio": "(?i)" + "|".join(_AUDIO),
    "multimodal_external": "(?i)" + "|".join(_EXTERNAL),
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


# --- The fast path ----------------------------------------------------------
#
# Python's `re` tries every branch of an alternation at every position of the text,
# so the media families cost ~0.2 ms per instruction (about 80 s of a 52k run). Nearly
# every branch needs some literal word ("diagram", "website", "listen"), and most texts
# contain none of them. So each family is split back into its branches, and each branch
# gets the literals every one of its matches must contain, derived from the parsed regex
# (never written by hand, so they cannot drift from the patterns). A branch runs only
# where the text contains them, which `str.__contains__` checks far faster than `re`.
# Decisions and matched text are exactly the reference's (`re.search` on the whole
# pattern): tests/text/test_safety_fast.py checks both on the labelled fixture and on
# thousands of synthetic texts.

_BRANCHES: dict[str, Sequence[str]] = {
    MULTIMODAL_PATTERNS["multimodal_visual"]: _VISUAL,
    MULTIMODAL_PATTERNS["multimodal_audio"]: _AUDIO,
    MULTIMODAL_PATTERNS["multimodal_external"]: _EXTERNAL,
}
_INLINE_I = "(?i)"
# `re`'s IGNORECASE matches an ASCII letter with its other case and with exactly four
# other characters (checked over all of Unicode by the tests); str.lower() already maps
# the Kelvin sign to "k", and these three need a nudge so that one lowered text answers
# "does `re` find this literal?" for every literal at once.
_RE_CASE_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def required_literals(regex: str) -> tuple[frozenset[str], ...]:
    """Sets of literals such that every match of `regex` contains one literal of each set
    (an empty tuple when nothing is known: then the regex must always run).

    Conservative by construction: a node it does not understand (a class, a lookaround,
    an optional part, a scoped flag) contributes nothing, never a wrong literal.
    """
    if _parser is None:  # pragma: no cover - not CPython 3.11+: no prefilter, same answers
        return ()
    return tuple(_requirements(_parser.parse(regex)))


def _requirements(items: Iterable[Any]) -> list[frozenset[str]]:
    """What a concatenation needs: each run of literals, and each required part's literals."""
    needs: list[frozenset[str]] = []
    run: list[str] = []
    for op, arg in items:
        if op is _const.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            needs.append(frozenset(["".join(run)]))
            run = []
        found = _node_literals(op, arg)
        if found:
            needs.append(found)
    if run:
        needs.append(frozenset(["".join(run)]))
    return needs


def _node_literals(op: Any, arg: Any) -> frozenset[str] | None:
    """One set of literals that a group, alternation or repeat needs (None if unknown)."""
    if op is _const.SUBPATTERN:
        _, add_flags, del_flags, body = arg
        return None if add_flags or del_flags else _best(_requirements(body))
    if op is _const.BRANCH:
        found: set[str] = set()
        for body in arg[1]:
            branch = _best(_requirements(body))
            if not branch:
                return None  # one alternative without a literal: the alternation has none
            found |= branch
        return frozenset(found)
    if op in (_const.MAX_REPEAT, _const.MIN_REPEAT, _const.POSSESSIVE_REPEAT):
        low, _, body = arg
        return _best(_requirements(body)) if low >= 1 else None
    return None


def _best(needs: list[frozenset[str]]) -> frozenset[str] | None:
    return max(needs, key=_rarity, default=None)


def _rarity(literals: frozenset[str]) -> tuple[int, int]:
    """How selective a set of literals is: long ones (rare in text), then fewer of them."""
    return min(map(len, literals)), -len(literals)


@dataclass(frozen=True)
class _Branch:
    regex: re.Pattern[str]
    needs: tuple[frozenset[str], ...]  # folded as the branch compares them; () = always run


@dataclass(frozen=True)
class _Compiled:
    """A pattern as prefiltered branches, and how texts are compared with their literals."""

    branches: tuple[_Branch, ...]
    literals: frozenset[str]  # every literal of every branch, checked once per text
    fold: bool  # IGNORECASE: compare with lowered text (ASCII literals only)

    def runnable(self, text: str) -> list[re.Pattern[str]]:
        """The branches whose needed literals occur in `text` (no other branch can match).

        Each literal is looked up at most once per text; a branch stops at its first
        unmet need, and the rarest need comes first."""
        haystack = _fold(text) if self.fold else text
        found: dict[str, bool] = {}
        out = []
        for branch in self.branches:
            for need in branch.needs:
                for lit in need:
                    hit = found.get(lit)
                    if hit is None:
                        hit = found[lit] = lit in haystack
                    if hit:
                        break
                else:
                    break  # no literal of this need: the branch cannot match
            else:
                out.append(branch.regex)
        return out


def _fold(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_RE_CASE_FOLD).lower()


def _branch(source: str, flags: int) -> _Branch:
    regex = re.compile(source, flags)
    # The rarest need first; a second only if its literals are words, not "a" or "on".
    ranked = sorted(required_literals(source), key=_rarity, reverse=True)
    needs = ranked[:1] + [need for need in ranked[1:2] if min(map(len, need)) >= 3]
    if regex.flags & re.IGNORECASE:
        needs = [frozenset(lit.lower() for lit in need) for need in needs]
    return _Branch(regex, tuple(needs))


@lru_cache(maxsize=64)
def _compiled(regex: str) -> _Compiled:
    """`regex` as its top-level branches (the media families) or whole, each prefiltered.

    A family's global "(?i)" applies to every branch, so it is passed as a flag."""
    parts = _BRANCHES.get(regex)
    if parts is None:
        branches: tuple[_Branch, ...] = (_branch(regex, 0),)
    else:
        assert regex.startswith(_INLINE_I)
        branches = tuple(_branch(part, re.IGNORECASE) for part in parts)
    fold = bool(branches[0].regex.flags & re.IGNORECASE)
    literals = frozenset(lit for b in branches for need in b.needs for lit in need)
    if fold and not all(lit.isascii() for lit in literals):  # lower() is exact for ASCII only
        branches = tuple(_Branch(b.regex, ()) for b in branches)
        literals = frozenset()
    return _Compiled(branches, literals, fold)


def pattern_search(regex: str, text: str) -> re.Match[str] | None:
    """`re.search(regex, text)`: the same match (start, end, text), only faster.

    Of the branches that can match, the leftmost match wins and, at one position, the
    earlier branch: exactly how `re` resolves the alternation they came from."""
    best: re.Match[str] | None = None
    for branch in _compiled(regex).runnable(text):
        found = branch.search(text)
        if found is not None and (best is None or found.start() < best.start()):
            best = found
    return best


def pattern_matches(regex: str, text: str) -> bool:
    """`re.search(regex, text) is not None`, stopping at the first branch that matches."""
    return any(branch.search(text) for branch in _compiled(regex).runnable(text))


def scan_text(text: str, patterns: dict[str, str]) -> list[str]:
    """Names of the patterns that occur in `text` (for filters and debugging)."""
    return [name for name, regex in patterns.items() if pattern_matches(regex, text)]


def first_match(text: str, patterns: dict[str, str]) -> tuple[str, str] | None:
    """(pattern name, matched text) of the first pattern that occurs in `text`, or None.

    The rule filters report the matched phrase, so a reject can be checked by eye.
    """
    for name, regex in patterns.items():
        match = pattern_search(regex, text)
        if match is not None:
            return name, match.group(0)
    return None
