"""Deterministic clinical-accuracy checker: does an answer state the facts correctly?

``check(answer_text, facts) -> CheckResult(correct, per_fact, parsed)``. For every asserted fact
(e.g. ``{"abnormal": True, "murmur": "present", "murmur_timing": "systolic"}``) the answer is
parsed for what it says about that fact, with negation handling ("no murmur", "without crackles",
"Crackles: absent", "No crackles, wheezes or rhonchi"), hedges ("cannot be determined" asserts
nothing) and conflicts (saying both "murmur present" and "no murmur" is wrong). An answer that does
not mention a fact fails that fact: the clinical accuracy of an answer is that it states every
asserted fact correctly (StethoLM-style clinical accuracy, judged by code instead of an LLM).

Comparison facts are prefixed ``a.``/``b.`` and are parsed in the part of the answer about
recording A / recording B; a summary ("Overall, both are abnormal") must agree with both (the
parts and the summary are found by :mod:`stethodesk.model.comparison_answers`). When an answer
has a findings marker ("In this recording:", "In this exam:"), the text before it is general knowledge (site
descriptions) and is not parsed for findings.

The app uses the same parsers at run time (:mod:`stethodesk.model.grounding`) to keep answers in
line with the findings card, and training uses them to score generated answers
(``training/checker.py`` re-exports this module). Pure Python: no Qt, no torch.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from stethodesk.model.comparison_answers import parse_comparison_summary, split_ab, summary_text
from stethodesk.model.vocabulary import (  # the checker's vocabulary, re-exported in __all__
    ABBREVIATIONS, CONCEPTS, DIAGNOSES, GROUPS, LESION_N, LESIONS, MURMUR_NAMES, ROMAN, SHAPES,
)

__all__ = [
    "ABBREVIATIONS", "CONCEPTS", "DIAGNOSES", "FINDINGS_MARKER", "GROUPS", "LESIONS", "LESION_CODES",
    "LESION_N", "MURMUR_NAMES", "CheckResult", "agrees", "check", "clauses", "lesion_mentions", "mentions",
    "negated_before",
    "parse_comparison_summary", "parse_fact", "scope", "split_ab", "summary_text",
]

NEG_PRE = re.compile(r"\b(?:no|not|without|absent|absence of|neither|nor|none|nothing|free of|"
                     r"negative for|lack of|lacks|rules? out|ruled out|denies|cannot hear|"
                     r"can't hear|never)\b|n't\b", re.I)
NEG_POST = re.compile(r"^\W{0,3}(?:is |are |was |were )?(?:absent|none|not\b|no\b|negative)", re.I)
UNKNOWN_CUE = re.compile(r"cannot be (?:determined|assessed|judged)|can't be determined|"
                         r"\bunknown\b|not assessed|not annotated|\bunclear\b|\buncertain\b|"
                         r"\bwhether\b", re.I)
CLAUSE_SPLIT = re.compile(r";|:\s*(?=whether\b)|\bbut\b|\bhowever\b|\bwhereas\b|\balthough\b|\bwhile\b", re.I)
SENTENCE_SPLIT = re.compile(r"(?<![0-9])[.!?](?=\s|$)|\n|(?<=\d)\.\s")
FINDINGS_MARKER = re.compile(r"\b(?:in|on) this (?:recording|exam)\s*[:,]|findings in this recording\s*:", re.I)


@dataclass
class CheckResult:
    """The verdict of :func:`check`.

    ``correct`` is True iff every fact is stated correctly; ``per_fact`` says which;
    ``parsed`` holds what the answer was read as saying (None = not stated, "conflict" = both ways).
    """

    correct: bool
    per_fact: dict[str, bool]
    parsed: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- clause polarity


@functools.lru_cache(maxsize=512)
def clauses(text: str) -> tuple[str, ...]:
    """Sentences split into clauses (cached: every fact parser reads the same answer)."""
    out = []
    for sent in SENTENCE_SPLIT.split(text):
        for c in CLAUSE_SPLIT.split(sent):
            if c and c.strip():
                out.append(c)
    return tuple(out)


NEG_LABEL = re.compile(r"^\W*(?:not detected|not heard|not present|absent|none|negative|no)\W*$", re.I)


# a comma chunk that starts a new phrase ends a negation's scope ("without murmurs, the normal
# pattern"; "no murmur, normal rhythm"); bare list items ("no crackles, wheezes or rhonchi") do not
SCOPE_BREAK = re.compile(r"\b(?:the|a|an|this|that|is|are|was|were|has|have|with|which)\b|"
                         r"^\s*(?:normal|regular|clear)\b", re.I)


def negated_before(pre: str, mention: str = "") -> bool:
    """Is a mention negated by the text before it in its clause? A colon ends the negation scope
    ("No abnormal sounds: this is normal") unless the part before it is only a negative label
    ("Not detected: crackles", "Absent: murmur"); so does a comma that starts a new phrase."""
    parts = pre.split(":")
    cues = list(NEG_PRE.finditer(parts[-1]))
    if cues:
        between = parts[-1][cues[-1].end():] + mention
        return not any(SCOPE_BREAK.search(chunk) for chunk in between.split(",")[1:])
    return len(parts) > 1 and bool(NEG_LABEL.match(parts[-2].split(".")[-1]))


def mentions(text: str, pattern: str, flags=re.I, mask: str | None = None, post: bool = True) -> list[tuple[str, bool]]:
    """(words, asserted: not negated) of every mention of ``pattern`` outside hedged clauses;
    ``post`` also reads a negation right after it ("Crackles: absent"). Grounding uses it too."""
    out = []
    for c in clauses(text):
        if mask:
            c = re.sub(mask, lambda m: "#" * len(m.group(0)), c, flags=re.I)
        for m in re.finditer(pattern, c, flags):
            if UNKNOWN_CUE.search(c):
                continue
            pre, rest = c[: m.start()], c[m.end():]
            neg = negated_before(pre, m.group(0)) or (post and bool(NEG_POST.match(rest)))
            out.append((m.group(0), not neg))
    return out


def _polarities(text: str, pattern: str, flags=re.I, mask: str | None = None, post: bool = True) -> list[bool]:
    """Polarity (True = asserted present) of every mention (:func:`mentions`)."""
    return [p for _, p in mentions(text, pattern, flags, mask, post)]


def _bool_value(pols: list[bool]):
    if not pols:
        return None
    if all(pols):
        return True
    if not any(pols):
        return False
    return "conflict"


# ---------------------------------------------------------------------------- fact parsers


# "normal" qualifying one feature, not the recording: read as a verdict only when the answer has
# no other verdict word ("Abnormal: a systolic murmur; normal S1 and S2" is not a conflict)
QUALIFIED_NORMAL = re.compile(r"\bnormal (?:sinus )?(?:rhythm|heart rate|rate|S1|S2|first heart sound|"
                              r"second heart sound|splitting|split)\b", re.I)


def parse_abnormal(text: str):
    """Verdict: True (abnormal), False (normal), None (not stated) or "conflict"."""
    t = re.sub(r"\bnormal (?:or|and|vs\.?|versus) abnormal\b|\babnormal (?:or|and) normal\b", " ", text,
               flags=re.I)

    def verdicts(x: str) -> list[bool]:
        # verdict words head their clause ("Normal: no crackles"), so no post-negation here
        vals = list(_polarities(x, r"\babnormal\b", post=False))
        return vals + [not p for p in _polarities(x, r"\bnormal\b", post=False)]

    vals = verdicts(QUALIFIED_NORMAL.sub(lambda m: "#" * len(m.group(0)), t)) or verdicts(t)
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


def _clause_spans(text: str) -> list[tuple[int, str]]:
    """(offset in ``text``, clause) for every clause, in order."""
    out, pos = [], 0
    for c in clauses(text):
        at = text.find(c, pos)
        at = pos if at < 0 else at
        out.append((at, c))
        pos = at + len(c)
    return out


def lesion_mentions(text: str) -> list[tuple[int, str]]:
    """(offset, lesion code) of every lesion the text asserts, in order; "N" = no valve lesion.

    Negated mentions ("not aortic stenosis") and hedged clauses ("cannot be determined") are
    left out. Abbreviations match case-sensitively ("AS" is not "as").
    """
    return list(_lesion_mentions(text))


@functools.lru_cache(maxsize=256)
def _lesion_mentions(text: str) -> tuple[tuple[int, str], ...]:
    hits = []
    for at, c in _clause_spans(text):
        if UNKNOWN_CUE.search(c):
            continue
        n = re.search(LESION_N, c, re.I)
        if n:
            hits.append((at + n.start(), "N"))
        masked = re.sub(LESION_N, lambda m: "#" * len(m.group(0)), c, flags=re.I)
        for name, pat in LESIONS.items():
            spelled = pat.replace(r"|\b" + name + r"\b", "")
            found = [m for m in re.finditer(pat, masked)] + [m for m in re.finditer(spelled, masked, re.I)]
            for m in found:
                # a negation close before it ("not aortic stenosis"), within its phrase
                if negated_before(masked[: m.start()][-30:], m.group(0)):
                    continue
                hits.append((at + m.start(), name))
    return tuple(sorted(set(hits)))


def parse_lesion(text: str):
    """The first lesion the answer asserts (ranked differentials name the most likely first)."""
    hits = lesion_mentions(text)
    return hits[0][1] if hits else None


def parse_crackle_type(text: str):
    fine = coarse = False
    for c in clauses(text):
        if not re.search(CONCEPTS["crackle"], c, re.I) or UNKNOWN_CUE.search(c):
            continue
        if not any(_polarities(c, CONCEPTS["crackle"])):
            continue
        fine |= bool(re.search(r"\bfine\b", c, re.I))
        coarse |= bool(re.search(r"\bcoarse\b", c, re.I))
    return "both" if fine and coarse else "fine" if fine else "coarse" if coarse else None


def parse_murmur_shape(text: str):
    for c in clauses(text):
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
    return min(hits)[1] if hits else None


def parse_poor_quality(text: str):
    poor = re.search(r"quality\W{0,3}(?:is |was )?(?:too |very )?(?:poor|low|inadequate|insufficient|bad)|"
                     r"\bpoor(?:ly)?[- ](?:quality|recording quality)|\bpoor recording\b|\bnoisy\b|"
                     r"not interpretable|\buninterpretable\b|\bunusable\b", text, re.I)
    good = re.search(r"quality\W{0,3}(?:is |was )?(?:adequate|good|acceptable|fine|clear|sufficient)|"
                     r"\b(?:good|adequate|acceptable)[- ](?:recording )?quality", text, re.I)
    if poor and good:
        return "conflict"
    return True if poor else False if good else None


def scope(text: str) -> str:
    """The part of ``text`` that reports this recording's findings (from the findings marker on)."""
    m = FINDINGS_MARKER.search(text)
    return text[m.start():] if m else text


