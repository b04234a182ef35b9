"""Phrase builders shared by the task answers (findings sentences, murmur phrases, verdicts)."""

from __future__ import annotations

import random

from stethodesk.model.templates import join_words as _join
from training.phrasings import UNKNOWN

from .vocab import EVENT_NAMES, HEART_EVENTS, LUNG_EVENTS


# --------------------------------------------------------------------------- phrases


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
    if len(lung_known) == len(LUNG_EVENTS) and not any(f[k] for k in lung_known):
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


def _poor(f: dict, ctx: dict, rng: random.Random) -> str:
    return rng.choice([
        f"The recording quality is too poor to assess the {ctx['domain']} sounds; findings "
        f"{UNKNOWN[0]}.",
        f"Poor quality recording: the {ctx['domain']} sounds cannot be assessed. Please record again.",
        "Poor recording quality; it cannot be interpreted reliably. Repeat the recording.",
    ])

