"""Run-time grounding: every sentence the app shows agrees with the findings card (issue 9).

:func:`verify` reads an answer with the checker's parsers and lists what is wrong with it:

- ``contradiction``: a fact stated the opposite way from the card, or both ways ("Abnormal ...
  Impression: normal"), or a comparison summary that disagrees with a recording's verdict. A
  fact the answer does not mention is not a violation. Besides the checker's words this covers
  (:mod:`stethodesk.model.claims`): verdict wording ("No abnormality is detected", "the lungs
  are clear", "needs no follow-up" on an abnormal card; "an abnormality", "pathological" on a
  normal one); a murmur called innocent or benign (or an innocent murmur as the leading
  candidate) when the card's verdict is abnormal or it calls a lesion, or calls no murmur; and
  a hedge about a call the card makes ("whether a murmur is present cannot be said" when the
  card calls it present or absent: the card decided it; a hedge about a point the card does not
  carry is fine).
- ``wrong_domain``: a heart answer naming lung sounds (crackles, wheeze, rhonchi, stridor, pleural
  rub, adventitious sounds) or a lung answer naming heart sounds (murmurs, S3/S4, gallops, valve
  lesions). Negated mentions count too: the heart card carries no lung call, so "no crackles" in
  a heart answer states something the findings cannot support (and the reverse). The other
  organ's sounds in general (breath sounds, vesicular, clear lungs; heart sounds, S1, S2, clicks,
  rhythm words) count too, except in a clause saying they are not assessed: heart sounds are
  audible on a lung recording, but the lung card calls nothing about them, so a lung answer
  may only say they are not assessed there (and the reverse).
- ``unsupported``: a patient detail that neither the prompt nor the user's context
  (``allowed_text``) carries and the sound cannot support: a diagnosis or history statement
  ("Recorded diagnosis: COPD", "history of asthma"; the card's verdict is no diagnosis, so
  "Recorded diagnosis: abnormal" is one too), a condition name that is not a textbook
  association of a called finding (``resources/clinical_knowledge.json``), an age, sex,
  medication or symptom, a number (bpm, percentage; in digits or in words, "about sixty beats
  per minute") that the prompt does not hold, or dataset-label wording ("patient-level",
  "outcome", "annotated", "unspecified <word>") the prompt does not use. The app's prompt says
  "recorded at the unspecified site" when no site is given, so "the unspecified site" may be
  echoed then (it is true); "the unspecified lung" is in no prompt.
- ``event_not_on_card``: an event stated as present that the card does not call (S3 when the
  card has no S3 call, a diastolic murmur when diastolic timing is not called, a valve lesion
  when no murmur is called); a murmur or heart-sound detail no head scores (holosystolic,
  grade, shape, pitch, quality, radiation, ejection click, opening snap, gallop, split S2: the
  card calls timing only as systolic/diastolic); a leading candidate no head scores
  (tricuspid regurgitation, a septal defect...) when the card calls a lesion, or one that is
  no textbook cause of the called murmur timing (aortic regurgitation for a systolic murmur).
  When the card calls a lesion, the first cause a ranking names must be it.

:func:`template_answer` (from :mod:`stethodesk.model.templates`) is the always-correct fallback
and :func:`fact_answer` (:mod:`stethodesk.model.fact_answers`) answers heart rate, quality and
"what did you find" questions from the facts. No Qt, no torch.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from stethodesk.model import checker as ck
from stethodesk.model import claims
from stethodesk.model import vocabulary as vocab
from stethodesk.model.fact_answers import fact_answer  # noqa: F401 (re-exported)
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


def _claim_contradictions(prefix: str, seg: str, f: dict, domain: str) -> list[Violation]:
    """Verdict wording, innocence and hedges that disagree with the card (:mod:`.claims`)."""
    out = []

    def add(name, words, what):
        out.append(Violation("contradiction", f"The answer {what} (\"{words}\"); the findings card shows "
                             f"{_label(prefix + name)} {_describe(name, f[name])}.", prefix + name))

    called = [k for k in ("murmur",) + vocab.HEART_EVENTS + vocab.LUNG_EVENTS if f.get(k) in (True, "present")]
    for abnormal, words in claims.verdict_claims(seg, domain):
        if "abnormal" in f and abnormal != f["abnormal"]:
            add("abnormal", words, f"says {'abnormal' if abnormal else 'normal'} in other words")
        elif "abnormal" not in f and not abnormal and called:
            add(called[0], words, "says normal in other words")
    if domain == "heart":
        for words in claims.innocence_claims(seg):
            name = next((k for k, v in (("abnormal", f.get("abnormal") is True), ("lesion", "lesion" in f),
                                        ("murmur", f.get("murmur") == "absent")) if v), None)
            if name:
                add(name, words, "calls the murmur innocent")
    for name, words in claims.hedge_denials(seg, f):
        add(name, words, "says this cannot be told")
    return out


def _contradictions(text: str, facts: dict, domain: str) -> list[Violation]:
    out = []
    for prefix, seg, f in _segments(text, facts):
        for name, expected in f.items():
            got = ck.parse_fact(name, text if name == "diagnosis" else seg)
            if got is not None and not ck.agrees(got, expected):
                out.append(Violation("contradiction", f"The answer states {_label(prefix + name)} "
                                     f"{_describe(name, got)}; the findings card shows "
                                     f"{_describe(name, expected)}.", prefix + name))
        out += _claim_contradictions(prefix, seg, f, domain)
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
    # the other organ's sounds in general: only "not assessed" (a hedged clause) may be said of them
    general = [(n, p, re.I) for n, p in (vocab.LUNG_GENERAL_WORDS if domain == "heart" else
                                          vocab.HEART_GENERAL_WORDS).items()]
    general += [] if domain == "heart" else [(n, p, 0) for n, p in vocab.HEART_GENERAL_ABBREVIATIONS.items()]
    seen: set[str] = set()
    for c in ck.clauses(text) if any(re.search(p, text, f) for _, p, f in general) else ():
        if claims.hedged(c):
            continue
        for name, pat, flags in general:
            m = re.search(pat, c, flags)
            if m and name not in seen:
                seen.add(name)
                other = "lung" if domain == "heart" else "heart"
                out.append(Violation("wrong_domain", f"A {domain} answer speaks of {name}; the {domain} card "
                                     f"calls nothing about {other} sounds, so it may only say they are "
                                     "not assessed.", m.group(0)))
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


def _leading(prefix: str, seg: str, f: dict, support: str) -> list[Violation]:
    """A ranking's first cause: the card's lesion when it calls one; otherwise a cause no head
    scores only when it is a textbook cause of the called murmur timing."""
    lead = claims.leading_candidate(seg)
    if lead is None or not (lead[0] in vocab.NO_HEAD_CAUSES or lead[0] in vocab.LESIONS_WITHOUT_HEAD):
        return []
    name = lesion_name(lead[0]) if lead[0] in vocab.LESIONS_WITHOUT_HEAD else lead[0]
    who = {"a.": "Recording A: the", "b.": "Recording B: the"}.get(prefix, "The")
    if "lesion" in f:
        why = f"the card calls {lesion_name(f['lesion'])}, and no head scores {name}"
    elif f.get("murmur") == "present" and not _in(r"\b" + re.escape(name), support):
        why = "it is no textbook cause of the murmur the card calls"
    else:
        return []
    return [Violation("event_not_on_card", f"{who} answer ranks {name} first, but {why}.", lead[1])]


def _not_on_card(text: str, facts: dict, domain: str) -> list[Violation]:
    out = []
    events = ("murmur",) + vocab.HEART_EVENTS if domain == "heart" else vocab.LUNG_EVENTS

    def add(prefix, what, why):
        who = {"a.": "Recording A: the", "b.": "Recording B: the"}.get(prefix, "The")
        out.append(Violation("event_not_on_card", f"{who} answer names {what}, but {why}.", what))

    for prefix, seg, f in _segments(text, facts):
        support = support_phrases(f, domain)
        if domain == "heart":
            out += _leading(prefix, seg, f, " ".join(support))
        seg = _mask(seg, support)
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
                for name in dict.fromkeys(n for _, n, _ in claims.candidate_mentions(seg) if n in vocab.NO_HEAD_VALVES):
                    add(prefix, name, "the card calls no murmur")
            for name, words in claims.murmur_details(seg, f):
                add(prefix, f"{name} ({words})", "no head scores it (the card calls a murmur's timing only "
                    "as systolic or diastolic)")
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
            verdict = re.search(vocab.VERDICT_NOT_DIAGNOSIS, sent[history.end():], re.I)  # the card's, no diagnosis
            if verdict or not all(_in(r"\b" + re.escape(w), allowed) for w in words):
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
    quoted = [v for v, _ in claims.numbers(allowed, measured=False)]
    for value, words in claims.numbers(text):  # digits or words: "about sixty beats per minute"
        if not any(abs(value - q) <= NUMBER_TOLERANCE for q in quoted):
            flag(f"a number ({words})", words, "which the findings do not give")
    for m in re.finditer(vocab.LABEL_WORDS, text, re.I):
        if not _in(re.escape(m.group(0)), allowed):
            flag(f"dataset-label wording ({m.group(0)})", m.group(0), "which describes how training data "
                 "was labelled, not this recording, and the prompt does not use it")
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
    found = (_contradictions(text, facts, domain) + _wrong_domain(text, domain)
             + _not_on_card(text, facts, domain) + _unsupported(text, facts, domain, allowed_text))
    return list(dict.fromkeys(found))
