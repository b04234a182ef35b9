"""The PDF exam report's exam-level summary page (reportlab flowables). No Qt here.

One section per domain recorded in the exam: the exam findings pooled from every site's newest
stored findings (:func:`stethodesk.store.exam_analyse.stored_exam_findings`, the same rule as
``stethodesk analyze --exam``), then the stored answers about the whole exam with the path that
produced each, and the model that gave them.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import KeepTogether, PageBreak, Paragraph, Spacer

from .. import DISCLAIMER
from ..store.exam_analyse import exam_domains, stored_exam_findings
from ..store.history import exam_answers


def exam_summary_page(store, exam_id: int, st: dict, titles: dict | None = None) -> tuple[list, set]:
    """(flowables starting on a new page, {(model name, version)} of the exam answers).

    ``st`` are the report's paragraph styles (``h2``, ``body``, ``answer``, ``small``, ``warn``);
    ``titles`` maps task keys to their titles. An exam without recordings gives ``([], set())``.
    """
    domains = exam_domains(store, exam_id)
    if not domains:
        return [], set()
    titles = titles or {}
    story: list = [PageBreak(), Paragraph("Exam summary (all sites)", st["h2"])]
    fitted = False
    for domain in domains:
        ex = stored_exam_findings(store, exam_id, domain)
        if ex is None:
            continue
        fitted = fitted or (domain == "heart" and ex.calibration.get("fitted", False))
        story.append(Paragraph(f"<b>{domain.capitalize()}</b>", st["body"]))
        for line in ex.text().splitlines():
            story.append(Paragraph(escape(line), st["answer"]))
        story.append(Spacer(1, 4))
    if fitted:
        story.append(Paragraph("Patient-level probabilities pool the usable sites and were recalibrated on "
                               "validation patients (resources/exam_calibration.json).", st["small"]))
    answers = exam_answers(store, exam_id)
    story.append(Paragraph("Answers about the whole exam", st["h2"]))
    if not answers:
        story.append(Paragraph("No question has been asked about the whole exam.", st["body"]))
    for a in answers:
        label = titles.get(a.task, "Question" if a.task == "question" else a.task)
        label += f" - \u201c{a.question}\u201d" if a.question else ""
        story.append(KeepTogether([
            Spacer(1, 3),
            Paragraph(f"<b>{escape(label)}</b> <font size=7.5>({escape(a.created.replace('T', ' '))}; "
                      f"answer from the {escape(a.answer_source or 'model')})</font>", st["body"]),
            Paragraph(escape(a.answer).replace("\n", "<br/>"), st["answer"]),
            Paragraph(escape(f"{DISCLAIMER} Model {a.model_name or '?'} {a.model_version or ''}"), st["small"]),
        ]))
    return story, {(a.model_name, a.model_version) for a in answers if a.model_name}
