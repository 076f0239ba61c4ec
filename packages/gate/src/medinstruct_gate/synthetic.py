"""Seeded synthetic task sets for testing and benchmarking the gate at any size.

Two generators, both pure functions of (n, seed):

* `varied_tasks`: medical-ish tasks from a small grammar: 175 frames over 22
  canonical task types, whose slots are themselves composed (qualifier +
  condition, modifier + aspect, quality + site + pain, synonym verbs,
  audiences and goals), with optional inline contexts, lead-ins (vignettes
  with vital signs, roles, visits) and tails (answer constraints, purposes),
  and stock phrases reworded (`paraphrase`). Candidates pass the curate
  stage's ROUGE-L rule (`RougeLIndex`: F > 0.7 to a kept task is dropped), so
  the set looks like curated teacher output: varied, yet formulaic. The dedup
  does bite (10,000 kept of 14,760 drawn) and thins the short frames first,
  so a 52k set is slightly less varied than a 1k one (distinct-2 on 1,000
  sampled rows: 0.334 at 1k, 0.322 at 52k), as curated real data would be. It is also less varied than real teacher output (a real
  52k set scored 0.245 distinct-2 over all rows; this one 0.05).
* `collapsed_tasks`: four fill-in-the-slot templates with the same labels: the
  failure mode of a teacher stuck in a rut. Its labels are as varied as the
  good set's, so only the text diversity checks can catch it.

Neither set is a claim about real data; they exist so that "passes at 1k, 10k
and 52k rows" and "fails at every size" can be tested and timed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator

from medinstruct_gate import synthetic_vocab as v
from medinstruct_text.rouge import RougeLIndex

Row = dict[str, object]
Rng = random.Random


def _cond(rng: Rng) -> str:
    """A condition, qualified about a third of the time ("poorly controlled asthma")."""
    plain = rng.choice(v.CONDITIONS)
    return f"{rng.choice(v.QUALIFIERS)} {plain}" if rng.random() < 0.35 else plain


def _symptom(rng: Rng) -> str:
    """A listed symptom, or a composed pain ("burning epigastric pain", "sudden calf pain")."""
    roll = rng.random()
    if roll < 0.3:
        return f"{rng.choice(v.PAIN_QUALITIES)} {rng.choice(v.BODY_SITES)} pain"
    if roll < 0.45:
        return f"{rng.choice(v.ONSETS)} {rng.choice(v.BODY_SITES)} swelling"
    return rng.choice(v.SYMPTOMS)


def _person(rng: Rng) -> str:
    """ "54-year-old woman", "7-year-old boy": age and noun agree."""
    age = rng.randint(2, 92)
    return f"{age}-year-old {rng.choice(v.SEXES[2:] if age < 16 else v.SEXES[:2])}"


def _aspect(rng: Rng) -> str:
    """An aspect, often with a modifier ("the under-recognised complications")."""
    head = rng.choice(v.ASPECTS)
    return f"{rng.choice(v.ASPECT_MODIFIERS)} {head}" if rng.random() < 0.6 else head


# Slot name -> how to fill it. Every occurrence of a name in one frame gets one value.
SLOTS: dict[str, Callable[[Rng], object]] = {
    "cond": _cond,
    "cond2": lambda rng: rng.choice(v.CONDITIONS),
    "cond3": lambda rng: rng.choice(v.CONDITIONS),
    "drug": lambda rng: rng.choice(v.DRUGS),
    "drug2": lambda rng: rng.choice(v.DRUGS),
    "drug3": lambda rng: rng.choice(v.DRUGS),
    "test": lambda rng: rng.choice(v.TESTS),
    "test2": lambda rng: rng.choice(v.TESTS),
    "sym": _symptom,
    "sym2": _symptom,
    "sym3": _symptom,
    "proc": lambda rng: rng.choice(v.PROCEDURES),
    "pop": lambda rng: rng.choice(v.POPULATIONS),
    "setting": lambda rng: rng.choice(v.SETTINGS),
    "aspect": _aspect,
    "aud": lambda rng: rng.choice(v.AUDIENCES),
    "goal": lambda rng: rng.choice(v.GOALS),
    "explain": lambda rng: rng.choice(v.EXPLAIN),
    "list": lambda rng: rng.choice(v.LIST),
    "write": lambda rng: rng.choice(v.WRITE),
    "advise": lambda rng: rng.choice(v.ADVISE),
    "compare": lambda rng: rng.choice(v.COMPARE),
    "visit": lambda rng: rng.choice(v.VISITS),
    "person": _person,
    "dur": lambda rng: rng.choice(v.DURATIONS),
    "kg": lambda rng: rng.randint(4, 40),
    "kg2": lambda rng: rng.randint(45, 140),
    "cm": lambda rng: rng.randint(145, 200),
    "mgkg": lambda rng: rng.choice((10, 15, 20, 25, 30, 40, 50)),
    "div": lambda rng: rng.choice((2, 3, 4)),
    "vol": lambda rng: rng.choice((250, 500, 1000, 1500)),
    "hrs": lambda rng: rng.choice((2, 4, 6, 8, 12, 24)),
    "v1": lambda rng: rng.randint(60, 200),
    "v2": lambda rng: rng.randint(20, 59),
    "r1": lambda rng: rng.randint(8, 30),
    "r2": lambda rng: rng.randint(2, 7),
    "sbp": lambda rng: rng.randint(80, 210),
    "dbp": lambda rng: rng.randint(40, 120),
    "hr": lambda rng: rng.randint(38, 160),
    "temp": lambda rng: rng.choice(
        ("35.4", "36.1", "36.8", "37.4", "37.9", "38.3", "38.9", "39.6")
    ),
    "sat": lambda rng: rng.randint(84, 100),
}

# Task type (canonical taxonomy name) -> frames.
FRAMES: dict[str, tuple[str, ...]] = {
    "explanation": (
        "Justify, with physiology, why {drug} lowers mortality in {cond}.",
        "What biochemical changes underlie {sym} in {cond}?",
        "Account for the seasonal pattern seen in {cond}.",
        "Why are {pop} frequently under-treated for {cond}?",
        "Clarify the difference between remission and cure in {cond}.",
        "How does {drug} reduce the {aspect} of {cond}?",
        "{explain} the link between {cond} and {cond2}.",
        "Why might {sym} be the first sign of {cond} in {pop}?",
        "{explain} the role of the {test} in following up {cond}.",
        "In simple terms, why does {proc} sometimes fail?",
        "What makes {cond} harder to recognise {setting}?",
        "{explain} why guidelines recommend {drug} before {drug2} for {cond}.",
        "Why do symptoms of {cond} often worsen at night?",
        "{explain} the {aspect} of {cond}.",
        "Why does {cond} raise the risk of falls in {pop}?",
        "{explain} how {drug} works and why it is chosen for {cond}.",
        "{explain} what happens in the body during {cond}, step by step.",
        "Why is the {test} often abnormal in {cond}?",
        "What mechanism explains the commonest adverse effect of {drug}?",
        "{explain} why {pop} are more vulnerable to {cond}.",
    ),
    "open QA": (
        "Roughly how many {pop} carry undiagnosed {cond}?",
        "Does smoking cessation alter the course of {cond}?",
        "Which genetic variants predispose families to {cond}?",
        "Which occupational exposures are linked to {cond}?",
        "What rehabilitation milestones follow {proc}?",
        "Which vaccines are recommended for {pop} with {cond}?",
        "What dose adjustments of {drug} are needed in {cond}?",
        "At what point should {aud} escalate concerns about {sym}?",
        "What proportion of {pop} develop {cond}, and why?",
        "Which foods interfere with {drug}?",
        "How soon after {proc} can a patient drive again?",
        "What follow-up is needed after an abnormal {test}?",
        "Can {cond} be prevented in {pop}? How?",
        "What are the {aspect} of {cond} in {pop}?",
        "Which {test} result would support a diagnosis of {cond}?",
        "How long should {drug} be continued after {proc}?",
        "When is a {test} indicated for someone with {sym}?",
        "What suggests that {cond} is getting worse {setting}?",
        "Is {drug} safe for {pop}, and what precautions apply?",
        "How does {cond} usually affect {pop}?",
    ),
    "patient education": (
        "Draft a frequently-asked-questions page about {drug} for a pharmacy noticeboard.",
        "Coach a grandparent caring for a toddler with {cond} through the evening routine.",
        "Prepare a checklist that {pop} can bring to appointments about {cond}.",
        "{explain} in everyday words what a {test} involves and how to prepare.",
        "{write} a leaflet section on living well with {cond} for {pop}.",
        "How can a patient with {cond} stay active safely?",
        "{write} five tips to help {pop} remember to take {drug}.",
        "{explain} to a teenager why {cond} needs regular check-ups.",
        "Prepare answers to the questions a family usually asks after a diagnosis of {cond}.",
        "{write} advice for a patient starting {drug} for {cond}.",
        "{write} a short explanation of {proc} for a patient who is anxious about it.",
        "{explain} to a parent what {cond} means for their child's daily life.",
        "Teach a patient with {cond} how to recognise a flare and what to do.",
        "{write} lifestyle advice for {pop} living with {cond}.",
        "Help a patient understand why they need a {test} before {proc}.",
    ),
    "differential diagnosis": (
        "{list} the causes of {sym} that are specific to {pop}.",
        "A patient taking {drug} reports {sym}. Which diagnoses are possible, and how would you tell them apart?",
        "How would you narrow down the causes of {sym} and {sym2} occurring together?",
        "What features separate {cond} from conditions that mimic it?",
        "A {person} presents with {sym}. {list} the differential diagnoses in order of likelihood.",
        "Which conditions should be considered in {pop} presenting with {sym}?",
        "Distinguish {cond} from {cond2} using history and examination alone.",
        "What serious causes of {sym} must not be missed {setting}?",
        "Give three alternative explanations for {sym} in a patient already known to have {cond}.",
    ),
    "treatment planning": (
        "Negotiate a realistic weight-loss target with a patient whose {cond} worsens with obesity.",
        "Choose analgesia for {pop} with renal impairment and {sym}.",
        "Sequence the investigations and treatment for suspected {cond} arriving by ambulance.",
        "What non-drug measures help {pop} with {cond}?",
        "Design a follow-up schedule for {cond} treated with {drug}.",
        "Set targets for the management of {cond} in {pop}, with reasons.",
        "Recommend the next step when {drug} causes {sym} in a patient with {cond}.",
        "How would you plan pain relief after {proc} for {pop}?",
        "Outline a management plan for {cond} in {pop}.",
        "Plan the first 24 hours of care for a patient admitted with {cond}.",
        "How should {drug} be adjusted for a patient with {cond} who is about to have {proc}?",
        "Propose a stepwise approach for {cond} that has not responded to {drug}.",
        "{write} a discharge plan for a patient recovering from {proc}.",
        "Suggest how to manage {cond} {setting} when specialist help is hours away.",
    ),
    "calculation": (
        "Convert a dose of {mgkg} mg of {drug} given {div} times daily into a total weekly amount.",
        "A drip runs at {hrs} drops per minute with a 20 drop/mL giving set. How many millilitres are infused per hour?",
        "Calculate fluid maintenance for a child of {kg} kg using the 4-2-1 rule.",
        "Calculate the daily dose of {drug} for a child weighing {kg} kg at {mgkg} mg/kg/day, split into {div} doses.",
        "Work out the infusion rate in mL/h for {vol} mL of fluid over {hrs} hours.",
        "Estimate the BMI of an adult who weighs {kg2} kg and is {cm} cm tall, and classify it.",
        "A patient's {test} has fallen from {v1} to {v2}. Calculate the percentage change.",
        "Compute the number needed to treat if {drug} lowers event risk from {r1}% to {r2}%.",
    ),
    "comparison": (
        "What separates {cond} from {cond2} on the {test}?",
        "{compare} home monitoring and clinic review for {cond}.",
        "{compare} {proc} with medical treatment for {pop}.",
        "{compare} {drug} and {drug2} for the treatment of {cond}.",
        "{compare} the presentation of {cond} in {pop} with that in younger adults.",
        "{compare} the {test} and the {test2} for investigating {sym}.",
        "How do the risks of {proc} compare with conservative management of {cond}?",
        "{compare} the benefits and harms of {drug} and {drug2} for {pop}.",
    ),
    "medication counseling": (
        "How should {drug} be stopped safely in {pop}?",
        "{advise} someone on {drug} about alcohol and driving.",
        "What should {pop} know before starting {drug}?",
        "{advise} a patient who missed two doses of {drug}.",
        "{advise} a patient on how to take {drug} safely.",
        "What should a pharmacist tell someone collecting {drug} for the first time?",
        "{explain} the interaction between {drug} and {drug2} to a patient taking both.",
        "{advise} a patient on {drug} who plans to travel abroad for a month.",
        "{list} the side effects of {drug} that should prompt a patient to stop it and seek advice.",
    ),
    "triage": (
        "{pop} with {sym}: which features mean same-day assessment?",
        "A message says a patient on {drug} has {sym}. Decide who should see them and when.",
        "Prioritise three patients {setting}: one with {sym}, one with {sym2}, one with {cond}.",
        "A caller reports {sym} in a {person}. Decide the urgency and justify it.",
        "Triage a patient with {cond} who now has {sym}.",
        "Should a patient with {sym} {setting} be seen today, this week or routinely?",
        "Rank the urgency of these presentations: {sym}, {sym2} and {sym3}.",
    ),
    "summarization": (
        "Boil down this consultant's letter about {cond} to three actions for the GP.",
        "Produce a lay abstract of a trial testing {drug} in {pop}.",
        "Summarise the main changes in recent guidance on {cond}.",
        "Give a one-paragraph summary of {proc} for {aud}.",
        "Summarise the case below for a handover to the night team.",
        "Summarise what {aud} needs to know about {cond}.",
        "Summarise current evidence on {drug} for {cond} in five sentences.",
        "Condense the clinic letter below into a short handover for {aud}.",
        "Summarise the pros and cons of the {test} as a screening test for {pop}.",
    ),
    "information extraction": (
        "Tabulate the vital signs recorded in the triage note below with their times.",
        "Find every date mentioned in this discharge letter and state what happened on each.",
        "Extract every medication and dose from the note below, then flag any that interact with {drug}.",
        "From the referral letter, {list} the symptoms and their duration, noting any link to {cond}.",
        "Pull out the abnormal values from the {test} report provided and say which matter most.",
        "Identify the allergies recorded in this admission note for {proc}.",
    ),
    "classification": (
        "Decide whether each case below is likely {cond} or not, and give a reason.",
        "Group these symptoms by body system: {sym}, {sym2} and {sym3}.",
        "Classify the severity of the {cond} described in the input using a recognised scale.",
        "Is the following presentation more consistent with {cond} or {cond2}?",
        "Label each symptom below as typical or atypical for {cond}.",
        "Sort these drugs by their main risk in {pop}: {drug}, {drug2} and {drug3}.",
    ),
    "clinical note writing": (
        "{write} a discharge summary for a patient treated for {cond}.",
        "{write} a nursing handover note for a patient after {proc}.",
        "Record a telephone consultation about {sym} in a clear note.",
        "{write} a SOAP note for a follow-up visit for {cond}.",
        "Document a medication review for a patient taking {drug} and {drug2}.",
        "{write} an operation note template for {proc}.",
        "{write} a referral letter to a specialist about a patient with {sym}.",
    ),
    "rewrite": (
        "Simplify this paragraph on {cond} without losing accuracy.",
        "Translate the jargon in this {test} result into words a farmer would understand.",
        "Rewrite this explanation of {cond} for a twelve-year-old.",
        "Rephrase the discharge advice after {proc} below so it is easier to read.",
        "Turn these clinical notes on {cond} into plain English for the patient.",
    ),
    "multi-hop reasoning": (
        "Kidney function declines in a patient taking {drug} and {drug2}. Trace which drug is responsible and what to monitor.",
        "A patient with {cond} and {cond2} needs {drug}. Work out the main risks and how to reduce them.",
        "If the {test} is normal but {sym} persists, what should be considered next, and why?",
        "A patient on {drug} develops {sym}. Reason through the likely cause and the next test.",
        "A {person} with {cond} starts {drug}, then the {test} becomes abnormal. What connects these events?",
        "Given {cond} and a new prescription of {drug2}, predict what might happen to the {test} and why.",
    ),
    "USMLE-style QA": (
        "A {person} has had {sym} {dur}. Examination is otherwise normal. What is the most likely diagnosis?",
        "A {person} with {cond} is started on {drug}. Which adverse effect is most likely?",
        "A {person} presents {setting} with {sym} and {sym2}. What is the best next step?",
    ),
    "critique": (
        "Appraise the methodology of a small observational study claiming {drug} prevents {cond}.",
        "Scrutinise this consent conversation before {proc} and suggest improvements.",
        "Assess whether using {drug} for {pop} with {cond} is justified.",
        "What is wrong with this triage decision for a patient with {sym}?",
        "Critique this plan to treat {cond} with {drug} alone.",
        "Identify the weaknesses of using the {test} to rule out {cond}.",
        "Evaluate this patient leaflet about {proc} for accuracy and clarity.",
    ),
    "error correction": (
        "Spot the factual slip in this handover about a patient with {sym}.",
        "Find and correct the errors in this prescription for {drug}.",
        "The statement below about {cond} contains a mistake; correct it.",
        "Correct the dosing error in this plan for {pop} taking {drug}.",
    ),
    "true or false": (
        "True or false: {drug} is contraindicated in {cond}. Justify your answer.",
        "True or false: the {test} is the first test to order for {sym}. Explain.",
    ),
    "fill in the blank": (
        "Fill in the blank: the first-line drug for {cond} in {pop} is ____.",
        "Complete the sentence: {proc} is most often complicated by ____.",
    ),
    "question generation": (
        "{write} a multiple-choice question on the {aspect} of {cond} with one correct answer.",
        "Suggest questions to ask a patient with {sym} to find the cause.",
        "{write} three exam questions that test understanding of {cond}.",
        "{write} questions a patient might ask before {proc}, with brief answers.",
    ),
    "chat": (
        "Reply empathetically to a message from someone frightened about {cond}.",
        "Answer a follow-up question from a patient who read online that {drug} causes {cond3}.",
        "Continue the conversation with a patient worried that {drug} is causing {sym}.",
        "Role-play {aud} reassuring someone about upcoming {proc}.",
    ),
}
LEADS = (
    "A {person} with {cond} has had {sym} {dur}.",
    "You are {aud} {setting}.",
    "A {person} has a blood pressure of {sbp}/{dbp} mmHg and a pulse of {hr}.",
    "Observations: temperature {temp} C, heart rate {hr}, oxygen saturation {sat}%.",
    "A {person} with {cond} arrives with {sym}; pulse {hr}, BP {sbp}/{dbp}.",
    "During a {visit}, a patient with {cond} asks about {drug}.",
    "Context: {pop} seen {setting}.",
    "A relative of someone with {cond} is worried about {sym}.",
    "Imagine you work {setting} and see many {pop}.",
    "Your colleague, {aud}, has asked for help.",
    "Last week a patient with {cond3} was admitted {setting}.",
    "Local audit found gaps in how {cond3} is managed {setting}.",
    "A new protocol for {cond3} is being introduced {setting}.",
    "Many {pop} struggle with {drug3}.",
    "After {proc}, a {person} reports {sym2}.",
    "Teaching session for {aud}:",
    "Winter pressures are stretching staff {setting}.",
    "A pharmacist flags that {drug3} was prescribed twice.",
    "Following a fall at home, a {person} is brought in.",
    "An interpreter is present for a consultation about {cond3}.",
    "Background: {cond3} is common among {pop}.",
    "A {visit} is booked for a patient taking {drug3}.",
)
TAILS = (
    "{constraint}",
    "{constraint}",
    "{constraint}",
    "Write it so that {aud} can {goal}.",
    "The reader is {aud} who needs to {goal}.",
    "Assume the patient also has {cond3}.",
    "Keep in mind that the patient takes {drug3}.",
    "Tailor the answer to {pop}.",
    "Point out how the answer would differ {setting}.",
    "Mention what {aud} should watch for.",
    "Say how {cond3} would change your answer.",
    "Finish with a question to {goal}.",
    "Remember that resources are limited {setting}.",
    "Highlight uncertainties honestly.",
    "Reference typical lab thresholds where relevant.",
    "Avoid recommending anything unlicensed.",
    "Respect the patient's cultural and religious preferences.",
    "Bear in mind the patient is pregnant.",
    "Acknowledge that {pop} may face barriers to access.",
)
# Inline context added before a frame's final mark: more slots per task, so that two
# tasks from one frame rarely reach the dedup threshold even at 52k rows.
INLINE = (
    " in {pop}",
    " {setting}",
    " for {aud}",
    " given coexisting {cond3}",
    " with attention to {aspect}",
    " in someone taking {drug3}",
    " when {sym3} is also present",
)
TYPE_WEIGHTS = {name: 1.0 for name in FRAMES} | {"explanation": 2.0, "open QA": 2.0}
LEAD_CHANCE, TAIL_CHANCE, INLINE_CHANCE = 0.25, 0.3, 0.5


class _Filled(dict[str, object]):
    """A format_map mapping that draws each slot on first use (one value per name)."""

    def __init__(self, rng: Rng) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> object:
        value = self.rng.choice(v.CONSTRAINTS) if key == "constraint" else SLOTS[key](self.rng)
        self[key] = value
        return value


_PARAPHRASE_RE = re.compile(r"\b(?:" + "|".join(map(re.escape, v.PARAPHRASES)) + r")\b")


def paraphrase(rng: Rng, text: str) -> str:
    """Reword the frame's stock phrases ("a patient" -> "someone"), one pick per occurrence."""
    return _PARAPHRASE_RE.sub(lambda m: rng.choice(v.PARAPHRASES[m.group(0)]), text)


