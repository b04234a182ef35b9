"""Answers that describe the recording: binary verdict, detection, report, comparison."""

from __future__ import annotations

import random

from training.phrasings import SUMMARY_LEAD, UNKNOWN

from .facts import _has_heart, _has_lung, only_poor
from .phrases import (_cap, _join, _lc, _poor, _unknown_note, findings_sentence, murmur_phrase, present_absent,
                      verdict_word)
from .vocab import EVENT_NAMES, HEART_EVENTS, LUNG_EVENTS, knowledge


# --------------------------------------------------------------------------- tasks


def answer_binary(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    if only_poor(f):
        return _poor(f, ctx, rng), {"poor_quality"}
    v = verdict_word(f, rng)
    detail = findings_sentence(f, ctx, rng, detail=False, labelled=False)
    used = {k for k in f if k not in ("murmur_shape", "murmur_grade", "lesion", "poor_quality")}
    if v is None:  # no normal/abnormal call (PASCAL extrasystole; a patient-level outcome the sound here does not show)
        note = "; extrasystoles are often benign" if f.get("extrasystole") else ""
        return f"{detail.strip()} Whether this is abnormal {UNKNOWN[0]}{note}.".strip(), used - {"abnormal"}
    style = rng.randrange(4)
    if style == 0:
        text = f"{v}. {detail}"
    elif style == 1 and not detail.startswith("Whether"):
        text = f"{v}: {_lc(detail.strip())}" if detail else f"{v}."
    elif style == 2:
        text = f"This {ctx['domain']} recording is {v.lower()}. {detail}"
    else:
        text = f"Verdict: {v.lower()}. {detail}"
    if not detail and f.get("abnormal") and not _has_heart(f) and not _has_lung(f):
        text = text.rstrip() + f" The specific abnormal sound {UNKNOWN[0]}."
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
            return (f"The recording is abnormal, but which abnormal sounds are present {UNKNOWN[0]}.",
                    {"abnormal"})
        if f.get("abnormal") is False:
            return (rng.choice(["Nothing abnormal is detected; the recording is normal.",
                                "No abnormal sounds: this is a normal recording."]), {"abnormal"})
        return f"Which sounds are present {UNKNOWN[0]}.", set()
    style = rng.randrange(4)
    unk = _unknown_note(f, ctx)
    if style == 0:
        if not pres and f.get("abnormal") is False:
            used.add("abnormal")  # "nothing abnormal" states the verdict
        none = "nothing abnormal" if f.get("abnormal") is False else "no added sounds"
        text = (f"Detected: {_join(pres)}. " if pres else f"Detected: {none}. ") + \
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
    imp = []
    if "abnormal" in f:
        imp.append("abnormal" if f["abnormal"] else "normal")
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
        imp.append("abnormal" if f["abnormal"] else "normal")
    if "lesion" in f:
        imp.append("consistent with " + knowledge()["lesions"][f["lesion"]]["name"])
    return imp


def _report_prose(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    site = f"{ctx['domain'].capitalize()} sounds at the {ctx['site_title']}. " if ctx.get("site_title") \
        else f"{ctx['domain'].capitalize()} sounds. "
    findings = findings_sentence(f, ctx, rng, detail=True, labelled=False)
    used = {k for k in f if k != "poor_quality"}
    if "crackle_type" in f and not f.get("crackle"):
        used.discard("crackle_type")
    extra = ""
    if "poor_quality" in f:
        extra += " Recording quality is poor (noisy)." if f["poor_quality"] else " Recording quality is adequate."
        used.add("poor_quality")
    imp = _impression(f, ctx) or [f"normal or abnormal {UNKNOWN[0]}"]
    if not _impression(f, ctx):
        used.discard("abnormal")
    return f"{site}{findings}{extra} {rng.choice(['Impression', 'Conclusion'])}: {', '.join(imp)}.".strip(), used



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
            k for k in ff if k not in ("murmur_shape", "murmur_grade", "lesion", "poor_quality")}
        used |= {pre + k for k in keys}
    return text, used

