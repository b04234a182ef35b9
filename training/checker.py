"""Deterministic clinical-accuracy checker: does an answer state the label facts correctly?

``check(answer_text, facts) -> CheckResult(correct, per_fact, parsed)``. For every asserted fact
(e.g. ``{"abnormal": True, "murmur": "present", "murmur_timing": "systolic"}``) the answer is
parsed for what it says about that fact, with negation handling ("no murmur", "without crackles",
"Crackles: absent", "No crackles, wheezes or rhonchi"), hedges ("cannot be determined" asserts
nothing) and conflicts (saying both "murmur present" and "no murmur" is wrong). An answer that does
not mention a fact fails that fact: the clinical accuracy of an answer is that it states every
asserted fact correctly (StethoLM-style clinical accuracy, judged by code instead of an LLM).

Comparison facts are prefixed ``a.``/``b.`` and are parsed in the part of the answer about
recording A / recording B. When an answer has a findings marker ("In this recording:"), the
text before it is general knowledge (site descriptions) and is not parsed for findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------- vocabulary

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

NEG_PRE = re.compile(r"\b(?:no|not|without|absent|absence of|neither|nor|none|nothing|free of|"
                     r"negative for|lack of|lacks|rules? out|ruled out|denies|cannot hear|"
                     r"can't hear|never)\b|n't\b", re.I)
NEG_POST = re.compile(r"^\W{0,3}(?:is |are |was |were )?(?:absent|none|not\b|no\b|negative)", re.I)
UNKNOWN_CUE = re.compile(r"cannot be (?:determined|assessed|judged)|can't be determined|"
                         r"\bunknown\b|not assessed|not annotated|\bunclear\b|\buncertain\b|"
                         r"\bwhether\b", re.I)
CLAUSE_SPLIT = re.compile(r";|:\s*(?=whether\b)|\bbut\b|\bhowever\b|\bwhereas\b|\balthough\b|\bwhile\b", re.I)
SENTENCE_SPLIT = re.compile(r"(?<![0-9])[.!?](?=\s|$)|\n|(?<=\d)\.\s")
FINDINGS_MARKER = re.compile(r"\b(?:in|on) this recording\s*[:,]|findings in this recording\s*:", re.I)
A_MARK = re.compile(r"\brecording a\b|\bfirst recording\b", re.I)
B_MARK = re.compile(r"\brecording b\b|\bsecond recording\b", re.I)
SUMMARY_MARK = re.compile(r"\b(?:overall|in short|in summary)\b|\bboth (?:are|recordings)\b|"
                          r"\bonly (?:a|b) (?:is|has)\b|\bneither (?:is|recording)\b", re.I)


@dataclass
class CheckResult:
    """``correct`` is True iff every fact is stated correctly; ``per_fact`` says which;
    ``parsed`` holds what the answer was read as saying (None = not stated / conflicting)."""

    correct: bool
    per_fact: dict[str, bool]
    parsed: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- clause polarity


def _clauses(text: str) -> list[str]:
    out = []
    for sent in SENTENCE_SPLIT.split(text):
        for c in CLAUSE_SPLIT.split(sent):
            if c and c.strip():
                out.append(c)
    return out


NEG_LABEL = re.compile(r"^\W*(?:not detected|not heard|not present|absent|none|negative|no)\W*$", re.I)


# a comma chunk that starts a new phrase ends a negation's scope ("without murmurs, the normal
# pattern"; "no murmur, normal rhythm"); bare list items ("no crackles, wheezes or rhonchi") do not
SCOPE_BREAK = re.compile(r"\b(?:the|a|an|this|that|is|are|was|were|has|have|with|which)\b|"
                         r"^\s*(?:normal|regular|clear)\b", re.I)


def _negated_before(pre: str, mention: str = "") -> bool:
    """Is a mention negated by the text before it in its clause? A colon ends the negation scope
    ("No abnormal sounds: this is normal") unless the part before it is only a negative label
    ("Not detected: crackles", "Absent: murmur"); so does a comma that starts a new phrase."""
    parts = pre.split(":")
    cues = list(NEG_PRE.finditer(parts[-1]))
    if cues:
        between = parts[-1][cues[-1].end():] + mention
        return not any(SCOPE_BREAK.search(chunk) for chunk in between.split(",")[1:])
    return len(parts) > 1 and bool(NEG_LABEL.match(parts[-2].split(".")[-1]))


def _polarities(text: str, pattern: str, flags=re.I, mask: str | None = None,
                post: bool = True) -> list[bool]:
    """Polarity (True = asserted present) of every mention of ``pattern`` in ``text``;
    hedged clauses ("cannot be determined") are skipped. ``post`` also reads a negation right
    after the mention ("Crackles: absent")."""
    out = []
    for c in _clauses(text):
        if mask:
            c = re.sub(mask, lambda m: "#" * len(m.group(0)), c, flags=re.I)
        for m in re.finditer(pattern, c, flags):
            if UNKNOWN_CUE.search(c):
                continue
            pre, rest = c[: m.start()], c[m.end():]
            neg = _negated_before(pre, m.group(0)) or (post and bool(NEG_POST.match(rest)))
            out.append(not neg)
    return out


def _bool_value(pols: list[bool]):
    if not pols:
        return None
    if all(pols):
        return True
    if not any(pols):
        return False
    return "conflict"


# ---------------------------------------------------------------------------- fact parsers


def parse_abnormal(text: str):
    t = re.sub(r"\bnormal (?:or|and|vs\.?|versus) abnormal\b|\babnormal (?:or|and) normal\b", " ", text,
               flags=re.I)
    # verdict words head their clause ("Normal: no crackles"), so no post-negation here
    vals = [p for p in _polarities(t, r"\babnormal\b", post=False)]
    vals += [not p for p in _polarities(t, r"\bnormal\b", post=False)]
    return _bool_value(vals)


def parse_murmur(text: str):
    v = _bool_value(_polarities(text, CONCEPTS["murmur"], mask=MURMUR_NAMES))
    return {True: "present", False: "absent"}.get(v, v)


def parse_murmur_timing(text: str):
    t = re.sub(MURMUR_NAMES, " ", text, flags=re.I)
    sys_ = any(_polarities(t, r"\b(?:holo|pan|early[- ]?|mid[- ]?|late[- ]?)?systol(?:ic|e)\b|"
                              r"\bejection murmur"))
    dia = any(_polarities(t, r"\b(?:holo|early[- ]?|mid[- ]?|late[- ]?)?diastol(?:ic|e)\b|\brumble\b"))
    cont = any(_polarities(t, r"\bcontinuous murmur"))
    if cont or (sys_ and dia):
        return "both"
    return "systolic" if sys_ else "diastolic" if dia else None


def parse_lesion(text: str):
    """The first lesion the answer asserts (ranked differentials name the most likely first)."""
    hits = []
    for c in _clauses(text):
        if UNKNOWN_CUE.search(c):
            continue
        n = re.search(LESION_N, c, re.I)
        if n:
            hits.append((text.find(c) + n.start(), "N"))
        masked = re.sub(LESION_N, lambda m: "#" * len(m.group(0)), c, flags=re.I)
        for name, pat in LESIONS.items():
            for m in re.finditer(pat, masked):  # case-sensitive: "AS" is not "as"
                if NEG_PRE.search(masked[: m.start()][-30:]):
                    continue
                hits.append((text.find(c) + m.start(), name))
            for m in re.finditer(pat.replace(r"|\b" + name + r"\b", ""), masked, re.I):
                if NEG_PRE.search(masked[: m.start()][-30:]):
                    continue
                hits.append((text.find(c) + m.start(), name))
    if not hits:
        return None
    return sorted(hits)[0][1]


def parse_crackle_type(text: str):
    fine = coarse = False
    for c in _clauses(text):
        if not re.search(CONCEPTS["crackle"], c, re.I) or UNKNOWN_CUE.search(c):
            continue
        if not any(_polarities(c, CONCEPTS["crackle"])):
            continue
        fine |= bool(re.search(r"\bfine\b", c, re.I))
        coarse |= bool(re.search(r"\bcoarse\b", c, re.I))
    return "both" if fine and coarse else "fine" if fine else "coarse" if coarse else None


def parse_murmur_shape(text: str):
    for c in _clauses(text):
        for name, pat in SHAPES:
            if re.search(pat, c, re.I) and not NEG_PRE.search(c[: re.search(pat, c, re.I).start()][-20:]):
                return name
    return None


def parse_murmur_grade(text: str):
    m = re.search(r"\b(VI|IV|V|I{1,3})\s*/\s*(VI|IV)\b", text)
    if m:
        return f"{m.group(1)}/{m.group(2)}"
    m = re.search(r"\bgrade\s*([1-6])\s*(?:/|out of|of)\s*([46])\b", text, re.I)
    if m:
        return f"{ROMAN[m.group(1)]}/{ROMAN[m.group(2)]}"
    return None


def parse_diagnosis(text: str):
    m = re.search(r"(?:recorded|patient's|known|documented|clinical|confirmed|final)\s+diagnosis"
                  r"[^.\n]*", text, re.I)
    if not m:
        return None
    seg = m.group(0)
    hits = []
    for name, pat in DIAGNOSES.items():
        h = re.search(pat, seg, re.I if name not in ("COPD", "URTI", "LRTI") else 0)
        if h:
            hits.append((h.start(), name))
    return sorted(hits)[0][1] if hits else None


def parse_poor_quality(text: str):
    poor = re.search(r"quality\W{0,3}(?:is |was )?(?:too |very )?(?:poor|low|inadequate|insufficient|bad)|"
                     r"\bpoor(?:ly)?[- ](?:quality|recording quality)|\bpoor recording\b|\bnoisy\b|"
                     r"not interpretable|\buninterpretable\b|\bunusable\b", text, re.I)
    good = re.search(r"quality\W{0,3}(?:is |was )?(?:adequate|good|acceptable|fine|clear|sufficient)|"
                     r"\b(?:good|adequate|acceptable)[- ](?:recording )?quality", text, re.I)
    if poor and good:
        return "conflict"
    return True if poor else False if good else None


def _scope(text: str) -> str:
    m = FINDINGS_MARKER.search(text)
    return text[m.start():] if m else text


def parse_fact(name: str, text: str):
    """What ``text`` states about fact ``name`` (None: not stated; "conflict": both ways)."""
    if name == "abnormal":
        return parse_abnormal(text)
    if name == "murmur":
        return parse_murmur(text)
    if name == "murmur_timing":
        return parse_murmur_timing(text)
    if name == "lesion":
        return parse_lesion(text)
    if name == "crackle_type":
        return parse_crackle_type(text)
    if name == "murmur_shape":
        return parse_murmur_shape(text)
    if name == "murmur_grade":
        return parse_murmur_grade(text)
    if name == "diagnosis":
        return parse_diagnosis(text)
    if name == "poor_quality":
        return parse_poor_quality(text)
    if name in CONCEPTS:
        pols = _polarities(text, CONCEPTS[name], re.I)
        if name in ABBREVIATIONS:
            pols += _polarities(text, ABBREVIATIONS[name], 0)
        for pat, members in GROUPS.values():
            if name in members:
                pols += [p for p in _polarities(text, pat) if p is False]
        return _bool_value(pols)
    raise KeyError(f"checker does not know fact {name!r}")


def split_ab(text: str) -> tuple[str, str]:
    """(part about recording A, part about recording B) of a comparison answer."""
    a = A_MARK.search(text)
    b = B_MARK.search(text, a.end() if a else 0)
    if not b:
        return (text[a.start():] if a else text), ""
    a_txt = text[a.start() if a else 0 : b.start()]
    s = SUMMARY_MARK.search(text, b.end())
    b_txt = text[b.start() : s.start() if s else len(text)]
    return a_txt, b_txt


def _norm(v):
    return v.lower() if isinstance(v, str) and v not in ("AS", "MR", "MS", "MVP", "N") else v


def check(answer_text: str, facts: dict) -> CheckResult:
    """Judge ``answer_text`` against the asserted ``facts`` (see module docstring)."""
    text = answer_text or ""
    per_fact: dict[str, bool] = {}
    parsed: dict = {}
    parts = None
    if any(k.startswith(("a.", "b.")) for k in facts):
        parts = split_ab(text)
    scoped = _scope(text)
    for name, expected in facts.items():
        if name.startswith(("a.", "b.")):
            seg = parts[0] if name.startswith("a.") else parts[1]
            got = parse_fact(name[2:], seg)
        else:
            src = text if name == "diagnosis" else scoped
            got = parse_fact(name, src)
        parsed[name] = got
        per_fact[name] = got is not None and got != "conflict" and _norm(got) == _norm(expected)
    return CheckResult(all(per_fact.values()) if per_fact else False, per_fact, parsed)


def main(argv=None) -> int:
    """``python -m training.checker runs/instructions``: checker agreement on generated data.

    Prints, per task, how many chosen answers pass and how many rejected (flipped) answers fail.
    """
    import argparse
    import json
    from collections import Counter
    from pathlib import Path

    ap = argparse.ArgumentParser(description="Check generated instruction data with the checker.")
    ap.add_argument("folder", type=Path, help="folder with train/val/test.jsonl")
    args = ap.parse_args(argv)
    ok, n, rok, rn = Counter(), Counter(), Counter(), Counter()
    for path in sorted(args.folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            e = json.loads(line)
            t = e["task"]
            n[t] += 1
            ok[t] += check(e["answer"], e["facts"]).correct
            for r in e.get("rejected", []):
                rn[t] += 1
                rok[t] += not check(r, e["facts"]).correct
    print(f"{'task':14s} {'chosen pass':>18s} {'rejected fail':>20s}")
    for t in sorted(n):
        print(f"{t:14s} {ok[t]:7d}/{n[t]:<7d} {ok[t] / n[t]:6.2%}  {rok[t]:7d}/{rn[t]:<7d} "
              f"{rok[t] / max(rn[t], 1):6.2%}")
    tn, tr = sum(n.values()), sum(rn.values())
    print(f"{'ALL':14s} {sum(ok.values()):7d}/{tn:<7d} {sum(ok.values()) / max(tn, 1):6.2%}  "
          f"{sum(rok.values()):7d}/{tr:<7d} {sum(rok.values()) / max(tr, 1):6.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
