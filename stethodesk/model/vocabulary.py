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
LESIONS_WITHOUT_HEAD = ("AR",)  # named by answers, scored by no head: never a card's lesion
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
# Names of the other organ's sounds in general. The other card calls nothing about them, so an
# answer may only say they are not assessed (a hedged clause: "This is a lung recording, so heart
# sounds are not assessed in it"); any other mention, normal or not, is wrong_domain. Heart
# sounds are audible on lung recordings, but "S1 and S2 are normal" in a lung answer is a heart
# finding the lung card does not make.
LUNG_GENERAL_WORDS = {
    "breath sounds": r"\b(?:breath|breathing|lung|respiratory) sounds?\b|\bair ?entry\b|\blung fields?\b",
    "vesicular or bronchial breathing": r"\b(?:broncho)?vesicular\b|\bbronchial (?:breath\w*|sounds?)\b|"
                                        r"\btracheal breath\w*",
    "clear lungs": r"\blungs? (?:are |is |sound |were )?(?:not )?clear\b|\bclear (?:lungs?|chest)\b|"
                   r"\bchest (?:is |was )?(?:not )?clear\b|"
                   r"\bclear to auscultation\b",
}
HEART_GENERAL_WORDS = {
    "heart sounds": r"\b(?:heart|cardiac) sounds?\b|\b(?:first|second) heart sound\b",
    "heart rhythm": r"\btachycardi\w*|\bbradycardi\w*|\barrhythmi\w*|\batrial fibrillation|\bextra-?systol\w*|"
                    r"\bectopic beats?|\bheart block\b",
    "click or snap": r"\bclicks?\b|\bopening snap\b|\bsplit(?:ting)? (?:of )?(?:S2|the second heart sound)\b",
}
HEART_GENERAL_ABBREVIATIONS = {"heart sounds": r"\bS[12]\b|\b[AP]2\b"}

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

# ---------------------------------------------------------------------------- claims

# Verdict wording besides "normal"/"abnormal" (the checker reads those): (pattern, domain or None,
# True if an asserted mention says abnormal). A negated mention says the opposite ("no
# abnormality": normal; "the lungs are not clear": abnormal).
VERDICT_PHRASES = (
    # unqualified only: "no valvular abnormality", "an abnormality of rhythm" are not verdicts
    ((r"(?:(?<=^)|(?<=^\W)|(?<=\bno )|(?<=\ban )|(?<=\bany )|(?<=\bwithout )|(?<=\bsome )|(?<=\bone )|"
      r"(?<=\bthe ))abnormalit(?:y|ies)\b(?!\s+(?:of|in)\b)"), None, True),
    (r"\bunremarkable\b|\bwithin normal limits\b", None, False),
    (r"\bpatholog(?:ic|ical)\b", None, True),
    (LUNG_GENERAL_WORDS["clear lungs"], "lung", False),
)
# Reassurance: states the recording needs nothing further (a normal verdict in other words).
REASSURANCE = (r"\b(?:needs?|requires?|warrants?) no (?:further )?(?:follow[- ]?up|work[- ]?up|evaluation|"
               r"investigation|action|treatment|referral)\b|\bno (?:further )?(?:follow[- ]?up|work[- ]?up|evaluation|"
               r"investigation|action|referral) (?:is )?(?:needed|required|necessary|indicated)\b|"
               r"\b(?:does not|doesn't|do not|don't) (?:need|require) (?:any )?(?:further )?(?:follow[- ]?up|"
               r"evaluation|investigation|treatment)\b|\bnothing to worry about\b|\bno cause for concern\b")
# A murmur called innocent: its name as the leading candidate, or innocence said of the murmur.
INNOCENT_NAMES = (r"\binnocent (?:pulmonary )?(?:flow )?murmurs?|\b(?:pulmonary )?flow murmurs?(?! of\b)|"
                  r"\bStill's (?:innocent )?murmurs?|\b(?:benign|functional|physiological|harmless) "
                  r"(?:(?:flow|systolic|ejection) )?murmurs?")
INNOCENT_WORD = r"\b(?:innocent|benign|functional|physiological|harmless)\b"
INNOCENT_SAID = (r"\bmurmurs?\b[^.;]{0,40}?\b(?:is|are|was|sounds?|seems?|appears?|likely|probably)\b[^.;]{0,20}?"
                 + INNOCENT_WORD + r"|\b(?:most|more|very) (?:likely|probably) (?:an? )?" + INNOCENT_WORD)
