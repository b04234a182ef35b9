"""Answers that interpret the recording with the knowledge file: differential, reasoning, location."""

from __future__ import annotations

import random

from training.phrasings import RECORDING_MARKERS, UNKNOWN

from .facts import _has_heart, only_poor
from .phrases import _cap, _join, _lc, _poor, findings_sentence
from .vocab import EVENT_NAMES, HEART_EVENTS, knowledge


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
    """The knowledge file's lung pattern of the facts. The age-specific patterns ("crackles in a
    child") are not used: the prompt carries no age, and the sound alone does not tell it."""
    if f.get("crackle") and f.get("wheeze"):
        return "crackle_wheeze"
    if f.get("crackle"):
        t = f.get("crackle_type")
        if t in ("fine", "coarse"):
            return f"crackle_{t}"
        return "crackle"
    if f.get("wheeze"):
        return "wheeze"
    for k in ("stridor", "rhonchi", "pleural_rub"):
        if f.get(k):
            return k
    return None


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
    if not cands:
        if f.get("abnormal") and not basis:
            follow = "; consider echocardiography" if ctx["domain"] == "heart" else ""
            return (f"Abnormal, but the specific abnormal sound {UNKNOWN[0]}, so no ranked differential "
                    f"can be given{follow}."), {"abnormal"}
        if f.get("lesion") == "N":
            return (f"{basis} No valvular lesion is suggested, so no differential is needed.",
                    used)
        verdict = ""
        if "abnormal" in f:
            verdict = " The recording is normal." if not f["abnormal"] else " The recording is abnormal."
            used.add("abnormal")
        return f"{basis}{verdict} No differential is suggested by this recording.".strip(), used
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
    return text.strip(), used


def answer_reasoning(f: dict, ctx: dict, rng: random.Random) -> tuple[str, set]:
    if only_poor(f):
        return _poor(f, ctx, rng), {"poor_quality"}
    kb = knowledge()
    heard = findings_sentence(f, ctx, rng, detail=False, labelled=False)
    used = {k for k in f if k not in ("murmur_shape", "murmur_grade", "poor_quality")}
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
        elif f.get("abnormal"):
            why = f"The specific abnormal sound {UNKNOWN[0]}."
        else:  # no verdict (e.g. a patient-level outcome this site's sound does not show)
            why = "The sound here shows no specific finding."
    concl = []
    if "abnormal" in f:
        concl.append("abnormal" if f["abnormal"] else "normal")
    if f.get("lesion"):
        concl.append("consistent with " + kb["lesions"][f["lesion"]]["name"])
    conclusion = f" Conclusion: {', '.join(concl)}." if concl else ""
    if not concl:
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
    used = {k for k in f if k not in ("murmur_shape", "murmur_grade", "poor_quality", "lesion")}
    verdict = ""
    if "abnormal" in f:
        verdict = " Overall " + ("abnormal" if f["abnormal"] else "normal") + "."
    marker = rng.choice(RECORDING_MARKERS)
    body = f"{marker} {_lc(heard)}" if heard else f"{marker} the specific findings {UNKNOWN[0]}."
    return f"{intro} {body}{verdict}".strip(), used