def _with_inline(rng: Rng, frame: str) -> str:
    """Half the time, insert an INLINE context before the frame's final full stop or question mark."""
    if rng.random() >= INLINE_CHANCE or frame[-1] not in ".?" or frame.endswith("____."):
        return frame
    return frame[:-1] + rng.choice(INLINE) + frame[-1]


def varied_instruction(rng: Rng, task_type: str) -> str:
    """One instruction of `task_type`: [lead] frame [tail], reworded, slots filled."""
    slots = _Filled(rng)
    parts = [_with_inline(rng, rng.choice(FRAMES[task_type]))]
    if rng.random() < LEAD_CHANCE:
        parts.insert(0, rng.choice(LEADS))
    if rng.random() < TAIL_CHANCE:
        parts.append(rng.choice(TAILS))
    return " ".join(paraphrase(rng, part).format_map(slots) for part in parts)


def _input_text(rng: Rng) -> str:
    """Half the tasks carry a short context, as Self-Instruct inputs do."""
    if rng.random() < 0.5:
        return ""
    return (
        f"{rng.randint(18, 90)}-year-old on {rng.choice(v.DRUGS)} and {rng.choice(v.DRUGS)}; "
        f"history of {rng.choice(v.CONDITIONS)}; presents with {rng.choice(v.SYMPTOMS)}."
    )


