"""What an answer claims beyond the checker's facts: readers for the run-time grounding (issue 9).

:mod:`stethodesk.model.checker` reads the facts a card carries (verdict, murmur, events,
lesion...). An answer can still disagree with the card in words those parsers do not read;
:func:`stethodesk.model.grounding.verify` uses these readers for them:

- :func:`verdict_claims`: verdict wording besides "normal"/"abnormal" ("No abnormality is
  detected", "the lungs are clear", "needs no follow-up", "pathological");
- :func:`innocence_claims`: a murmur said to be innocent or benign, or an innocent murmur named
  as the leading candidate;
- :func:`leading_candidate`: the first cause a ranking names (a valve lesion, a cause no head
  scores, an innocent murmur), outside general "textbook" lists;
- :func:`murmur_details`: murmur and heart-sound details no head scores (holosystolic, grade,
  radiation, ejection click, opening snap, gallop, split S2...);
- :func:`hedge_denials`: hedges ("cannot be determined", "whether ...") about a call the card
  makes;
- :func:`numbers`: rates and percentages in digits or in words ("about sixty beats per minute").

Every reader skips negated mentions where that matters and reads clauses as the checker does.
Pure Python, no Qt, no torch.
"""

from __future__ import annotations

import functools
import re

from stethodesk.model import checker as ck
from stethodesk.model import vocabulary as vocab

_HEDGE = re.compile(vocab.HEDGE, re.I)
_TEXTBOOK = re.compile(vocab.TEXTBOOK_CUE, re.I)
_MURMUR = re.compile(vocab.CONCEPTS["murmur"], re.I)
_NOT = re.compile(r"\bnot\b", re.I)
_NEG_INNOCENT = re.compile(r"\b(?:rarely|seldom|not|never|unlikely|nor|no)\b", re.I)
_INNOCENT_SAID = re.compile(vocab.INNOCENT_SAID, re.I)
_INNOCENT_NAMES = re.compile(vocab.INNOCENT_NAMES, re.I)
_REASSURANCE = re.compile(vocab.REASSURANCE, re.I)
_LESION_N = re.compile(vocab.LESION_N, re.I)
INNOCENT = "innocent murmur"  # leading_candidate's name for an innocent murmur
# quick tests on the whole text: most answers name none of these, and verify() runs per sentence
_ANY_VERDICT = re.compile(r"abnormalit|unremarkable|normal limits|concern|patholog|clear|follow|work-?up|"
                          r"evaluation|investigation|action|treatment|referral|worry", re.I)  # each phrase has one
_ANY_INNOCENT = re.compile(vocab.INNOCENT_WORD + "|" + vocab.INNOCENT_NAMES, re.I)
_ANY_DETAIL = re.compile("|".join(p for p, _ in vocab.MURMUR_DETAILS.values()), re.I)
_DETAILS = {name: (re.compile(p, re.I), murmur_only) for name, (p, murmur_only) in vocab.MURMUR_DETAILS.items()}
_CAUSES = [(INNOCENT, _INNOCENT_NAMES)] + [(k, re.compile(p, re.I)) for k, p in vocab.NO_HEAD_CAUSES.items()]
_ANY_CAUSE = re.compile("|".join(rx.pattern for _, rx in _CAUSES), re.I)


def _spans(text: str) -> list[tuple[int, str]]:
    """(offset, clause) of every clause of ``text`` (the checker's clauses)."""
    out, pos = [], 0
    for c in ck.clauses(text):
        at = text.find(c, pos)
        at = pos if at < 0 else at
        out.append((at, c))
        pos = at + len(c)
    return out


@functools.lru_cache(maxsize=1024)
def hedged(clause: str) -> bool:
    """Does the clause say its point cannot be told ("cannot be determined", "whether")?"""
    return bool(_HEDGE.search(clause))


# ---------------------------------------------------------------------------- verdicts


def verdict_claims(text: str, domain: str) -> list[tuple[bool, str]]:
    """(True if it says abnormal, words) for each verdict statement the checker does not read.

    "No abnormality is detected" and "the lungs are clear" (lung answers) say normal; "an
    abnormality", "the lungs are not clear" and "pathological" say abnormal; reassurance
    ("needs no follow-up", "nothing to worry about") says normal. Hedged clauses say nothing.
    """
    out: list[tuple[bool, str]] = []
    if not _ANY_VERDICT.search(text):
        return out
    masked = _LESION_N.sub(lambda m: "#" * len(m.group(0)), text)  # "no valvular abnormality"
    for pat, dom, abnormal in vocab.VERDICT_PHRASES:
        if dom not in (None, domain):
            continue
        for words, asserted in ck.mentions(masked, pat):
            if _NOT.search(words):  # "the lungs are not clear"
                asserted = not asserted
            out.append((abnormal if asserted else not abnormal, words))
    for at, c in _spans(text):
        if not hedged(c):
            out += [(False, m.group(0)) for m in _REASSURANCE.finditer(c)
                    if not ck.negated_before(c[: m.start()][-30:])]
    return out