# Murmur causes no head scores (lesions besides LESIONS, septal defects...): a ranking may lead
# with one only when it is a textbook cause of the called murmur timing, and never when the card
# calls a lesion. Names of valve lesions here are also valve lesions for the no-murmur rule.
NO_HEAD_CAUSES = {
    "tricuspid regurgitation": r"\btricuspid regurgitation\b|(?-i:\bTR\b)",
    "tricuspid stenosis": r"\btricuspid stenosis\b",
    "pulmonary stenosis": r"\bpulmon(?:ary|ic|ic valve) stenosis\b",
    "pulmonary regurgitation": r"\bpulmon(?:ary|ic) regurgitation\b",
    "aortic sclerosis": r"\baortic sclerosis\b",
    "hypertrophic cardiomyopathy": r"\bhypertrophic (?:obstructive )?cardiomyopathy\b|(?-i:\bH(?:O)?CM\b)",
    "ventricular septal defect": r"\bventricular septal defect\b|(?-i:\bVSD\b)",
    "atrial septal defect": r"\batrial septal defect\b|(?-i:\bASD\b)",
    "patent ductus arteriosus": r"\bpatent ductus\b|(?-i:\bPDA\b)",
    "coarctation": r"\bcoarctation\b",
}
NO_HEAD_VALVES = ("tricuspid regurgitation", "tricuspid stenosis", "pulmonary stenosis", "pulmonary regurgitation")
# General-knowledge lists, not a ranking for this recording ("Other textbook causes ...").
TEXTBOOK_CUE = r"\btextbook\b"
# Murmur and heart-sound details no head scores (the card calls timing only as systolic/diastolic).
# "murmur clause": counted only in a clause that names a murmur (an S3 is "an early diastolic
# filling sound"). Grade and shape are read by the checker (murmur_grade, murmur_shape facts).
MURMUR_DETAILS = {  # name -> (pattern, murmur clause only)
    "timing detail": ((r"\b(?:holo|pan|early|mid|late)[- ]?(?:systol|diastol)(?:ic|e)\b(?! (?:filling )?sound)|"
                       r"\bejection murmur|\bpresystolic\b"), False),
    "grade": ((r"\bgrade\s*(?:[1-6]|I{1,3}|IV|VI?|one|two|three|four|five|six)\b|\b[1-6]\s*/\s*6\b|"
               r"\b(?:VI|IV|V|I{1,3})\s*/\s*VI\b"), False),
    "intensity": (r"\b(?:soft|loud|faint|quiet)\b(?=[\w ,-]{0,30}\bmurmur)|\bthrill\b", True),
    "pitch": (r"\b(?:high|low|medium|mid)[- ]pitch(?:ed)?\b|\bpitch(?:ed)? (?:high|low)\b", True),
    "quality": (r"\b(?:harsh|blowing|musical|rough|rasping|machinery(?:-like)?|honking|scratchy|rumbling)\b", True),
    "radiation": (r"\bradiat(?:es|ing|ed|ion)\s+(?:in)?to(?:wards?)?\b|\bradiation to\b", False),
    "click": (r"\bclicks?\b", False),
    "opening snap": (r"\bopening snap\b", False),
    "gallop": (r"\bgallops?\b|\bgallop rhythm\b", False),
    "split second sound": ((r"\b(?:wide(?:ly)?|fixed|paradoxical(?:ly)?|reversed)[- ]?split(?:ting)?\b|"
                            r"\bS2 (?:is )?(?:widely |fixed |paradoxically )?split\b|\bloud (?:P2|S1|S2|A2)\b"), False),
    "pericardial sound": (r"\bpericardial (?:friction )?(?:rub|knock)\b", False),
}
# Hedges: a clause saying a point cannot be told. About a call the card makes it is a
# contradiction (the card decided it); about a point the card does not carry it is fine.
HEDGE = (r"cannot be (?:determined|assessed|judged|said|told|established|ruled out)|can't be (?:determined|said|told)|"
         r"\bunknown\b|not assessed|not annotated|\bunclear\b|\buncertain\b|\bwhether\b(?! or not)|"
         r"\b(?:cannot|can't|unable to|not possible to|impossible to) (?:say|tell|determine|assess|judge)\b")
# what a hedge is about, when it names no single sound
HEDGE_ANY_SOUND = (r"\b(?:specific|particular|which|what) (?:abnormal |added |adventitious |extra )?"
                   r"(?:sounds?|findings?|events?)\b")
HEDGE_ABNORMAL_SOUND = r"\b(?:specific|particular|which|what) abnormal (?:sounds?|findings?|events?)\b"
HEDGE_FINDINGS = r"\bfindings\W{0,3}(?:cannot|can't|could not|are (?:unknown|unclear|uncertain))"
HEDGE_VERDICT = r"\b(?:ab)?normal\b"
# a murmur hedge about one of these is about a detail, not about whether there is a murmur
HEDGE_DETAIL = (r"\btiming\b|\bsystol\w*|\bdiastol\w*|\bgrade\b|\bshape\b|\bcause\b|\blesion\b|\bvalv\w*|"
                r"\binnocent\b|\bbenign\b|\bsignifican\w*|\borigin\b|\btype\b|\bradiat\w*|\bloud\w*|\bpitch\b")
# Dataset-label wording: an answer may use it only when the prompt or the user's context does.
# "unspecified <word>": the prompt says "recorded at the unspecified site" when no site is given,
# so "the unspecified site" may be echoed then; "the unspecified lung" is never in a prompt.
LABEL_WORDS = (r"\bpatient[- ]level\b|\boutcome\b|\bdata ?(?:set|base)\b|\bground[- ]truth\b|\bmanikin\b|"
               r"\bannotat(?:ed|ion|ions|or|ors)\b|\blabell?ed (?:as )?(?:ab)?normal\b|\bthe labels?\b|"
               r"\bunspecified \w+")
# words that are the card's verdict, not a diagnosis ("Recorded diagnosis: abnormal")
VERDICT_NOT_DIAGNOSIS = r"\b(?:ab)?normal\b|\bpresent\b|\babsent\b|\boutcome\b"
# Numbers in words ("about sixty beats per minute"): read with the same check as digits.
NUMBER_WORDS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"))}
TENS_WORDS = {w: 10 * i for i, w in enumerate(("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                                                "ninety"), 2)}
# a number that is a rate or a percentage: the unit after it, or "rate (of|is)" before it
NUMBER_UNIT = r"%|\bpercent\b|\bper ?cent\b|\bbpm\b|\bbeats?\b|/min\b|\bper minute\b"
RATE_LEAD = r"\b(?:heart |pulse )?rate\W{0,3}(?:(?:of|is|was|at|around|about|approximately|roughly|near) |~)*"
