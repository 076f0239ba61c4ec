"""Synthetic medical text for the simulated OpenAI endpoint (tests/fakes/sim_openai.py).

What a teacher, a responder and a judge would write, made from word lists and
sentence frames with a seeded `random.Random`: varied enough that 52,000 tasks
mostly survive ROUGE-L dedup at 0.7 and the gate's diversity checks see
realistic numbers (many root verbs and verb-object pairs, 29 task types, every
difficulty), cheap enough (microseconds per task) that the endpoint never
dominates a rehearsal. It is not medicine: a slot filler may pair a drug with a
disease it does not treat. Nothing here imports project code; the rehearsal
tests check that the project's own parsers and rules accept what it writes.

Media words (image, picture, chart, video...) are left out on purpose: the
rule filters would drop such tasks, which is right, but not what is measured.
"""

from __future__ import annotations

import functools
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

# Real clinical sentences to quote from: the project's clinician-written seed tasks.
SEED_FILE = Path(__file__).resolve().parents[2] / "data" / "seeds" / "seed_tasks.jsonl"

# Task labels, mostly the canonical names the project's taxonomy counts, a few in
# the free spellings a real teacher uses (the taxonomy maps them back).
TYPES = (
    "USMLE-style QA", "open QA", "text generation", "chat", "multiple-choice QA",
    "summarization", "classification", "multi-hop reasoning", "single-hop reasoning",
    "information extraction", "patient education", "differential diagnosis",
    "treatment planning", "calculation", "rewrite", "medication counseling", "triage",
    "explanation", "comparison", "true or false", "translation to lay language",
    "fill in the blank", "clinical note writing", "critique", "error correction",
    "case report writing", "dialogue continuation", "ranking", "question generation",
)  # fmt: skip
TYPE_VARIANTS = {"open QA": "Question answering", "summarization": "Summary",
                 "patient education": "Patient Education", "triage": "Triage task"}  # fmt: skip
