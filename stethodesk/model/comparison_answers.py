"""Reading a comparison answer: the part about recording A, the part about B, and its summary.

A comparison answer ("Recording A (mitral area): abnormal ... Recording B: normal ... Overall,
only A is abnormal") is judged per recording: :func:`split_ab` cuts it at its markers, and
:func:`parse_comparison_summary` reads what the summary says of each verdict, which must agree
with both parts. Used by the checker (:func:`stethodesk.model.checker.check`, which re-exports
these in its API) and the run-time grounding. Pure Python: no Qt, no torch.
"""

from __future__ import annotations

import re

A_MARK = re.compile(r"\brecording a\b|\bfirst recording\b", re.I)
B_MARK = re.compile(r"\brecording b\b|\bsecond recording\b", re.I)
SUMMARY_MARK = re.compile(r"\b(?:overall|in short|in summary)\b|\bboth (?:are|recordings)\b|"
                          r"\bonly (?:a|b) (?:is|has)\b|\bneither (?:is|recording)\b", re.I)


def _ab_marks(text: str):
    a = A_MARK.search(text)
    b = B_MARK.search(text, a.end() if a else 0)
    s = SUMMARY_MARK.search(text, b.end()) if b else None
    return a, b, s


def split_ab(text: str) -> tuple[str, str]:
    """(part about recording A, part about recording B) of a comparison answer.

    A runs from its marker ("Recording A", "first recording") to B's marker; B runs to the
    summary ("Overall, ...", "both are ...") if one follows, else to the end.
    """
    a, b, s = _ab_marks(text)
    if not b:
        return (text[a.start():] if a else text), ""
    a_txt = text[a.start() if a else 0 : b.start()]
    b_txt = text[b.start() : s.start() if s else len(text)]
    return a_txt, b_txt


def summary_text(text: str) -> str:
    """The summary of a comparison answer: text before A's marker and from the summary on.

    Without a marker for B the summary is what follows a summary marker anywhere after A's
    marker (or from the start): "Both are abnormal. Only A is abnormal." is all summary, and it
    must agree with both recordings as much as a summary after the two parts.
    """
    a, b, s = _ab_marks(text)
    if not b:
        s = SUMMARY_MARK.search(text, a.end() if a else 0)
    return (text[: a.start()] if a else "") + " " + (text[s.start():] if s else "")


_BOTH = re.compile(r"\bboth(?: recordings)? (?:are|were|sound|look) (abnormal|normal)\b", re.I)
_NEITHER = re.compile(r"\bneither(?: recording)? (?:is|was|sounds) (abnormal|normal)\b", re.I)
_ONLY = re.compile(r"\bonly (?:recording )?((?-i:A|B)|the first|the second)(?: recording)? "
                   r"(?:is|was|sounds) (abnormal|normal)\b", re.I)


def parse_comparison_summary(text: str) -> dict:
    """What a comparison's summary says about each verdict: ``{"a.abnormal": bool, ...}``.

    Reads "both are abnormal/normal", "neither is abnormal/normal" and "only A/B is
    abnormal/normal" in :func:`summary_text`; a summary that says two things gives "conflict".
    """
    out: dict = {}

    def put(key, value):
        out[key] = value if out.get(key, value) == value else "conflict"

    summary = summary_text(text)
    for m in _BOTH.finditer(summary):
        v = m.group(1).lower() == "abnormal"
        put("a.abnormal", v)
        put("b.abnormal", v)
    for m in _NEITHER.finditer(summary):
        v = m.group(1).lower() != "abnormal"
        put("a.abnormal", v)
        put("b.abnormal", v)
    for m in _ONLY.finditer(summary):
        first = m.group(1).lower() in ("a", "the first")
        v = m.group(2).lower() == "abnormal"
        put("a.abnormal", v if first else not v)
        put("b.abnormal", not v if first else v)
    return out
