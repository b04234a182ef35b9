"""The PDF exam report (reportlab; no Qt, no matplotlib).

One A4 document: patient and exam facts, a summary table of every site, then
per recording its waveform thumbnail (a min/max envelope drawn as a vector
polygon), quality, findings and every stored answer, each marked as decision
support with the model name and version that produced it. A recording imported
from a file with damaged frames says so under its facts (its stored note; the
imported file's name is left out of an anonymised report).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Line, Polygon, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle,
)

from .. import DISCLAIMER, __version__
from ..audio.sidecar import create_private
from ..paths import RESOURCES
from ..store import Store, StoreError, site_title
from ..model.facts import pct
from ..store.protocols import protocol_title
from ..store.records import note_without_file_name
from ..store.summary import finding_label, main_finding, points_words, quality_verdict, shown_findings
from .exam_page import exam_summary_page
from .thumbnail import minmax_envelope

PAGE_MARGIN = 16 * mm
THUMB_W = 178 * mm  # fits between the margins of A4 (210 mm)
THUMB_H = 16 * mm
TOP_FINDINGS = 8  # findings listed per recording, highest probability first
ACCENT = colors.HexColor("#1f5f8b")
WARN = colors.HexColor("#8a1c1c")
QUALITY_COLOURS = {"good": "#2e7d32", "fair": "#b26a00", "poor": "#b00020"}
TASKS_FILE = RESOURCES / "prompts" / "tasks.json"


def _task_titles() -> dict[str, str]:
    try:
        return {k: v["title"] for k, v in json.loads(TASKS_FILE.read_text())["tasks"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=17, textColor=ACCENT, spaceAfter=2),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, textColor=ACCENT, spaceBefore=8, spaceAfter=3),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontSize=9, leading=11.5),
        "small": ParagraphStyle("s", parent=base["BodyText"], fontSize=7.5, leading=9, textColor=colors.HexColor("#555555")),
        "warn": ParagraphStyle("w", parent=base["BodyText"], fontSize=9, textColor=WARN, leading=11),
        "answer": ParagraphStyle("a", parent=base["BodyText"], fontSize=9, leading=11.5, leftIndent=6),
    }


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def waveform_drawing(samples, samplerate: int, width: float = THUMB_W, height: float = THUMB_H) -> Drawing:
    """A vector thumbnail of ``samples`` (shape (n,)) with a 1-second tick axis."""
    d = Drawing(width, height + 8)
    mins, maxs = minmax_envelope(samples, columns=int(width / 1.2))
    n = len(maxs)
    peak = float(max(abs(mins).max(initial=0.0), abs(maxs).max(initial=0.0))) or 1.0
    mid, half = 8 + height / 2, height / 2 * 0.95
    xs = [i * width / max(n - 1, 1) for i in range(n)]
    top = [(x, mid + half * float(v) / peak) for x, v in zip(xs, maxs)]
    bottom = [(x, mid + half * float(v) / peak) for x, v in zip(xs, mins)]
    pts = [c for xy in top + bottom[::-1] for c in xy]
    d.add(Line(0, mid, width, mid, strokeColor=colors.HexColor("#cccccc"), strokeWidth=0.3))
    if pts:
        d.add(Polygon(pts, fillColor=ACCENT, strokeColor=ACCENT, strokeWidth=0.2))
    seconds = len(samples) / float(samplerate) if samplerate else 0.0
    step = 1 if seconds <= 20 else 5
    t = 0
    while seconds and t <= seconds:
        x = width * t / seconds
        d.add(Line(x, 6, x, 8, strokeColor=colors.grey, strokeWidth=0.4))
        d.add(String(min(x + 1, width - 10), 0, f"{t}s", fontSize=5, fillColor=colors.grey))
        t += step
    return d


def _footer(strip: bool):
    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.grey)
        canvas.drawString(PAGE_MARGIN, 9 * mm, f"StethoDesk {__version__} - {DISCLAIMER}")
        canvas.drawRightString(A4[0] - PAGE_MARGIN, 9 * mm, f"page {doc.page}")
        canvas.restoreState()
    return draw


def _table(rows, widths, header=True) -> Table:
    t = Table(rows, colWidths=widths, hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style += [("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
                  ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f0f6"))]
    t.setStyle(TableStyle(style))
    return t


def build_exam_report(store: Store, exam_id: int, out_path: Path, *, strip: bool = False) -> Path:
    """Write the PDF report of one exam to ``out_path`` and return it.

    ``strip`` leaves out name, MRN, clinician and notes (for teaching or research sharing).
    A recording whose audio fails its checksum is listed with the reason and no waveform.
    """
    st = _styles()
    titles = _task_titles()
    exam = store.get_exam(exam_id)
    patient = store.get_patient(exam.patient_id)
    recs = store.list_recordings(exam_id)
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.part")
    doc = SimpleDocTemplate(
        str(tmp), pagesize=A4, leftMargin=PAGE_MARGIN, rightMargin=PAGE_MARGIN,
        topMargin=PAGE_MARGIN, bottomMargin=PAGE_MARGIN + 4 * mm,
        title="StethoDesk exam report", author="StethoDesk", subject=DISCLAIMER,
    )
    story: list = [
        _p("Auscultation exam report", st["title"]),
        _p(f"Generated {datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')} by StethoDesk {__version__}", st["small"]),
        Spacer(1, 3),
        _p(f"{DISCLAIMER} Findings and answers come from an automated model and must be checked "
           "by a clinician.", st["warn"]),
        Spacer(1, 4),
    ]
    age = "" if patient.age_years is None else f"{patient.age_years:g} years"
    if strip:
        if patient.age_years is not None and patient.age_years >= 90:
            age = "90+ years"
        facts = [["Patient", "identity removed", "Age", age or "-"],
                 ["Sex", patient.sex or "-", "Exam year", exam.date[:4]],
                 ["Protocol", protocol_title(exam.protocol) or "-", "", ""]]
    else:
        facts = [["Patient", patient.display, "MRN", patient.mrn or "-"],
                 ["Age", age or "-", "Sex", patient.sex or "-"],
                 ["Exam date", exam.date.replace("T", " ")[:16], "Clinician", exam.clinician or "-"],
                 ["Protocol", protocol_title(exam.protocol) or "-", "", ""]]
    ft = _table(facts, [24 * mm, 66 * mm, 24 * mm, 64 * mm], header=False)
    ft.setStyle(TableStyle([("FONT", (0, 0), (0, -1), "Helvetica-Bold", 8.5),
                            ("FONT", (2, 0), (2, -1), "Helvetica-Bold", 8.5)]))
    story.append(ft)
    if exam.notes and not strip:
        story += [Spacer(1, 3), _p(f"Notes: {exam.notes}", st["body"])]

    # summary of every site
    story.append(_p("Sites", st["h2"]))
    rows = [["#", "Site", "Domain", "Length", "Quality", "Main finding", "Heart rate"]]
    per_rec = []
    models: set[tuple[str, str]] = set()
    for i, r in enumerate(recs, 1):
        analyses = store.list_analyses(r.id)
        models |= {(a.model_name, a.model_version) for a in analyses if a.model_name}
        # the calls of the stored analysis, at the operating points it was called at
        findings, points = store.latest_findings(r.id), store.latest_points(r.id)
        mf = main_finding(findings, r.domain, points)
        hr = next((a.heart_rate_bpm for a in reversed(analyses) if a.heart_rate_bpm), None)
        rows.append([str(i), site_title(r.site).split(" (")[0], r.domain, f"{r.duration_s:.1f} s",
                     quality_verdict(r.quality_level, findings, points)[0] or "-", mf.text,
                     f"{hr:.0f} bpm" if hr else "-"])
        per_rec.append((i, r, analyses, mf, hr))
    if not recs:
        rows.append(["", "No recordings in this exam yet", "", "", "", "", ""])
    story.append(_table(rows, [8 * mm, 40 * mm, 16 * mm, 16 * mm, 16 * mm, 56 * mm, 26 * mm]))

    for i, r, analyses, mf, hr in per_rec:
        block: list = [_p(f"{i}. {site_title(r.site)}", st["h2"])]
        facts = (f"{r.domain.capitalize()} - {r.duration_s:.1f} s at {r.samplerate or '?'} Hz"
                 f"{' - device ' + r.device if r.device else ''}{' - filter ' + r.filter if r.filter else ''}")
        block.append(_p(facts, st["small"]))
        if r.note:  # damaged frames of the imported file were left out: the length above is what was read
            block.append(_p(f"Damaged file: {note_without_file_name(r.note) if strip else r.note}", st["warn"]))
        try:
            x, sr = store.load_audio(r)
            block.append(waveform_drawing(x, sr))
        except StoreError as exc:
            block.append(_p(f"Audio not shown: {exc}", st["warn"]))
        findings, points = store.latest_findings(r.id), store.latest_points(r.id)
        level, q = quality_verdict(r.quality_level, findings, points)  # one verdict: meter and model together
        colour = QUALITY_COLOURS.get(level or "", "#555555")
        block.append(Paragraph(
            f"<b>Signal quality:</b> <font color='{colour}'>{escape(q)}</font>"
            f"{' - ' + escape(r.quality_reason) if r.quality_reason else ''}", st["body"]))
        if findings:
            top = shown_findings(findings, TOP_FINDINGS, points)
            cells = [f"{finding_label(k)}: {pct(v)}" for k, v in top]
            cells += [""] * (-len(cells) % 4)
            block.append(Spacer(1, 2))
            block.append(_p(f"Findings (calibrated probability{points_words(points, [k for k, _ in top])}):",
                            st["body"]))
            block.append(_table([cells[j:j + 4] for j in range(0, len(cells), 4)], [44.5 * mm] * 4, header=False))
        block = [KeepTogether(block)]
        for a in analyses:
            label = titles.get(a.task, a.task)
            if a.question:
                label += f" - \u201c{a.question}\u201d"
            if a.other_recording_id is not None:
                try:
                    other = store.get_recording(a.other_recording_id)
                    label += f" - with {site_title(other.site).split(' (')[0]} (recording #{other.id})"
                except StoreError:
                    label += " - with a deleted recording"
            block.append(KeepTogether([
                Spacer(1, 3),
                Paragraph(f"<b>{escape(label)}</b>", st["body"]),
                _p(a.answer or "(no answer)", st["answer"]),
                _p(f"{DISCLAIMER} Model {a.model_name or '?'} {a.model_version or ''}", st["small"]),
            ]))
        if not analyses:
            block.append(_p("Not analysed.", st["small"]))
        story += block

    page, exam_models = exam_summary_page(store, exam_id, st, titles)  # exam findings + whole-exam answers
    story += page
    models |= exam_models
    story.append(_p("Model", st["h2"]))
    if models:
        for name, version in sorted(models):
            story.append(_p(f"{name} version {version}", st["body"]))
    else:
        story.append(_p("No model answers are stored for this exam.", st["body"]))
    story.append(_p(DISCLAIMER, st["warn"]))
    create_private(tmp)  # names, MRN, notes: user-only (0600) like the database, whatever the umask
    doc.build(story, onFirstPage=_footer(strip), onLaterPages=_footer(strip))
    tmp.replace(out_path)
    return out_path