VIEWS = (
    "patient", "nurse", "medical student", "general practitioner", "pharmacist", "researcher",
    "emergency physician", "medical educator", "nursing student", "public health worker",
    "physiotherapist", "caregiver", "dietitian", "midwife", "paramedic", "surgeon",
    "psychiatrist", "pediatrician", "cardiologist", "oncologist", "clinician", "physician",
    "resident", "epidemiologist", "health educator", "general public",
)  # fmt: skip
TOPICS = (
    "cardiology", "endocrinology", "pharmacology", "infectious disease", "nephrology",
    "neurology", "pulmonology", "gastroenterology", "hematology", "oncology", "rheumatology",
    "dermatology", "psychiatry", "pediatrics", "obstetrics", "geriatrics", "emergency medicine",
    "critical care", "orthopedics", "ophthalmology", "otolaryngology", "urology",
    "public health", "nutrition", "immunology", "genetics", "anesthesiology",
    "palliative care", "sports medicine", "toxicology", "medical ethics", "epidemiology",
)  # fmt: skip
CONDITIONS = (
    "type 2 diabetes", "type 1 diabetes", "essential hypertension", "heart failure with reduced ejection fraction",
    "atrial fibrillation", "stable angina", "acute pericarditis", "community-acquired pneumonia",
    "asthma", "chronic obstructive pulmonary disease", "pulmonary embolism", "deep vein thrombosis",
    "iron deficiency anemia", "vitamin B12 deficiency", "sickle cell disease", "hemophilia A",
    "chronic kidney disease", "nephrotic syndrome", "acute kidney injury", "kidney stones",
    "urinary tract infection", "benign prostatic hyperplasia", "hypothyroidism", "Graves disease",
    "Cushing syndrome", "Addison disease", "osteoporosis", "gout", "rheumatoid arthritis",
    "systemic lupus erythematosus", "psoriasis", "atopic dermatitis", "acne vulgaris", "cellulitis",
    "Lyme disease", "tuberculosis", "HIV infection", "hepatitis B", "hepatitis C", "cirrhosis",
    "nonalcoholic fatty liver disease", "peptic ulcer disease", "gastroesophageal reflux disease",
    "celiac disease", "Crohn disease", "ulcerative colitis", "irritable bowel syndrome",
    "acute pancreatitis", "appendicitis", "diverticulitis", "migraine", "tension-type headache",
    "epilepsy", "Parkinson disease", "multiple sclerosis", "Alzheimer disease", "ischemic stroke",
    "subarachnoid hemorrhage", "bacterial meningitis", "Guillain-Barre syndrome", "myasthenia gravis",
    "major depressive disorder", "generalized anxiety disorder", "bipolar disorder", "schizophrenia",
    "alcohol use disorder", "opioid use disorder", "anorexia nervosa", "ADHD", "autism spectrum disorder",
    "preeclampsia", "gestational diabetes", "postpartum hemorrhage", "ectopic pregnancy",
    "polycystic ovary syndrome", "endometriosis", "menopause symptoms", "bronchiolitis",
    "croup", "Kawasaki disease", "febrile seizures", "otitis media", "streptococcal pharyngitis",
    "infectious mononucleosis", "measles", "sepsis", "septic shock", "anaphylaxis",
    "diabetic ketoacidosis", "hyperkalemia", "hyponatremia", "heat stroke", "hypothermia",
    "carbon monoxide poisoning", "acetaminophen overdose", "melanoma", "breast cancer",
    "colorectal cancer", "prostate cancer", "lung cancer", "acute myeloid leukemia",
    "Hodgkin lymphoma", "multiple myeloma", "glaucoma", "age-related macular degeneration",
    "cataract", "sinusitis", "obstructive sleep apnea", "low back pain", "osteoarthritis of the knee",
    "rotator cuff tear", "ankle sprain", "hip fracture", "plantar fasciitis", "carpal tunnel syndrome",
    "shingles", "scabies", "malaria", "dengue fever", "COVID-19", "influenza", "pertussis",
    "Clostridioides difficile infection", "obesity", "metabolic syndrome", "familial hypercholesterolemia",
    "aortic stenosis", "mitral regurgitation", "infective endocarditis", "peripheral artery disease",
    "abdominal aortic aneurysm", "Raynaud phenomenon", "vasovagal syncope", "delirium", "chronic pain",
)  # fmt: skip
DRUGS = (
    "metformin", "empagliflozin", "semaglutide", "insulin glargine", "lisinopril", "losartan",
    "amlodipine", "hydrochlorothiazide", "spironolactone", "furosemide", "metoprolol", "carvedilol",
    "atorvastatin", "rosuvastatin", "ezetimibe", "aspirin", "clopidogrel", "ticagrelor", "warfarin",
    "apixaban", "rivaroxaban", "enoxaparin", "heparin", "digoxin", "amiodarone", "sacubitril-valsartan",
    "levothyroxine", "methimazole", "prednisone", "hydrocortisone", "dexamethasone", "alendronate",
    "allopurinol", "colchicine", "methotrexate", "hydroxychloroquine", "adalimumab", "omeprazole",
    "pantoprazole", "ondansetron", "loperamide", "mesalamine", "amoxicillin", "amoxicillin-clavulanate",
    "azithromycin", "doxycycline", "ceftriaxone", "ciprofloxacin", "nitrofurantoin", "vancomycin",
    "piperacillin-tazobactam", "trimethoprim-sulfamethoxazole", "oseltamivir", "acyclovir",
    "tenofovir", "isoniazid", "rifampin", "fluconazole", "ivermectin", "sertraline", "fluoxetine",
    "escitalopram", "venlafaxine", "bupropion", "mirtazapine", "lithium", "valproate", "lamotrigine",
    "levetiracetam", "carbamazepine", "quetiapine", "olanzapine", "haloperidol", "lorazepam",
    "buprenorphine", "naloxone", "methadone", "morphine", "oxycodone", "ibuprofen", "naproxen",
    "acetaminophen", "gabapentin", "pregabalin", "sumatriptan", "levodopa-carbidopa", "donepezil",
    "salbutamol", "tiotropium", "budesonide-formoterol", "montelukast", "epinephrine", "cetirizine",
    "tamsulosin", "finasteride", "oxytocin", "magnesium sulfate", "folic acid", "ferrous sulfate",
    "vitamin D", "potassium chloride", "tamoxifen", "letrozole", "imatinib", "pembrolizumab",
)  # fmt: skip
TESTS = (
    "hemoglobin A1c", "fasting lipid panel", "serum creatinine", "estimated glomerular filtration rate",
    "urine albumin-to-creatinine ratio", "serum potassium", "serum sodium", "thyroid-stimulating hormone",
    "free T4", "troponin", "B-type natriuretic peptide", "D-dimer", "complete blood count", "ferritin",
    "INR", "liver function tests", "lipase", "arterial blood gas", "lactate", "blood cultures",
    "urinalysis", "urine culture", "procalcitonin", "C-reactive protein", "erythrocyte sedimentation rate",
    "antinuclear antibodies", "rheumatoid factor", "HLA-B27", "PSA", "CA-125", "fecal immunochemical test",
    "colonoscopy", "echocardiogram", "12-lead ECG", "Holter monitoring", "exercise stress test",
    "spirometry", "chest CT", "CT pulmonary angiography", "abdominal ultrasound", "MRI of the brain",
    "lumbar puncture", "EEG", "nerve conduction studies", "bone density scan", "mammography",
    "Pap smear", "HPV testing", "glucose tolerance test", "serum ketones", "osmolal gap",
    "vitamin B12 level", "reticulocyte count", "peripheral blood smear", "HIV viral load", "CD4 count",
    "tuberculin skin test", "interferon-gamma release assay", "sputum culture", "stool PCR panel",
)  # fmt: skip
PROCEDURES = (
    "cardiac catheterization", "percutaneous coronary intervention", "coronary artery bypass grafting",
    "cardioversion", "catheter ablation", "pacemaker implantation", "thoracentesis", "paracentesis",
    "central line insertion", "endotracheal intubation", "bronchoscopy", "upper endoscopy",
    "laparoscopic cholecystectomy", "appendectomy", "total knee replacement", "hip arthroplasty",
    "cesarean delivery", "hysterectomy", "cataract surgery", "tonsillectomy", "hemodialysis",
    "peritoneal dialysis", "kidney transplantation", "bone marrow biopsy", "skin biopsy",
    "incision and drainage", "wound debridement", "nasogastric tube placement", "urinary catheterization",
    "epidural analgesia", "electroconvulsive therapy", "radiotherapy", "chemotherapy infusion",
    "thrombolysis", "mechanical thrombectomy", "splinting", "suturing a laceration", "lumbar fusion",
)  # fmt: skip
SYMPTOMS = (
    "chest pain", "shortness of breath", "palpitations", "syncope", "ankle swelling", "fatigue",
    "unintentional weight loss", "fever", "night sweats", "productive cough", "wheezing",
    "hemoptysis", "abdominal pain", "nausea", "vomiting", "diarrhea", "constipation", "blood in the stool",
    "heartburn", "difficulty swallowing", "jaundice", "itching", "rash", "joint pain", "morning stiffness",
    "back pain", "headache", "dizziness", "confusion", "slurred speech", "weakness in one arm",
    "numbness in the feet", "tremor", "memory loss", "low mood", "insomnia", "excessive thirst",
    "frequent urination", "painful urination", "flank pain", "pelvic pain", "heavy menstrual bleeding",
    "vaginal bleeding in pregnancy", "reduced fetal movements", "ear pain", "sore throat", "blurred vision",
    "eye pain", "hearing loss", "easy bruising", "swollen lymph nodes", "leg cramps", "cold intolerance",
    "hair loss", "anxiety", "hallucinations", "poor feeding in an infant", "a barking cough",
)  # fmt: skip
POPULATIONS = (
    "older adults", "pregnant women", "breastfeeding mothers", "children under five", "adolescents",
    "newborns", "athletes", "shift workers", "people with chronic kidney disease", "nursing home residents",
    "people experiencing homelessness", "travelers to the tropics", "smokers", "people with obesity",
    "patients after bariatric surgery", "transplant recipients", "people living with HIV",
    "veterans", "rural communities", "people with limited health literacy", "caregivers of dementia patients",
    "night-shift nurses", "first-time parents", "people with intellectual disability", "college students",
)  # fmt: skip
CONCEPTS = (
    "the renin-angiotensin-aldosterone system", "insulin resistance", "the coagulation cascade",
    "the Frank-Starling mechanism", "ventilation-perfusion mismatch", "the anion gap",
    "the oxygen-hemoglobin dissociation curve", "first-pass metabolism", "drug half-life",
    "the therapeutic index", "cytochrome P450 induction", "herd immunity", "antibiotic resistance",
    "number needed to treat", "sensitivity and specificity", "positive predictive value",
    "confounding in observational studies", "randomization", "informed consent", "the placebo effect",
    "the hypothalamic-pituitary-adrenal axis", "negative feedback in hormone regulation",
    "the inflammatory response", "wound healing", "the complement system", "apoptosis",
    "autosomal dominant inheritance", "X-linked inheritance", "genomic imprinting", "the cardiac cycle",
    "glomerular filtration", "the countercurrent mechanism", "bilirubin metabolism", "the gut microbiome",
    "neuroplasticity", "the blood-brain barrier", "pain gate control", "the sleep-wake cycle",
    "the stress response", "vaccine adjuvants", "tumor suppressor genes", "metastasis",
)  # fmt: skip
SETTINGS = (
    "a rural clinic", "the emergency department", "a busy primary care practice", "the intensive care unit",
    "a community pharmacy", "a home visit", "a telehealth consultation", "a school health office",
    "a long-term care facility", "a labor and delivery ward", "an outpatient oncology unit",
    "a sports club", "a refugee health clinic", "a hospital discharge meeting", "a mobile vaccination unit",
)  # fmt: skip
READERS = (
    "a ten-year-old", "an anxious parent", "a newly diagnosed adult", "a grandparent", "a teenager",
    "a patient who reads at a sixth-grade level", "a family caregiver", "a school teacher",
    "a community health volunteer", "someone who is hard of hearing",
)  # fmt: skip
CONSTRAINTS = (
    "in no more than 150 words", "as a numbered list", "in three short paragraphs",
    "in plain language", "with one sentence per point", "using current guideline terminology",
    "without medical jargon", "in under 100 words", "as a short checklist", "in a friendly tone",
    "with a brief rationale for each point", "and end with one practical tip", "in two sentences",
    "with the most urgent items first", "citing the key trial evidence where it exists",
)  # fmt: skip
FOCI = (
    "renal dosing", "drug interactions", "adherence", "cost", "side effects", "red-flag symptoms",
    "follow-up timing", "lifestyle changes", "shared decision making", "cultural considerations",
    "monitoring", "contraindications", "prevention", "prognosis", "return-to-work advice",
)  # fmt: skip