def innocence_claims(text: str) -> list[str]:
    """Words that call this recording's murmur innocent: "the murmur is benign", "most likely
    innocent", or an innocent murmur as the leading candidate ("This is an innocent flow
    murmur"). An innocent murmur named lower in a ranking is a candidate, not a claim."""
    out: list[str] = []
    if not _ANY_INNOCENT.search(text):
        return out
    for _, c in _spans(text):
        if hedged(c):
            continue
        for m in _INNOCENT_SAID.finditer(c) if _MURMUR.search(c) else ():  # "a physiological S3" is no murmur
            if not _NEG_INNOCENT.search(m.group(0)) and not ck.negated_before(c[: m.start()][-30:]):
                out.append(m.group(0))
    lead = leading_candidate(text)
    if lead and lead[0] == INNOCENT:
        out.append(lead[1])
    return out


# ---------------------------------------------------------------------------- candidates


@functools.lru_cache(maxsize=256)
def candidate_mentions(text: str) -> tuple[tuple[int, str, str], ...]:
    """(offset, name, words) of every cause the text asserts, in order: lesion codes of
    :data:`~stethodesk.model.vocabulary.LESIONS`, names of
    :data:`~stethodesk.model.vocabulary.NO_HEAD_CAUSES` and :data:`INNOCENT`. Negated mentions,
    hedged clauses and general "textbook" lists ("Other textbook causes ...") are left out."""
    spans = _spans(text)
    skip = [range(at, at + len(c)) for at, c in spans if hedged(c) or _TEXTBOOK.search(c)]
    hits = [(off, code, code) for off, code in ck.lesion_mentions(text)
            if code != "N" and not any(off in r for r in skip)]
    if not _ANY_CAUSE.search(text):
        return tuple(hits)
    for at, c in spans:
        if any(at in r for r in skip) or not _ANY_CAUSE.search(c):
            continue
        taken: list[range] = []
        for name, rx in _CAUSES:
            for m in rx.finditer(c):
                if any(m.start() in r for r in taken) or ck.negated_before(c[: m.start()][-30:], m.group(0)):
                    continue
                taken.append(range(m.start(), m.end()))
                hits.append((at + m.start(), name, m.group(0)))
    return tuple(sorted(hits))


def leading_candidate(text: str) -> tuple[str, str] | None:
    """(name, words) of the first cause the text names (a ranking names the most likely first)."""
    hits = candidate_mentions(text)
    return (hits[0][1], hits[0][2]) if hits else None


# ---------------------------------------------------------------------------- details, hedges


def murmur_details(text: str, facts: dict) -> list[tuple[str, str]]:
    """(detail name, words) of murmur and heart-sound details asserted in ``text`` that ``facts``
    do not carry (:data:`~stethodesk.model.vocabulary.MURMUR_DETAILS`); a grade counts only when
    the facts carry no murmur grade and the checker reads none (it reports "III/VI" itself), a
    gallop only when they call no S3 or S4."""
    out: list[tuple[str, str]] = []
    if not _ANY_DETAIL.search(text):
        return out
    spans = [c for _, c in _spans(text) if _ANY_DETAIL.search(c) and not hedged(c)]
    for name, (rx, murmur_only) in _DETAILS.items():
        if name == "grade" and ("murmur_grade" in facts or ck.parse_fact("murmur_grade", text)):
            continue  # the checker's grade reading (murmur_grade) reports it
        if name == "gallop" and (facts.get("s3") or facts.get("s4")):
            continue
        for c in spans:
            if rx.search(c) and not (murmur_only and not _MURMUR.search(c)):
                out += [(name, words) for words, asserted in ck.mentions(c, rx.pattern, post=False) if asserted]
    return out


def _names(clause: str, key: str) -> bool:
    pat = vocab.CONCEPTS[key]
    if key == "murmur":
        clause = _INNOCENT_NAMES.sub(" ", clause)
    return bool(re.search(pat, clause, re.I) or
                (key in vocab.ABBREVIATIONS and re.search(vocab.ABBREVIATIONS[key], clause)))


