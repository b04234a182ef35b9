"""Answers the user may believe: every shown sentence is checked against the findings card.

The calibrated findings are the source of truth (issue 9). The language model phrases; this
module decides what of it is shown:

- the model's text is cut into sentences as it streams; a sentence is shown only when the whole
  answer so far passes :func:`stethodesk.model.grounding.verify` (no contradiction with the card,
  no lung words in a heart answer or heart words in a lung answer, no diagnosis, history, age or
  medication that neither the prompt nor the user's context carries, no event the card does not
  call);
- the first sentence that fails stops the model. If nothing was shown yet, the whole answer is
  the plainly worded template built from the card (:func:`stethodesk.model.templates.template_answer`);
  otherwise what was shown stays (it agrees with the card) and the template follows under
  "From the findings:";
- a comparison or a location answer is checked whole before any of it is shown (a comparison's
  facts are scoped by "Recording A/B", a location answer's site knowledge precedes its findings,
  so half of either cannot be judged): the model's text or the template, never a mix; a splice
  after shown sentences must verify as a whole, else the card's short statement is used;
- an answer must also *state* the calls its task is asked for (:data:`REQUIRED`: a binary answer
  the verdict; a detection answer each event; a report, a reasoning, a differential and a
  location answer the verdict and each event, the murmur's timing, the leading lesion and poor
  quality when the card calls them): one that leaves one out gets the card's statement appended
  (a location answer the card's short statement, after its site knowledge); a model that says
  nothing at all gets the template;
- what was withheld and why is kept on the answer (``grounding``) for audit, never shown as fact.

No Qt here; the engine wraps its token stream with :func:`grounded_pieces`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from stethodesk.model.checker import parse_comparison_summary, parse_fact, split_ab
from stethodesk.model.grounding import Violation, verify
from stethodesk.model.sites import knowledge_sites, site_words

# A sentence ends at . ! ? followed by white space (not inside "2.5" or "e.g.x"), or a line break.
SENTENCE_END = re.compile(r"(?<!\d)[.!?](?=\s)|(?<=\d)\.(?=\s+[A-Z])|\n")
FROM_FINDINGS = "From the findings: "
# Tasks whose answers are checked whole before anything is shown: a comparison's facts are scoped
# by "Recording A/B" markers, so a sentence can only be judged once both parts are there.
# A location answer's site knowledge comes before its "In this recording:" findings marker, so a
# template spliced after shown findings would put knowledge where findings are read: held too.
HOLD_BACK_TASKS = ("comparison", "location")
# Facts a task's answer must state, not only avoid contradicting (what the task asks for): a
# structured report, a line of reasoning or a differential that leaves out a call the card shows
# (the verdict, a murmur and its timing, crackles, the leading lesion, a poor recording) reads as
# if the call were not there. Only the facts the card carries are required (a heart card has no
# crackle); ``CALLED_ONLY`` facts only when the card calls them (a report need not say "good quality").
EVENTS = ("murmur", "murmur_timing", "crackle", "wheeze")
WHOLE_CARD = ("abnormal",) + EVENTS + ("lesion", "poor_quality")
REQUIRED = {
    "binary": ("abnormal",),
    "detection": EVENTS,
    "report": WHOLE_CARD,
    "reasoning": WHOLE_CARD,
    "differential": WHOLE_CARD,
    "location": ("abnormal",) + EVENTS,
}
CALLED_ONLY = ("poor_quality",)


@dataclass
class Grounding:
    """How an answer was checked. ``source``: "model" (shown as generated), "template" (the
    model's text was withheld, the card's template shown), "model+findings" (model sentences
    that agree, then the card's statement), "facts" (a question answered from the card alone).
    ``violations``: why text was withheld or added (the kinds of
    :data:`stethodesk.model.grounding.KINDS`, or "incomplete": a required call was not stated);
    ``withheld``: the withheld text (audit only); ``check_ms``: time spent checking."""

    source: str = "model"
    violations: list[Violation] = field(default_factory=list)
    withheld: str = ""
    check_ms: float = 0.0

    def to_dict(self) -> dict:
        return {"source": self.source, "check_ms": round(self.check_ms, 2),
                "violations": [{"kind": v.kind, "message": v.message, "evidence": v.evidence}
                               for v in self.violations],
                "withheld": self.withheld}


def grounding_note(grounding: dict | None) -> str:
    """How an answer was checked, in words for the user (``Grounding.to_dict()``; "" when unknown).

    A withheld contradiction and a call the answer left out are different things to a reader:
    "withheld" only when text was withheld for disagreeing, "completed" when a call was added."""
    g = grounding or {}
    source = g.get("source")
    kinds = {v.get("kind") for v in g.get("violations") or []} - {"splice"}
    only_incomplete = bool(kinds) and kinds <= {"incomplete"}
    if source == "model":
        return "Checked against the findings"
    if source == "facts":
        return "Answered from the findings"
    if source == "template":
        return ("Worded from the findings: the model's answer did not state them" if only_incomplete else
                "Worded from the findings: the model's own answer disagreed with them and was withheld")
    if source == "model+findings":
        return ("Checked against the findings; completed with the calls it left out" if only_incomplete else
                "Checked against the findings; the model's sentences that disagreed were withheld")
    return ""


def split_sentences(buffer: str) -> tuple[list[str], str]:
    """Complete sentences at the start of ``buffer`` (each with its end and trailing space) and
    the unfinished rest."""
    out, start = [], 0
    for m in SENTENCE_END.finditer(buffer):
        end = m.end()
        while end < len(buffer) and buffer[end] in " \t":
            end += 1
        if end >= len(buffer) and m.group() != "\n":
            break  # the white space after the mark may still grow: wait for the next piece
        out.append(buffer[start:end])
        start = end
    return out, buffer[start:]


def missing_required(task: str, text: str, facts: dict) -> list[str]:
    """Facts ``task`` must state that ``text`` does not state (e.g. a binary answer with no
    verdict; a comparison must give each recording's verdict, in its part or its summary)."""
    if task == "comparison":
        parts, summary = dict(zip(("a.", "b."), split_ab(text))), parse_comparison_summary(text)
        return [f"{p}abnormal" for p in ("a.", "b.") if f"{p}abnormal" in facts
                and parse_fact("abnormal", parts[p]) is None and summary.get(f"{p}abnormal") is None]
    miss = []
    for name in REQUIRED.get(task, ()):
        if name not in facts or (name in CALLED_ONLY and not facts[name]):
            continue
        if parse_fact(name, text) is None:
            miss.append(name)
    return miss


def grounded_pieces(pieces: Iterator[str], *, task: str, facts: dict, domain: str, allowed_text: str,
                    template: Callable[[], str], grounding: Grounding,
                    clock: Callable[[], float], summary: Callable[[], str] | None = None,
                    is_cancelled: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """Sentences of ``pieces`` that agree with ``facts``; the card's template where they do not.

    Parameters
    ----------
    pieces : iterator of str
        The model's text pieces (closed early when a sentence fails).
    task : str
        Preset task name or "question" (decides which facts must be stated, :data:`REQUIRED`).
    facts : dict
        The card's facts (``card_facts``; ``comparison_facts`` for a comparison).
    domain : {"heart", "lung"}
    allowed_text : str
        The prompt text and the user's context: what the answer may repeat.
    template : callable
        Returns the card's plainly worded answer for ``task`` (called only when needed).
    summary : callable, optional
        The card's short statement (verdict and calls), spliced instead of ``template`` when the
        template after the shown sentences would not verify as a whole.
    grounding : Grounding
        Filled in as the stream goes (the caller keeps it on the answer).
    clock : callable
        ``time.perf_counter``-like; the time spent checking is added to ``grounding.check_ms``.
    is_cancelled : callable
        True when the user stopped the answer: the unfinished sentence is dropped and nothing is
        added (a stopped answer is not completed from the card).
    """
    shown, buf = "", ""

    def check(text: str) -> list[Violation]:
        t0 = clock()
        v = verify(text, facts, domain, allowed_text)
        grounding.check_ms += (clock() - t0) * 1000.0
        return v

    def fall_back(violations: list[Violation], rest: str) -> str:
        grounding.violations = violations
        grounding.withheld = rest
        if not shown.strip():
            grounding.source = "template"
            return template()
        grounding.source = "model+findings"
        return splice()

    def splice(short_first: bool = False) -> str:
        """The card's words after what was shown: the task's template if the whole then still
        verifies, else the card's short statement (``summary``), so the spliced answer never
        reads as a contradiction. ``short_first``: the short statement first (a model answer that
        only left a call out is completed, not followed by a second report; the template when
        the short statement would still leave a required call out)."""
        lead = ("\n" if not shown.endswith("\n") else "") + FROM_FINDINGS
        verified = []
        for make in ((summary, template) if short_first else (template, summary)):
            if make is None:
                continue
            text = lead + _not_repeated(make(), shown)
            if not check(shown + text):
                if not missing_required(task, shown + text, facts):
                    return text
                verified.append(text)
        if verified:
            return verified[0]
        grounding.violations = grounding.violations + [
            Violation("splice", "the card's wording after the shown sentences did not verify as a whole")]
        return lead + (summary or template)()

    hold = task in HOLD_BACK_TASKS
    try:
        for piece in pieces:
            buf += piece
            if hold:
                continue
            done, buf = split_sentences(buf)
            for i, sentence in enumerate(done):
                bad = check(shown + sentence)
                if bad:
                    # the model stops here: what it would have said next is never generated
                    yield fall_back(bad, "".join(done[i:]) + buf)
                    return
                shown += sentence
                yield sentence
        if is_cancelled():
            grounding.withheld = buf
            return
        if buf.strip():
            bad = check(shown + buf)
            if bad:
                yield fall_back(bad, buf)
                return
        if not (shown + buf).strip():  # the model gave no answer at all (e.g. end of turn at once)
            grounding.source = "template"
            grounding.violations = [Violation("incomplete", "the model gave no answer")]
            yield template()
            return
        miss = missing_required(task, shown + buf, facts)
        if miss:
            grounding.violations = [Violation("incomplete", f"the answer did not state: {', '.join(miss)}")]
            if not shown.strip() and task != "location":  # nothing shown yet: the card's answer whole
                grounding.source, grounding.withheld = "template", buf
                yield template()
                return
        if buf.strip():
            shown += buf
            yield buf
        if miss:
            grounding.source = "model+findings"
            # a location template opens with site knowledge, which after the shown findings would
            # read as findings; a report, reasoning or differential only needs the call it left out
            yield splice(short_first=task not in ("binary", "detection"))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def _not_repeated(text: str, shown: str) -> str:
    """``text`` without the sentences or lines already shown word for word (a report's "Site:
    mitral area." twice reads as a glitch); all of it when nothing would be left."""
    said = {s.strip().lower() for s in split_sentences(shown + "\n")[0]}
    parts, rest = split_sentences(text + "\n")
    kept = [p for p in parts if not p.strip() or p.strip().lower() not in said]
    out = re.sub(r"\n{2,}", "\n", "".join(kept)).strip()
    return out if out else text


# ------------------------------------------------------------------------- the engine's side


def card_facts_for(analysis) -> dict:
    """The findings card's calls for an :class:`~stethodesk.model.engine.AudioAnalysis`."""
    from stethodesk.model.facts import card_facts

    return card_facts(analysis.findings, analysis.domain, analysis.heart_rate_bpm,
                      getattr(analysis.quality, "level", None), analysis.site, analysis.points)


def findings_text_for(analysis) -> str:
    """The card's facts of an analysis in plain lines with their calibrated percentages."""
    from stethodesk.model.facts import facts_text

    q = analysis.quality
    return facts_text(analysis.findings, analysis.domain, analysis.heart_rate_bpm, getattr(q, "level", None),
                      site_words(analysis.site) or analysis.site, getattr(q, "reason", None), analysis.points)


def fact_answer_for(analysis, question: str) -> str | None:
    """A question about heart rate, quality or the findings, answered from the card (else None)."""
    from stethodesk.model.grounding import fact_answer

    q = analysis.quality
    return fact_answer(question, card_facts_for(analysis), analysis.domain, analysis.heart_rate_bpm,
                       getattr(q, "level", None), getattr(q, "reason", None), analysis.findings)


def ground(pieces: Iterator[str], items: list, analysis, task: str, other, site: str | None,
           context: str | None, grounding: Grounding,
           is_cancelled: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """:func:`grounded_pieces` for the engine: the card's facts of ``analysis`` (and ``other`` for a
    comparison), what the answer may repeat (the prompt's text ``items``, the user's ``context``,
    the card in words and the knowledge entry of each site), and the task's template."""
    from stethodesk.model.facts import comparison_facts, site_key
    from stethodesk.model.templates import TASKS, template_answer

    facts = card_facts_for(analysis)
    other_facts = card_facts_for(other) if other is not None else None
    check_facts = comparison_facts(facts, other_facts) if task == "comparison" else facts
    allowed = [s for s in items if isinstance(s, str)] + [context or "", findings_text_for(analysis)]
    if other is not None:
        allowed.append(findings_text_for(other))
    for s in (analysis.site, other.site if other is not None else None):
        key = site_key(s)
        if key:
            allowed.append(json.dumps(knowledge_sites().get(key, {})))
    site_b = site_words(other.site) if other is not None else None

    def template() -> str:
        if task not in TASKS:  # a free question: what the card found, in its own words
            return fact_answer_for(analysis, "What did you find?") or findings_text_for(analysis)
        return template_answer(task, facts, analysis.domain, site=site or analysis.site,
                               heart_rate_bpm=analysis.heart_rate_bpm,
                               quality_level=getattr(analysis.quality, "level", None),
                               other_facts=other_facts, site_b=site_b, findings=analysis.findings,
                               other_findings=other.findings if other is not None else None)

    def summary() -> str:
        return fact_answer_for(analysis, "What did you find?") or findings_text_for(analysis)

    return grounded_pieces(pieces, task=task, facts=check_facts, domain=analysis.domain,
                           allowed_text="\n".join(allowed), template=template, grounding=grounding,
                           clock=time.perf_counter, summary=None if task == "comparison" else summary,
                           is_cancelled=is_cancelled)