# Verbs by intent: the same intent is worded many ways, as a real teacher words it.
VERBS: dict[str, tuple[str, ...]] = {
    "explain": ("Explain", "Describe", "Clarify", "Outline", "Set out", "Walk through",
                "Break down", "Discuss", "Spell out", "Go over", "Lay out", "Unpack"),
    "list": ("List", "Name", "Enumerate", "Identify", "Give", "Point out", "Note", "Catalogue"),
    "write": ("Write", "Draft", "Compose", "Put together", "Produce", "Author", "Create"),
    "compare": ("Compare", "Contrast", "Weigh", "Distinguish between", "Set side by side",
                "Differentiate"),
    "decide": ("Decide", "Determine", "Judge", "Assess", "Work out", "Establish", "Evaluate"),
    "recommend": ("Recommend", "Suggest", "Propose", "Advise on", "Select", "Choose"),
    "summarize": ("Summarize", "Condense", "Boil down", "Abstract", "Recap", "Digest"),
    "extract": ("Extract", "Pull out", "Retrieve", "Collect", "Find", "Capture"),
    "rewrite": ("Rewrite", "Rephrase", "Simplify", "Reword", "Adapt", "Translate"),
    "rank": ("Rank", "Order", "Prioritize", "Sequence", "Grade"),
    "classify": ("Classify", "Categorize", "Sort", "Group", "Label", "Stage"),
    "correct": ("Correct", "Fix", "Revise", "Amend", "Edit", "Repair"),
    "critique": ("Critique", "Appraise", "Review", "Scrutinize", "Examine", "Audit"),
    "calculate": ("Calculate", "Compute", "Estimate", "Derive", "Quantify"),
    "counsel": ("Counsel", "Advise", "Coach", "Guide", "Brief", "Reassure"),
    "teach": ("Teach", "Show", "Help", "Prepare", "Equip"),
    "answer": ("Answer", "Solve", "Respond to", "Tackle", "Work through", "Address"),
    "generate": ("Generate", "Devise", "Formulate", "Invent", "Frame", "Pose"),
}  # fmt: skip
# Per task type: (verb intent, object phrase) pairs and question forms. Slots:
# {condition} {drug} {drug2} {test} {procedure} {symptom} {symptom2} {population}
# {concept} {setting} {reader} {focus}.
FRAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "USMLE-style QA": (
        ("answer", "this board-style vignette about {condition} and justify the correct option"),
        ("answer", "the exam question below on {topic}, naming the most likely diagnosis"),
        ("decide", "the next best step for the patient with {symptom} below"),
        (
            "explain",
            "why the keyed answer to this {condition} vignette is right and the rest are not",
        ),
    ),
    "open QA": (
        ("explain", "the first-line treatment of {condition} in {population}"),
        ("explain", "how {drug} works and where it fits in {condition}"),
        ("explain", "why {symptom} develops in {condition}"),
        ("decide", "when {test} should be repeated during {condition}"),
        ("decide", "which patients with {condition} benefit from {procedure}"),
        ("decide", "if {drug} is safe for {population}"),
    ),
    "text generation": (
        ("write", "a short article for {population} about living with {condition}"),
        ("write", "a newsletter paragraph urging {population} to ask about {test}"),
        ("write", "a brief talk for {setting} on preventing {condition}"),
        ("write", "a one-page fact sheet about {drug} for {reader}"),
        ("write", "a blog post on {symptom} and when it signals {condition}"),
    ),
    "chat": (
        ("answer", "a patient who messages about {symptom} after starting {drug}"),
        ("answer", "a worried caller whose child has {symptom} and {symptom2}"),
        ("answer", "a chat message asking whether {condition} can be cured"),
        ("counsel", "a relative over chat who asks about {procedure} for their father"),
    ),
    "multiple-choice QA": (
        ("answer", "the multiple-choice item on {drug} and say why each distractor fails"),
        ("answer", "this question on {concept} by picking one option"),
        ("decide", "which option about {test} is correct"),
    ),
    "summarization": (
        ("summarize", "the {material} below for a handover in {setting}"),
        ("summarize", "the key {test} trends in the {material} below"),
        ("write", "a three-line summary of the {material} below for the {role}"),
        ("summarize", "this discharge summary into the points a {reader_role} needs"),
        ("summarize", "the {material} below about {condition}, for {reader}"),
        ("summarize", "the {material} below, keeping only problems that need action {when}"),
    ),
    "classification": (
        ("classify", "the severity of {condition} in the case below by standard criteria"),
        ("classify", "the listed medicines as high or low risk for {population}"),
        ("classify", "each finding in the {material} as cardiac, respiratory or other"),
        ("classify", "the adverse event in the {material} below by its likely mechanism"),
    ),
    "multi-hop reasoning": (
        ("explain", "how {condition} leads to {symptom} through {concept}"),
        ("explain", "why adding {drug} here could shift the {test} result"),
        ("decide", "one unifying diagnosis for the findings below, linking each step"),
        ("decide", "which of the medicines below explains the abnormal {test}"),
    ),
    "single-hop reasoning": (
        ("decide", "the organ most affected by {condition}"),
        ("decide", "the lab value that would confirm {condition}"),
        ("decide", "whether {test} is needed before starting {drug}"),
    ),
    "information extraction": (
        ("extract", "each {test} value with its date from the {material} below"),
        ("list", "the problems a {role} must act on from the {material} below"),
        ("extract", "every medicine, dose and frequency from the {material} below"),
        ("extract", "the vital signs and abnormal results from this admission record"),
        ("extract", "the risk factors for {condition} stated in the {material}"),
        ("extract", "allergies and intolerances recorded in the {material} below"),
    ),
    "patient education": (
        ("explain", "to {reader} what {condition} is and how it is treated"),
        ("teach", "{population} to recognize {symptom} that needs urgent care"),
        ("explain", "to a patient how to get ready for {procedure}"),
        ("teach", "{reader} how to take {drug} safely at home"),
    ),
    "differential diagnosis": (
        ("list", "the differential diagnosis for {symptom} with {symptom2}, most likely first"),
        ("list", "three diagnoses that fit the presentation below"),
        ("list", "likely causes of {symptom} in {population}"),
    ),
    "treatment planning": (
        ("recommend", "a management plan for {condition} in {population}"),
        ("recommend", "initial therapy for the patient below"),
        ("recommend", "the first week of care after {procedure} for an older adult"),
        ("recommend", "next steps for {condition} that has not responded to {drug}"),
    ),
    "calculation": (
        (
            "calculate",
            "the anion gap from the results below and say what it suggests about {condition}",
        ),
        ("calculate", "an infusion rate of {drug} for the patient in the {material}"),
        ("calculate", "the creatinine clearance below and adjust the {drug} dose"),
        ("calculate", "the body mass index for the case below and interpret it for {condition}"),
        ("calculate", "a weight-based dose of {drug} for the child described"),
        ("calculate", "the daily fluid requirement of the patient in the {material}"),
    ),
    "rewrite": (
        ("rewrite", "the {procedure} consent wording below for {reader}"),
        ("rewrite", "the {material} below for {reader}"),
        ("rewrite", "this consent explanation for {procedure} so it reads easily"),
        ("rewrite", "the {drug} label text below without dropping a warning"),
    ),
    "medication counseling": (
        ("counsel", "a patient starting {drug} for {condition}"),
        ("counsel", "someone taking {drug} with {drug2} about interactions"),
        ("counsel", "a new user of {drug} on side effects to expect"),
    ),
    "triage": (
        ("decide", "the urgency for the {population} patient below with {symptom}"),
        ("decide", "how soon the caller with {symptom} described below must be seen"),
        (
            "decide",
            "whether the patient with {symptom2} below needs emergency, urgent or routine care",
        ),
        ("rank", "the three patients arriving at {setting} by urgency"),
    ),
    "explanation": (
        ("explain", "{concept} to {reader}"),
        ("explain", "the mechanism behind the main side effect of {drug}"),
        ("explain", "why {test} can look normal early in {condition}"),
        ("explain", "{concept} with {condition} as the worked example"),
    ),
    "comparison": (
        ("compare", "{drug} and {drug2} for {condition}"),
        ("compare", "{condition} and a common mimic with respect to {symptom}"),
        ("compare", "{procedure} and medical therapy for {condition}"),
        ("compare", "{test} and a clinical score for assessing {condition}"),
    ),
    "true or false": (
        ("decide", "if this claim about {drug} is true or false"),
        ("decide", "whether {test} is the best screen for {condition}, true or false"),
        ("decide", "if the statement below on {concept} holds"),
    ),
    "translation to lay language": (
        ("rewrite", "the {test} report below in everyday words"),
        ("rewrite", "this pathology result for {reader}"),
        ("rewrite", "the {material} below into plain words for {reader}"),
    ),
    "fill in the blank": (
        ("answer", "the gaps in the sentences below about {concept} in {condition}"),
        ("answer", "the missing words in this summary of {condition}"),
    ),
    "clinical note writing": (
        ("write", "a SOAP note for the encounter described below"),
        ("write", "a referral letter about the patient below"),
        ("write", "a progress note for someone recovering from {procedure}"),
        ("write", "discharge instructions after treatment for {condition}"),
    ),
    "critique": (
        ("critique", "the choice of {drug} in the {material} below"),
        ("critique", "the reasoning in the {material} below about {symptom}"),
        ("critique", "the management of {condition} in the {material} below and what was missed"),
        ("critique", "the study summary below for bias and fit to {population}"),
        ("critique", "whether this care plan for {condition} follows guidance"),
    ),
    "error correction": (
        ("correct", "the statements about {test} in the {material} below"),
        ("correct", "the factual errors in the paragraph below on {drug}"),
        ("correct", "the {drug} dosing mistake in this {material}"),
        ("correct", "a student's account of {concept} given below"),
    ),
    "case report writing": (
        (
            "write",
            "a short case report on {condition} from the {material} below with one teaching point",
        ),
        ("write", "the case presentation for a report on {condition}"),
    ),
    "dialogue continuation": (
        ("write", "the next turns of the exchange below about {drug}"),
        ("write", "two more turns of this talk between a {role} and a parent about {symptom}"),
    ),
    "ranking": (
        ("rank", "the interventions below by effect on mortality in {condition}"),
        ("rank", "these tests by usefulness for suspected {condition}"),
        ("rank", "the nursing tasks listed for a patient with {condition}"),
    ),
    "question generation": (
        ("generate", "five quiz questions on {concept} for nursing students"),
        ("generate", "three exam questions that test knowledge of {drug}"),
        ("generate", "questions a patient might ask before {procedure}"),
    ),
}
# Question forms per type (a real teacher mixes questions with commands).
QUESTIONS: dict[str, tuple[str, ...]] = {
    "open QA": (
        "What is the first-line treatment for {condition} in {population}?",
        "How does {drug} work, and why is it used in {condition}?",
        "Why do people with {condition} develop {symptom}?",
        "When should {test} be repeated in {condition}?",
        "Which patients with {condition} need {procedure}?",
        "Is {drug} safe for {population}, and what needs monitoring?",
        "How long does recovery from {procedure} usually take?",
        "What causes {symptom} in {population}?",
        "Can {condition} be prevented in {population}, and how?",
    ),
    "single-hop reasoning": (
        "Which organ does {condition} damage first?",
        "Does {drug} need a dose change in {condition}?",
    ),
    "explanation": (
        "Why does {drug} cause {symptom} in some patients?",
        "How does {concept} relate to {condition}?",
    ),
    "patient education": (
        "What should {reader} know about {condition}?",
        "How can {population} lower their risk of {condition}?",
    ),
}
# Object phrases any type may use, with the verbs of their intent: most of the
# variety of a real teacher's instructions comes from what they are about.
TOPIC_OBJECTS = (
    "the role of {test} in {condition}", "the risks of {drug} for {population}",
    "the link between {condition} and {symptom}", "what {symptom} means for someone with {condition}",
    "how {procedure} changes {focus} in {condition}", "why {drug} is avoided in {condition}",
    "the evidence for {drug} in {condition}", "how {concept} explains {symptom}",
    "the natural history of {condition} in {population}", "what a raised {test} suggests",
    "the pros and cons of {procedure} for {population}", "how {drug2} alters the effect of {drug}",
    "what recovery after {procedure} looks like for {reader}", "the causes of {symptom} after {procedure}",
    "the place of {test} in screening {population}", "how {condition} is staged",
    "when {symptom} in {condition} becomes an emergency", "the targets for {test} in {condition}",
    "what to do about a missed dose of {drug}", "how {condition} affects daily life for {population}",
    "the complications of {condition} and how to prevent them", "the mechanism of action of {drug}",
    "how {concept} underlies treatment with {drug}", "the diet advice that helps in {condition}",
)  # fmt: skip
LIST_OBJECTS = (
    "the warning signs of {condition}", "drugs that interact with {drug}",
    "questions to ask before {procedure}", "the causes of {symptom} in {population}",
    "findings that separate {condition} from its mimics", "side effects of {drug} worth reporting",
    "steps to take when {test} comes back abnormal", "risk factors for {condition}",
    "the contraindications to {procedure}", "ways {population} can lower their risk of {condition}",
    "reasons {test} may be misleading", "nursing checks after {procedure}",
)  # fmt: skip
DOCUMENTS = ("a short guide", "a leaflet", "a memo", "a handout", "a paragraph", "a checklist",
             "an FAQ", "a script for a phone call", "a text message", "a one-page summary",
             "a teaching outline", "a reflective note", "an email to colleagues")  # fmt: skip
