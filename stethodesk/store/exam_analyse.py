"""Whole-exam findings and answers for a stored exam, saved with the exam. No Qt here.

``engine`` is a loaded ``stethodesk.model.engine.Engine`` (duck-typed). :func:`stored_exam_findings`
needs no engine: it pools the newest stored findings of each recording (for the report);
:func:`analyse_exam` analyses every recording of the exam afresh, asks about the whole exam
(:func:`stethodesk.model.exam_answer.model_exam_answer`) and stores the answer with the exam
findings snapshot (:func:`stethodesk.store.history.save_exam_answer`). Slow: run on a worker.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from stethodesk.model.exam import ExamFindings, exam_findings

from .analyse import engine_site
from .sites import SITES
from .history import StoredAnswer, save_exam_answer
from .store import Store


def exam_site(key: str) -> str:
    """A stored site as the exam findings need it: heart sites as the engine's code (AV/PV/TV/MV),
    lung sites whole ("posterior_lower_left"), since the side of a crackle is read from the site
    name (:func:`stethodesk.model.exam.side_of`) and the engine's lung word ("posterior") drops it."""
    site = SITES.get(key)
    if site is not None and site.domain == "lung":
        return key
    return engine_site(key) or key


def exam_domains(store: Store, exam_id: int) -> list[str]:
    """Domains of the exam's recordings, the most recorded first."""
    return [d for d, _ in Counter(r.domain for r in store.list_recordings(exam_id)).most_common()]


def stored_exam_findings(store: Store, exam_id: int, domain: str) -> ExamFindings | None:
    """Exam findings of ``domain`` from each recording's newest stored findings (called at the
    operating points stored with them); a recording without any is left out as "not analysed"
    (with the stored reason when it was refused)."""
    sites = []
    for r in store.list_recordings(exam_id):
        if r.domain != domain:
            continue
        findings = store.latest_findings(r.id)
        reason = None
        if not findings:
            done = store.list_analyses(r.id)
            reason = done[-1].answer.removeprefix("Not analysed: ") if done else "not analysed yet"
        sites.append(SimpleNamespace(site=exam_site(r.site), domain=domain, findings=findings,
                                     points=store.latest_points(r.id), usable=bool(findings),
                                     unusable_reason=reason))
    return exam_findings(sites) if sites else None


def analyse_exam(store: Store, engine, exam_id: int, task: str, question: str | None = None,
                 domain: str | None = None, max_tokens: int = 256, use_model: bool = True) -> StoredAnswer:
    """Analyse every ``domain`` recording of the exam (default: its main domain), answer ``task``
    about the whole exam and store it. A recording whose audio is missing or altered is a site left
    out with that reason. Raises ValueError for an exam without recordings."""
    from stethodesk.model.exam_answer import TEMPLATE, model_exam_answer, template_exam_answer

    domains = exam_domains(store, exam_id)
    if not domains:
        raise ValueError("This exam has no recordings yet.")
    domain = domain or domains[0]
    analyses = []
    for r in store.list_recordings(exam_id):
        if r.domain != domain:
            continue
        try:
            x, sr = store.load_audio(r)
            analyses.append(engine.analyze_audio(x, sr, domain=domain, site=exam_site(r.site)))
        except Exception as exc:  # StoreError (missing / altered audio): the site is left out, the exam goes on
            analyses.append(SimpleNamespace(site=exam_site(r.site), domain=domain, findings={},
                                            usable=False, unusable_reason=str(exc)))
    ex = exam_findings(analyses)
    if use_model and any(a.usable for a in analyses):
        result = model_exam_answer(engine, ex, analyses, task, question, max_tokens)
    else:
        result = {"answer": template_exam_answer(ex, task, question), "source": TEMPLATE, "violations": []}
    grounding = {"source": result["source"], "checked_against": "exam findings",
                 "violations": result.get("violations", []), "withheld": (result.get("model_answer") or "") if result["source"] == TEMPLATE else ""}
    return save_exam_answer(store, exam_id, task, result["answer"], question=question,
                            answer_source=result["source"], grounding=grounding, exam_findings=ex.to_dict(),
                            model_name=engine.name, model_version=engine.version)
