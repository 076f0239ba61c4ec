"""Benchmark: exact ROUGE-L dedup at 52k..1M candidates, vs the plain rouge_score loop.

Run with `python3 -m benchmarks.bench_dedup` (add `--help` for sizes); `make bench`
runs it with the defaults: 52k candidates against the 167-item seed pool (one
process with numpy's stage-one scan, one with the compiled scan, then 2 worker
processes), 100k and 300k.  The 1M case takes minutes, so
it runs only with MEDINSTRUCT_BENCH_DEDUP_1M=1 (or `--sizes 1000000`).

The corpus is synthetic but shaped like MedInstruct-52k: 10-40 word medical
instructions from composable templates over a vocabulary of a few hundred words
(which makes every token common: the hard case for token-based filters), with
~15% injected variants of earlier items or seeds, of four kinds: near-copies
(1-3 word edits), qualifiers (an opener or a clause added), splices (the head of
one text and the tail of another) and rewrites (sentences reordered, synonyms).

The generation-loop scenario replays the Self-Instruct loop: candidates arrive
one at a time, or in rounds of 64, and each is filtered against the seeds and
everything kept so far through one incremental `RougeLIndex`; the rebuild
approach (a fresh dedup over the whole pool every round) is timed on a prefix.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from rouge_score import rouge_scorer, tokenize

from medinstruct_text.rouge import RougeLIndex, rouge_l_dedup

T = TypeVar("T")

# Vocabulary tables, kept dense on purpose.
# fmt: off
CONDITIONS = (
    "type 2 diabetes", "hypertension", "asthma", "chronic obstructive pulmonary disease",
    "atrial fibrillation", "heart failure", "migraine", "epilepsy", "major depressive disorder",
    "generalized anxiety disorder", "rheumatoid arthritis", "osteoarthritis", "gout", "psoriasis",
    "eczema", "acne vulgaris", "hypothyroidism", "hyperthyroidism", "chronic kidney disease",
    "urinary tract infection", "community acquired pneumonia", "tuberculosis", "hiv infection",
    "hepatitis b", "hepatitis c", "cirrhosis", "peptic ulcer disease", "gastroesophageal reflux",
    "crohn disease", "ulcerative colitis", "irritable bowel syndrome", "celiac disease",
    "iron deficiency anemia", "sickle cell disease", "deep vein thrombosis", "pulmonary embolism",
    "stroke", "parkinson disease", "multiple sclerosis", "alzheimer disease", "osteoporosis",
    "polycystic ovary syndrome", "endometriosis", "preeclampsia", "gestational diabetes",
    "otitis media", "bronchiolitis", "kawasaki disease", "sepsis", "anaphylaxis", "lyme disease",
    "malaria", "dengue fever", "glaucoma", "cataract", "macular degeneration", "obstructive sleep apnea",
    "insomnia", "schizophrenia", "bipolar disorder", "attention deficit hyperactivity disorder",
    "autism spectrum disorder", "pancreatitis", "appendicitis", "cholecystitis", "kidney stones",
    "benign prostatic hyperplasia", "erectile dysfunction", "lupus", "sarcoidosis", "melanoma",
    "breast cancer", "prostate cancer", "colorectal cancer", "lung cancer", "lymphoma", "leukemia",
)
DRUGS = (
    "metformin", "insulin glargine", "empagliflozin", "semaglutide", "lisinopril", "amlodipine",
    "losartan", "hydrochlorothiazide", "metoprolol", "atorvastatin", "rosuvastatin", "warfarin",
    "apixaban", "rivaroxaban", "aspirin", "clopidogrel", "furosemide", "spironolactone", "digoxin",
    "amiodarone", "salbutamol", "budesonide", "montelukast", "tiotropium", "prednisone",
    "methotrexate", "adalimumab", "allopurinol", "colchicine", "levothyroxine", "methimazole",
    "omeprazole", "pantoprazole", "ondansetron", "loperamide", "mesalamine", "sertraline",
    "fluoxetine", "escitalopram", "bupropion", "lithium", "quetiapine", "olanzapine",
    "haloperidol", "levetiracetam", "valproate", "lamotrigine", "gabapentin", "sumatriptan",
    "amoxicillin", "azithromycin", "doxycycline", "ciprofloxacin", "nitrofurantoin", "vancomycin",
    "ceftriaxone", "isoniazid", "tenofovir", "oseltamivir", "acyclovir", "ibuprofen",
    "acetaminophen", "morphine", "tramadol", "naloxone", "alendronate", "tamsulosin", "finasteride",
)
POPULATIONS = (
    "elderly patients", "children under five", "adolescents", "pregnant women",
    "breastfeeding mothers", "patients with renal impairment", "patients with liver failure",
    "athletes", "night shift workers", "people living in rural areas", "nursing home residents",
    "immunocompromised patients", "smokers", "patients after bariatric surgery", "newborns",
    "veterans", "patients with limited health literacy", "recent immigrants", "obese adults",
    "postmenopausal women",
)
SYMPTOMS = (
    "chest pain", "shortness of breath", "persistent cough", "fever", "fatigue", "headache",
    "dizziness", "palpitations", "abdominal pain", "nausea", "vomiting", "diarrhea",
    "constipation", "joint pain", "back pain", "rash", "itching", "weight loss", "night sweats",
    "blurred vision", "numbness in the feet", "swollen ankles", "blood in the urine",
    "difficulty swallowing", "hoarseness", "memory loss", "tremor", "excessive thirst",
)
PROCEDURES = (
    "knee replacement surgery", "coronary artery bypass grafting", "cesarean section",
    "colonoscopy", "cataract surgery", "hip fracture repair", "appendectomy",
    "kidney transplantation", "chemotherapy", "radiation therapy", "a lumbar puncture",
    "cardiac catheterization", "tonsillectomy", "a liver biopsy",
)
OPENERS = (
    "", "", "", "As a primary care physician,", "For a third year medical student,",
    "In plain language,", "Briefly,", "Using current clinical guidelines,", "As a nurse educator,",
    "For a patient handout,", "From a pharmacology perspective,", "In the emergency department,",
    "For a community health worker,", "Step by step,", "As a clinical pharmacist,",
)
VERBS = (
    "explain", "describe", "summarize", "list", "outline", "discuss", "identify", "evaluate",
    "clarify", "review", "detail", "present", "break down", "walk me through", "tell me",
)
OBJECTS = (
    "the pathophysiology of {cond}", "first line treatment options for {cond}",
    "common side effects of {drug}", "the mechanism of action of {drug}",
    "the key differences between {cond} and {cond2}", "how {drug} interacts with {drug2}",
    "the diagnostic criteria for {cond}", "the recommended dosing of {drug}",
    "red flag symptoms of {cond}", "lifestyle changes that help control {cond}",
    "why {drug} is contraindicated in {cond}", "how to monitor a patient taking {drug}",
    "the typical course of {cond}", "screening recommendations for {cond}",
    "possible causes of {symptom} and {symptom2}", "how to counsel someone starting {drug}",
    "complications to watch for after {procedure}", "how to prepare for {procedure}",
    "the role of {drug} in managing {cond}", "vaccination advice related to {cond}",
    "dietary recommendations for {cond}", "when to refer a patient with {symptom} to a specialist",
    "the prognosis of {cond}", "risk factors for developing {cond}",
)
CONTEXTS = (
    "", "", "in {pop}", "for a patient with {cond2}", "for someone who reports {symptom}",
    "after {procedure}", "in a clinic with limited resources", "when {drug2} is already prescribed",
    "in {pop} who also have {cond2}", "during a telehealth visit", "at the first follow up visit",
)
CONSTRAINTS = (
    "", "", "", "Keep the answer under 100 words.", "Use bullet points.",
    "Mention when to seek emergency care.", "Avoid medical jargon.",
    "Cite the relevant guideline if possible.", "Include one practical tip for the patient.",
    "Give the answer as a short table in text form.", "End with a one sentence summary.",
    "Focus on evidence from randomized trials.",
)
CASES = (
    "", "", "", "", "", "", "", "", "The patient is a {age} year old {sex} with {cond2} who takes {drug2}.",
    "A {age} year old {sex} presents with {symptom} for three days.",
    "My {relative} was just diagnosed and is worried about {symptom}.",
)
SYNONYMS = {
    "explain": "describe", "describe": "explain", "list": "name", "summarize": "recap",
    "common": "frequent", "patients": "individuals", "patient": "person", "treatment": "therapy",
    "symptoms": "signs", "recommended": "suggested", "key": "main", "help": "assist",
    "monitor": "follow", "typical": "usual", "possible": "potential", "causes": "reasons",
    "elderly": "older", "children": "kids", "risk": "danger", "diagnosed": "told",
}
FILLERS = ("please", "briefly", "clearly", "kindly", "now", "simply", "carefully")
# fmt: on


# fmt: off
QUESTIONS = (
    "What are the {aspect} of {cond} {ctx}?", "How should {drug} be {action} {ctx}?",
    "Why do {pop} with {cond} often develop {symptom}?", "Which tests confirm {cond} {ctx}?",
    "Is it safe to combine {drug} and {drug2} {ctx}?", "How does {cond} differ from {cond2} in {pop}?",
    "What should I do if I miss a dose of {drug}?", "Can {symptom} be an early sign of {cond}?",
    "When is {procedure} indicated for {cond}?", "How long does recovery from {procedure} take {ctx}?",
)
ASPECTS = (
    "early warning signs", "long term complications", "most common causes", "treatment goals",
    "first steps in management", "main risk factors", "typical lab findings", "nursing priorities",
)
ACTIONS = ("started", "stopped", "dosed", "monitored", "tapered", "adjusted", "taken")
FOCUS = (
    "with emphasis on {terms}", "consider {terms}", "especially regarding {terms}",
    "relate it to {terms}", "mention {terms}", "in light of {terms}", "cover {terms}",
)
# fmt: on
# Every content word above: clauses drawn from it make two texts share little but
# function words, as real generated instructions do.
TERMS = tuple(
    sorted(
        {
            w
            for group in (CONDITIONS, DRUGS, SYMPTOMS, PROCEDURES, POPULATIONS, ASPECTS)
            for phrase in group
            for w in phrase.split()
            if len(w) > 3
        }
    )
)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        cond=rng.choice(CONDITIONS),
        cond2=rng.choice(CONDITIONS),
        drug=rng.choice(DRUGS),
        drug2=rng.choice(DRUGS),
        pop=rng.choice(POPULATIONS),
        symptom=rng.choice(SYMPTOMS),
        symptom2=rng.choice(SYMPTOMS),
        procedure=rng.choice(PROCEDURES),
        age=rng.randint(2, 95),
        sex=rng.choice(("man", "woman", "boy", "girl")),
        relative=rng.choice(("mother", "father", "husband", "wife", "son", "daughter")),
        aspect=rng.choice(ASPECTS),
        action=rng.choice(ACTIONS),
        ctx=_fill(rng.choice(CONTEXTS), rng) if "{ctx}" in template else "",
        terms=" ".join(rng.sample(TERMS, rng.randint(3, 6))),
    )


def _imperative(rng: random.Random) -> list[str]:
    context = _fill(rng.choice(CONTEXTS), rng)
    return [
        rng.choice(OPENERS),
        rng.choice(VERBS),
        _fill(rng.choice(OBJECTS), rng) + (" " + context if context else "") + ".",
    ]


def _sentence_case(part: str) -> str:
    return part[:1].upper() + part[1:]


def make_instruction(rng: random.Random) -> str:
    """One fresh instruction of 10-40 words from randomly composed parts."""
    while True:
        body = [_fill(rng.choice(QUESTIONS), rng)] if rng.random() < 0.4 else _imperative(rng)
        focus = _fill(rng.choice(FOCUS), rng) if rng.random() < 0.95 else ""
        focus = focus[0].upper() + focus[1:] + "." if focus else ""
        constraint = rng.choice(CONSTRAINTS) if rng.random() < 0.4 else ""
        parts = [_fill(rng.choice(CASES), rng), *body, focus, constraint]
        text = " ".join(_sentence_case(" ".join(p.split())) for p in parts if p)
        text = text.replace(" ?", "?")
        text = text.replace(" .", ".")
        if 10 <= len(text.split()) <= 40:
            return text


def _swap_synonyms(words: list[str], rng: random.Random, swaps: int) -> list[str]:
    for _ in range(swaps):
        pos = rng.randrange(len(words))
        words[pos] = SYNONYMS.get(words[pos].lower(), words[pos])
    return words


def near_copy(text: str, rng: random.Random) -> str:
    """1-3 word edits: synonym swaps, a dropped word, an inserted filler."""
    words = text.split()
    for _ in range(rng.randint(1, 3)):
        op, pos = rng.random(), rng.randrange(len(words))
        if op < 0.5:
            words = _swap_synonyms(words, rng, 1)
        elif op < 0.75 and len(words) > 10:
            del words[pos]
        else:
            words.insert(pos, rng.choice(FILLERS))
    return " ".join(words)


def qualify(text: str, rng: random.Random) -> str:
    """The same request with an opener in front or a context or constraint clause added."""
    kind = rng.random()
    if kind < 0.35:
        return f"{rng.choice(OPENERS[3:])} {text[:1].lower()}{text[1:]}"
    if kind < 0.7:
        return f"{text.rstrip('.?')} {_fill(rng.choice(CONTEXTS[2:]), rng)}."
    return f"{text} {rng.choice(CONSTRAINTS[3:])}"


def splice(head: str, tail: str, rng: random.Random) -> str:
    """The first 50-80% of one text's words followed by the rest of another's."""
    a, b = head.split(), tail.split()
    cut = rng.uniform(0.5, 0.8)
    return " ".join(a[: max(1, round(cut * len(a)))] + b[round(cut * len(b)) :])


def rewrite(text: str, rng: random.Random) -> str:
    """Sentences in another order, with one or two synonym swaps."""
    sentences = [s.strip() for s in text.replace("?", "?|").replace(".", ".|").split("|")]
    sentences = [s for s in sentences if s]
    if len(sentences) > 1:
        rng.shuffle(sentences)
    return " ".join(_swap_synonyms(" ".join(sentences).split(), rng, rng.randint(1, 2)))


def variant(source: list[str], rng: random.Random) -> str:
    """A near-duplicate candidate of one of `source` (two for a splice)."""
    kind = rng.randrange(4)
    text = rng.choice(source)
    if kind == 0:
        return near_copy(text, rng)
    if kind == 1:
        return qualify(text, rng)
    if kind == 2:
        return splice(text, rng.choice(source), rng)
    return rewrite(text, rng)


def make_corpus(
    n: int, n_pool: int = 167, seed: int = 0, dup_share: float = 0.15
) -> tuple[list[str], list[str]]:
    """Deterministic (candidates, pool); ~dup_share of candidates are variants of earlier texts
    (a tenth of them of pool items)."""
    rng = random.Random(seed)
    pool = [make_instruction(rng) for _ in range(n_pool)]
    candidates: list[str] = []
    for _ in range(n):
        if candidates and rng.random() < dup_share:
            candidates.append(variant(pool if rng.random() < 0.1 else candidates, rng))
        else:
            candidates.append(make_instruction(rng))
    return candidates, pool


def reference_rouge_l_dedup(
    candidates: Sequence[str], pool: Sequence[str] = (), threshold: float = 0.7
) -> list[int]:
    """The Alpaca loop, verbatim in spirit: rouge_score LCS of each new text vs all kept texts."""
    kept_tokens = [tokenize.tokenize(text, None) for text in pool]
    kept: list[int] = []
    for i, text in enumerate(candidates):
        tokens = tokenize.tokenize(text, None)
        scores = [rouge_scorer._score_lcs(tokens, other).fmeasure for other in kept_tokens]
        if scores and max(scores) > threshold:
            continue
        kept.append(i)
        kept_tokens.append(tokens)
    return kept


def _peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child so far
    (ru_maxrss is KiB on Linux); the worker processes of `workers=2` are children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(fn: Callable[..., T], *args: object, **kwargs: object) -> tuple[T, float, float]:
    """Result, wall seconds and CPU seconds (this process and the workers it waited for):
    CPU time is the fair number on a shared box."""
    wall, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    result = fn(*args, **kwargs)
    cpu = time.process_time() - cpu + _children_cpu() - children
    return result, time.perf_counter() - wall, cpu


def _scan_switch(compiled: bool) -> str:
    """Run the next dedups with the compiled stage-one scan or the numpy one; its name."""
    from medinstruct_text import scan_kernel

    os.environ[scan_kernel.DISABLE_ENV] = "1" if compiled else "0"
    scan_kernel.load_scan.cache_clear()
    return "compiled" if compiled else "numpy"


def run_full(n: int, seed: int, workers: int, compiled: bool = True) -> list[int]:
    """One dedup of n candidates against the seed pool; prints time, kept and peak memory.

    The first compiled run in a process includes loading the scan library (and
    building it, the first time on a machine: ~0.3 s).
    """
    candidates, pool = make_corpus(n, seed=seed)
    scan = _scan_switch(compiled)
    kept, wall, cpu = _timed(rouge_l_dedup, candidates, pool, workers=workers)
    own, child = _peak_rss_mib()
    print(
        f"full: items={len(candidates)} pool={len(pool)} workers={workers} scan={scan} "
        f"kept={len(kept)} ({len(kept) / len(candidates):.1%}) seconds_wall={wall:.2f} "
        f"seconds_cpu={cpu:.2f} peak_rss_mib={own:.0f} (largest worker: {child:.0f})",
        flush=True,
    )
    return kept


def _rounds(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _loop_incremental(
    rounds: Sequence[Sequence[str]], pool: Sequence[str]
) -> tuple[list[int], list[float], list[int]]:
    """Kept indices, CPU seconds per round and pool size per round, with one RougeLIndex."""
    index = RougeLIndex(0.7)
    index.extend(pool)
    kept: list[int] = []
    seconds: list[float] = []
    pool_sizes: list[int] = []
    offset = 0
    for batch in rounds:
        pool_sizes.append(len(index))
        start = time.process_time()
        kept += [offset + i for i in index.filter(batch)]
        seconds.append(time.process_time() - start)
        offset += len(batch)
    return kept, seconds, pool_sizes


def _loop_rebuild(
    rounds: Sequence[Sequence[str]], pool: Sequence[str]
) -> tuple[list[int], list[float]]:
    """The old loop: rouge_l_dedup over seeds + everything kept so far, rebuilt every round."""
    kept_texts = list(pool)
    kept: list[int] = []
    seconds: list[float] = []
    offset = 0
    for batch in rounds:
        start = time.process_time()
        survivors = rouge_l_dedup(batch, kept_texts)
        seconds.append(time.process_time() - start)
        kept += [offset + i for i in survivors]
        kept_texts += [batch[i] for i in survivors]
        offset += len(batch)
    return kept, seconds


def run_generation_loop(
    n: int, seed: int, round_size: int, rebuild_items: int, full_kept: list[int] | None
) -> None:
    """Self-Instruct rounds through one index; the rebuild approach timed on a prefix."""
    candidates, pool = make_corpus(n, seed=seed)
    rounds = _rounds(candidates, round_size)
    wall = time.perf_counter()
    kept, seconds, pool_sizes = _loop_incremental(rounds, pool)
    wall = time.perf_counter() - wall
    tenth = max(1, len(rounds) // 10)
    first, last = sum(seconds[:tenth]), sum(seconds[-tenth:])
    same = "n/a" if full_kept is None else str(kept == full_kept)
    print(
        f"generation-loop: items={n} rounds={len(rounds)} round_size={round_size} "
        f"pool={len(pool)} kept={len(kept)} seconds_wall={wall:.2f} "
        f"seconds_cpu={sum(seconds):.2f} first_10pct_rounds_cpu={first:.2f} "
        f"last_10pct_rounds_cpu={last:.2f} (last/first {last / max(first, 1e-9):.1f}x, "
        f"{tenth} rounds each, pool {pool_sizes[0]}->{pool_sizes[-1]}) "
        f"identical_to_full={same} peak_rss_mib={_peak_rss_mib()[0]:.0f}",
        flush=True,
    )
    _compare_rebuild(rounds, pool, rebuild_items, kept, seconds, pool_sizes)


def _compare_rebuild(
    rounds: Sequence[Sequence[str]],
    pool: Sequence[str],
    rebuild_items: int,
    kept: list[int],
    seconds: list[float],
    pool_sizes: list[int],
) -> None:
    """Time rebuilding every round on the first rounds; extrapolate with a + b * pool size."""
    n_rounds = max(2, min(len(rounds), -(-rebuild_items // len(rounds[0]))))
    items = sum(len(batch) for batch in rounds[:n_rounds])
    kept_rebuild, rebuild = _loop_rebuild(rounds[:n_rounds], pool)
    slope, intercept = np.polyfit(pool_sizes[:n_rounds], rebuild, 1)
    predicted = float(sum(intercept + slope * size for size in pool_sizes))
    incremental = sum(seconds[:n_rounds])
    print(
        f"generation-loop rebuild-every-round: items={items} rounds={n_rounds} "
        f"seconds_cpu_rebuild={sum(rebuild):.2f} seconds_cpu_index={incremental:.2f} "
        f"speedup={sum(rebuild) / max(incremental, 1e-9):.0f}x "
        f"identical={kept_rebuild == [k for k in kept if k < items]} "
        f"extrapolated_rebuild_all_rounds={len(rounds)} seconds_cpu~{predicted:.0f} "
        f"(fit {intercept * 1e3:.2f} ms + {slope * 1e6:.2f} us/pool item per round) "
        f"vs index {sum(seconds):.2f} (~{predicted / max(sum(seconds), 1e-9):.0f}x)",
        flush=True,
    )


def run_one_at_a_time(n: int, seed: int) -> None:
    """Each candidate checked and added on its own (`filter([text])`), as a loop that
    keeps every task the moment it arrives would; CPU per tenth of the run shows
    whether a check gets dearer as the pool grows."""
    candidates, pool = make_corpus(n, seed=seed)
    index = RougeLIndex(0.7)
    index.extend(pool)
    tenths: list[float] = []
    kept = 0
    for lo in range(0, n, -(-n // 10)):
        start = time.process_time()
        for text in candidates[lo : lo + -(-n // 10)]:
            kept += len(index.filter([text]))
        tenths.append(time.process_time() - start)
    print(
        f"one-at-a-time: items={n} pool={len(pool)} kept={kept} seconds_cpu={sum(tenths):.2f} "
        f"per_tenth_cpu={' '.join(f'{t:.2f}' for t in tenths)} "
        f"(last/first {tenths[-1] / max(tenths[0], 1e-9):.1f}x; "
        f"us_per_check last tenth {tenths[-1] / (n / 10) * 1e6:.0f})",
        flush=True,
    )


def run_side_by_side(n: int, seed: int) -> None:
    candidates, pool = make_corpus(n, seed=seed)
    ours, wall_ours, cpu_ours = _timed(rouge_l_dedup, candidates, pool)
    ref, wall_ref, cpu_ref = _timed(reference_rouge_l_dedup, candidates, pool)
    print(
        f"side-by-side: items={n} pool={len(pool)} kept_ours={len(ours)} kept_ref={len(ref)} "
        f"seconds_ours={wall_ours:.3f} (cpu {cpu_ours:.3f}) "
        f"seconds_ref={wall_ref:.2f} (cpu {cpu_ref:.2f}) "
        f"speedup={wall_ref / max(wall_ours, 1e-9):.0f}x (cpu {cpu_ref / max(cpu_ours, 1e-9):.0f}x) "
        f"identical={ours == ref}",
        flush=True,
    )


def _default_sizes() -> str:
    """52k, 100k, 300k; 1M too with MEDINSTRUCT_BENCH_DEDUP_1M=1 (it takes minutes)."""
    sizes = "52000,100000,300000"
    return sizes + ",1000000" if os.environ.get("MEDINSTRUCT_BENCH_DEDUP_1M") == "1" else sizes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", default=_default_sizes(), help="comma-separated candidate counts"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes for the sizes")
    parser.add_argument("--reference-items", type=int, default=1_500, help="side-by-side size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--round-size", type=int, default=64, help="candidates per round")
    parser.add_argument(
        "--rebuild-items", type=int, default=5_000, help="loop prefix timed with rebuilds"
    )
    parser.add_argument(
        "--loop-items", type=int, default=52_000, help="generation-loop and one-at-a-time size"
    )
    args = parser.parse_args(list(argv) if argv is not None else [])
    sizes = [int(size) for size in args.sizes.split(",") if size]
    full_kept = None
    for size in sizes:
        if size == args.loop_items:  # the headline case: numpy's scan, then in one process
            numpy_kept = run_full(size, args.seed, workers=1, compiled=False)
            full_kept = run_full(size, args.seed, workers=1)
            same = "identical" if numpy_kept == full_kept else "DIFFERENT"
            print(f"full: kept indices, compiled vs numpy scan: {same}", flush=True)
        run_full(size, args.seed, args.workers)
    run_side_by_side(args.reference_items, args.seed)
    run_generation_loop(args.loop_items, args.seed, args.round_size, args.rebuild_items, full_kept)
    run_one_at_a_time(args.loop_items, args.seed)


if __name__ == "__main__":
    main(sys.argv[1:])