# Types whose frames refer to material "below": they always get an input.
NEEDS_INPUT = frozenset({
    "USMLE-style QA", "multiple-choice QA", "summarization", "information extraction",
    "rewrite", "critique", "error correction", "case report writing", "dialogue continuation",
    "translation to lay language", "triage", "calculation", "fill in the blank",
})  # fmt: skip
OPENERS = ("Briefly, ", "In your own words, ", "For a teaching session, ",
           "As the covering clinician, ", "Based on current evidence, ", "Using the details given, ",
           "Please ", "Quickly ", "Carefully ", "Step by step, ", "Acting as a {role}, ",
           "For {population}, ", "In {setting}, ",
           "For a {age}-year-old with {condition}, ", "Writing for {reader}, ", "Thinking as a {role}, ",
           "Without jargon, ", "In a few lines, ", "With safety first, ", "Ahead of {procedure}, ",
           "Before the ward round, ", "After reviewing the {test}, ", "On a night shift, ",
           "For the {material}, ", "While {symptom} persists, ", "If {drug} is not an option, ")  # fmt: skip
MATERIALS = ("clinical note", "discharge summary", "admission record", "referral letter", "clinic letter",
             "nursing handover", "case description", "consultation record", "ward round entry",
             "triage note", "pharmacy record", "operative note", "emergency department note",
             "progress note", "outpatient letter", "medication review", "telephone consultation note")  # fmt: skip