def _output_text(rng: Rng) -> str:
    """A plausible, varied answer body (its content is not what the gate measures)."""
    points = [
        f"Consider {rng.choice(v.CONDITIONS)} and check the {rng.choice(v.TESTS)}.",
        f"{rng.choice(v.DRUGS).capitalize()} may help; review it {rng.choice(v.DURATIONS)}.",
        f"Agree a clear plan and follow-up {rng.choice(v.SETTINGS)}.",
    ]
    rng.shuffle(points)
    return " ".join(points)


def _row(rng: Rng, index: int, task_type: str, instruction: str, prefix: str) -> Row:
    return {
        "id": f"{prefix}-{index:06d}",
        "type": task_type,
        "topic": rng.choice(v.TOPICS),
        "view": rng.choice(v.VIEWS),
        "difficulty": rng.randint(1, 5),
        "instruction": instruction,
        "input": _input_text(rng),
        "output": _output_text(rng),
    }


def _curated(
    candidates: Iterator[tuple[str, str]], n: int, threshold: float
) -> list[tuple[str, str]]:
    """The first n (type, instruction) candidates that survive Self-Instruct's ROUGE-L rule."""
    index = RougeLIndex(threshold)
    kept: list[tuple[str, str]] = []
    for task_type, instruction in candidates:
        if len(kept) == n:
            break
        if index.find_duplicate(instruction) is None:
            index.add(instruction)
            kept.append((task_type, instruction))
    return kept


