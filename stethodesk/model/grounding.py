"""Run-time grounding: every sentence the app shows agrees with the findings card (issue 9).

:func:`verify` reads an answer with the checker's parsers and lists what is wrong with it:

- ``contradiction``: a fact stated the opposite way from the card, or both ways ("Abnormal ...
  Impression: normal"), or a comparison summary that disagrees with a recording's verdict. A
  fact the answer does not mention is not a violation.
- ``wrong_domain``: a heart answer naming lung sounds (crackles, wheeze, rhonchi, stridor, pleural
  rub, adventitious sounds) or a lung answer naming heart sounds (murmurs, S3/S4, gallops, valve
  lesions). Negated mentions count too: the heart card carries no lung call, so "no crackles" in
  a heart answer states something the findings cannot support (and the reverse).
- ``unsupported``: a patient detail that neither the prompt nor the user's context
  (``allowed_text``) carries and the sound cannot support: a diagnosis or history statement
  ("Recorded diagnosis: COPD", "history of asthma"), a condition name that is not a textbook
  association of a called finding (``resources/clinical_knowledge.json``), an age, sex,
  medication or symptom, or a number (bpm, percentage) that the prompt does not hold.
- ``event_not_on_card``: an event stated as present that the card does not call (S3 when the
  card has no S3 call, a diastolic murmur when diastolic timing is not called, a murmur grade or
  shape, a valve lesion when no murmur is called).

:func:`template_answer` (from :mod:`stethodesk.model.templates`) is the always-correct fallback
and :func:`fact_answer` answers heart rate, quality and "what did you find" questions from the
facts. No Qt, no torch.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from stethodesk.model import checker as ck
from stethodesk.model import vocabulary as vocab
from stethodesk.model.facts import knowledge, lesion_name
from stethodesk.model.templates import TASKS, heard_sentence, template_answer  # noqa: F401 (re-exported)

KINDS = ("contradiction", "wrong_domain", "unsupported", "event_not_on_card")
# sentences of general site knowledge (training/instructions location answers), not findings
GENERAL_CUE = re.compile(r"\blistens to\b|\btypical(?:ly)? (?:heard|finding|findings)\b|"
                         r"\btypical(?:ly)? (?:heard |found )?here\b", re.I)
NUMBER_TOLERANCE = 1.0  # an answer's number may differ from the prompt's by rounding (83.4% vs 83%)


@dataclass(frozen=True)
class Violation:
    """One reason an answer cannot be shown as it is.

    ``kind`` is one of :data:`KINDS`; ``message`` says what is wrong in plain words;
    ``evidence`` is the answer's words it is about (may be empty).
    """

    kind: str
    message: str
    evidence: str = ""


def _describe(name: str, value) -> str:
    if value == "conflict":
        return "both ways"
    if name == "abnormal":
        return "abnormal" if value else "normal"
    if name == "lesion":
        return "no valve lesion" if value == "N" else lesion_name(value)
    if name == "poor_quality":
        return "poor quality" if value else "adequate quality"
    if name == "murmur_timing":
        return str(value).replace("both", "systolic and diastolic")
    if isinstance(value, bool):
        return "present" if value else "absent"
    return str(value)


def _label(name: str) -> str:
    base = name[2:] if name[:2] in ("a.", "b.") else name
    who = {"a.": "recording A: ", "b.": "recording B: "}.get(name[:2], "")
    words = {"abnormal": "verdict", "murmur_timing": "murmur timing", "poor_quality": "recording quality"}
    return who + words.get(base, vocab.EVENT_NAMES.get(base, (None, base.replace("_", " ")))[1])


def _segments(text: str, facts: dict) -> list[tuple[str, str, dict]]:
    """(prefix, text to read, facts of that recording) - one per recording the facts name."""
    if any(k[:2] in ("a.", "b.") for k in facts):
        a, b = ck.split_ab(text)
        return [(p, seg, {k[2:]: v for k, v in facts.items() if k.startswith(p)})
                for p, seg in (("a.", a), ("b.", b))]
    return [("", _findings_part(text), facts)]


def _general(sentence: str) -> bool:
    return bool(GENERAL_CUE.search(sentence))


def _findings_part(text: str) -> str:
    """What reports this recording: after the findings marker, as the checker reads it; while the
    marker has not come yet (a streamed location answer), every sentence but the site's
    general knowledge ("The mitral area listens to ...; typically heard here: ...")."""
    if ck.FINDINGS_MARKER.search(text):
        return ck.scope(text)
    return "\n".join(s for _, s in _sentences(text) if not _general(s))


def _contradictions(text: str, facts: dict) -> list[Violation]:
    out = []
    for prefix, seg, f in _segments(text, facts):
        for name, expected in f.items():
            got = ck.parse_fact(name, text if name == "diagnosis" else seg)
            if got is not None and not ck.agrees(got, expected):
                out.append(Violation("contradiction", f"The answer states {_label(prefix + name)} "
                                     f"{_describe(name, got)}; the findings card shows "
                                     f"{_describe(name, expected)}.", prefix + name))
    if any(k[:2] in ("a.", "b.") for k in facts):
        for name, said in ck.parse_comparison_summary(text).items():
            if name in facts and not ck.agrees(said, facts[name]):
                out.append(Violation("contradiction", f"The summary states {_label(name)} "
                                     f"{_describe('abnormal', said)}; the findings card shows "
                                     f"{_describe('abnormal', facts[name])}.", name))
    return out


def _wrong_domain(text: str, domain: str) -> list[Violation]:
    words = vocab.LUNG_WORDS if domain == "heart" else vocab.HEART_WORDS
    abbrev = {} if domain == "heart" else vocab.HEART_ABBREVIATIONS
    out = []
    for name in dict.fromkeys(list(words) + list(abbrev)):
        m = (re.search(words[name], text, re.I) if name in words else None) or \
            (re.search(abbrev[name], text) if name in abbrev else None)
        if m:
            other = "lung" if domain == "heart" else "heart"
            out.append(Violation("wrong_domain", f"A {domain} answer names {name}, a {other} sound "
                                 f"finding; this recording has no {other} findings.", m.group(0)))
    return out


def support_phrases(facts: dict, domain: str) -> list[str]:
    """Clinical-knowledge phrases of the facts' called findings: the candidates, meanings and
    descriptions an answer may name without the prompt carrying them (textbook associations,
    ``resources/clinical_knowledge.json``); e.g. "pneumonia" when crackles are called."""
    kb = knowledge()
    f = {k[2:] if k[:2] in ("a.", "b.") else k: v for k, v in facts.items() if v not in (False, "absent")}
    parts = []
    if domain == "heart":
        if f.get("murmur") == "present":
            timings = {f.get("murmur_timing")} if "murmur_timing" in f else {None, "systolic", "diastolic", "both"}
            parts += [c for e in kb["murmur_differentials"] if e["timing"] in timings for c in e["candidates"]]
        parts += [t for k in vocab.HEART_EVENTS if f.get(k) for t in
                  [kb["heart_events"][k]["meaning"]] + kb["heart_events"][k]["candidates"]]
    else:
        for key, entry in kb["lung_patterns"].items():
            if any(f.get(ev) and key.startswith(ev) for ev in vocab.LUNG_EVENTS):
                parts += [entry["meaning"]] + entry["candidates"]
    return parts


def support_text(facts: dict, domain: str) -> str:
    """:func:`support_phrases` as one text."""
    return " ".join(support_phrases(facts, domain))


def _mask(text: str, phrases: list[str]) -> str:
    """``text`` with every phrase blanked out (a candidate such as "multifocal atrial tachycardia"
    named for a called finding is not a claim that the recording has tachycardia)."""
    for ph in sorted(phrases, key=len, reverse=True):
        text = re.sub(re.escape(ph), lambda m: "#" * len(m.group(0)), text, flags=re.I)
    return text


def _not_on_card(text: str, facts: dict, domain: str) -> list[Violation]:
    out = []
    events = ("murmur",) + vocab.HEART_EVENTS if domain == "heart" else vocab.LUNG_EVENTS

    def add(prefix, what, why):
        who = {"a.": "Recording A: the", "b.": "Recording B: the"}.get(prefix, "The")
        out.append(Violation("event_not_on_card", f"{who} answer names {what}, but {why}.", what))

    for prefix, seg, f in _segments(text, facts):
        seg = _mask(seg, support_phrases(f, domain))
        for ev in events:
            if ev not in f and ck.parse_fact(ev, seg) in (True, "present", "conflict"):
                add(prefix, vocab.EVENT_NAMES[ev][1], "the findings card has no call for it")
        if domain == "heart":
            timing = ck.parse_fact("murmur_timing", seg)
            if f.get("murmur") == "present" and timing and "murmur_timing" not in f:
                add(prefix, f"a {timing.replace('both', 'systolic and diastolic')} murmur",
                    "the card calls no murmur timing")
            for name in ("murmur_shape", "murmur_grade"):
                got = ck.parse_fact(name, seg)
                if got and name not in f:
                    add(prefix, f"a murmur {name.split('_')[1]} ({got})", "the card has no such finding")
            if "lesion" not in f and f.get("murmur") != "present":
                for code in dict.fromkeys(c for _, c in ck.lesion_mentions(seg) if c != "N"):
                    add(prefix, lesion_name(code), "the card calls no murmur")
        elif f.get("crackle") and "crackle_type" not in f:
            got = ck.parse_fact("crackle_type", seg)
            if got:
                add(prefix, f"{got.replace('both', 'fine and coarse')} crackles",
                    "the card does not call the crackle type")
    return out


def _sentences(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for part in re.split(r"(?<=[.!?])\s+|\n", text):
        at = text.find(part, pos)
        out.append((max(at, 0), part))
        pos = max(at, 0) + len(part)
    return out


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", text)]


@functools.lru_cache(maxsize=1)
def _site_text() -> str:
    """Every site's knowledge text (what answers say about a site before "In this recording:")."""
    return " ".join(" ".join([s["where"], s["listens_to"], *s["typical"]]) for s in knowledge()["sites"].values())


