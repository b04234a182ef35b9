"""The patient's history: every stored answer about their recordings and exams, oldest first.

Read from the records (:func:`stethodesk.store.history.patient_history`), so what is listed here
is what survives a restart: Listen-tab answers about the patient's recordings, analyses run in
the Patients tab and whole-exam answers ("Ask about this exam"). Choosing a row shows the whole
answer with how it was produced.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from stethodesk.model.exam_answer import LABEL as EXAM_LABEL
from stethodesk.store.history import StoredAnswer, patient_history

from .exam_findings_view import source_note

COLUMNS = ("When", "About", "Task", "Answer")


class PatientHistory(QWidget):
    """A table of the patient's stored answers and the chosen one in full.

    ``answers``: the :class:`~stethodesk.store.history.StoredAnswer` rows shown, table order.
    """

    def __init__(self, store, state, task_titles: dict[str, str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.state = store, state
        self.task_titles = task_titles or {}
        self.answers: list[StoredAnswer] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.detail = QTextBrowser()
        self.detail.setPlaceholderText("Choose an answer to read it in full.")
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.table.itemSelectionChanged.connect(self._chosen)
        state.patientChanged.connect(lambda _p: self.refresh())
        state.recordsChanged.connect(self.refresh)

    def refresh(self) -> None:
        """List the current patient's stored answers again (newest last, and scrolled to)."""
        pid = self.state.patient_id
        self.answers = patient_history(self.store, pid) if pid is not None else []
        self.table.setRowCount(len(self.answers))
        for row, a in enumerate(self.answers):
            task = self.task_titles.get(a.task, a.task) if a.task != "question" else f"\u201c{a.question or ''}\u201d"
            first = " ".join(a.answer.replace(EXAM_LABEL, "").split())  # the table elides it
            for col, text in enumerate((a.created.replace("T", " ")[:16], a.about, task, first)):
                item = QTableWidgetItem(text)
                item.setToolTip(a.answer if col == 3 else text)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.detail.clear()
        if self.answers:
            self.table.scrollToBottom()

    def _chosen(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        if rows:
            self.detail.setHtml(answer_html(self.answers[min(rows)], self.task_titles))

    def select_last(self) -> None:
        """Choose the newest answer (shows it in full)."""
        if self.answers:
            self.table.selectRow(len(self.answers) - 1)


def answer_html(a: StoredAnswer, task_titles: dict[str, str]) -> str:
    """One stored answer as rich text: what was asked about what, the answer, how it was made."""
    esc = html.escape
    asked = f"\u201c{a.question}\u201d" if a.task == "question" else task_titles.get(a.task, a.task)
    model = f"{a.model_name} {a.model_version}".strip() or "model not recorded"
    how = source_note(a.grounding, a.answer_source, model) if a.kind == "exam" else model
    body = esc(a.answer.strip()).replace("\n", "<br>")
    return (f"<b>{esc(asked)}</b> &middot; {esc(a.about)} &middot; {esc(a.created.replace('T', ' '))}"
            f"<p>{body}</p><p><small>{esc(how)}</small></p>")
