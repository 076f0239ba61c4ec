"""Word lists for `medinstruct_gate.synthetic` (data only, kept apart from the grammar).

Plain medical vocabulary, written for this project: conditions, drugs, tests,
symptoms, procedures and populations, plus the phrases the grammar composes
around them (verbs, aspects, qualifiers, audiences, goals, lead-ins, tails).
"""

# fmt: off
CONDITIONS = (
    "type 2 diabetes", "type 1 diabetes", "essential hypertension", "heart failure with reduced ejection fraction",
    "atrial fibrillation", "stable angina", "acute coronary syndrome", "peripheral arterial disease",
    "deep vein thrombosis", "pulmonary embolism", "asthma", "chronic obstructive pulmonary disease",
    "community-acquired pneumonia", "bronchiectasis", "cystic fibrosis", "obstructive sleep apnoea",
    "tuberculosis", "sarcoidosis", "idiopathic pulmonary fibrosis", "chronic kidney disease",
    "acute kidney injury", "nephrotic syndrome", "urinary tract infection", "kidney stones",
    "benign prostatic hyperplasia", "gout", "rheumatoid arthritis", "osteoarthritis",
    "systemic lupus erythematosus", "ankylosing spondylitis", "psoriatic arthritis",
    "polymyalgia rheumatica", "giant cell arteritis", "osteoporosis", "hypothyroidism",
    "Graves disease", "Cushing syndrome", "Addison disease", "hyperparathyroidism",
    "polycystic ovary syndrome", "endometriosis", "pre-eclampsia", "gestational diabetes",
    "iron deficiency anaemia", "vitamin B12 deficiency", "sickle cell disease", "thalassaemia",
    "immune thrombocytopenia", "haemophilia A", "chronic lymphocytic leukaemia", "multiple myeloma",
    "Hodgkin lymphoma", "breast cancer", "colorectal cancer", "prostate cancer", "lung cancer",
    "pancreatic cancer", "melanoma", "cervical cancer", "ovarian cancer", "coeliac disease",
    "Crohn disease", "ulcerative colitis", "irritable bowel syndrome", "gastro-oesophageal reflux disease",
    "peptic ulcer disease", "acute pancreatitis", "alcohol-related liver disease", "hepatitis B",
    "hepatitis C", "non-alcoholic fatty liver disease", "gallstones", "appendicitis",
    "diverticulitis", "migraine", "cluster headache", "epilepsy", "Parkinson disease",
    "multiple sclerosis", "myasthenia gravis", "Guillain-Barre syndrome", "ischaemic stroke",
    "subarachnoid haemorrhage", "Alzheimer disease", "delirium", "major depressive disorder",
    "generalised anxiety disorder", "bipolar disorder", "schizophrenia", "anorexia nervosa",
    "attention deficit hyperactivity disorder", "autism spectrum disorder", "alcohol use disorder",
    "opioid use disorder", "atopic eczema", "psoriasis", "acne vulgaris", "cellulitis",
    "shingles", "scabies", "Lyme disease", "malaria", "HIV infection", "sepsis",
    "meningococcal meningitis", "infective endocarditis", "bronchiolitis", "croup",
    "Kawasaki disease", "febrile seizures", "neonatal jaundice", "otitis media", "glaucoma",
    "age-related macular degeneration", "cataract", "Meniere disease", "benign paroxysmal positional vertigo",
    "carpal tunnel syndrome", "plantar fasciitis", "low back pain", "hip fracture",
    "anaphylaxis", "hyperkalaemia", "hyponatraemia", "diabetic ketoacidosis", "heat stroke",
    "hypothermia", "carbon monoxide poisoning", "paracetamol overdose", "long COVID",
    "hypertrophic cardiomyopathy", "aortic stenosis", "mitral regurgitation", "pericarditis",
    "myocarditis", "aortic dissection", "abdominal aortic aneurysm", "Raynaud phenomenon",
    "varicose veins", "venous leg ulcers", "pneumothorax", "pleural effusion", "lung abscess",
    "allergic rhinitis", "chronic sinusitis", "pertussis", "influenza", "measles", "mumps",
    "chickenpox", "hand, foot and mouth disease", "impetigo", "tinea pedis", "head lice",
    "rosacea", "urticaria", "vitiligo", "hidradenitis suppurativa", "basal cell carcinoma",
    "squamous cell carcinoma of the skin", "bladder cancer", "renal cell carcinoma",
    "testicular cancer", "thyroid cancer", "oesophageal cancer", "gastric cancer",
    "head and neck cancer", "glioblastoma", "acute myeloid leukaemia", "myelodysplastic syndrome",
    "polycythaemia vera", "haemochromatosis", "Wilson disease", "primary biliary cholangitis",
    "autoimmune hepatitis", "achalasia", "Barrett oesophagus", "Helicobacter pylori infection",
    "Clostridioides difficile infection", "norovirus gastroenteritis", "haemorrhoids",
    "anal fissure", "pilonidal sinus", "umbilical hernia", "pyloric stenosis", "intussusception",
    "Hirschsprung disease", "Down syndrome", "Turner syndrome", "Klinefelter syndrome",
    "Marfan syndrome", "Duchenne muscular dystrophy", "spinal muscular atrophy", "cerebral palsy",
    "motor neurone disease", "Huntington disease", "trigeminal neuralgia", "Bell palsy",
    "restless legs syndrome", "narcolepsy", "post-traumatic stress disorder",
    "obsessive-compulsive disorder", "panic disorder", "postnatal depression", "bulimia nervosa",
    "insomnia", "chronic fatigue syndrome", "fibromyalgia", "frozen shoulder", "tennis elbow",
    "Achilles tendinopathy", "scoliosis", "osteomyelitis", "septic arthritis", "Paget disease of bone",
    "hyperemesis gravidarum", "placenta praevia", "ectopic pregnancy", "miscarriage", "menopause",
    "premenstrual syndrome", "uterine fibroids", "erectile dysfunction", "male infertility",
    "chlamydia", "gonorrhoea", "syphilis", "genital herpes", "retinal detachment",
    "diabetic retinopathy", "conjunctivitis", "uveitis", "tonsillitis", "glandular fever",
)
DRUGS = (
    "metformin", "empagliflozin", "semaglutide", "insulin glargine", "gliclazide", "sitagliptin",
    "ramipril", "losartan", "amlodipine", "bisoprolol", "indapamide", "spironolactone",
    "furosemide", "sacubitril-valsartan", "digoxin", "amiodarone", "apixaban", "rivaroxaban",
    "warfarin", "enoxaparin", "clopidogrel", "ticagrelor", "aspirin", "atorvastatin",
    "ezetimibe", "salbutamol", "tiotropium", "budesonide-formoterol", "montelukast",
    "prednisolone", "hydrocortisone", "levothyroxine", "carbimazole", "alendronic acid",
    "denosumab", "colchicine", "allopurinol", "febuxostat", "methotrexate", "hydroxychloroquine",
    "adalimumab", "infliximab", "tacrolimus", "mycophenolate", "azathioprine", "omeprazole",
    "lansoprazole", "mesalazine", "loperamide", "ondansetron", "metoclopramide", "lactulose",
    "amoxicillin", "co-amoxiclav", "doxycycline", "clarithromycin", "nitrofurantoin",
    "trimethoprim", "ciprofloxacin", "vancomycin", "gentamicin", "piperacillin-tazobactam",
    "ceftriaxone", "aciclovir", "oseltamivir", "fluconazole", "sertraline", "fluoxetine",
    "mirtazapine", "venlafaxine", "lithium", "quetiapine", "olanzapine", "haloperidol",
    "diazepam", "lorazepam", "levetiracetam", "sodium valproate", "lamotrigine", "carbamazepine",
    "levodopa", "donepezil", "sumatriptan", "amitriptyline", "gabapentin", "pregabalin",
    "morphine", "oxycodone", "tramadol", "paracetamol", "ibuprofen", "naproxen", "naloxone",
    "buprenorphine", "methadone", "ferrous sulfate", "folic acid", "vitamin D", "tamoxifen",
    "letrozole", "isotretinoin", "adrenaline", "tranexamic acid", "oxytocin", "magnesium sulfate",
    "edoxaban", "dabigatran", "heparin", "alteplase", "bumetanide", "eplerenone", "ivabradine",
    "verapamil", "diltiazem", "nifedipine", "doxazosin", "tamsulosin", "finasteride",
    "solifenacin", "mirabegron", "oxybutynin", "sildenafil", "dapagliflozin", "pioglitazone",
    "dulaglutide", "tirzepatide", "insulin aspart", "liraglutide", "orlistat", "rosuvastatin",
    "fenofibrate", "evolocumab", "cetirizine", "fexofenadine", "beclometasone", "fluticasone",
    "ipratropium", "theophylline", "azithromycin", "flucloxacillin", "cefalexin", "metronidazole",
    "clindamycin", "linezolid", "meropenem", "rifampicin", "isoniazid", "valaciclovir",
    "tenofovir", "dolutegravir", "ivermectin", "permethrin", "terbinafine", "esomeprazole",
    "ranitidine", "sucralfate", "domperidone", "prochlorperazine", "senna", "macrogol",
    "bisacodyl", "cyclizine", "citalopram", "escitalopram", "duloxetine", "bupropion",
    "trazodone", "clozapine", "aripiprazole", "risperidone", "methylphenidate", "atomoxetine",
    "melatonin", "zopiclone", "topiramate", "phenytoin", "baclofen", "botulinum toxin",
    "rituximab", "etanercept", "ustekinumab", "secukinumab", "ciclosporin", "leflunomide",
    "sulfasalazine", "bisphosphonates", "raloxifene", "teriparatide", "anastrozole",
    "goserelin", "bicalutamide", "imatinib", "capecitabine", "cisplatin", "erythropoietin",
    "iron sucrose", "vitamin K", "thiamine", "nicotine replacement therapy", "varenicline",
    "acamprosate", "disulfiram", "codeine", "fentanyl", "ketamine", "lidocaine", "dexamethasone",
)
TESTS = (
    "full blood count", "HbA1c", "fasting lipid profile", "urea and electrolytes", "liver function tests",
    "thyroid function tests", "C-reactive protein", "erythrocyte sedimentation rate", "D-dimer",
    "troponin", "BNP", "arterial blood gas", "serum lactate", "blood cultures", "urinalysis",
    "urine albumin-to-creatinine ratio", "eGFR", "serum ferritin", "coagulation screen",
    "serum calcium", "parathyroid hormone", "vitamin D level", "faecal calprotectin",
    "faecal immunochemical test", "PSA", "CA-125", "tissue transglutaminase antibodies",
    "anti-CCP antibodies", "ANA", "HLA-B27", "12-lead ECG", "echocardiogram",
    "24-hour ambulatory ECG", "exercise tolerance test", "chest X-ray", "CT pulmonary angiogram",
    "CT head", "MRI spine", "abdominal ultrasound", "DEXA scan", "spirometry",
    "peak expiratory flow", "lumbar puncture", "colonoscopy", "upper GI endoscopy",
    "skin biopsy", "sputum culture", "interferon-gamma release assay", "HIV antigen-antibody test",
    "hepatitis B surface antigen", "pregnancy test", "cervical screening", "mammogram",
    "bone marrow biopsy", "nerve conduction studies", "EEG", "polysomnography",
)
SYMPTOMS = (
    "chest pain on exertion", "shortness of breath at night", "a persistent dry cough",
    "haemoptysis", "palpitations", "ankle swelling", "fainting on standing", "sudden severe headache",
    "weakness in one arm", "slurred speech", "double vision", "tingling in both feet",
    "a tremor at rest", "memory problems", "low mood for two months", "poor sleep",
    "weight loss without trying", "night sweats", "fever and rigors", "a rash on the shins",
    "itchy skin", "yellowing of the eyes", "dark urine", "pale stools", "abdominal bloating",
    "upper abdominal pain after meals", "vomiting blood", "black tarry stools",
    "bloody diarrhoea", "constipation alternating with diarrhoea", "difficulty swallowing",
    "heartburn", "painful urination", "blood in the urine", "frequent urination at night",
    "increased thirst", "joint pain and morning stiffness", "a hot swollen knee",
    "lower back pain radiating down the leg", "neck stiffness", "sensitivity to light",
    "hearing loss in one ear", "ringing in the ears", "dizziness when turning the head",
    "blurred vision", "a painful red eye", "heavy menstrual bleeding", "pelvic pain",
    "reduced fetal movements", "a barking cough", "poor feeding in an infant",
    "a non-blanching rash", "easy bruising", "recurrent nosebleeds", "fatigue",
    "cold intolerance", "heat intolerance", "hair loss", "a new lump in the breast",
    "a changing mole", "calf pain when walking",
)
PROCEDURES = (
    "a total knee replacement", "a laparoscopic cholecystectomy", "cardiac catheterisation",
    "percutaneous coronary intervention", "coronary artery bypass grafting", "a colonoscopy",
    "an upper GI endoscopy", "a lumbar puncture", "a bone marrow aspiration",
    "cataract surgery", "a caesarean section", "an appendicectomy", "a hip hemiarthroplasty",
    "haemodialysis", "peritoneal dialysis", "a kidney transplant", "chemotherapy",
    "radiotherapy to the breast", "electroconvulsive therapy", "a tonsillectomy",
    "an inguinal hernia repair", "a thyroidectomy", "a mastectomy", "a bronchoscopy",
    "insertion of a chest drain", "a pleural tap", "a paracentesis", "a liver biopsy",
    "a cardioversion", "a pacemaker insertion", "catheter ablation", "a carotid endarterectomy",
    "a TURP", "a vasectomy", "an IUD insertion", "a nasogastric tube insertion",
    "central line insertion", "urinary catheterisation", "wound debridement",
    "a skin graft", "a below-knee amputation", "spinal anaesthesia",
)
POPULATIONS = (
    "older adults", "frail older people", "adolescents", "young children", "infants",
    "newborns", "pregnant women", "breastfeeding mothers", "postmenopausal women",
    "people with learning disabilities", "people experiencing homelessness",
    "shift workers", "athletes", "care home residents", "people with chronic kidney disease",
    "people with liver cirrhosis", "people on dialysis", "transplant recipients",
    "people living with HIV", "travellers", "refugees", "night-shift nurses",
    "people with obesity", "smokers", "people who inject drugs", "patients after bariatric surgery",
    "people with dementia", "people with severe mental illness", "rural communities",
    "South Asian adults", "Black African adults", "university students", "factory workers",
    "military veterans", "people with visual impairment", "people with hearing loss",
    "wheelchair users", "people fasting during Ramadan", "people on long-term steroids",
    "people with a history of falls",
)

