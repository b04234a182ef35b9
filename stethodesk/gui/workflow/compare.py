"""Compare two recordings: linked waveforms with their own play / stop / 0.5x controls and
playhead, both recordings' findings side by side, and the model's comparison answer."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QTextEdit, QVBoxLayout, QWidget,
)

from stethodesk import DISCLAIMER
from stethodesk.store import Store, StoreError, site_title
from stethodesk.gui.playback import PlaybackControls
from stethodesk.store.analyse import compare_recordings, engine_site
from stethodesk.store.summary import finding_label, pct, shown_findings
from stethodesk.store.summary import quality_verdict

from .state import JobRunner, WorkflowState
from .waveform import WaveformPlot


class CompareTab(QWidget):
    """Recording A and B of the current patient (same site at two times, or two sites).

    The two plots share their x-axis (pan or zoom one, the other follows). Recording B never
    offers A's recording (a recording is not its own partner). Under the plots, each
    recording's findings: the latest stored for it, updated by a comparison.
    """

    FINDINGS_SHOWN = 5  # findings listed per recording

    def __init__(self, store: Store, state: WorkflowState, runner: JobRunner,
                 get_engine: Callable[[], object | None], notify: Callable[[str, str], None],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.state, self.runner = store, state, runner
        self.get_engine, self.notify = get_engine, notify
        self.a, self.b = QComboBox(), QComboBox()
        self.plot_a, self.plot_b = WaveformPlot(title="A"), WaveformPlot(title="B")
        self.plot_b.setXLink(self.plot_a)  # synchronised time axes
        self.play_a, self.play_b = PlaybackControls(self.plot_a), PlaybackControls(self.plot_b)
        self.findings_a, self.findings_b = QLabel(wordWrap=True), QLabel(wordWrap=True)
        self._sides = {"A": (self.play_a, self.findings_a), "B": (self.play_b, self.findings_b)}
        # (findings, operating points) measured by a comparison for a recording never analysed
        self._measured: dict[int, tuple[dict, dict]] = {}
        for mine, other in ((self.play_a, self.play_b), (self.play_b, self.play_a)):
            mine.player.started.connect(lambda _d, o=other: o.stop())  # one sound at a time
            mine.message.connect(lambda level, text: self.notify(level, text))
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
        lay.addWidget(self.play_a, 0, Qt.AlignmentFlag.AlignRight)
        lay.addWidget(self.plot_b, 1)
        lay.addWidget(self.play_b, 0, Qt.AlignmentFlag.AlignRight)
        side_by_side = QHBoxLayout()
        side_by_side.addWidget(self.findings_a, 1)
        side_by_side.addWidget(self.findings_b, 1)
        lay.addLayout(side_by_side)
        lay.addWidget(self.compare_btn)
        lay.addWidget(self.answer)
        lay.addWidget(self.info)
        self.a.currentIndexChanged.connect(lambda _i: self.refresh())  # B's choices follow A
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
                damaged = ", damaged part left out" if r.note else ""  # the reader's note is the tooltip
                combo.addItem(f"{exam.date[:16].replace('T', ' ')} - {site_title(r.site).split(' (')[0]}"
                              f" ({r.duration_s:.0f} s{damaged}, quality "
                              f"{self._quality(r)})", r.id)
                if r.note:
                    combo.setItemData(combo.count() - 1, r.note, Qt.ToolTipRole)
            idx = combo.findData(want)
            combo.setCurrentIndex(idx if idx >= 0 else (-1 if not recs else 0))
            combo.blockSignals(False)
        self._leave_a_out_of_b()
        self._show(self.a, self.plot_a, "A")
        self._show(self.b, self.plot_b, "B")
        self.compare_btn.setEnabled(len(recs) >= 2)
        if not recs:
            self.info.setText("Choose a patient with at least two recordings in the Patients tab.")

    def _leave_a_out_of_b(self) -> None:
        """Recording B is never A's recording; B falls back to the first other one."""
        self.b.blockSignals(True)
        i = self.b.findData(self.a.currentData())
        if i >= 0:
            self.b.removeItem(i)
        if self.b.currentIndex() < 0 and self.b.count():
            self.b.setCurrentIndex(0)
        self.b.blockSignals(False)

    def toggle_play(self) -> None:
        """Space: stop what plays, else play A."""
        if self.play_b.playing:
            self.play_b.stop()
        else:
            self.play_a.toggle()

    def _quality(self, r) -> str:
        """The recording's one quality verdict, its stored poor-quality call at its operating point."""
        return quality_verdict(r.quality_level, self.store.latest_findings(r.id), self.store.latest_points(r.id))[0] or "?"

    def _show_findings(self, label: str, rid: int | None, findings: dict | None = None,
                       points: dict | None = None) -> None:
        """The findings of ``label``'s recording ``rid`` (called at their operating points ``points``):
        ``findings``, else the latest stored, else those a comparison measured for it."""
        box = self._sides[label][1]
        if rid is None:
            box.setText("")
            return
        if findings is None:
            findings, points = self.store.latest_findings(rid), self.store.latest_points(rid)
            if not findings:
                findings, points = self._measured.get(rid, ({}, {}))
        shown = shown_findings(findings, top=self.FINDINGS_SHOWN, points=points)
        if not shown:
            box.setText(f"<b>{label}</b>: not analysed yet (Compare, or Analyse in the Patients tab).")
            return
        box.setText(f"<b>{label}</b>: " + ", ".join(f"{finding_label(k)} {pct(v)}" for k, v in shown))

    def select(self, a_id: int, b_id: int) -> None:
        self.a.setCurrentIndex(self.a.findData(a_id))
        self.b.setCurrentIndex(self.b.findData(b_id))

    def _show(self, combo: QComboBox, plot: WaveformPlot, label: str) -> None:
        rid = combo.currentData()
        controls = self._sides[label][0]
        self._show_findings(label, rid)
        if rid is None:
            plot.clear_audio(label)
            controls.clear()
            return
        try:
            x, sr = self.store.load_audio(rid)
        except StoreError as exc:
            plot.clear_audio(f"{label}: cannot show")
            controls.clear()
            self.notify("error", str(exc))
            return
        plot.set_audio(x, sr, f"{label}: {combo.currentText()}")
        controls.set_audio(x, sr)

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
        self.runner.submit(lambda: self._compare_job(engine, a, b), self._done, self._failed)

    def _compare_job(self, engine, a: int, b: int):
        """Worker thread: the stored comparison (on A) and B's findings (stored, else measured now)."""
        analysis = compare_recordings(self.store, engine, a, b)
        measured_b = None
        if not self.store.latest_findings(b):  # B was never analysed on its own: as the comparison saw it
            rb = self.store.get_recording(b)
            x, sr = self.store.load_audio(rb)
            ab = engine.analyze_audio(x, sr, domain=rb.domain, site=engine_site(rb.site))
            measured_b = (ab.findings, getattr(ab, "points", None) or {})
        return analysis, b, measured_b

    def _done(self, result) -> None:
        analysis, b, measured_b = result
        self.compare_btn.setEnabled(True)
        self.answer.setPlainText(analysis.answer)
        if measured_b is not None:
            self._measured[b] = measured_b
        self._show_findings("A", analysis.recording_id, analysis.findings, getattr(analysis, "points", None))
        self._show_findings("B", b)
        self.info.setText(f"{DISCLAIMER} Model {analysis.model_name} {analysis.model_version}.")
        self.state.recordsChanged.emit()

    def _failed(self, message: str) -> None:
        self.compare_btn.setEnabled(True)
        self.answer.setPlainText("")
        self.notify("error", f"The comparison failed: {message}")