PARSERS = {"abnormal": parse_abnormal, "murmur": parse_murmur, "murmur_timing": parse_murmur_timing,
           "lesion": parse_lesion, "crackle_type": parse_crackle_type, "murmur_shape": parse_murmur_shape,
           "murmur_grade": parse_murmur_grade, "diagnosis": parse_diagnosis, "poor_quality": parse_poor_quality}


def parse_fact(name: str, text: str):
    """What ``text`` states about fact ``name`` (None: not stated; "conflict": both ways).

    ``name`` is one of "abnormal", "murmur", "murmur_timing", "lesion", "crackle_type",
    "murmur_shape", "murmur_grade", "diagnosis", "poor_quality" or a key of :data:`CONCEPTS`;
    anything else raises KeyError.
    """
    parser = PARSERS.get(name)
    if parser is not None:
        return parser(text)
    if name in CONCEPTS:
        pols = _polarities(text, CONCEPTS[name], re.I)
        if name in ABBREVIATIONS:
            pols += _polarities(text, ABBREVIATIONS[name], 0)
        for pat, members in GROUPS.values():
            if name in members:
                pols += [p for p in _polarities(text, pat) if p is False]
        return _bool_value(pols)
    raise KeyError(f"checker does not know fact {name!r}")


LESION_CODES = tuple(LESIONS) + ("N",)