WHEN = (
    "today",
    "this week",
    "before discharge",
    "overnight",
    "within the hour",
    "at the next visit",
)
ROLES = ("pharmacist", "ward nurse", "family doctor", "junior resident", "midwife", "paramedic",
         "dietitian", "public health officer", "hospitalist", "school nurse")  # fmt: skip
MODIFIERS = (
    "with attention to {focus}", "mentioning {test}", "for {population}", "noting {focus} issues",
    "and say when to refer", "{constraint}", "{constraint}", "{constraint}", "in the context of {setting}",
    "including {symptom} as a warning sign", "and flag anything about {focus}",
    "keeping {reader} in mind", "with reference to {concept}", "given a history of {condition}",
    "bearing in mind that the patient also takes {drug2}", "and state your confidence",
    "and end with what to check at follow-up", "while addressing {focus}",
    "and name one common misconception", "for use in {setting}", "and compare it with {drug2}",
    "noting how {test} guides the next step", "taking {population} into account",
    "and say what a {role} should do next", "after a recent {procedure}", "in light of new {symptom2}",
    "highlighting {focus} for {population}", "covering the evidence on {condition}",
    "as it applies in {setting}", "saying what changes if {symptom2} appears",
    "citing the usual {test} threshold", "adding one tip for {reader}", "when {drug2} is already prescribed",
    "if {test} is unavailable", "for someone aged {age}", "with {condition} as a coexisting problem",
    "and contrast {population} with younger adults", "and mention {concept} briefly",
    "in a {age}-year-old {sex}", "with a blood pressure of {sbp}/{dbp}", "on day {day} of admission",
    "{weeks} weeks after {procedure}", "for a patient weighing {kg} kg", "when the {test} is {value}",
    "in a {age}-year-old {sex} with {condition}", "after {day} days of {symptom2}",
)  # fmt: skip