def _in(pattern: str, text: str) -> bool:
    """Does ``text`` (a user's context, a knowledge text) contain ``pattern``, in any case?"""
    return bool(re.search(pattern.replace("(?-i:", "(?:"), text, re.I))


def _unsupported(text: str, facts: dict, domain: str, allowed_text: str) -> list[Violation]:
    allowed = allowed_text or ""
    support = support_text(facts, domain)
    site_text = _site_text()
    marker = ck.FINDINGS_MARKER.search(text)
    out: list[Violation] = []

    def flag(what, evidence, why="which neither the prompt nor the user's context carries"):
        out.append(Violation("unsupported", f"The answer states {what}, {why}.", evidence))

    for at, sent in _sentences(text):
        general = (marker is not None and at < marker.start()) or _general(sent)  # site knowledge
        history = re.search(vocab.HISTORY, sent, re.I)
        claim = history or re.search(vocab.PATIENT_HAS, sent, re.I)
        names = [(pat, m.group(0), bool(re.search(vocab.KNOWN_BEFORE, sent[: m.start()], re.I)))
                 for pat in vocab.CONDITIONS.values() for m in re.finditer(pat, sent, re.I)]
        if history and not names:  # e.g. "Recorded diagnosis: healthy": its words must be in the context
            words = re.findall(r"[A-Za-z]{4,}", sent[history.end():]) or [history.group(0)]
            if not all(_in(r"\b" + re.escape(w), allowed) for w in words):
                flag(f"a patient history or diagnosis (\"{sent.strip()}\")", history.group(0))
        for pat, word, known in names:
            if _in(pat, allowed):
                continue
            if claim or known:  # the patient's own diagnosis: only what the user entered
                flag(f"the patient's diagnosis or history ({word})", word)
            elif not (_in(pat, support) or (general and _in(pat, site_text))):
                flag(f"a diagnosis ({word})", word, "which the prompt does not carry and no called "
                     "finding suggests")
    for pat, context in vocab.AGE.values():
        for m in re.finditer(pat, text, re.I):
            ok = _in(context, allowed) if context else \
                any(abs(n - v) < NUMBER_TOLERANCE for n in _numbers(m.group(0)) for v in _numbers(allowed))
            if not ok:
                flag(f"the patient's age ({m.group(0)})", m.group(0))
    for pat in vocab.SEX.values():
        m = re.search(pat, text, re.I)
        if m and not _in(pat, allowed):
            flag(f"the patient's sex ({m.group(0)})", m.group(0))
    for what, pat in (("a medication", vocab.MEDICATIONS), ("a symptom", vocab.SYMPTOMS)):
        for m in re.finditer(pat, text, re.I):
            if not (_in(re.escape(m.group(0)), allowed) or _in(re.escape(m.group(0)), support)):
                flag(f"{what} ({m.group(0)})", m.group(0))
    quoted = _numbers(allowed)
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s*(?:%|bpm\b|beats? per minute|/min\b)|"
                         r"\b(?:heart |pulse )?rate\W{0,3}(?:of |is |was )?[<>~]?\s*(\d+(?:\.\d+)?)", text, re.I):
        value = float(m.group(1) or m.group(2))
        if not any(abs(value - q) <= NUMBER_TOLERANCE for q in quoted):
            flag(f"a number ({m.group(0).strip()})", m.group(0), "which the findings do not give")
    return out


