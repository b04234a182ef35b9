"""Free questions the card answers by itself: heart rate, recording quality, "what did you find".

:func:`fact_answer` answers these from the card's facts (the grounding layer re-exports it as
:func:`stethodesk.model.grounding.fact_answer`); anything asking for reasons, a differential, a
report or a comparison returns None and goes to the model, checked by
:func:`stethodesk.model.grounding.verify`. No Qt, no torch.
"""

from __future__ import annotations

import re

from stethodesk.model.facts import pct
from stethodesk.model.templates import heard_sentence, template_answer

RATE_Q = re.compile(r"\bheart ?rate\b|\bpulse\b|\bbpm\b|\bbeats? per min|\bhow fast\b|\bheart ?beats?\b|"
                    r"\brate\b", re.I)
BREATHING_RATE_Q = re.compile(r"\b(?:respiratory|breathing|resp\.?)\s*rate\b|\bbreaths? per min", re.I)
QUALITY_Q = re.compile(r"\bquality\b|\bnois[ey]\w*|\bsignal\b|\busable\b|\breliab\w*|\barti?e?fact\w*|"
                       r"\bclear recording\b", re.I)
FINDINGS_Q = re.compile(r"\bwhat (?:did|do|can|could) you (?:find|hear|detect)|\bfindings?\b|\bfind anything\b|"
                        r"\babnormal\b|\bnormal\b|\bwrong\b|\bhealthy\b|\bsummar\w*|\bresults?\b|"
                        r"\bwhat (?:is|was) heard\b|\bdetect\w*|\bhear anything\b", re.I)
# questions about one sound: key -> (pattern, domain, name used in the answer)
SOUND_Q = {
    "murmur": (r"\bmurmur\w*", "heart", "a murmur"),
    "s3": (r"\bS3\b|\bthird heart sound|\bgallops?\b|\bextra (?:heart )?sounds?\b", "heart", "S3"),
    "s4": (r"\bS4\b|\bfourth heart sound", "heart", "S4"),
    "crackle": (r"\bcrackl\w*|\brales?\b|\bcrepitations?\b", "lung", "crackles"),
    "wheeze": (r"\bwheez\w*", "lung", "wheezes"),
    "rhonchi": (r"\brhonch\w*", "lung", "rhonchi"),
    "stridor": (r"\bstridor\b", "lung", "stridor"),
    "pleural_rub": (r"\bpleural\b|\bfriction rubs?\b", "lung", "a pleural rub"),
}
# ... anything asking for reasons, a differential or a report goes to the model / the templates
OTHER_Q = re.compile(r"\bdifferential|\bdiagnos\w*|\bcauses?\b|\bwhy\b|\bexplain\w*|\bmeans?\b|\bmeaning\b|"
                     r"\bsuggest\w*|\bcompar\w*|\breport\b|\btreat\w*|\bmanag\w*|\bnext step|\bwhat should\b|"
                     r"\bsite\b|\barea\b|\blocation\b", re.I)


def _sound_answer(key: str, facts: dict, findings: dict, domain: str) -> str:
    _, sound_domain, name = SOUND_Q[key]
    if sound_domain != domain:
        other = "heart" if domain == "lung" else "lung"
        return (f"This is a {domain} recording, so {other} sounds are not assessed in it; analyse a "
                f"recording made over the {'lungs' if other == 'lung' else 'heart'} to check them.")
    if key not in facts:
        return (f"This model has no separate call for {name}, so whether it is present cannot be "
                "said from this recording.")
    if facts[key] in (True, "present"):
        sub = {k: v for k, v in facts.items() if k in (key, "murmur_timing", "crackle_type")}
        # A statement, never "Yes:"/"No:": the question may be phrased either way ("Is there no
        # murmur?", "Is it normal or is there a murmur?") and a bare yes would answer the wrong one.
        return heard_sentence(sub, findings).replace(" heard.", " called.")
    num = f"; its calibrated probability is {pct(findings[key])}" if key in findings else ""
    return f"No {name.removeprefix('a ')} is called{num}."


def fact_answer(question: str, facts: dict, domain: str, heart_rate_bpm: float | None = None,
                quality_level: str | None = None, quality_reason: str | None = None,
                findings: dict | None = None) -> str | None:
    """Answer a free question from the facts alone, or None when it asks something else.

    Heart rate / pulse / bpm questions get the measured rate (heart recordings only); signal
    quality questions the quality pill, its reason and the poor-quality call; "what did you
    find", "is it normal", "any murmur / crackles" questions the card's calls with their
    percentages. Questions asking why, for a differential, a report, a comparison or about the
    site return None (the model answers, checked by :func:`verify`).

    Parameters
    ----------
    question : str
    facts : dict
        :func:`stethodesk.model.facts.card_facts` of the recording.
    domain : {"heart", "lung"}
    heart_rate_bpm : float, optional
        Beats per minute measured from the sound envelope (None when it could not be measured).
    quality_level, quality_reason : str, optional
        The quality pill ("good", "fair", "poor") and its plain-words reason.
    findings : dict, optional
        Calibrated probabilities, for the percentages.
    """
    q = question or ""
    fi = findings or {}
    parts = []
    if BREATHING_RATE_Q.search(q):
        parts.append("The breathing rate is not measured by this app.")
    elif RATE_Q.search(q):
        if domain != "heart":
            parts.append("The heart rate is measured only on heart recordings; this is a lung recording.")
        elif heart_rate_bpm:
            parts.append(f"The heart rate measured from this recording is {heart_rate_bpm:.0f} bpm.")
        else:
            parts.append("The heart rate could not be measured from this recording.")
    if QUALITY_Q.search(q):
        # One verdict on quality (the card's rule: poor when the signal meter or the model's
        # poor-quality head says so), then what each of the two saw, so they never read as a
        # contradiction ("signal good" beside "poor quality 67%").
        p_head = fi.get("poor_quality")
        why = (quality_reason or "").strip().rstrip(".")
        meter = f"the signal meter reads {quality_level}" + (f": {why[:1].lower()}{why[1:]}" if why else "")
        # worded so the checker does not read it as a second quality verdict
        head = f"the model's own check rates it {p_head:.0%} likely degraded" if p_head is not None else ""
        seen = " and ".join(b for b in (meter if quality_level else "", head) if b)
        if "poor_quality" in facts and facts["poor_quality"]:
            parts.append("Recording quality: poor; read the findings with caution" + (f" ({seen})." if seen else "."))
        elif "poor_quality" in facts:
            parts.append("Recording quality: adequate for the findings" + (f" ({seen})." if seen else "."))
        elif quality_level:
            parts.append(f"Recording quality: {quality_level}" + (f" ({seen})." if seen else "."))
        else:
            parts.append("The signal quality was not measured.")
    sounds = [k for k, (pat, _, _) in SOUND_Q.items() if re.search(pat, q, re.I)]
    if not OTHER_Q.search(q):
        if sounds:
            parts += list(dict.fromkeys(_sound_answer(k, facts, fi, domain) for k in sounds))
        elif FINDINGS_Q.search(q) and facts:
            parts.append(template_answer("binary", {k: v for k, v in facts.items() if k != "poor_quality"},
                                         domain, findings=fi))
    return " ".join(parts) if parts else None