@dataclass(frozen=True)
class SimTask:
    """One synthetic task in the teacher's six fields."""

    type: str
    topic: str
    view: str
    difficulty: int
    instruction: str
    input: str


QUALIFIERS = ("early", "advanced", "newly diagnosed", "poorly controlled", "recurrent", "suspected",
              "mild", "severe", "long-standing", "uncomplicated", "refractory", "stable", "untreated",
              "well-controlled", "relapsing", "childhood", "late-onset", "drug-induced")  # fmt: skip


def _qualified(rng: random.Random, condition: str) -> str:
    """A condition, half the time with a qualifier ("poorly controlled asthma")."""
    return f"{rng.choice(QUALIFIERS)} {condition}" if rng.random() < 0.5 else condition


DOSES = (5, 10, 20, 25, 40, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 750, 850, 1000)
SCHEDULES = ("once daily", "twice daily", "at night", "every 8 hours", "weekly", "as needed",
             "three times a day", "every morning", "every 12 hours", "with meals")  # fmt: skip


def _dosed(rng: random.Random, drug: str) -> str:
    """A drug, some of the time with a dose and schedule ("metformin 500 mg twice daily")."""
    if rng.random() < 0.35:
        return f"{drug} {rng.choice(DOSES)} mg {rng.choice(SCHEDULES)}"
    return drug


def _slots(rng: random.Random) -> dict[str, str]:
    drug, drug2 = (_dosed(rng, d) for d in rng.sample(DRUGS, 2))
    symptom, symptom2 = rng.sample(SYMPTOMS, 2)
    return {
        "condition": _qualified(rng, rng.choice(CONDITIONS)), "drug": drug, "drug2": drug2,
        "test": rng.choice(TESTS), "procedure": rng.choice(PROCEDURES),
        "symptom": symptom, "symptom2": symptom2, "population": rng.choice(POPULATIONS),
        "concept": rng.choice(CONCEPTS), "setting": rng.choice(SETTINGS),
        "reader": rng.choice(READERS), "focus": rng.choice(FOCI),
        "constraint": rng.choice(CONSTRAINTS), "role": rng.choice(ROLES),
        "reader_role": rng.choice(ROLES), "material": rng.choice(MATERIALS),
        "when": rng.choice(WHEN), "topic": rng.choice(TOPICS), "age": str(rng.randint(18, 95)),
        "sex": rng.choice(("man", "woman")), "sbp": str(rng.randint(85, 200)),
        "dbp": str(rng.randint(45, 120)), "day": str(rng.randint(2, 14)),
        "weeks": str(rng.randint(2, 12)), "kg": str(rng.randint(40, 140)),
        "value": f"{rng.uniform(0.5, 12):.1f}",
    }  # fmt: skip