def hedge_denials(text: str, facts: dict) -> list[tuple[str, str]]:
    """(fact, clause) of every hedge about a call ``facts`` make: "whether a murmur is present
    cannot be said" when the card calls the murmur (present or absent); "the specific abnormal
    sound cannot be determined" when the card calls a sound present or the verdict normal;
    "which sounds are present / the findings cannot be determined" when it calls any sound;
    "whether this is abnormal cannot be determined" when it gives a verdict. A hedge about a
    point the card does not carry names no fact and is fine."""
    sounds = [k for k in ("murmur",) + vocab.HEART_EVENTS + vocab.LUNG_EVENTS if k in facts]
    present = [k for k in sounds if facts[k] in (True, "present")]
    out = []
    for _, c in _spans(text):
        if not hedged(c):
            continue
        named = [k for k in sounds if _names(c, k)]
        murmur = "murmur" in named
        if murmur and re.search(vocab.HEDGE_DETAIL, c, re.I):
            named.remove("murmur")  # a hedge about the murmur's timing or cause, not about a murmur
        if "murmur_timing" in facts and re.search(r"\btiming\b|\bsystol|\bdiastol", c, re.I):
            named.append("murmur_timing")
        if "lesion" in facts and re.search(r"\blesion\b|\bvalv" + (r"|\bcause\b" if murmur else ""), c, re.I):
            named.append("lesion")
        if re.search(vocab.HEDGE_ABNORMAL_SOUND, c, re.I):
            named += present[:1] or (["abnormal"] if facts.get("abnormal") is False else [])
        elif re.search(vocab.HEDGE_ANY_SOUND, c, re.I) or re.search(vocab.HEDGE_FINDINGS, c, re.I):
            named += sounds[:1]
        elif not named and re.search(vocab.HEDGE_VERDICT, c, re.I) and "abnormal" in facts:
            named.append("abnormal")  # "whether this is abnormal", not "whether the S3 is normal"
        out += [(k, c.strip()) for k in dict.fromkeys(named)]
    return out


# ---------------------------------------------------------------------------- numbers

_ONES = "|".join(sorted(vocab.NUMBER_WORDS, key=len, reverse=True))
_DIGIT = "|".join(w for w in vocab.NUMBER_WORDS if 1 <= vocab.NUMBER_WORDS[w] <= 9)
_UNDER_100 = rf"(?:(?:{'|'.join(vocab.TENS_WORDS)})(?:[- ](?:{_DIGIT}))?|(?:{_ONES}))"
_SPELLED = re.compile(rf"\b(?:(?:a|{_DIGIT})[- ]hundred(?:(?: and)?[- ]{_UNDER_100})?|{_UNDER_100})\b", re.I)
_NUMBER = re.compile(rf"(?<![A-Za-z])\d+(?:\.\d+)?|{_SPELLED.pattern}", re.I)
_NUMBER_END = re.compile(rf"(?:{_NUMBER.pattern})\s*$", re.I)
_ANCHOR = re.compile(rf"(?P<unit>{vocab.NUMBER_UNIT})|(?P<rate>{vocab.RATE_LEAD})", re.I)


def _value(words: str) -> float:
    """The value of a number in digits or words ("seventy-two" -> 72.0)."""
    if words[:1].isdigit():
        return float(words)
    total, part = 0, 0
    for w in re.split(r"[- ]+", words.lower()):
        if w == "hundred":
            total, part = total + 100 * (part or 1), 0
        elif w in vocab.TENS_WORDS:
            part += vocab.TENS_WORDS[w]
        elif w in vocab.NUMBER_WORDS:
            part += vocab.NUMBER_WORDS[w]
    return float(total + part)


def numbers(text: str, measured: bool = True) -> list[tuple[float, str]]:
    """(value, words) of numbers in ``text``, in digits or in words. ``measured``: only rates
    and percentages, a number followed by a unit (%, percent, bpm, beats, /min) or following
    "rate (of|is)"; otherwise every number."""
    if not measured:
        return list(_all_numbers(text))
    out = {}
    for a in _ANCHOR.finditer(text):
        if a.group("unit"):  # the number just before the unit
            window = text[max(0, a.start() - 40): a.start()]
            m = _NUMBER_END.search(window)
            if m:
                at = a.start() - len(window) + m.start()
                out[at] = (_value(m.group(0).strip()), text[at: a.end()])
        else:  # "rate of 72", "a rate of seventy" (not "the rate is one of ...")
            m = _NUMBER.match(text, a.end())
            if m and not re.match(r"\s+of\b", text[m.end():]):
                out.setdefault(m.start(), (_value(m.group(0)), text[a.start(): m.end()]))
    return [out[k] for k in sorted(out)]


@functools.lru_cache(maxsize=32)
def _all_numbers(text: str) -> tuple[tuple[float, str], ...]:
    return tuple((_value(m.group(0)), m.group(0)) for m in _NUMBER.finditer(text))
