"""Ask about this exam: the preset tasks and a free question about a patient's whole stored exam.

The Patients tab's "Ask about this exam" page. A task (the Listen tab's list, less "Compare two
recordings", which is about two recordings, not one exam) or a typed question runs
:func:`stethodesk.store.exam_analyse.analyse_exam` on the workflow's job thread (every recording
of the exam analysed, the whole exam asked, the answer stored in ``exam_analyses``), never on the
GUI thread. The answer is shown with "decision support, not a diagnosis" and which path produced
it (the model, checked against the exam findings, or the exam template); beside it the exam
findings (:mod:`.exam_findings_view`), and the most audible site is marked on the chest map.
The answer is then in the patient's history (:mod:`.history_view`) and survives a restart.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from stethodesk.gui.analysis_panel import (
    DISCLAIMER,
    FREE_TEXT_TASK,
    TASK_ORDER,
    load_task_specs,
)
from stethodesk.gui.elided import ElidedLabel
from stethodesk.store.exam_analyse import (
    analyse_exam,
    exam_domains,
    stored_exam_findings,
)
from stethodesk.store.history import StoredAnswer, exam_answers

from .exam_findings_view import findings_html, loudest_key, site_keys, source_note

NOT_EXAM_TASKS = {  # task -> why it is not offered for a whole exam (its button's tooltip)
    "comparison": "Comparing is about two recordings, not one exam: choose them in the Compare tab.",
}
DOMAIN_TITLES = {"heart": "Heart sounds", "lung": "Lung sounds"}
MAX_TOKENS = 256  # the longest answer asked for (tokens)


class ExamAskPanel(QWidget):
    """"Ask about this exam" for the current exam of ``state``.

    Parameters: ``store`` (records), ``state`` (current patient / exam), ``runner`` (the workflow's
    job thread), ``get_engine`` (the loaded Engine or None), ``notify(level, text)``, ``sitemap``
    (the Patients tab's chest map, where the most audible site is marked).
    Signals: ``answered(StoredAnswer)`` once an answer is stored and shown.
    """

    answered = Signal(object)

    def __init__(self, store, state, runner, get_engine: Callable[[], object | None],
                 notify: Callable[[str, str], None], sitemap, parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.state, self.runner = store, state, runner
        self.get_engine, self.notify, self.sitemap = get_engine, notify, sitemap
        self.tasks, self.free_text = load_task_specs()
        self.max_tokens = MAX_TOKENS
        self.busy_exam: int | None = None  # the exam being asked about, while a job runs
        self.snapshot: dict = {}  # the exam findings shown

        grid = QGridLayout()
        grid.setSpacing(4)
        self.task_buttons: dict[str, QPushButton] = {}
        for i, name in enumerate(TASK_ORDER):
            b = QPushButton(self.tasks.get(name, {}).get("title", name))
            b.setToolTip(NOT_EXAM_TASKS.get(name) or self.tasks.get(name, {}).get("description", ""))
            b.clicked.connect(lambda _c=False, n=name: self.run_task(n))
            grid.addWidget(b, i // 4, i % 4)
            self.task_buttons[name] = b
        self.domain_combo = QComboBox()
        self.domain_combo.setToolTip("Which of the exam's sounds to ask about")
        grid.addWidget(self.domain_combo, 1, 3)
        self.question_edit = QLineEdit()
        self.question_edit.setPlaceholderText(self.free_text.get("title", "Ask a question") + " about this exam\u2026")
        self.question_edit.returnPressed.connect(self.ask_question)
        self.ask_button = QPushButton("Ask")
        self.ask_button.setToolTip("Analyse every recording of this exam and answer this question")
        self.ask_button.clicked.connect(self.ask_question)
        qrow = QHBoxLayout()
        qrow.addWidget(self.question_edit, 1)
        qrow.addWidget(self.ask_button)
        self.status = ElidedLabel("Choose an exam.")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: how long the model takes is not known
        self.progress.setMaximumHeight(8)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.answer_view = QTextBrowser()
        self.answer_view.setPlaceholderText("The answer about the whole exam appears here.")
        self.findings_view = QTextBrowser()
        self.findings_view.setPlaceholderText("The exam findings appear here.")
        for v in (self.answer_view, self.findings_view):
            v.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
            v.setMinimumHeight(4 * v.fontMetrics().lineSpacing())
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.answer_view)
        split.addWidget(self.findings_view)
        split.setSizes([330, 270])
        self.source_label = ElidedLabel("")  # one line; in full in its tooltip and under the answer
        self.source_label.setObjectName("disclaimer")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(grid)
        lay.addLayout(qrow)
        lay.addWidget(self.status)
        lay.addWidget(self.progress)
        lay.addWidget(split, 1)
        lay.addWidget(self.source_label)

        state.examChanged.connect(lambda _e: self.refresh())
        state.recordsChanged.connect(self.refresh)
        self.domain_combo.currentIndexChanged.connect(lambda _i: self._show_findings())
        self.refresh()

    # ------------------------------------------------------------------ state
    def domain(self) -> str | None:
        return self.domain_combo.currentData()

    def _set_enabled(self) -> None:
        ready = self.state.exam_id is not None and self.domain() is not None and self.busy_exam is None
        for name, b in self.task_buttons.items():
            b.setEnabled(ready and name not in NOT_EXAM_TASKS)
        self.ask_button.setEnabled(ready)
        self.domain_combo.setVisible(self.domain_combo.count() > 1)

    def refresh(self) -> None:
        """Follow the current exam: its domains, its newest whole-exam answer and its findings."""
        eid = self.state.exam_id
        keep = self.domain()
        self.domain_combo.blockSignals(True)
        self.domain_combo.clear()
        for d in exam_domains(self.store, eid) if eid is not None else []:
            self.domain_combo.addItem(DOMAIN_TITLES.get(d, d), d)
        i = self.domain_combo.findData(keep)
        self.domain_combo.setCurrentIndex(max(i, 0))
        self.domain_combo.blockSignals(False)
        if self.busy_exam is None:
            if eid is None:
                self.status.setText("Choose an exam.")
            elif self.domain() is None:
                self.status.setText("This exam has no recordings yet: add some first.")
            else:
                self.status.setText("Every recording of the exam is analysed; the answer is about the patient.")
        done = exam_answers(self.store, eid) if eid is not None else []
        if done and self.busy_exam is None:
            self._show_answer(done[-1])
        elif self.busy_exam is None:
            self.answer_view.clear()
            self.source_label.clear()
        self._show_findings()
        self._set_enabled()

    def _show_findings(self, snap: dict | None = None) -> None:
        """Show ``snap`` (else the newest answer's snapshot for the chosen domain when it still
        covers every recording, else the findings pooled from the stored analyses)."""
        eid, domain = self.state.exam_id, self.domain()
        if snap is None and eid is not None and domain is not None:
            n = sum(r.domain == domain for r in self.store.list_recordings(eid))
            given = [a.exam_findings for a in exam_answers(self.store, eid)
                     if a.exam_findings.get("domain") == domain and len(a.exam_findings.get("sites", [])) == n]
            if given:
                snap = given[-1]
            else:
                ex = stored_exam_findings(self.store, eid, domain)
                snap = ex.to_dict() if ex is not None and ex.usable_sites else None
        self.snapshot = snap or {}
        if not snap:
            self.findings_view.setHtml("<i>No recording of this exam is analysed yet; asking analyses them all.</i>"
                                       if domain else "")
            self.sitemap.set_loudest(None)
            return
        self.findings_view.setHtml(findings_html(snap, site_keys(self.store, eid, snap)))
        self.sitemap.set_loudest(loudest_key(snap))

    def _show_answer(self, a: StoredAnswer) -> None:
        """The stored answer, headed by what was asked, with the label and its path below it."""
        asked = f"\u201c{a.question}\u201d" if a.task == FREE_TEXT_TASK else self.tasks.get(a.task, {}).get("title", a.task)
        model = f"{a.model_name} {a.model_version}".strip()
        note = f"{DISCLAIMER} \u00b7 {source_note(a.grounding, a.answer_source, model)}"
        body = html.escape(a.answer.strip()).replace("\n", "<br>")
        self.answer_view.setHtml(f"<b>{html.escape(asked)}</b> <small>({html.escape(a.created.replace('T', ' '))})"
                                 f"</small><p>{body}</p><p><small><i>{html.escape(note)}</i></small></p>")
        self.source_label.setText(f"{DISCLAIMER} \u00b7 {source_note(a.grounding, a.answer_source, model, why=False)}")
        self.source_label.setToolTip(note)

    # ------------------------------------------------------------------ asking
    def ask_question(self) -> bool:
        text = self.question_edit.text().strip()
        if not text:
            self.notify("warning", "Type a question about this exam first.")
            return False
        return self.run_task(FREE_TEXT_TASK, text)

    def run_task(self, task: str, question: str | None = None) -> bool:
        """Ask ``task`` (or the free ``question``) about the whole current exam on the job thread.
        False (and the user told why) when it cannot be asked now."""
        eid, domain = self.state.exam_id, self.domain()
        if task in NOT_EXAM_TASKS:
            self.notify("info", NOT_EXAM_TASKS[task])
            return False
        if eid is None or domain is None or self.busy_exam is not None:
            return False
        engine = self.get_engine()
        if engine is None:
            self.notify("warning", "The model is not loaded yet; ask about the exam when it is ready.")
            return False
        n = sum(r.domain == domain for r in self.store.list_recordings(eid))
        self.busy_exam = eid
        self.status.setText(f"Analysing the exam's {n} {domain} recording(s) and asking about the whole exam\u2026")
        self.progress.setVisible(True)
        self._set_enabled()
        tokens = self.max_tokens
        self.runner.submit(lambda: analyse_exam(self.store, engine, eid, task, question, domain=domain,
                                                max_tokens=tokens), self._done, self._failed)
        return True

    def _done(self, stored: StoredAnswer) -> None:
        self.busy_exam = None
        self.progress.setVisible(False)
        if stored.exam_id == self.state.exam_id:
            self.status.setText("Answer saved with the exam (it is in the patient's history).")
            self._show_answer(stored)
            self._show_findings(stored.exam_findings)
        else:
            self.notify("info", "The answer about the other exam is saved in that patient's history.")
        self._set_enabled()
        self.answered.emit(stored)

    def _failed(self, message: str) -> None:
        self.busy_exam = None
        self.progress.setVisible(False)
        self.status.setText(f"Nothing was asked: {message}")
        self.notify("error", f"The exam could not be asked about: {message}")
        self._set_enabled()
