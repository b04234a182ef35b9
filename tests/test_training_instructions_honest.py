"""Training answers state only what the prompt carries or the sound shows (issue 9, items 2 and 3).

Instructions are generated from real records of every dataset in ../shared/data (a few dozen per
set, plus the cases that used to leak: ICBHI diagnoses, CirCor patient-level outcomes that the
site's sound does not show, HLS-CMDS mixed and heart-under-lung-site files). For every answer and
every rejected (DPO) answer:

- no diagnosis name, "recorded diagnosis", patient, age, sex, history or dataset-label wording
  that the prompt text does not contain; knowledge-file text that the recording's own findings
  call up (the site description, the differential candidates of a finding that is present) is
  general knowledge, not a patient fact, and is masked first;
- heart answers name no lung sounds and lung answers no heart sounds;
- the chosen answer checks correct against its own facts, asserts nothing the facts leave open,
  and every rejected answer checks wrong.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

import pytest

from stethodesk.model.prompts import build_prompt
from training.checker import DIAGNOSES, check, parse_fact, split_ab
from training.data import HEART_SITES
from training.instructions import HEART_EVENTS, LUNG_EVENTS, TASKS, generate, knowledge
from training.splits import load_split

PER_DATASET = 36

# what may appear in a prompt-less answer only if the prompt says it
PATIENT_WORDS = {
    "diagnosis": (r"\b(?:recorded|known|documented|confirmed|clinical|final|patient's)\s+diagnos\w*"
                  r"|\bdiagnos(?:is|ed|es)\b"),
    "patient": r"\bpatient'?s?\b|\bsubjects?\b",
    "age": (r"\b(?:neonat\w*|newborns?|infants?|child(?:ren)?|paediatric|pediatric|adolescents?|"
            r"teenagers?|adults?|elderly|older|young|aged?|years? old)\b|\b\d+\s*-?\s*(?:years?|yrs?|months?)\b"),
    "sex": r"\b(?:male|female|man|woman|boy|girl|pregnan\w*)\b",
    "history": r"\bhistory\b|\bpreviously\b|\bmedicat\w*|\bsmok\w*|\bsymptoms?\b|\bcomplain\w*|\bfever\b",
    "label": r"\boutcome\b|patient-level|\blabell?ed\b|\bannotat\w*|\bdataset\b|\bmanikin\b",
}
PATIENT_RE = {k: re.compile(v, re.I) for k, v in PATIENT_WORDS.items()}
DIAGNOSIS_RE = {k: re.compile(v, re.I) for k, v in DIAGNOSES.items()}

HEART_WORDS = re.compile(
    r"\bmurmurs?\b|\brumble\b|\bS[1-4]\b|\bgallops?\b|\bclicks?\b|extra-?systol\w*|premature beats?|"
    r"\bectopic|atrial fibrillation|irregularly irregular|\bAV block|atrioventricular|\bheart sounds?\b|"
    r"\bvalv\w*|stenosis|regurgitation|prolapse|tachycardi\w*|heart rate|arrhythmi\w*", re.I)
LUNG_WORDS = re.compile(
    r"crackl\w*|\brales?\b|crepitation|wheez\w*|rhonch\w*|stridor|pleural|friction rub|adventitious|"
    r"\bbreath\w*|\blungs?\b|airways?|bronch\w*|pneumonia|\bCOPD\b|asthma|croup", re.I)

# the knowledge file's lung patterns and the findings that call them up (age-specific ones never:
# the prompt carries no age)
LUNG_PATTERN_NEEDS = {"crackle": ("crackle",), "crackle_fine": ("crackle",), "crackle_coarse": ("crackle",),
                      "wheeze": ("wheeze",), "crackle_wheeze": ("crackle", "wheeze"), "rhonchi": ("rhonchi",),
                      "stridor": ("stridor",), "pleural_rub": ("pleural_rub",)}
# findings an answer must not state when its facts leave them open
OPEN_CHECKED = ("abnormal", "murmur", "poor_quality") + HEART_EVENTS + LUNG_EVENTS
SOUND_FACTS = {"abnormal", "murmur", "murmur_timing", "murmur_shape", "murmur_grade", "lesion",
               "crackle_type", "poor_quality", *HEART_EVENTS, *LUNG_EVENTS}


def _sample(records) -> list:
    """A few dozen records per dataset plus every kind of record that used to leak a label."""
    by_ds = defaultdict(list)
    for r in sorted(records, key=lambda r: r.key):
        by_ds[r.dataset].append(r)
    picked = {}
    for ds, recs in by_ds.items():
        for r in random.Random(f"honest/{ds}").sample(recs, min(PER_DATASET, len(recs))):
            picked[r.key] = r
    lab = lambda r, k: r.labels.get(k)  # noqa: E731
    tricky = [
        lambda r: lab(r, "abnormal_scope") == "patient" and lab(r, "abnormal") and lab(r, "murmur") == "absent",
        lambda r: lab(r, "abnormal_scope") == "patient" and lab(r, "abnormal") is False
        and lab(r, "murmur") == "present",
        lambda r: lab(r, "murmur") == "unknown",
        lambda r: lab(r, "mixed") and r.domain == "heart",
        lambda r: lab(r, "mixed") and r.domain == "lung",
        lambda r: r.domain == "heart" and r.site is not None and r.site not in HEART_SITES,
        lambda r: lab(r, "diagnosis") not in (None, "Healthy"),
        lambda r: lab(r, "age_group") in ("neonate", "infant", "child") and r.domain == "lung"
        and (lab(r, "crackle") or lab(r, "wheeze")),
    ]
    for i, pred in enumerate(tricky):
        hits = [r for r in records if pred(r)]
        for r in random.Random(f"honest/tricky/{i}").sample(hits, min(10, len(hits))):
            picked[r.key] = r
    return list(picked.values())


@pytest.fixture(scope="module")
def examples():
    records = _sample(load_split(None))
    assert {r.dataset for r in records} >= {"circor2022", "physionet2016", "yaseen2018", "pascal_chsc2011",
                                            "hls_cmds", "icbhi2017", "sprsound2022"}
    out = []
    for split in ("train", "val", "test"):
        recs = [r for r in records if r.split == split]
        out += generate(recs, split, seed=0, per_record=len(TASKS))
    assert {e["task"] for e in out} == set(TASKS)
    return out


def prompt_text(e: dict) -> str:
    segs = build_prompt(e["instruction"], domain=e["domain"], site=e["site_title"], site_b=e["site_b_title"],
                        n_audio=len(e["audio"]))
    return " ".join(s for s in segs if isinstance(s, str))


def _sides(facts: dict) -> list[dict]:
    if any(k[:2] in ("a.", "b.") for k in facts):
        return [{k[2:]: v for k, v in facts.items() if k.startswith(p)} for p in ("a.", "b.")]
    return [facts]


def knowledge_text(e: dict, sides: list[dict] | None) -> list[str]:
    """Knowledge-file strings an answer may quote: the site description, and the candidates and
    pattern descriptions of the findings present (``sides`` None: of any finding, for rejected
    answers, which are rendered from flipped findings)."""
    kb = knowledge()
    out: list[str] = []
    for site in (e["site"], e["site_b"]):
        if site in kb["sites"]:
            s = kb["sites"][site]
            out += [s["title"], s["where"], s["listens_to"], *s["typical"]]
    heart_pos = sides is None or any(
        f.get("murmur") == "present" or "lesion" in f or any(f.get(k) for k in HEART_EVENTS) for f in sides)
    if heart_pos:
        out += [v["name"] for v in kb["lesions"].values()]
        out += [c for d in kb["murmur_differentials"] for c in d["candidates"]]
    for k, ev in kb["heart_events"].items():
        if sides is None or any(f.get(k) for f in sides):
            out += [ev["name"], ev["meaning"], *ev["candidates"]]
    for pat, needs in LUNG_PATTERN_NEEDS.items():
        if sides is None or any(all(f.get(n) for n in needs) for f in sides):
            p = kb["lung_patterns"][pat]
            out += [p["name"], p["meaning"], *p["candidates"]]
    parts = set(out)
    for s in out:
        parts |= {p.strip() for p in re.split(r"[;,]", s) if len(p.strip()) >= 4}
    return sorted(parts, key=len, reverse=True)


def mask(text: str, strings: list[str]) -> str:
    for s in strings:
        text = re.sub(re.escape(s), lambda m: "#" * len(m.group(0)), text, flags=re.I)
    return text


def invented(text: str, prompt: str, known: list[str]) -> list[str]:
    """Patient facts and diagnosis names in ``text`` that neither the prompt nor the findings'
    own knowledge-file text carries."""
    t = mask(text, known)
    low = prompt.lower()
    bad = []
    for name, rx in list(PATIENT_RE.items()) + list(DIAGNOSIS_RE.items()):
        bad += [f"{name}: {m.group(0)!r}" for m in rx.finditer(t) if m.group(0).lower() not in low]
    return bad


def test_no_answer_states_a_patient_fact_the_prompt_does_not_carry(examples):
    bad = []
    for e in examples:
        prompt = prompt_text(e)
        for kind, texts, known in (("answer", [e["answer"]], knowledge_text(e, _sides(e["facts"]))),
                                   ("rejected", e["rejected"], knowledge_text(e, None))):
            for t in texts:
                found = invented(t, prompt, known)
                if found:
                    bad.append((e["id"], kind, found, t))
    assert not bad, f"{len(bad)} answers invent patient facts, e.g.\n" + "\n".join(map(str, bad[:12]))


def test_facts_are_properties_of_the_sound(examples):
    for e in examples:
        keys = {k[2:] if k[:2] in ("a.", "b.") else k for k in e["facts"]}
        assert keys <= SOUND_FACTS, (e["id"], keys - SOUND_FACTS)
        other = set(LUNG_EVENTS) | {"crackle_type"} if e["domain"] == "heart" else \
            set(HEART_EVENTS) | {"murmur", "murmur_timing", "murmur_shape", "murmur_grade", "lesion"}
        assert not keys & other, (e["id"], e["domain"], keys & other)


def test_a_patient_level_outcome_is_stated_only_where_the_sound_shows_it(examples):
    by_path = {r.path: r for r in load_split(None)}
    seen = 0
    for e in examples:
        if e["task"] == "comparison":
            continue
        lab = by_path[e["audio"][0]].labels
        if lab.get("abnormal_scope") != "patient":
            continue
        seen += 1
        if "abnormal" in e["facts"]:
            assert (e["facts"]["abnormal"], lab["murmur"]) in ((True, "present"), (False, "absent")), e["id"]
    assert seen


def test_heart_answers_name_no_lung_sounds_and_lung_answers_no_heart_sounds(examples):
    bad = []
    for e in examples:
        rx = LUNG_WORDS if e["domain"] == "heart" else HEART_WORDS
        for t in [e["answer"], *e["rejected"]]:
            hits = [m.group(0) for m in rx.finditer(t)]
            if hits:
                bad.append((e["id"], e["domain"], hits, t))
    assert not bad, f"{len(bad)} answers cross domains, e.g.\n" + "\n".join(map(str, bad[:12]))


def test_answers_check_correct_and_rejected_answers_wrong(examples):
    wrong = [(e["id"], e["answer"], e["facts"], check(e["answer"], e["facts"]).parsed)
             for e in examples if not check(e["answer"], e["facts"]).correct]
    assert not wrong, f"{len(wrong)} answers fail their own facts, e.g.\n" + "\n".join(map(str, wrong[:8]))
    passing = [(e["id"], t, e["facts"]) for e in examples for t in e["rejected"] if check(t, e["facts"]).correct]
    assert not passing, f"{len(passing)} rejected answers pass, e.g.\n" + "\n".join(map(str, passing[:8]))


def test_answers_state_nothing_their_facts_leave_open(examples):
    """A finding the facts do not carry is not stated either way (knowledge-file candidates, e.g.
    "multifocal atrial tachycardia" in a differential, are masked first)."""
    bad = []
    for e in examples:
        known = knowledge_text(e, _sides(e["facts"]))
        text = mask(e["answer"], known)
        if e["task"] == "comparison":
            parts = dict(zip(("a.", "b."), split_ab(text)))
        else:
            m = re.search(r"\b(?:in|on) this recording\s*[:,]|findings in this recording\s*:", text, re.I)
            parts = {"": text[m.start():] if m else text}
        for pre, part in parts.items():
            for name in OPEN_CHECKED:
                if pre + name in e["facts"]:
                    continue
                got = parse_fact(name, part)
                if got is not None:
                    bad.append((e["id"], pre + name, got, e["answer"], e["facts"]))
    assert not bad, f"{len(bad)} answers state open findings, e.g.\n" + "\n".join(map(str, bad[:10]))
