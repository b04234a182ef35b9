"""Answers about a whole exam: the grounded template on the exam facts, or the model's answer
checked against them. No Qt, no torch.

Two paths, and every result says which one produced the text (``source``):

- ``"exam template"``: :func:`template_exam_answer` renders the preset task from the exam's facts
  (:meth:`ExamFindings.facts`) and patient-level probabilities with the same templates the
  single-recording card uses (``stethodesk.model.templates`` / ``fact_answers``), the loudest site
  standing in as the site, after one sentence on where the finding is heard across the exam;
- ``"model (checked against the exam findings)"``: :func:`model_exam_answer` asks the model about
  the most audible site's recording (its audio prefix) with the exam findings as ``context=`` text,
  then checks the answer with :func:`stethodesk.model.grounding.verify` against the *exam* facts;
  an answer that contradicts them, or says what the exam does not support, is not shown and the
  template answer is, with the model's text and the reasons kept for audit.

Both are decision support, not a diagnosis.
"""

from __future__ import annotations

from stethodesk.model.exam import ExamFindings
from stethodesk.model.fact_answers import fact_answer
from stethodesk.model.facts import pct, site_title
from stethodesk.model.grounding import verify
from stethodesk.model.templates import join_words, template_answer

TEMPLATE = "exam template"
MODEL = "model (checked against the exam findings)"
LABEL = "Decision support from the whole exam, not a diagnosis."
EXAM_TASKS = ("binary", "detection", "report", "reasoning", "differential", "location", "question")


def _titles(sites) -> str:
    return join_words([site_title(s) or str(s) for s in sites])


def where_sentence(ex: ExamFindings) -> str:
    """One sentence on the exam as a whole: sites used and where the finding is heard."""
    used = f"{len(ex.usable_sites)} of {len(ex.sites)} sites usable"
    left = f"; left out: {join_words([u['title'] or 'a site' for u in ex.unusable])}" if ex.unusable else ""
    text = f"Whole exam ({used}{left})."
    if ex.domain == "heart" and ex.murmur_call == "present" and ex.most_audible_site:
        also = [s for s in ex.murmur_sites if s != ex.most_audible_site]
        text += (f" The murmur (patient-level {pct(ex.murmur)}) is most audible at the "
                 f"{site_title(ex.most_audible_site)}" + (f" and also heard at the {_titles(also)}." if also else "."))
    elif ex.domain == "heart" and ex.murmur_call == "unknown":
        text += " Whether there is a murmur cannot be called from these recordings."
    for k, v in ex.lung.items():
        if v["sites"]:
            text += f" {k.capitalize()}s are called at the {_titles(v['sites'])} ({v['side'] or 'side not known'})."
    return text


def brief(ex: ExamFindings) -> str:
    """The exam findings in under ~80 words, for the model's ``context=`` (the engine keeps 100)."""
    bits = [where_sentence(ex)]
    if ex.domain == "heart" and ex.murmur_call in ("present", "absent"):
        bits.append(f"Murmur {ex.murmur_call}" + (f", {ex.timing}" if ex.timing and ex.murmur_call == "present" else "")
                    + ".")
    if ex.abnormal is not None:
        bits.append(f"Patient-level abnormal {pct(ex.abnormal)}.")
    fits = [c.name for c in ex.lesion_candidates if c.site_pattern == "fits"]
    if fits:
        bits.append(f"Site pattern fits {join_words(fits, 'or')}.")
    return " ".join(bits)


def template_exam_answer(ex: ExamFindings, task: str, question: str | None = None) -> str:
    """The decision-support answer to ``task`` (or the free ``question``) from the exam's facts.

    Raises ValueError for a task that is not about one exam (``comparison``) or unknown.
    """
    if task not in EXAM_TASKS:
        raise ValueError(f"{task!r} is not an exam task; choose one of {', '.join(EXAM_TASKS)}")
    facts, probs = ex.facts(), ex.probabilities()
    if not facts:
        return f"{LABEL} No site of this exam is usable, so no answer can be given. {where_sentence(ex)}"
    body = None
    if task == "question":
        body = fact_answer(question or "", facts, ex.domain, findings=probs)
    if body is None:
        body = template_answer("report" if task == "question" else task, facts, ex.domain,
                               site=ex.most_audible_site, findings=probs, site_role="loudest")
    return f"{LABEL} {where_sentence(ex)}\n{body}"


def check(text: str, ex: ExamFindings, extra_allowed: str = "") -> list:
    """:func:`verify` of ``text`` against the exam's facts, the exam text allowed as evidence."""
    return verify(text, ex.facts(), ex.domain, allowed_text=ex.text() + "\n" + extra_allowed)


def model_exam_answer(engine, ex: ExamFindings, analyses: list, task: str, question: str | None = None,
                      max_tokens: int = 256, context: str | None = None) -> dict:
    """The model's answer about the exam, or the template when it disagrees with the exam facts.

    ``analyses`` are the exam's AudioAnalysis objects (same order as ``ex.sites``); the model hears
    the most audible usable site (else the first usable one). Returns ``{"answer", "source",
    "violations", "model_answer", "site_heard", "timing", "notes"}``.
    """
    usable = [a for a in analyses if a.usable]
    if not usable:
        raise ValueError("no usable site in this exam")
    heard = next((a for a in usable if a.site == ex.most_audible_site), usable[0])
    ctx = brief(ex) + (f" {context.strip()}" if context and context.strip() else "")
    ans = engine.ask(heard, "question" if task == "question" else task, question=question,
                     max_tokens=max_tokens, context=ctx)
    text = ans.read()
    d = ans.to_dict()
    problems = check(text, ex, ctx + "\n" + (question or ""))
    out = {"model_answer": text, "site_heard": heard.site, "timing": d["timing"], "notes": d["notes"],
           "violations": [{"kind": v.kind, "message": v.message, "evidence": v.evidence} for v in problems],
           "site_grounding": d["grounding"]}
    if text.strip() and not problems:
        out.update(answer=f"{LABEL} {where_sentence(ex)}\n{text.strip()}", source=MODEL)
    else:
        out.update(answer=template_exam_answer(ex, task, question), source=TEMPLATE)
    return out
