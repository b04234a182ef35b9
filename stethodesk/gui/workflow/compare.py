"""Compare two recordings: linked waveforms and the model's comparison answer."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QTextEdit, QVBoxLayout, QWidget

from stethodesk import DISCLAIMER
from stethodesk.store import Store, StoreError, site_title
from stethodesk.store.analyse import compare_recordings

from .state import JobRunner, WorkflowState
from .waveform import WaveformPlot


class CompareTab(QWidget):
    """Recording A and B of the current patient (same site at two times, or two sites).

    The two plots share their x-axis (pan or zoom one, the other follows).
    """

    def __init__(self, store: Store, state: WorkflowState, runner: JobRunner,
                 get_engine: Callable[[], object | None], notify: Callable[[str, str], None],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.state, self.runner = store, state, runner
        self.get_engine, self.notify = get_engine, notify
        self.a, self.b = QComboBox(), QComboBox()
        self.plot_a, self.plot_b = WaveformPlot(title="A"), WaveformPlot(title="B")
        self.plot_b.setXLink(self.plot_a)  # synchronised time axes
        self.compare_btn = QPushButton("Compare with the model")
        self.answer = QTextEdit(readOnly=True)
        self.answer.setMaximumHeight(130)
        self.info = QLabel(wordWrap=True)
        form = QFormLayout()
        form.addRow("Recording A", self.a)
        form.addRow("Recording B", self.b)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.plot_a, 1)
        lay.addWidget(self.plot_b, 1)
        lay.addWidget(self.compare_btn)
        lay.addWidget(self.answer)
        lay.addWidget(self.info)
        self.a.currentIndexChanged.connect(lambda _i: self._show(self.a, self.plot_a, "A"))
        self.b.currentIndexChanged.connect(lambda _i: self._show(self.b, self.plot_b, "B"))
        self.compare_btn.clicked.connect(self.compare)
        state.patientChanged.connect(lambda _p: self.refresh())
        state.recordsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        keep = (self.a.currentData(), self.b.currentData())
        recs = self.store.recordings_of_patient(self.state.patient_id) if self.state.patient_id else []
        for combo, want in ((self.a, keep[0]), (self.b, keep[1])):
            combo.blockSignals(True)
            combo.clear()
            for r in recs:
                exam = self.store.get_exam(r.exam_id)
                combo.addItem(f"{exam.date[:16].replace('T', ' ')} - {site_title(r.site).split(' (')[0]}"
                              f" ({r.duration_s:.0f} s, {r.quality_level or 'quality ?'})", r.id)
            idx = combo.findData(want)
            combo.setCurrentIndex(idx if idx >= 0 else (-1 if not recs else 0))
            combo.blockSignals(False)
        if len(recs) >= 2 and self.a.currentData() == self.b.currentData():
            self.b.setCurrentIndex(1)
        self._show(self.a, self.plot_a, "A")
        self._show(self.b, self.plot_b, "B")
        self.compare_btn.setEnabled(len(recs) >= 2)
        if not recs:
            self.info.setText("Choose a patient with at least two recordings in the Patients tab.")

    def select(self, a_id: int, b_id: int) -> None:
        self.a.setCurrentIndex(self.a.findData(a_id))
        self.b.setCurrentIndex(self.b.findData(b_id))

    def _show(self, combo: QComboBox, plot: WaveformPlot, label: str) -> None:
        rid = combo.currentData()
        if rid is None:
            plot.clear_audio(label)
            return
        try:
            x, sr = self.store.load_audio(rid)
        except StoreError as exc:
            plot.clear_audio(f"{label}: cannot show")
            self.notify("error", str(exc))
            return
        plot.set_audio(x, sr, f"{label}: {combo.currentText()}")

    def compare(self) -> None:
        a, b = self.a.currentData(), self.b.currentData()
        if a is None or b is None or a == b:
            self.notify("warning", "Choose two different recordings to compare.")
            return
        engine = self.get_engine()
        if engine is None:
            self.notify("warning", "The model is not loaded yet; the comparison needs it.")
            return
        self.compare_btn.setEnabled(False)
        self.answer.setPlainText("Comparing…")
        self.runner.submit(lambda: compare_recordings(self.store, engine, a, b), self._done, self._failed)

    def _done(self, analysis) -> None:
        self.compare_btn.setEnabled(True)
        self.answer.setPlainText(analysis.answer)
        self.info.setText(f"{DISCLAIMER} Model {analysis.model_name} {analysis.model_version}.")
        self.state.recordsChanged.emit()

    def _failed(self, message: str) -> None:
        self.compare_btn.setEnabled(True)
        self.answer.setPlainText("")
        self.notify("error", f"The comparison failed: {message}")