@functools.lru_cache(maxsize=1)
def _clinical_sentences() -> tuple[tuple[str, ...], ...]:
    """The seed tasks' case sentences as word tuples (no questions, no answer options);
    () when the file is absent."""
    if not SEED_FILE.exists():
        return ()
    sentences = []
    for line in SEED_FILE.read_text(encoding="utf-8").splitlines():
        text = str(json.loads(line).get("input") or "").replace("\n", " ")
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            words = tuple(sentence.rstrip(".!").split())
            if len(words) >= 6 and "?" not in sentence and not re.search(r"\b[A-E]\.", sentence):
                sentences.append(words)
    return tuple(sentences)


# No lead ends in "that": "that scan" reads as pointing at a picture (the media filter).
FRAGMENT_LEADS = ("given", "where the notes say", "noting", "in a case where", "knowing",
                  "bearing in mind", "considering", "with the history")  # fmt: skip


def clinical_fragment(rng: random.Random) -> str:
    """A few consecutive words of a real case sentence: what a teacher quotes to anchor a task."""
    sentences = _clinical_sentences()
    if not sentences:
        return ""
    words = rng.choice(sentences)
    size = min(len(words), rng.randint(5, 10))
    start = rng.randrange(len(words) - size + 1)
    text = " ".join(words[start : start + size]).rstrip(".,;:")
    return f"{rng.choice(FRAGMENT_LEADS)} {text}".replace("{", "(").replace("}", ")")


def instruction_text(task_type: str, rng: random.Random, slots: dict[str, str]) -> str:
    """A question, or a command: opener + verb + object phrase + up to two modifiers."""
    questions = QUESTIONS.get(task_type, ())
    if questions and rng.random() < 0.35:
        return rng.choice(questions).format(**slots)
    intent, phrase = rng.choice(FRAMES[task_type])
    roll = rng.random()
    if task_type not in NEEDS_INPUT and roll < 0.55:
        if roll < 0.3:
            intent, phrase = (
                rng.choice(("explain", "summarize", "critique")),
                rng.choice(TOPIC_OBJECTS),
            )
        elif roll < 0.45:
            intent, phrase = "list", rng.choice(LIST_OBJECTS)
        else:
            intent = "write"
            phrase = f"{rng.choice(DOCUMENTS)} on {rng.choice(TOPIC_OBJECTS + LIST_OBJECTS)}"
    parts = [rng.choice(VERBS[intent]), phrase]
    for modifier in rng.sample(MODIFIERS, rng.choice((0, 0, 1, 1, 2))):
        parts.append(("" if modifier.startswith("and ") else ", ") + modifier)
    body = " ".join(parts[:2]) + "".join(
        (" " + p) if p.startswith("and ") else p for p in parts[2:]
    )
    opener = rng.choice(OPENERS) if rng.random() < 0.3 else ""
    if opener:
        body = opener + body[0].lower() + body[1:]
    body = body.format(**slots)
    if rng.random() < 0.35 and (fragment := clinical_fragment(rng)):
        body += f", {fragment}"
    return body + "."


def vignette(rng: random.Random, slots: dict[str, str], words: int) -> str:
    """A clinical case of about `words` words: history, vitals, medicines, results."""
    age, sex = rng.randint(2, 92), rng.choice(("man", "woman"))
    sentences = [
        f"A {age}-year-old {sex} with a history of {slots['condition']} presents with "
        f"{rng.randint(2, 14)} days of {slots['symptom']} and {slots['symptom2']}.",
        f"Blood pressure is {rng.randint(85, 185)}/{rng.randint(45, 110)} mm Hg, heart rate "
        f"{rng.randint(48, 135)}/min, temperature {rng.uniform(35.5, 39.8):.1f} C and oxygen "
        f"saturation {rng.randint(86, 100)}% on room air.",
        f"Current medications include {slots['drug']} and {slots['drug2']}.",
        f"The {slots['test']} result is {rng.choice(('markedly', 'mildly', 'borderline'))} "
        f"{rng.choice(('raised', 'low', 'abnormal'))} compared with a value from last year.",
        f"The patient was seen in {slots['setting']} and mentions {slots['focus']} as a concern.",
        f"There is no history of {rng.choice(CONDITIONS)}, and the family history includes "
        f"{rng.choice(CONDITIONS)}.",
        f"On examination there is {rng.choice(('tenderness', 'mild swelling', 'reduced air entry', 'a soft murmur', 'pallor', 'dry mucous membranes'))} "
        f"but no {rng.choice(('rash', 'focal weakness', 'guarding', 'edema', 'lymphadenopathy'))}.",
        f"{slots['procedure'].capitalize()} was discussed at the last visit and postponed.",
        f"A repeat {rng.choice(TESTS)} is pending, and the team is considering {rng.choice(DRUGS)}.",
    ]  # fmt: skip
    chosen = sentences[:2] + rng.sample(sentences[2:], len(sentences) - 2)
    out: list[str] = []
    while chosen and sum(len(s.split()) for s in out) < words:
        out.append(chosen.pop(0))
    return " ".join(out)


def options_block(rng: random.Random) -> str:
    """Five lettered answer choices, as a USMLE-style input ends."""
    picks = rng.sample(DRUGS + PROCEDURES + TESTS, 5)
    return "\n".join(
        f"{letter}. {text[0].upper() + text[1:]}"
        for letter, text in zip("ABCDE", picks, strict=True)
    )


def make_task(rng: random.Random) -> SimTask:
    """One task with a random type, labels, difficulty and (for some types) an input."""
    task_type = rng.choice(TYPES)
    slots = _slots(rng)
    instruction = instruction_text(task_type, rng, slots)
    text_input = ""
    if task_type in NEEDS_INPUT or rng.random() < 0.15:
        text_input = vignette(rng, slots, rng.randint(40, 170))
        if task_type in ("USMLE-style QA", "multiple-choice QA"):
            text_input += " Which of the following is the best answer?\n" + options_block(rng)
    label = TYPE_VARIANTS.get(task_type, task_type) if rng.random() < 0.1 else task_type
    return SimTask(label, rng.choice(TOPICS), rng.choice(VIEWS), rng.randint(1, 5),
                   instruction, text_input)  # fmt: skip


