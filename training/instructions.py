"""Instruction data for the seven StethoBench task categories, generated from labels.

Every example asserts only what the record's labels support (unknown labels are never asserted;
where it matters the answer says the point "cannot be determined from this recording") and lists
the facts it asserts, so :func:`training.checker.check` can judge any answer against them. Each
example also carries ``rejected`` answers for DPO: the same answer template rendered from facts
with one fact flipped (a coherent but wrong answer).

    python -m training.instructions --out runs/instructions          # jsonl per split + counts
    python -m training.instructions --out runs/instructions --per-record 4 --seed 1

Example (one jsonl line)::

    {"id": "train-circor2022-13918_TV-report-0", "task": "report", "dataset": "circor2022",
     "split": "train", "audio": ["/.../13918_TV.flac"], "segments": [null], "domain": "heart",
     "site": "tricuspid", "site_title": "tricuspid area", "site_b": null, "instruction": "...",
     "answer": "...", "facts": {"abnormal": true, "murmur": "present", ...},
     "rejected": ["..."], "rejected_flips": ["murmur"]}
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

from stethodesk.paths import RESOURCES

from training.data import Record
from training.phrasings import RECORDING_MARKERS, SUMMARY_LEAD, UNKNOWN, load_questions

TASKS = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
MAX_TOKENS = {"report": 120}  # rough token budget per answer (others: DEFAULT_MAX_TOKENS)
DEFAULT_MAX_TOKENS = 80
N_REJECTED = 3

HEART_EVENTS = ("extrasystole", "s3", "s4", "atrial_fibrillation", "av_block", "tachycardia")
LUNG_EVENTS = ("crackle", "wheeze", "rhonchi", "stridor", "pleural_rub")
LESIONS = ("N", "AS", "MR", "MS", "MVP")
DIAGNOSES = ("COPD", "URTI", "LRTI", "Bronchiectasis", "Bronchiolitis", "Pneumonia", "Asthma",
             "Healthy")

# Display names: present form, absent (short) form. All must be recognised by training.checker.
EVENT_NAMES = {
    "extrasystole": ("extrasystoles (premature beats)", "extrasystoles"),
    "s3": ("a third heart sound (S3)", "S3"),
    "s4": ("a fourth heart sound (S4)", "S4"),
    "atrial_fibrillation": ("an irregularly irregular rhythm (atrial fibrillation)", "atrial fibrillation"),
    "av_block": ("atrioventricular block", "AV block"),
    "tachycardia": ("a fast heart rate (tachycardia)", "tachycardia"),
    "wheeze": ("wheezes", "wheezes"),
    "rhonchi": ("rhonchi", "rhonchi"),
    "stridor": ("stridor", "stridor"),
    "pleural_rub": ("a pleural friction rub", "pleural rub"),
}
PLURAL = {"extrasystole", "wheeze", "rhonchi", "crackle"}


@lru_cache(maxsize=1)
def knowledge() -> dict:
    """The clinical knowledge file (resources/clinical_knowledge.json)."""
    return json.loads((RESOURCES / "clinical_knowledge.json").read_text())


def site_title(site: str | None) -> str | None:
    if site is None:
        return None
    return knowledge()["sites"].get(site, {}).get("title", site.replace("_", " "))


# --------------------------------------------------------------------------- facts


def record_facts(r: Record) -> tuple[dict, dict]:
    """(facts, ctx): the checkable facts the labels support, and descriptive context.

    Facts use the shared label names; heart ``abnormal`` is the source's normal/abnormal call,
    lung ``abnormal`` means adventitious sounds present. A poor-quality recording asserts only
    ``poor_quality``.
    """
    lab = r.labels
    f: dict = {}
    ctx: dict = {"domain": r.domain, "site": r.site, "site_title": site_title(r.site),
                 "dataset": r.dataset, "age_group": lab.get("age_group"),
                 "abnormal_scope": lab.get("abnormal_scope"), "mixed": bool(lab.get("mixed")),
                 "murmur_unknown": lab.get("murmur") == "unknown"}
    if lab.get("poor_quality") and lab.get("abnormal") is None and lab.get("murmur") is None \
            and lab.get("extrasystole") is None and lab.get("crackle") is None:
        f["poor_quality"] = True
        return f, ctx
    heart = lab.get("abnormal") is not None or lab.get("murmur") is not None or lab.get("lesion") \
        or any(lab.get(k) is not None for k in HEART_EVENTS)
    lung = any(lab.get(k) is not None for k in LUNG_EVENTS)
    if heart:
        if lab.get("murmur") in ("present", "absent"):
            f["murmur"] = lab["murmur"]
        if lab.get("murmur") == "present":
            for k in ("murmur_timing", "murmur_shape", "murmur_grade"):
                if lab.get(k):
                    f[k] = lab[k]
            ctx["timing_detail"] = lab.get("murmur_timing_detail")
            ctx["pitch"] = lab.get("murmur_pitch")
            ctx["quality"] = lab.get("murmur_quality")
        if lab.get("lesion"):
            f["lesion"] = lab["lesion"]
        for k in HEART_EVENTS:
            if lab.get(k) is not None:
                f[k] = bool(lab[k])
    if lung:
        for k in LUNG_EVENTS:
            if lab.get(k) is not None:
                f[k] = bool(lab[k])
        if lab.get("crackle") and lab.get("crackle_type"):
            f["crackle_type"] = lab["crackle_type"]
        if lab.get("diagnosis"):
            f["diagnosis"] = lab["diagnosis"]
    # the verdict
    ab_h = lab.get("abnormal") if heart else None
    ab_l = lab.get("adventitious") if lung else None
    if ab_h is not None and ab_l is not None:
        f["abnormal"] = bool(ab_h or ab_l)
    elif ab_h is not None and not lung:
        f["abnormal"] = bool(ab_h)
    elif ab_l is not None and not heart:
        f["abnormal"] = bool(ab_l)
    elif ab_h is True or ab_l is True:  # mixed with one side unknown: abnormal still holds
        f["abnormal"] = True
    if lab.get("poor_quality") is not None:
        f["poor_quality"] = bool(lab["poor_quality"])  # e.g. PASCAL "noisy" recordings keep labels
    return f, ctx


def only_poor(f: dict) -> bool:
    """True when the recording is too poor to carry any other label (SPRSound "Poor Quality")."""
    return bool(f.get("poor_quality")) and len(f) == 1


def _has_heart(f: dict) -> bool:
    return "murmur" in f or "lesion" in f or any(k in f for k in HEART_EVENTS)


def _has_lung(f: dict) -> bool:
    return any(k in f for k in LUNG_EVENTS)


# --------------------------------------------------------------------------- flips (DPO)


def flips(f: dict, ctx: dict, rng: random.Random) -> list[tuple[str, dict, dict]]:
    """Coherent wrong variants of the facts: [(flipped fact, new facts, new ctx)]."""
    out = []

    def add(name, nf, nctx=None):
        out.append((name, nf, nctx or ctx))

    if "abnormal" in f:
        nf = dict(f)
        if f["abnormal"]:  # wrong "normal" answer: every present finding becomes absent
            nf["abnormal"] = False
            for k in list(nf):
                if nf[k] is True and k != "poor_quality":
                    nf[k] = False
            if nf.get("murmur") == "present":
                nf["murmur"] = "absent"
            for k in ("murmur_timing", "murmur_shape", "murmur_grade", "crackle_type"):
                nf.pop(k, None)
            if nf.get("lesion") not in (None, "N"):
                nf["lesion"] = "N"
        else:  # wrong "abnormal" answer: invent the most typical finding of the domain
            nf["abnormal"] = True
            if "murmur" in nf:
                nf["murmur"], nf["murmur_timing"] = "present", "systolic"
            elif "crackle" in nf:
                nf["crackle"] = True
            elif "wheeze" in nf:
                nf["wheeze"] = True
            if nf.get("lesion") == "N":
                nf["lesion"] = "AS"
                nf["murmur"], nf["murmur_timing"] = "present", "systolic"
        add("abnormal", nf, dict(ctx, timing_detail=None))
    if "murmur" in f:
        nf = dict(f)
        if f["murmur"] == "present":
            nf["murmur"] = "absent"
            for k in ("murmur_timing", "murmur_shape", "murmur_grade"):
                nf.pop(k, None)
        else:
            nf["murmur"], nf["murmur_timing"] = "present", rng.choice(["systolic", "diastolic"])
        add("murmur", nf, dict(ctx, timing_detail=None))
    if "murmur_timing" in f:
        other = {"systolic": "diastolic", "diastolic": "systolic", "both": "systolic"}
        add("murmur_timing", dict(f, murmur_timing=other[f["murmur_timing"]]),
            dict(ctx, timing_detail=None))
    if "lesion" in f:
        choices = [x for x in LESIONS if x != f["lesion"]]
        new = rng.choice(choices)
        nf = dict(f, lesion=new)
        if new == "N":
            nf.update(murmur="absent", abnormal=False)
            nf.pop("murmur_timing", None)
        else:
            les = knowledge()["lesions"][new]
            nf["abnormal"] = True
            if les["timing"] and new != "MVP":
                nf.update(murmur="present", murmur_timing=les["timing"])
            else:
                nf.pop("murmur_timing", None)
                nf.pop("murmur", None)
        nf = {k: v for k, v in nf.items() if k in f or k in ("murmur", "murmur_timing")}
        add("lesion", nf, dict(ctx, timing_detail=None))
    for k in HEART_EVENTS + LUNG_EVENTS:
        if k in f:
            nf = dict(f)
            nf[k] = not f[k]
            if k == "crackle" and not nf[k]:
                nf.pop("crackle_type", None)
            add(k, nf)
    if "crackle_type" in f:
        other = {"fine": "coarse", "coarse": "fine", "both": "fine"}
        add("crackle_type", dict(f, crackle_type=other[f["crackle_type"]]))
    if "murmur_shape" in f:
        add("murmur_shape", dict(f, murmur_shape=rng.choice(
            [s for s in ("plateau", "diamond", "crescendo", "decrescendo") if s != f["murmur_shape"]])))
    if "murmur_grade" in f:
        grades = ["I/VI", "II/VI", "III/VI", "IV/VI"]
        add("murmur_grade", dict(f, murmur_grade=rng.choice([g for g in grades if g != f["murmur_grade"]])))
    if "diagnosis" in f:
        add("diagnosis", dict(f, diagnosis=rng.choice([d for d in DIAGNOSES if d != f["diagnosis"]])))
    if "poor_quality" in f:
        if only_poor(f):
            nf = {"poor_quality": False, "abnormal": False}
        elif f["poor_quality"]:
            nf = dict(f, poor_quality=False)
        else:
            nf = {"poor_quality": True}
        add("poor_quality", nf)
    return out


# --------------------------------------------------------------------------- phrases


def _join(items: list[str], conj: str = "and") -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conj} " + items[-1]


def _lc(s: str) -> str:
    """Lower-case the first letter unless it starts an abbreviation (S3, AV)."""
    if len(s) > 1 and s[1].isupper() or s[:2] in ("S3", "S4"):
        return s
    return s[:1].lower() + s[1:]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def murmur_phrase(f: dict, ctx: dict, rng: random.Random, detail: bool = True) -> str:
    """'a holosystolic murmur (plateau, grade II/VI)' from the facts."""
    t = f.get("murmur_timing")
    td = ctx.get("timing_detail")
    if t == "both":
        tw = "systolic and diastolic"
    elif td and t and t in td and "+" not in td:
        tw = td
    else:
        tw = t or ""
    core = f"{tw} murmur".strip()
    extras = []
    if detail:
        if f.get("murmur_shape"):
            extras.append(f"{f['murmur_shape']} shape")
        if f.get("murmur_grade"):
            extras.append(f"grade {f['murmur_grade']}")
        if ctx.get("pitch") and rng.random() < 0.5:
            extras.append(f"{ctx['pitch']} pitch")
        if ctx.get("quality") and rng.random() < 0.5:
            extras.append(ctx["quality"])
    art = "an" if core[:1] in "aeiou" else "a"
    return f"{art} {core}" + (f" ({', '.join(extras)})" if extras else "")


def crackle_phrase(f: dict) -> str:
    t = f.get("crackle_type")
    return {"fine": "fine crackles", "coarse": "coarse crackles",
            "both": "fine and coarse crackles"}.get(t, "crackles")


def present_absent(f: dict, ctx: dict, rng: random.Random, detail: bool = True):
    """(present phrases, absent short names) of the facts' events, heart then lung.

    To keep answers short, absent rhythm findings collapse to "arrhythmia" (atrial fibrillation
    and AV block) and a full set of absent lung sounds to "adventitious sounds"; the checker reads
    both group words as negating their members.
    """
    pres, absn = [], []
    if f.get("murmur") == "present":
        pres.append(murmur_phrase(f, ctx, rng, detail))
    elif f.get("murmur") == "absent":
        absn.append("murmur")
    rhythm_absent = f.get("atrial_fibrillation") is False and f.get("av_block") is False
    for k in HEART_EVENTS:
        if k in f:
            if f[k]:
                pres.append(EVENT_NAMES[k][0])
            elif k == "atrial_fibrillation" and rhythm_absent:
                absn.append("arrhythmia")
            elif k == "av_block" and rhythm_absent:
                continue
            else:
                absn.append(EVENT_NAMES[k][1])
    lung_known = [k for k in LUNG_EVENTS if k in f]
    if len(lung_known) >= 4 and not any(f[k] for k in lung_known):
        absn.append("adventitious sounds")
        return pres, absn
    if "crackle" in f:
        (pres if f["crackle"] else absn).append(crackle_phrase(f) if f["crackle"] else "crackles")
    for k in LUNG_EVENTS[1:]:
        if k in f:
            (pres if f[k] else absn).append(EVENT_NAMES[k][0] if f[k] else EVENT_NAMES[k][1])
    return pres, absn


def _are(items: list[str]) -> str:
    """Verb number for a list of sound names ("wheezes are", "a murmur is", "S3 or S4 are")."""
    if len(items) > 1:
        return "are"
    one = items[0] if items else ""
    plural = (one.endswith("s") and not one.startswith(("a ", "an "))) or one.endswith("rhonchi") \
        or one.endswith(")") and one.split(" (")[0].endswith("s") and not one.startswith(("a ", "an "))
    return "are" if plural else "is"


def _unknown_note(f: dict, ctx: dict) -> str:
    if ctx.get("murmur_unknown") and "murmur" not in f:
        return " Whether a murmur is present " + UNKNOWN[0] + "."
    return ""


def findings_sentence(f: dict, ctx: dict, rng: random.Random, detail: bool = True,
                      labelled: bool = True) -> str:
    """One or two sentences stating present and absent events (no verdict). ``labelled`` allows
    the "Present: ... Absent: ..." styles."""
    pres, absn = present_absent(f, ctx, rng, detail)
    parts = []
    n_styles = 3 if labelled else 2
    if pres:
        style = rng.randrange(n_styles)
        if style == 0:
            parts.append(f"{_cap(_join(pres))} {_are(pres)} heard.")
        elif style == 1:
            parts.append(f"There {_are(pres)} {_join(pres)}.")
        else:
            parts.append(f"Present: {_join(pres)}.")
    if absn:
        style = rng.randrange(n_styles)
        if style == 0:
            parts.append(f"No {_join(absn, 'or')}.")
        elif style == 1:
            parts.append(f"No {_join(absn, 'or')} {_are(absn)} heard.")
        else:
            parts.append(f"Absent: {_join(absn)}.")
    return (" ".join(parts) + _unknown_note(f, ctx)).strip()


def verdict_word(f: dict, rng: random.Random) -> str | None:
    if "abnormal" not in f:
        return None
    return rng.choice(["Abnormal", "Abnormal"] if f["abnormal"] else ["Normal", "Normal"])


def _scope_note(f: dict, ctx: dict) -> str:
    if ctx.get("abnormal_scope") == "patient" and "abnormal" in f:
        return " (patient-level outcome)"
    return ""


def _poor(f: dict, ctx: dict, rng: random.Random) -> str:
    return rng.choice([
        f"The recording quality is too poor to assess the {ctx['domain']} sounds; findings "
        f"{UNKNOWN[0]}.",
        f"Poor quality recording: the {ctx['domain']} sounds cannot be assessed. Please record again.",
        "Poor recording quality; it cannot be interpreted reliably. Repeat the recording.",
    ])


# --------------------------------------------------------------------------- tasks


def answer_binary(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    if only_poor(f):
        return _poor(f, ctx, rng), {"poor_quality"}
    v = verdict_word(f, rng)
    detail = findings_sentence(f, ctx, rng, detail=False, labelled=False)
    used = {k for k in f if k not in ("murmur_shape", "murmur_grade", "diagnosis", "lesion",
                                      "crackle_type", "poor_quality")}
    if v is None:  # e.g. PASCAL extrasystole: the source makes no normal/abnormal call
        return (f"{detail.strip()} Whether this is abnormal {UNKNOWN[0]}; extrasystoles are often benign.",
                used - {"abnormal"})
    scope = _scope_note(f, ctx)
    style = rng.randrange(4)
    if style == 0:
        text = f"{v}{scope}. {detail}"
    elif style == 1 and not detail.startswith("Whether"):
        text = f"{v}{scope}: {_lc(detail.strip())}" if detail else f"{v}{scope}."
    elif style == 2:
        text = f"This {ctx['domain']} recording is {v.lower()}{scope}. {detail}"
    else:
        text = f"Verdict: {v.lower()}{scope}. {detail}"
    if not detail and f.get("abnormal") and not _has_heart(f) and not _has_lung(f):
        text = text.rstrip() + " The specific abnormal sound is not annotated."
    if "lesion" in f and f["lesion"] != "N" and rng.random() < 0.5:
        text += f" Consistent with {knowledge()['lesions'][f['lesion']]['name']}."
    else:
        used.discard("lesion")
    return text.strip(), used


def answer_detection(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    if only_poor(f):
        return _poor(f, ctx, rng), {"poor_quality"}
    pres, absn = present_absent(f, ctx, rng, detail=True)
    used = {k for k in f if k in HEART_EVENTS + LUNG_EVENTS + ("murmur", "murmur_timing",
                                                                  "murmur_shape", "murmur_grade",
                                                                  "crackle_type")}
    if not pres and not absn:
        if f.get("abnormal"):
            return (f"The recording is abnormal{_scope_note(f, ctx)}, but which abnormal sounds are "
                    f"present {UNKNOWN[0]}.", {"abnormal"})
        if f.get("abnormal") is False and ctx.get("abnormal_scope") == "recording":
            return (rng.choice(["Nothing abnormal is detected; the recording is normal.",
                                "No abnormal sounds: this is a normal recording."]), {"abnormal"})
        return f"Which sounds are present {UNKNOWN[0]}.", set()
    style = rng.randrange(4)
    unk = _unknown_note(f, ctx)
    if style == 0:
        text = (f"Detected: {_join(pres)}. " if pres else "Detected: nothing abnormal. ") + \
               (f"Not detected: {_join(absn)}." if absn else "")
    elif style == 1:
        text = (f"Present: {_join(pres)}. " if pres else "") + (f"Absent: {_join(absn)}." if absn else "")
    elif style == 2:
        text = (f"I hear {_join(pres)}. " if pres else "No added sounds are heard. ") + \
               (f"No {_join(absn, 'or')}." if absn else "")
    else:
        text = findings_sentence(f, ctx, rng, detail=True)
        unk = ""
    return (text.strip() + unk).strip(), used


def answer_report(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    """A structured report (field per line) or, one time in three, a compact prose report."""
    if not only_poor(f) and rng.random() < 1 / 3:
        return _report_prose(f, ctx, rng)
    dom = ctx["domain"]
    lines = []
    sep = rng.choice(["\n", " "])
    if ctx.get("site_title"):
        lines.append(f"Site: {ctx['site_title']}.")
    if only_poor(f):
        lines.append("Quality: poor, not interpretable.")
        lines.append(f"Impression: findings {UNKNOWN[0]}; repeat the recording.")
        return sep.join(lines), {"poor_quality"}
    used = set()
    if _has_heart(f) or (dom == "heart" and not _has_lung(f)):
        if f.get("murmur") == "present":
            lines.append(f"Murmur: present, {murmur_phrase(f, ctx, rng)[2:].lstrip('n ')}.")
            used |= {"murmur"} | {k for k in ("murmur_timing", "murmur_shape", "murmur_grade") if k in f}
        elif f.get("murmur") == "absent":
            lines.append("Murmur: none.")
            used.add("murmur")
        elif ctx.get("murmur_unknown"):
            lines.append(f"Murmur: {UNKNOWN[0]}.")
        extra = [k for k in ("s3", "s4", "extrasystole") if k in f]
        if extra:
            pres = [EVENT_NAMES[k][1] for k in extra if f[k]]
            absn = [EVENT_NAMES[k][1] for k in extra if not f[k]]
            txt = (f"{_join(pres)} present" if pres else "") + ("; " if pres and absn else "") + \
                  (f"no {_join(absn, 'or')}" if absn else "")
            lines.append(f"Extra sounds: {txt}.")
            used |= set(extra)
        rhythm = [k for k in ("atrial_fibrillation", "av_block", "tachycardia") if k in f]
        if rhythm:
            pres = [EVENT_NAMES[k][1] for k in rhythm if f[k]]
            absn = [EVENT_NAMES[k][1] for k in rhythm if not f[k]]
            txt = (f"{_join(pres)}" if pres else "") + ("; " if pres and absn else "") + \
                  (f"no {_join(absn, 'or')}" if absn else "")
            lines.append(f"Rhythm: {txt}.")
            used |= set(rhythm)
    if _has_lung(f):
        names = {"crackle": "Crackles", "wheeze": "Wheezes", "rhonchi": "Rhonchi",
                 "stridor": "Stridor", "pleural_rub": "Pleural rub"}
        for k in LUNG_EVENTS:
            if k in f:
                if f[k]:
                    val = "present" + (f" ({f['crackle_type'].replace('both', 'fine and coarse')})"
                                       if k == "crackle" and "crackle_type" in f else "")
                else:
                    val = rng.choice(["absent", "none"])
                lines.append(f"{names[k]}: {val}.")
                used.add(k)
        if "crackle_type" in f:
            used.add("crackle_type")
    if "poor_quality" in f:
        lines.append("Quality: poor (noisy) but interpretable." if f["poor_quality"] else "Quality: adequate.")
        used.add("poor_quality")
    if "diagnosis" in f:
        lines.append(f"Recorded diagnosis: {f['diagnosis']}.")
        used.add("diagnosis")
    imp = []
    if "abnormal" in f:
        imp.append(("abnormal" if f["abnormal"] else "normal") + _scope_note(f, ctx))
        used.add("abnormal")
    if "lesion" in f:
        imp.append("consistent with " + knowledge()["lesions"][f["lesion"]]["name"])
        used.add("lesion")
    if not imp:
        imp.append(f"normal or abnormal {UNKNOWN[0]}")
    lines.append(f"{rng.choice(['Impression', 'Conclusion', 'Summary'])}: {', '.join(imp)}.")
    return sep.join(lines), used


def _impression(f: dict, ctx: dict) -> list[str]:
    imp = []
    if "abnormal" in f:
        imp.append(("abnormal" if f["abnormal"] else "normal") + _scope_note(f, ctx))
    if "lesion" in f:
        imp.append("consistent with " + knowledge()["lesions"][f["lesion"]]["name"])
    return imp


def _report_prose(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    site = f"{ctx['domain'].capitalize()} sounds at the {ctx['site_title']}. " if ctx.get("site_title") \
        else f"{ctx['domain'].capitalize()} sounds. "
    findings = findings_sentence(f, ctx, rng, detail=True, labelled=False)
    used = {k for k in f if k != "poor_quality" and k != "diagnosis"}
    if "crackle_type" in f and not f.get("crackle"):
        used.discard("crackle_type")
    extra = ""
    if "poor_quality" in f:
        extra += " Recording quality is poor (noisy)." if f["poor_quality"] else " Recording quality is adequate."
        used.add("poor_quality")
    if "diagnosis" in f:
        extra += f" Recorded diagnosis: {f['diagnosis']}."
        used.add("diagnosis")
    imp = _impression(f, ctx) or [f"normal or abnormal {UNKNOWN[0]}"]
    if not _impression(f, ctx):
        used.discard("abnormal")
    return f"{site}{findings}{extra} {rng.choice(['Impression', 'Conclusion'])}: {', '.join(imp)}.".strip(), used


def _heart_candidates(f: dict, ctx: dict) -> list[str]:
    kb = knowledge()
    cands: list[str] = []
    if f.get("lesion") and f["lesion"] != "N":
        cands.append(kb["lesions"][f["lesion"]]["name"])
    if f.get("murmur") == "present":
        t, s = f.get("murmur_timing"), ctx.get("site")
        table = kb["murmur_differentials"]
        hit = next((e for e in table if e["timing"] == t and e["site"] == s), None) or \
            next((e for e in table if e["timing"] == t and e["site"] is None), None) or \
            next(e for e in table if e["timing"] is None)
        cands += hit["candidates"]
    elif f.get("lesion") == "MVP":
        cands += ["mitral regurgitation", "Still's innocent murmur"]
    for k in HEART_EVENTS:
        if f.get(k):
            cands += kb["heart_events"][k]["candidates"]
    out = []
    for c in cands:
        if c not in out:
            out.append(c)
    return out


def _lung_pattern(f: dict, ctx: dict) -> str | None:
    child = ctx.get("age_group") in ("neonate", "infant", "child")
    if f.get("crackle") and f.get("wheeze"):
        return "crackle_wheeze"
    if f.get("crackle"):
        t = f.get("crackle_type")
        if t in ("fine", "coarse"):
            return f"crackle_{t}"
        return "crackle_child" if child else "crackle"
    if f.get("wheeze"):
        return "wheeze_child" if child else "wheeze"
    for k in ("stridor", "rhonchi", "pleural_rub"):
        if f.get(k):
            return k
    return None


def _diag_sentence(f: dict, rng: random.Random) -> str:
    if "diagnosis" not in f:
        return ""
    return " " + rng.choice([f"Recorded diagnosis for this patient: {f['diagnosis']}.",
                             f"The patient's recorded diagnosis is {f['diagnosis']}."])


def answer_differential(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    if only_poor(f):
        return _poor(f, ctx, rng), {"poor_quality"}
    kb = knowledge()
    basis = findings_sentence(f, ctx, rng, detail=False)
    used = {k for k in f if k not in ("murmur_shape", "murmur_grade", "poor_quality", "abnormal")}
    cands: list[str] = []
    if _has_heart(f):
        cands += _heart_candidates(f, ctx)
    pat = _lung_pattern(f, ctx)
    if pat:
        cands += [c for c in kb["lung_patterns"][pat]["candidates"] if c not in cands]
    diag = _diag_sentence(f, rng)
    if not cands:
        if f.get("abnormal") and not basis:
            return (f"Labelled abnormal{_scope_note(f, ctx)}, but the specific finding {UNKNOWN[0]}, "
                    "so no ranked differential can be given; consider echocardiography."), {"abnormal"}
        if f.get("lesion") == "N":
            return (f"{basis} No valvular lesion is suggested, so no differential is needed.",
                    used)
        verdict = ""
        if "abnormal" in f:
            verdict = (" The recording is normal." if not f["abnormal"] else
                       f" The recording is abnormal{_scope_note(f, ctx)}.")
            used.add("abnormal")
        return (f"{basis}{verdict} No differential is suggested by this recording.{diag}").strip(), used
    cands = cands[:3] if len(cands) > 3 else cands
    style = rng.randrange(3)
    ranked = "; ".join(f"{i + 1}. {c}" for i, c in enumerate(cands))
    if style == 0:
        text = f"{basis} Differential (most likely first): {ranked}."
    elif style == 1:
        text = f"Most likely {cands[0]}, then {_join(cands[1:], 'or')}. Basis: {basis[:1].lower() + basis[1:]}" \
            if len(cands) > 1 else f"Most likely {cands[0]}. Basis: {basis[:1].lower() + basis[1:]}"
    else:
        text = f"Ranked differential: {ranked}. {basis}"
    return (text + diag).strip(), used


def answer_reasoning(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    if only_poor(f):
        return _poor(f, ctx, rng), {"poor_quality"}
    kb = knowledge()
    heard = findings_sentence(f, ctx, rng, detail=False, labelled=False)
    used = {k for k in f if k not in ("murmur_shape", "murmur_grade", "poor_quality", "diagnosis")}
    why = ""
    site = ctx.get("site_title")
    if f.get("murmur") == "present" and f.get("murmur_timing"):
        c = _heart_candidates(f, ctx)[:2]
        at = f" at the {site}" if site else ""
        why = f"A {f['murmur_timing'].replace('both', 'systolic and diastolic')} murmur{at} points to {_join(c, 'or')}."
    elif f.get("murmur") == "present":
        why = "A murmur means turbulent flow; its timing would narrow the cause."
    elif f.get("lesion") == "MVP":
        why = "A mid-systolic click pattern points to mitral valve prolapse."
    elif any(f.get(k) for k in HEART_EVENTS):
        k = next(k for k in HEART_EVENTS if f.get(k))
        ev = kb["heart_events"][k]
        why = f"{_cap(EVENT_NAMES[k][1])}: {ev['meaning'].split(';')[0]}."
    pat = _lung_pattern(f, ctx)
    if pat:
        lp = kb["lung_patterns"][pat]
        meaning = "" if why else f" ({lp['meaning']})"
        verb = "suggests" if lp["name"] in ("stridor", "pleural friction rub") else "suggest"
        why += f" {_cap(lp['name'])}{meaning} {verb} {_join(lp['candidates'][:2], 'or')}."
    if not why:
        if f.get("abnormal") is False:
            why = ("Only S1 and S2 with no added sounds: the normal pattern." if ctx["domain"] == "heart"
                   else "Breath sounds without added sounds.")
        elif f.get("abnormal") and ctx.get("abnormal_scope") == "patient" and f.get("murmur") == "absent":
            why = ("The abnormal outcome is a patient-level label; this site has no murmur, so the "
                   "reason lies elsewhere.")
        elif f.get("abnormal"):
            why = f"The specific abnormal sound {UNKNOWN[0]}."
    concl = []
    if "abnormal" in f:
        concl.append(("abnormal" if f["abnormal"] else "normal") + _scope_note(f, ctx))
    if f.get("lesion"):
        concl.append("consistent with " + kb["lesions"][f["lesion"]]["name"])
    conclusion = f" Conclusion: {', '.join(concl)}." if concl else ""
    if not concl and "extrasystole" in f:
        conclusion = f" Conclusion: whether this is abnormal {UNKNOWN[0]}."
    style = rng.randrange(3)
    if style == 0 or not heard:
        text = f"Heard: {heard} Reasoning: {why.strip()}{conclusion}" if heard else \
            f"Reasoning: {why.strip()}{conclusion}"
    elif style == 1:
        text = f"{heard} {why.strip()}{conclusion.replace(' Conclusion:', ' Therefore:')}"
    else:
        text = f"Findings: {_lc(heard)} Interpretation: {why.strip()}{conclusion}"
    return text.strip(), used


def answer_location(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    s = knowledge()["sites"][ctx["site"]]
    # keep the site part short (a 270M model, ~80 tokens per answer): one of where / what / typical
    typical = min(s["typical"], key=len) if rng.random() < 0.5 else s["typical"][0]
    if len(typical) > 60:
        typical = typical.split(",")[0]
    listens = s["listens_to"].split(";")[0]
    intro = rng.choice([
        f"The {s['title']} ({s['where']}) listens to {listens}.",
        f"The {s['title']} listens to {listens}; typically heard here: {typical}.",
        f"At the {s['title']} you hear {listens}. Typical finding here: {typical}.",
    ])
    if only_poor(f):
        return f"{intro} In this recording: quality too poor to assess.", {"poor_quality"}
    heard = findings_sentence(f, ctx, rng, detail=False, labelled=False)
    used = {k for k in f if k not in ("murmur_shape", "murmur_grade", "poor_quality", "diagnosis",
                                      "lesion")}
    verdict = ""
    if "abnormal" in f:
        verdict = " Overall " + ("abnormal" if f["abnormal"] else "normal") + _scope_note(f, ctx) + "."
    marker = rng.choice(RECORDING_MARKERS)
    body = f"{marker} {_lc(heard)}" if heard else f"{marker} the specific findings {UNKNOWN[0]}."
    return f"{intro} {body}{verdict}".strip(), used


def _short(f: dict, ctx: dict, rng: random.Random) -> str:
    if only_poor(f):
        return "poor quality, not interpretable"
    pres, absn = present_absent(f, ctx, rng, detail=False)
    bits = []
    if "abnormal" in f:
        bits.append("abnormal" if f["abnormal"] else "normal")
    if pres:
        bits.append(_join(pres))
    if absn:
        bits.append("no " + _join(absn, "or"))
    if not bits:
        bits.append(f"findings {UNKNOWN[0]}")
    return "; ".join(bits)


def answer_comparison(fa: dict, ca: dict, fb: dict, cb: dict, rng: random.Random) -> tuple[str, set]:
    sa = f" ({ca['site_title']})" if ca.get("site_title") else ""
    sb = f" ({cb['site_title']})" if cb.get("site_title") else ""
    summary = ""
    if "abnormal" in fa and "abnormal" in fb:
        if fa["abnormal"] == fb["abnormal"]:
            summary = f"both are {'abnormal' if fa['abnormal'] else 'normal'}"
        else:
            summary = f"only {'A' if fa['abnormal'] else 'B'} is abnormal"
    elif only_poor(fa) or only_poor(fb):
        summary = "a fair comparison is not possible"
    style = rng.randrange(3)
    a_txt, b_txt = _short(fa, ca, rng), _short(fb, cb, rng)
    if style == 0:
        text = f"Recording A{sa}: {a_txt}. Recording B{sb}: {b_txt}."
        if summary:
            text += f" {rng.choice(SUMMARY_LEAD)} {summary}."
    elif style == 1:
        text = f"First recording{sa}: {a_txt}. Second recording{sb}: {b_txt}."
        if summary:
            text += f" {rng.choice(SUMMARY_LEAD)} {summary}."
    else:  # summary first; the checker reads each recording from its own marker on
        text = (f"{_cap(summary)}. " if summary else "") + f"Recording A{sa}: {a_txt}. Recording B{sb}: {b_txt}."
    used = set()
    for pre, ff in (("a.", fa), ("b.", fb)):
        keys = {"poor_quality"} if only_poor(ff) else {
            k for k in ff if k not in ("murmur_shape", "murmur_grade", "diagnosis", "lesion",
                                       "crackle_type", "poor_quality")}
        used |= {pre + k for k in keys}
    return text, used


RENDER = {"binary": answer_binary, "detection": answer_detection, "report": answer_report,
          "reasoning": answer_reasoning, "differential": answer_differential,
          "location": answer_location}


# --------------------------------------------------------------------------- generation


def approx_tokens(text: str) -> int:
    """Rough Gemma 3 token count for the length budget: a token per 7 letters of each word, one
    per digit or punctuation mark, +15%. Against the real tokenizer on generated answers it is
    within about 1.0x (median) of the true count; ``--tokenizer-gguf`` prints real counts."""
    import math
    import re

    n = sum(math.ceil(len(w) / 7) for w in re.findall(r"[A-Za-z]+", text))
    n += len(re.findall(r"\d|[^\sA-Za-z\d]", text))
    return int(n * 1.15) + 2


def _questions(task: str, domain: str, has_site: bool, has_site_b: bool) -> list[str]:
    qs = load_questions()[task]
    out = []
    for q in qs:
        if "{site}" in q and not has_site:
            continue
        if "{site_b}" in q and not has_site_b:
            continue
        if domain == "lung" and any(w in q for w in ("murmurs, extra heart", "extra heart sounds")):
            continue
        out.append(q)
    return out


def _fill(q: str, domain: str, site: str | None, site_b: str | None = None) -> str:
    return q.format(domain=domain, site=site or "", site_b=site_b or "")


def make_example(task: str, rec: Record, split: str, rng: random.Random, idx: int,
                 partner: Record | None = None) -> dict | None:
    """One instruction example (or None if the task does not apply to this record)."""
    f, ctx = record_facts(rec)
    render_seed = rng.randrange(2**31)
    if task == "comparison":
        if partner is None:
            return None
        fb, cb = record_facts(partner)
        answer, used = answer_comparison(f, ctx, fb, cb, random.Random(render_seed))
        facts = {k: (f if k.startswith("a.") else fb)[k[2:]] for k in sorted(used)}
        rejected, flipped = [], []
        # swapping A and B is the most natural error; then single-fact flips of either side
        variants = [("swap", fb, cb, f, ctx)]
        for name, nf, nc in flips(f, ctx, rng):
            variants.append(("a." + name, nf, nc, fb, cb))
        for name, nf, nc in flips(fb, cb, rng):
            variants.append(("b." + name, f, ctx, nf, nc))
        rng.shuffle(variants)
        for name, a, ac, b, bc in variants:
            txt, _ = answer_comparison(a, ac, b, bc, random.Random(render_seed))
            wrong = {k: (a if k.startswith("a.") else b).get(k[2:]) for k in facts}
            if txt != answer and wrong != facts and txt not in rejected:
                rejected.append(txt)
                flipped.append(name)
            if len(rejected) >= N_REJECTED:
                break
        qs = _questions(task, rec.domain, bool(ctx["site_title"]), bool(cb["site_title"]))
        q = _fill(rng.choice(qs), rec.domain, ctx["site_title"], cb["site_title"])
        audio = [rec.path, partner.path]
        keys = [rec.key, partner.key]
        segs = [_seg(rec), _seg(partner)]
        site_b = partner.site
    else:
        if task == "location" and not rec.site:
            return None
        answer, used = RENDER[task](f, ctx, random.Random(render_seed))
        facts = {k: f[k] for k in sorted(used) if k in f}
        if not facts:  # nothing the labels support for this task (e.g. CirCor murmur "Unknown")
            return None
        rejected, flipped = [], []
        vs = flips(f, ctx, rng)
        rng.shuffle(vs)
        # prefer flips of facts this answer asserts
        vs.sort(key=lambda v: v[0] not in facts)
        for name, nf, nc in vs:
            txt, _ = RENDER[task](nf, nc, random.Random(render_seed))
            if txt != answer and txt not in rejected and name in facts:
                rejected.append(txt)
                flipped.append(name)
            if len(rejected) >= N_REJECTED:
                break
        qs = _questions(task, rec.domain, bool(ctx["site_title"]), False)
        q = _fill(rng.choice(qs), rec.domain, ctx["site_title"])
        audio = [rec.path]
        keys = [rec.key]
        segs = [_seg(rec)]
        site_b = None
    return {
        "id": f"{split}-{rec.dataset}-{rec.record_id}-{task}-{idx}",
        "task": task, "dataset": rec.dataset, "split": split, "audio": audio, "segments": segs,
        "record_keys": keys,
        "domain": rec.domain, "site": rec.site, "site_title": ctx["site_title"],
        "site_b": site_b, "site_b_title": site_title(site_b),
        "instruction": q, "answer": answer, "facts": facts,
        "rejected": rejected, "rejected_flips": flipped,
    }


def _seg(r: Record):
    return None if r.start_s is None else [r.start_s, r.end_s]


def _partner(rec: Record, pool: dict, rng: random.Random) -> Record | None:
    """Another recording of the same patient (other site) if possible, else of the same set."""
    same_pat = [r for r in pool[(rec.dataset, rec.group)] if r.key != rec.key and r.domain == rec.domain]
    if same_pat and rng.random() < 0.7:
        return rng.choice(same_pat)
    others = pool[(rec.dataset, "*", rec.domain)]
    if len(others) < 2:
        return None
    for _ in range(5):
        o = rng.choice(others)
        if o.key != rec.key:
            return o
    return None


def generate(records: list[Record], split: str, seed: int = 0, per_record: int = 3,
             tasks: tuple[str, ...] = TASKS) -> list[dict]:
    """Instruction examples for ``records`` (all of one split; partners come from the same list).

    Each record gets ``per_record`` examples of distinct tasks, chosen in rotation so every task
    is about equally frequent; inapplicable tasks (location without a site, comparison without
    a partner) fall through to the next task.
    """
    rng = random.Random(f"{seed}|{split}")
    pool: dict = defaultdict(list)
    for r in records:
        pool[(r.dataset, r.group)].append(r)
        pool[(r.dataset, "*", r.domain)].append(r)
    out = []
    for i, rec in enumerate(sorted(records, key=lambda r: r.key)):
        start = rng.randrange(len(tasks))
        order = [tasks[(start + j) % len(tasks)] for j in range(len(tasks))]
        made = 0
        for task in order:
            if made >= per_record:
                break
            partner = _partner(rec, pool, rng) if task == "comparison" else None
            ex = make_example(task, rec, split, rng, made, partner)
            if ex is None:
                continue
            out.append(ex)
            made += 1
    return out


def count_table(examples: list[dict]) -> str:
    c = Counter((e["dataset"], e["task"]) for e in examples)
    dsets = sorted({e["dataset"] for e in examples})
    lines = [f"{'dataset':16s} " + " ".join(f"{t[:8]:>8s}" for t in TASKS) + "    total"]
    for d in dsets:
        row = [c[(d, t)] for t in TASKS]
        lines.append(f"{d:16s} " + " ".join(f"{n:8d}" for n in row) + f" {sum(row):8d}")
    tot = [sum(c[(d, t)] for d in dsets) for t in TASKS]
    lines.append(f"{'TOTAL':16s} " + " ".join(f"{n:8d}" for n in tot) + f" {sum(tot):8d}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate StethoBench-style instruction data (jsonl per split).")
    ap.add_argument("--out", type=Path, default=Path("runs/instructions"))
    ap.add_argument("--root", type=Path, default=None, help="data folder (default: shared data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-record", type=int, default=3)
    ap.add_argument("--datasets", nargs="*", default=None)
    ap.add_argument("--tokenizer-gguf", type=Path, default=None,
                    help="GGUF whose tokenizer measures real answer lengths (slow to load, ~50 s)")
    args = ap.parse_args(argv)
    from training.data import DATASETS
    from training.splits import load_split

    recs = load_split(None, datasets=tuple(args.datasets or DATASETS), root=args.root)
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        ex = generate([r for r in recs if r.split == split], split, args.seed, args.per_record)
        path = args.out / f"{split}.jsonl"
        with open(path, "w") as fh:
            for e in ex:
                fh.write(json.dumps(e, ensure_ascii=False) + "\n")
        print(f"== {split}: {len(ex)} examples -> {path}")
        print(count_table(ex))
        if split == "train" and args.tokenizer_gguf:
            print(length_table(ex, args.tokenizer_gguf))
    return 0


def length_table(examples: list[dict], gguf: Path) -> str:
    """Real Gemma token counts of the answers per task (median / 95th percentile / max)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    by: dict[str, list[int]] = defaultdict(list)
    for e in examples:
        by[e["task"]].append(len(tok(e["answer"], add_special_tokens=False)["input_ids"]))
    lines = ["answer tokens (Gemma 3 tokenizer): task median p95 max"]
    for t in TASKS:
        v = sorted(by.get(t, [0]))
        lines.append(f"  {t:12s} {v[len(v) // 2]:4d} {v[int(len(v) * 0.95)]:4d} {v[-1]:4d}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