def _norm(v):
    return v.lower() if isinstance(v, str) and v not in LESION_CODES else v


def agrees(got, expected) -> bool:
    """Does a parsed value state ``expected`` (not None, not "conflict", same value)?"""
    return got is not None and got != "conflict" and _norm(got) == _norm(expected)


def check(answer_text: str, facts: dict) -> CheckResult:
    """Judge ``answer_text`` against the asserted ``facts`` (see module docstring).

    Parameters
    ----------
    answer_text : str
        The answer as shown.
    facts : dict
        Fact name -> expected value, e.g. ``{"abnormal": True, "murmur": "present"}``;
        comparison facts are prefixed ``a.``/``b.``.

    Returns
    -------
    CheckResult
        ``correct`` only when every fact is stated, unambiguously and correctly.
    """
    text = answer_text or ""
    per_fact: dict[str, bool] = {}
    parsed: dict = {}
    parts = summary = None
    if any(k.startswith(("a.", "b.")) for k in facts):
        parts = split_ab(text)
        summary = parse_comparison_summary(text)
    scoped = scope(text)
    for name, expected in facts.items():
        if name.startswith(("a.", "b.")):
            seg = parts[0] if name.startswith("a.") else parts[1]
            got = parse_fact(name[2:], seg)
            said = summary.get(name)
            if said is not None and got is not None and not agrees(said, got):
                got = "conflict"  # "Recording B: normal ... Overall, both are abnormal"
            elif said is not None and got is None:
                got = said
        else:
            src = text if name == "diagnosis" else scoped
            got = parse_fact(name, src)
        parsed[name] = got
        per_fact[name] = agrees(got, expected)
    return CheckResult(all(per_fact.values()) if per_fact else False, per_fact, parsed)