# -- answers -----------------------------------------------------------------------------
ANSWER_OPENERS = (
    "In short, {term} is best approached step by step.", "Here is a clear answer.",
    "The key points are as follows.", "This depends on a few factors, set out below.",
    "Start with the most important point: {term}.", "A practical answer follows.",
)  # fmt: skip
ANSWER_SENTENCES = (
    "Assess {term} early, because delays change the outcome.",
    "Guidelines recommend confirming {term} before changing therapy.",
    "The usual first step is to review {term} together with the history.",
    "Monitor {term} at each visit and adjust the plan when it changes.",
    "Explain to the patient why {term} matters and check understanding.",
    "In {population}, {term} needs extra care because risks differ.",
    "Consider {drug} when {term} persists despite first-line measures.",
    "Check {test} to rule out a secondary cause linked to {term}.",
    "Common pitfalls include overlooking {term} and stopping treatment too early.",
    "Red flags such as {symptom} call for urgent review.",
    "Document {term} clearly so the next clinician can follow the reasoning.",
    "Evidence from randomized trials supports this approach for {term}.",
    "Refer to a specialist if {term} does not improve within two to four weeks.",
    "Side effects of {drug} are usually mild but should be reviewed at follow-up.",
    "Lifestyle measures, including diet and activity, support control of {term}.",
    "The prognosis is generally good when {term} is recognized and treated promptly.",
)  # fmt: skip
ANSWER_CLOSERS = (
    "Seek medical care at once if symptoms get worse.", "Follow up as planned.",
    "Discuss any concerns with the care team.", "This summary reflects current practice.",
)  # fmt: skip
_WORD = re.compile(r"[A-Za-z][A-Za-z-]{4,}")
_STOP = frozenset({
    "about", "after", "again", "against", "being", "below", "between", "could", "during",
    "every", "first", "following", "these", "their", "there", "those", "under", "until",
    "which", "while", "would", "write", "answer", "explain", "describe", "patient", "patients",
    "given", "short", "brief", "using",
})  # fmt: skip


def key_terms(text: str, limit: int = 8) -> list[str]:
    """Content words of a prompt (longer words, no stop words), in order, deduplicated."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text):
        lower = word.lower()
        if lower not in _STOP:
            seen.setdefault(lower, None)
        if len(seen) >= limit:
            break
    return list(seen) or ["the condition"]


_VOCAB = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(t)
        for t in sorted(
            {*CONDITIONS, *DRUGS, *TESTS, *PROCEDURES, *SYMPTOMS, *CONCEPTS}, key=len, reverse=True
        )
    )
    + r")\b",
    re.IGNORECASE,
)


def medical_terms(text: str, limit: int = 6) -> list[str]:
    """The vocabulary's terms named in `text` (what an answer should be about), in order."""
    seen: dict[str, None] = {}
    for match in _VOCAB.finditer(text):
        seen.setdefault(match.group(0), None)
        if len(seen) >= limit:
            break
    return list(seen)


def make_answer(prompt: str, rng: random.Random, words: int) -> str:
    """An answer of about `words` words that keeps returning to the prompt's terms."""
    terms = medical_terms(prompt) or ["this problem", "the condition", "the findings"]
    fill = lambda s: s.format(term=rng.choice(terms), drug=rng.choice(DRUGS),  # noqa: E731
                              test=rng.choice(TESTS), symptom=rng.choice(SYMPTOMS),
                              population=rng.choice(POPULATIONS))  # fmt: skip
    paragraphs, paragraph, count = [], [fill(rng.choice(ANSWER_OPENERS))], 0
    while count < words:
        sentence = fill(rng.choice(ANSWER_SENTENCES))
        paragraph.append(sentence)
        count += len(sentence.split())
        if len(paragraph) >= rng.randint(3, 6):
            paragraphs.append(" ".join(paragraph))
            paragraph = []
    paragraph.append(rng.choice(ANSWER_CLOSERS))
    paragraphs.append(" ".join(paragraph))
    return "\n\n".join(paragraphs)


# -- the judge ---------------------------------------------------------------------------
_SECTION = re.compile(
    r"\[(Question|Answer A|Answer B)\]\n(.*?)(?=\n\[End of |\n\n\[Answer |\Z)", re.S
)


def judge_sections(prompt: str) -> dict[str, str]:
    """{"Question": ..., "Answer A": ..., "Answer B": ...} from the judge's user message."""
    return {name: body.strip() for name, body in _SECTION.findall(prompt)}


def answer_score(question: str, answer: str) -> float:
    """How a quick reader rates an answer: on topic, finished, of a reasonable length."""
    if not answer or answer == "(empty answer)":
        return -10.0
    asked = set(key_terms(question, limit=40))
    said = set(key_terms(answer, limit=200))
    overlap = len(asked & said) / max(len(asked), 1)
    finished = answer.rstrip()[-1:] in ".!?)\"'"
    length = min(len(answer.split()), 300) / 300
    return 3.0 * overlap + (1.0 if finished else -1.5) + 0.5 * length


def judge_winner(prompt: str, rng: random.Random) -> tuple[str, str]:
    """("A" | "B" | "tie", one-sentence reason) for a judge prompt; a little noise, no position bias."""
    parts = judge_sections(prompt)
    question = parts.get("Question", "")
    a = answer_score(question, parts.get("Answer A", "")) + rng.gauss(0, 0.15)
    b = answer_score(question, parts.get("Answer B", "")) + rng.gauss(0, 0.15)
    if abs(a - b) < 0.05:
        return "tie", "Both answers are equally complete and on topic."
    better = "A" if a > b else "B"
    return better, f"Answer {better} addresses the question more directly and is complete."