def verify(answer: str, facts: dict, domain: str, allowed_text: str = "") -> list[Violation]:
    """Everything in ``answer`` that the findings card or the prompt does not support.

    Parameters
    ----------
    answer : str
        The answer as it would be shown.
    facts : dict
        :func:`stethodesk.model.facts.card_facts` (or ``comparison_facts`` for a comparison).
    domain : {"heart", "lung"}
    allowed_text : str
        Everything the answer may draw on besides the card: the prompt text (which should hold
        :func:`stethodesk.model.facts.facts_text`) and the user's context (age group, known
        conditions, symptoms). Numbers, diagnoses, ages, sex, medications and symptoms are
        checked against it.

    Returns
    -------
    list[Violation]
        Empty when the answer can be shown; otherwise one entry per problem, in the order
        contradiction, wrong_domain, event_not_on_card, unsupported.
    """
    text = answer or ""
    found = (_contradictions(text, facts) + _wrong_domain(text, domain)
             + _not_on_card(text, facts, domain) + _unsupported(text, facts, domain, allowed_text))
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------- free questions

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
        heard = heard_sentence(sub, findings).replace(" heard.", " called.")
        return "Yes: " + heard[:1].lower() + heard[1:]
    num = f"; its calibrated probability is {findings[key]:.0%}" if key in findings else ""
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