SETTINGS = (
    "in primary care", "in the emergency department", "on a surgical ward", "in intensive care",
    "in a community pharmacy", "during a home visit", "in an outpatient clinic",
    "in a rural health post", "in a care home", "in a school", "in a prison health service",
    "during a telephone consultation", "in a sexual health clinic", "in a maternity unit",
    "in a hospice", "at a mass gathering", "on a long-haul flight", "in a sports club",
    "on a busy medical take", "in a walk-in centre", "in a refugee camp clinic", "on a night shift",
    "in a high-dependency unit", "in a stroke unit", "in a dialysis unit", "in a memory clinic",
)
QUALIFIERS = (
    "severe", "mild", "early", "advanced", "poorly controlled", "recurrent", "newly diagnosed",
    "long-standing", "treatment-resistant", "uncomplicated", "complicated", "suspected",
    "confirmed", "relapsing", "late-onset", "childhood-onset", "stable", "worsening",
    "undiagnosed", "well-controlled", "symptomatic", "asymptomatic", "refractory", "atypical",
)
ASPECT_MODIFIERS = (
    "main", "most important", "less obvious", "early", "late", "common", "rarer", "practical",
    "key", "modifiable", "emerging", "under-recognised", "preventable", "long-term",
    "short-term", "typical", "atypical", "most dangerous", "most frequent", "evidence-based",
    "everyday", "psychological", "social", "financial", "cultural", "age-specific",
)
ASPECTS = (
    "causes", "risk factors", "complications", "warning signs", "symptoms", "investigations",
    "treatment options", "side effects", "drug interactions", "contraindications",
    "nursing priorities", "dietary considerations", "prognostic factors", "barriers to adherence",
    "costs", "ethical issues", "red flags", "monitoring requirements", "triggers",
    "effects on quality of life", "consequences for work", "effects on sleep",
    "self-management strategies", "rehabilitation goals", "screening options",
    "diagnostic pitfalls", "follow-up needs", "effects on family members", "safety concerns",
    "reasons for hospital admission", "vaccination needs", "exercise recommendations",
)
EXPLAIN = (
    "Explain", "Describe", "Outline", "Summarise", "Discuss", "Clarify", "Set out", "Walk through",
    "Break down", "Give an overview of", "Review", "Detail", "Spell out", "Elaborate on",
    "Illuminate", "Unpack",
)
LIST = (
    "List", "Name", "Identify", "Enumerate", "Give", "State", "Point out", "Highlight",
    "Pick out", "Note", "Mention", "Rank",
)
WRITE = ("Write", "Draft", "Prepare", "Compose", "Produce", "Put together", "Create", "Develop")
ADVISE = ("Advise", "Counsel", "Coach", "Guide", "Support", "Reassure", "Inform", "Brief")
COMPARE = ("Compare", "Contrast", "Weigh up", "Evaluate", "Appraise", "Set side by side", "Differentiate")
AUDIENCES = (
    "a nurse", "a pharmacist", "a junior doctor", "a midwife", "a paramedic", "a dietitian",
    "a physiotherapist", "a GP", "a school nurse", "a health visitor", "a medical student",
    "a carer", "a worried parent", "a patient", "a ward manager", "an occupational therapist",
    "a hospital chaplain", "a care home manager", "a community pharmacist", "a speech therapist",
    "a sports coach", "a teacher", "an employer", "a newly qualified nurse", "a locum doctor",
    "a practice receptionist", "a health-care assistant", "a district nurse", "a clinical coder",
)
GOALS = (
    "explain it to families", "spot deterioration early", "plan follow-up", "prepare for an exam",
    "make a shared decision", "reduce readmissions", "prioritise the next step",
    "counsel the patient", "choose a safe option", "document it accurately", "avoid common errors",
    "escalate at the right time", "support self-care at home", "answer questions on the ward",
    "teach it to colleagues", "judge the urgency", "tailor the advice", "check understanding",
    "plan discharge", "adjust the care plan", "recognise when to refer", "reassure the family",
)
CONSTRAINTS = (
    "Use plain language.", "Keep it under 150 words.", "Answer in three bullet points.",
    "Cite the level of evidence where you can.", "Avoid medical jargon.",
    "Give the reasoning step by step.", "End with one practical tip.",
    "Mention one common misconception.", "Write for a reading age of twelve.",
    "Include when to seek urgent help.", "Be concise and specific.",
    "Structure the answer with short headings.", "Note any important contraindications.",
    "Explain the reasoning behind each point.", "Assume the reader has no medical training.",
    "Focus on what changes management.", "Use metric units throughout.",
    "Keep the tone warm but factual.", "Flag anything that needs a specialist.",
    "Limit yourself to five points.", "Separate facts from opinion.",
    "Say what you would check first.", "Mention any national guidance that applies.",
)
PAIN_QUALITIES = (
    "sharp", "dull", "burning", "cramping", "colicky", "pleuritic", "throbbing", "gnawing",
    "stabbing", "aching", "tearing", "crushing", "shooting", "constant", "intermittent",
)
BODY_SITES = (
    "chest", "upper abdominal", "lower abdominal", "back", "neck", "pelvic", "flank",
    "shoulder", "hip", "knee", "calf", "jaw", "ear", "eye", "wrist", "ankle", "heel",
    "groin", "testicular", "rectal", "facial", "scalp", "elbow", "thigh",
)
ONSETS = (
    "sudden", "gradual", "progressive", "episodic", "nocturnal", "exertional", "worsening",
    "persistent", "recurrent", "new", "unexplained", "painless", "post-operative",
)
# Surface paraphrases applied to rendered text (each occurrence picks one, the
# original included), so that a frame is not always worded the same way.
PARAPHRASES = {
    "a patient": ("a patient", "someone", "a person", "an adult", "a client", "a service user",
                  "an individual", "a man", "a woman"),
    "the patient": ("the patient", "this person", "the individual", "the client"),
    "people with": ("people with", "adults with", "patients with", "those with",
                    "individuals with", "anyone with"),
    "Why": ("Why", "For what reasons", "Why exactly", "What explains why"),
    "should": ("should", "ought to", "must"),
    "the answer": ("the answer", "your reply", "the response", "what you write"),
    "Assume": ("Assume", "Suppose", "Take it", "Consider that"),
    "the first": ("the first", "the initial", "the earliest", "the opening"),
    "a new": ("a new", "a fresh", "a recent", "a just-started"),
    "is common among": ("is common among", "often affects", "is frequent in", "burdens"),
    "Write it so that": ("Write it so that", "Make sure", "Phrase it so", "Aim for a text where"),
    "needs to": ("needs to", "has to", "wants to", "must"),
}
SEXES = ("man", "woman", "boy", "girl")
DURATIONS = (
    "for two days", "for three weeks", "for six months", "for a year", "for several hours",
    "for ten days", "for four months", "since yesterday", "over the past fortnight",
    "for most of the winter", "since starting a new job", "after a recent holiday",
    "since a chest infection", "for as long as she can remember", "on and off for years",
)
VISITS = (
    "routine review", "home visit", "telephone call", "pharmacy consultation", "ward round",
    "pre-operative assessment", "antenatal appointment", "annual health check", "video consultation",
    "school health check", "discharge conversation", "medication review",
)
VIEWS = (
    "patient", "nurse", "medical student", "general practitioner", "pharmacist", "researcher",
    "emergency physician", "medical educator", "nursing student", "public health worker",
    "physiotherapist", "caregiver", "cardiologist", "midwife", "pediatrician", "paramedic",
    "dietitian", "oncologist", "radiologist", "surgeon", "psychiatrist", "geriatrician",
)
TOPICS = (
    "cardiology", "respiratory medicine", "nephrology", "endocrinology", "haematology",
    "oncology", "gastroenterology", "hepatology", "neurology", "psychiatry", "dermatology",
    "infectious disease", "paediatrics", "obstetrics", "gynaecology", "rheumatology",
    "ophthalmology", "ENT", "emergency medicine", "pharmacology", "public health", "geriatrics",
    "nutrition", "surgery", "intensive care", "urology", "orthopaedics", "palliative care",
)
# fmt: on