def varied_tasks(n: int, seed: int = 0, rouge_threshold: float = 0.7) -> list[Row]:
    """n varied tasks with canonical labels, ROUGE-L deduplicated as curate would."""
    rng = random.Random(seed)
    types, weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())

    def candidates() -> Iterator[tuple[str, str]]:
        while True:
            task_type = rng.choices(types, weights)[0]
            yield task_type, varied_instruction(rng, task_type)

    kept = _curated(candidates(), n, rouge_threshold)
    return [_row(rng, i, t, text, "varied") for i, (t, text) in enumerate(kept)]


COLLAPSED_TEMPLATES = (
    "Explain the {aspect} of {cond2} in {pop}.",
    "List the side effects of {drug} in {pop} {setting}.",
    "What is the treatment for {cond2} in {pop} {setting}?",
    "Describe the symptoms of {cond2} in {pop} {setting}.",
)


def collapsed_tasks(n: int, seed: int = 0) -> list[Row]:
    """n tasks from four slot templates: a teacher in a rut, with healthy-looking labels.

    Instructions are unique (a repeat would fail the schema suite instead) and
    the labels are drawn as for `varied_tasks`, so only the text diversity
    metrics can tell this set from a varied one.
    """
    rng = random.Random(seed)
    types = list(FRAMES)
    seen: set[str] = set()
    rows: list[Row] = []
    while len(rows) < n:
        text = rng.choice(COLLAPSED_TEMPLATES).format_map(_Filled(rng))
        if text not in seen:
            seen.add(text)
            rows.append(_row(rng, len(rows), rng.choice(types), text, "collapsed"))
    return rows
