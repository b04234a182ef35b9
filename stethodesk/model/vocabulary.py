"""Words the grounding layer reads in answers: sound names, lesions, diagnoses, patient details.

Two users: :mod:`stethodesk.model.checker` (the fact parsers; the first block below is its
vocabulary) and :mod:`stethodesk.model.grounding` (domain words, and the patient details an
answer may only state when the prompt or the user's context carries them). All values are
regular-expression sources; abbreviations are matched case-sensitively where noted.
No Qt, no torch.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------- checker vocabulary

CONCEPTS = {
    "murmur": r"\bmurmurs?\b|\b(?:diastolic )?rumble\b",
    "crackle": r"\bcrackl\w*|\brales?\b|\bcrepitations?\b",
    "wheeze": r"\bwheez\w*",
    "rhonchi": r"\brhonch\w*",
    "stridor": r"\bstridor\w*",
    "pleural_rub": r"\b(?:pleural\s+)?(?:friction\s+)?rubs?\b",
    "s3": r"\bS3\b|\bthird heart sound|\bventricular gallop",
    "s4": r"\bS4\b|\bfourth heart sound|\batrial gallop",
    "extrasystole": r"\bextra-?systol\w*|\bpremature (?:beats?|contractions?)|\bectopic beats?|\bectopics?\b",
    "atrial_fibrillation": r"\batrial fibrillation|\birregularly irregular",
    "av_block": r"\b(?:atrioventricular|AV|A-V)\s+block|\bheart block",
    "tachycardia": r"\btachycardi\w*|\bfast heart rate|\brapid heart rate",
}
# group words: a *negated* mention negates every member ("no adventitious sounds")
GROUPS = {
    "adventitious": (r"\badventitious (?:lung |breath )?sounds?\b|\badded (?:lung|breath) sounds?\b",
                     ("crackle", "wheeze", "rhonchi", "stridor", "pleural_rub")),
    "arrhythmia": (r"\barrhythmi\w*|\bdysrhythmi\w*", ("atrial_fibrillation", "av_block")),
    "extra_heart": (r"\bextra heart sounds?\b|\bgallops?\b", ("s3", "s4")),
}
# abbreviations matched case-sensitively (so "af" in running text is not atrial fibrillation)
ABBREVIATIONS = {"atrial_fibrillation": r"\bAF\b|\bAFib\b"}
# murmur mentions that name a candidate diagnosis, not a finding of this recording
MURMUR_NAMES = r"innocent (?:pulmonary )?(?:flow )?murmurs?|flow murmurs?|Still's (?:innocent )?murmurs?|Austin Flint murmurs?"
LESIONS = {
    "AS": r"\baortic stenosis\b|\bAS\b",
    "MR": r"\bmitral regurgitation\b|\bMR\b",
    "MS": r"\bmitral stenosis\b|\bMS\b",
    "MVP": r"\bmitral valve prolapse\b|\bMVP\b",
    # no head scores it yet, but answers name it (diastolic murmur at the aortic area)
    "AR": r"\baortic regurgitation\b|\bAR\b",
}
LESION_N = r"\bno (?:valvular|valve) (?:lesion|disease|abnormality)\b|\bnormal valves?\b|\bno valvular lesion\b"
DIAGNOSES = {
    "COPD": r"\bCOPD\b|chronic obstructive",
    "URTI": r"\bURTI\b|upper respiratory(?: tract)? infection",
    "LRTI": r"\bLRTI\b|lower respiratory(?: tract)? infection",
    "Bronchiectasis": r"bronchiectasis",
    "Bronchiolitis": r"bronchiolitis",
    "Pneumonia": r"pneumonia",
    "Asthma": r"asthma",
    "Healthy": r"\bhealthy\b|no respiratory disease",
}
SHAPES = [("diamond", r"\bdiamond\b|crescendo-decrescendo"), ("plateau", r"\bplateau\b"),
          ("decrescendo", r"\bdecrescendo\b"), ("crescendo", r"\bcrescendo\b")]
ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI"}


# ---------------------------------------------------------------------------- facts per domain

# Binary checker facts that are events of one domain (a bundle may have a head for any of them).
HEART_EVENTS = ("s3", "s4", "extrasystole", "atrial_fibrillation", "av_block", "tachycardia")
LUNG_EVENTS = ("crackle", "wheeze", "rhonchi", "stridor", "pleural_rub")
# How answers name events: (present form, short form); every form parses with the checker.
EVENT_NAMES = {
    "murmur": ("a murmur", "murmur"),
    "s3": ("a third heart sound (S3)", "S3"),
    "s4": ("a fourth heart sound (S4)", "S4"),
    "extrasystole": ("extrasystoles (premature beats)", "extrasystoles"),
    "atrial_fibrillation": ("an irregularly irregular rhythm (atrial fibrillation)", "atrial fibrillation"),
    "av_block": ("atrioventricular block", "AV block"),
    "tachycardia": ("a fast heart rate (tachycardia)", "tachycardia"),
    "crackle": ("crackles", "crackles"),
    "wheeze": ("wheezes", "wheezes"),
    "rhonchi": ("rhonchi", "rhonchi"),
    "stridor": ("stridor", "stridor"),
    "pleural_rub": ("a pleural friction rub", "pleural rub"),
}

# ---------------------------------------------------------------------------- domain words

# A heart answer names none of these, not even negated ("no crackles"): the heart card carries no
# lung call, so any sentence about lung sounds says something the findings cannot support.
# "rub" alone is left out: a pericardial friction rub is a heart sound.
LUNG_WORDS = {
    "crackles": r"\bcrackl\w*|\brales?\b|\bcrepitations?\b",
    "wheeze": r"\bwheez\w*",
    "rhonchi": r"\brhonch\w*",
    "stridor": r"\bstridor\w*",
    "pleural rub": r"\bpleural\b|(?<!pericardial )\bfriction rubs?\b",
    "adventitious sounds": r"\badventitious\b|\badded (?:lung|breath) sounds?\b",
}
# A lung answer names none of these (case-insensitive unless listed in HEART_ABBREVIATIONS).
HEART_WORDS = {
    "murmur": r"\bmurmurs?\b|\brumbles?\b",
    "S3/S4": r"\bthird heart sound|\bfourth heart sound|\bgallops?\b",
    "valve lesion": r"\baortic (?:stenosis|regurgitation|sclerosis)|\bmitral (?:regurgitation|stenosis|"
                    r"valve prolapse)|\b(?:tricuspid|pulmonary|pulmonic) (?:stenosis|regurgitation)|"
                    r"\bvalv(?:e|es|ular)\b",
}
HEART_ABBREVIATIONS = {"S3/S4": r"\bS3\b|\bS4\b", "valve lesion": r"\b(?:AS|MR|MS|MVP|AR)\b"}

# ---------------------------------------------------------------------------- patient details

# Conditions an answer may name only when the prompt/user context or the clinical knowledge of a
# called finding carries them. Valve lesions are not here: they are read with the lesion rules.
# Matched case-insensitively; abbreviations carry (?-i:...) so "pe" or "tb" in a word never count.
CONDITIONS = {
    "COPD": r"(?-i:\bCOPD\b)|\bchronic obstructive\b",
    "URTI": r"(?-i:\bURTI\b)|\bupper respiratory(?: tract)? infection",
    "LRTI": r"(?-i:\bLRTI\b)|\blower respiratory(?: tract)? infection",
    "bronchiectasis": r"\bbronchiectasis\b",
    "bronchiolitis": r"\bbronchiolitis\b",
    "bronchitis": r"\bbronchitis\b",
    "pneumonia": r"\bpneumonia\b",
    "asthma": r"\basthma\w*",
    "heart failure": r"\bheart failure\b|\bcardiac failure\b|(?-i:\bCHF\b)",
    "fibrosis": r"\bfibrosis\b|\binterstitial lung disease\b|(?-i:\bILD\b)",
    "croup": r"\bcroup\b",
    "epiglottitis": r"\bepiglottitis\b",
    "laryngomalacia": r"\blaryngomalacia\b",
    "pleuritis": r"\bpleuritis\b|\bpleurisy\b",
    "pulmonary embolism": r"\bpulmonary embol\w*|(?-i:\bPE\b)",
    "tuberculosis": r"\btuberculosis\b|(?-i:\bTB\b)",
    "cancer": r"\bcancer\b|\bcarcinoma\b|\btumou?r\b|\bmalignan\w*",
    "infection": r"\bcovid\w*|\binfluenza\b|\bsepsis\b",
    "foreign body": r"\bforeign body\b",
    "cardiomyopathy": r"\bcardiomyopathy\b",
    "septal defect": r"\bseptal defect\b|(?-i:\bASD\b|\bVSD\b)",
    "ductus": r"\bpatent ductus\b|(?-i:\bPDA\b)",
    "endocarditis": r"\bendocarditis\b",
    "rheumatic disease": r"\brheumatic\b",
    "ischaemic heart disease": r"\bischa?emic heart\b|\bcoronary artery disease\b|\bmyocardial infarction\b",
    "hypertension": r"\bhypertension\b|\bhypertensive\b",
    "hypertrophy": r"\bventricular hypertrophy\b|(?-i:\bLVH\b)",
    "anaemia": r"\ba?na?emia\b",
    "congenital heart disease": r"\bcongenital heart\b",
}
# Statements of the patient's history or diagnosis: every condition they name must be in the
# prompt or the user's context (a textbook association is not enough), and one naming no
# condition needs its own words there ("Recorded diagnosis: healthy").
HISTORY = (r"\b(?:recorded|known|documented|confirmed|final|established|previous|prior|clinical|"
           r"patient's)\s+diagnos[ie]s\b|\bdiagnosed with\b|\bhistory of\b|\bpast medical\b|"
           r"\bsmok(?:er|es|ing)\b|\bpack[- ]years?\b")
# ... and these only when they name a condition ("the patient has pneumonia", "known COPD").
PATIENT_HAS = r"\bpatient(?:'s)? (?:has|had|suffers|is known)\b"
KNOWN_BEFORE = r"\bknown\s+(?:case of\s+)?$"  # right before a condition: "known COPD"
# Age and sex: (pattern in the answer, pattern the user's context must contain to allow it).
AGE = {
    "age in years": ((r"\b\d{1,3}[- ](?:years?|yrs?|months?|weeks?|days?)[- ]old\b|\baged? \d{1,3}\b|"
                      r"\b\d{1,3} (?:years|months) of age\b"), None),  # None: the same number
    "child": ((r"\b(?:this|the|a|an) (?:child|infant|neonate|newborn|baby|toddler|adolescent|teenager|"
               r"paediatric patient|pediatric patient)\b"),
              (r"\b(?:child\w*|infant\w*|neonat\w*|newborn|baby|toddler|adolescent|teen\w*|"
               r"p(?:a)?ediatric|kid|boy|girl)\b")),
    "adult": ((r"\b(?:this|the|an?) (?:adult|elderly|older|young) (?:patient|man|woman|adult|person)\b|"
               r"\bpatient is (?:an? )?(?:adult|elderly|old|young)\b"),
              r"\b(?:adult\w*|elderly|older|aged|years?|senior)\b"),
}
SEX = {
    "male": r"\b(?:he|him|his|male|man|men|boy)\b",
    "female": r"\b(?:she|her|hers|female|woman|women|girl)\b",
}
MEDICATIONS = (r"\bbeta[- ]blockers?\b|\bdigoxin\b|\bdiuretics?\b|\bfurosemide\b|\bsalbutamol\b|"
               r"\balbuterol\b|\binhalers?\b|\bbronchodilators?\b|\b(?:cortico)?steroids?\b|"
               r"\bpredniso\w+|\bantibiotics?\b|\bamoxicillin\b|\bACE inhibitors?\b|\bwarfarin\b|"
               r"\banticoagula\w+|\baspirin\b|\bstatins?\b|\binsulin\b|\bmetformin\b|\bnebuli[sz]\w+|"
               r"\boxygen therapy\b|\bmedications?\b|\bmedicines?\b")
SYMPTOMS = (r"\bfever\w*|\bfebrile\b|\bcough\w*|\bdyspno?ea\b|\bshort(?:ness)? of breath\b|"
            r"\bbreathless\w*|\bchest pain\b|\bpalpitations?\b|\bsyncope\b|\bfainting\b|\bfatigue\b|"
            r"\bsputum\b|\bphlegm\b|\bha?emoptysis\b|\borthopno?ea\b|\bo?edema\b|\bswollen\b|"
            r"\bdizz\w+|\bcyanos\w+|\bweight loss\b|\bnight sweats\b|\bsore throat\b|\bpain\b")
