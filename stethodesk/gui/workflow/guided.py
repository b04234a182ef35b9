"""Guided exam: step through a protocol, record each site, analyse automatically.

While a site is being recorded the tab shows the live trace, a countdown and a Stop
button (:class:`SiteRecordingView`: the Listen tab's live view is hidden behind this one),
and the protocol's stethoscope filter for the site (diaphragm or bell) is handed to the
app, which listens and records through it and writes it into the recording's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton,
    QSplitter, QVBoxLayout, QWidget,
)

from stethodesk.store import Store, StoreError, site_title
from stethodesk.store.analyse import analyse_recording
from stethodesk.store.protocols import Protocol, load_protocols
from stethodesk.store.summary import main_finding, quality_verdict

from .recording_view import LiveSamples, SiteRecordingView
from .sitemap import SiteMapWidget, exam_site_status
from .state import JobRunner, WorkflowState

# (site, domain, seconds, filter) -> Path being written, or None when it could not start;
# the finished recording arrives later through GuidedExamTab.accept_recording.
StartRecording = Callable[[str, str, float, str], "Path | None"]


class GuidedExamTab(QWidget):
    """Walks through ``resources/protocols.json``.

    Parameters
    ----------
    store, state, runner : records, shared selection, background jobs.
    get_engine : returns the loaded Engine or None (then recordings are saved, not analysed).
    start_recording : optional; asks the app to record ``seconds`` at ``site`` through the
        stethoscope ``filter``. The app hands the finished recording back through
        :meth:`accept_recording`.
    selected_recording : returns the Path of the recording selected elsewhere (or None).
    notify : (level, text) message to the user.
    live_samples : optional; the latest live input, drawn while a site records.
    stop_recording : optional; ends the running recording early (it is still taken for the site).
    """

    def __init__(self, store: Store, state: WorkflowState, runner: JobRunner,
                 get_engine: Callable[[], object | None], start_recording: StartRecording | None,
                 selected_recording: Callable[[], Path | None], notify: Callable[[str, str], None],
                 parent: QWidget | None = None, *, live_samples: LiveSamples | None = None,
                 stop_recording: Callable[[], None] | None = None):
        super().__init__(parent)
        self.store, self.state, self.runner = store, state, runner
        self.get_engine, self.start_recording = get_engine, start_recording
        self.selected_recording, self.notify = selected_recording, notify
        self.protocols: dict[str, Protocol] = load_protocols()
        self.protocol: Protocol | None = None
        self.exam_id: int | None = None
        self.step = 0
        self.step_state: list[str] = []  # per step: "waiting" | "recorded" | "analysing" | "analysed" | "skipped" | "failed"
        self.step_recording: list[int | None] = []
        self.recording_in_progress = False
        self.stop_recording = stop_recording

        self.choice = QComboBox()
        for key, p in self.protocols.items():
            self.choice.addItem(f"{p.title} ({len(p.steps)} sites)", key)
        self.description = QLabel(wordWrap=True)
        self.start_btn = QPushButton("Start exam")
        self.steps = QListWidget()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m sites")
        self.current = QLabel(wordWrap=True)
        self.current.setTextFormat(Qt.RichText)
        self.record_btn = QPushButton("Record this site")
        self.use_btn = QPushButton("Use selected recording")
        self.skip_btn = QPushButton("Skip site")
        self.back_btn = QPushButton("Back")
        self.status = QLabel(wordWrap=True)
        self.map = SiteMapWidget()
        self.recording_view = SiteRecordingView(live_samples)

        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Protocol</b>"))
        left.addWidget(self.choice)
        left.addWidget(self.description)
        left.addWidget(self.start_btn)
        left.addWidget(self.progress)
        left.addWidget(self.steps, 1)
        right = QVBoxLayout()
        right.addWidget(self.map, 1)
        right.addWidget(self.current)
        row = QHBoxLayout()
        for b in (self.record_btn, self.use_btn, self.skip_btn, self.back_btn):
            row.addWidget(b)
        right.addLayout(row)
        right.addWidget(self.recording_view)
        right.addWidget(self.status)
        split = QSplitter(Qt.Horizontal)
        for lay in (left, right):
            w = QWidget()
            w.setLayout(lay)
            split.addWidget(w)
        split.setSizes([320, 680])
        QVBoxLayout(self).addWidget(split)

        self.choice.currentIndexChanged.connect(self._describe)
        self.start_btn.clicked.connect(self.start_exam)
        self.record_btn.clicked.connect(self.record_current)
        self.use_btn.clicked.connect(self.use_selected)
        self.skip_btn.clicked.connect(self.skip)
        self.back_btn.clicked.connect(self.back)
        self.recording_view.stopRequested.connect(self.stop_current)
        self.steps.currentRowChanged.connect(self._jump)
        self._describe()
        self._refresh()

    # ---------------------------------------------------------------- protocol
    def _describe(self) -> None:
        p = self.protocols[self.choice.currentData()]
        self.description.setText(p.description)
        if self.exam_id is None:
            self.map.set_order([s.site for s in p.steps])
            self.map.set_domain(p.domain)

    def start_exam(self, protocol_key: str | None = None) -> int:
        """Begin a new exam for the current patient (an anonymous one if none is chosen)."""
        key = protocol_key or self.choice.currentData()
        self.protocol = self.protocols[key]
        if self.state.patient_id is None:
            p = self.store.add_patient()
            self.state.set_patient(p.id)
            self.notify("info", f"No patient was chosen: the exam is saved under {p.display}.")
        exam = self.store.add_exam(self.state.patient_id, protocol=key)
        self.exam_id = exam.id
        self.step = 0
        self.step_state = ["waiting"] * len(self.protocol.steps)
        self.step_recording = [None] * len(self.protocol.steps)
        self.map.set_order([s.site for s in self.protocol.steps])
        self.map.set_domain(self.protocol.domain)
        self.state.set_exam(exam.id)
        self.state.recordsChanged.emit()
        self._refresh()
        return exam.id

    @property
    def finished(self) -> bool:
        return self.protocol is not None and self.step >= len(self.protocol.steps)

    # ------------------------------------------------------------------- steps
    def record_current(self) -> None:
        if self.protocol is None or self.finished:
            return
        s = self.protocol.steps[self.step]
        if self.start_recording is None:
            self.notify("info", f"Record {site_title(s.site)} with the Listen tab's Record button; "
                                "the saved recording is taken for this site.")
            self.recording_in_progress = True
            return
        self.recording_in_progress = True
        self.status.setText(f"Recording {site_title(s.site)} for {s.seconds:.0f} s…")
        if self.start_recording(s.site, s.domain, s.seconds, s.filter) is None:
            # the app could not start (no input chosen...); it has told the user why
            self.recording_in_progress = False
            self.status.setText(f"The recording at {site_title(s.site)} did not start.")
            return
        self.recording_view.begin(site_title(s.site).split(" (")[0], s.seconds, s.filter,
                                  can_stop=self.stop_recording is not None)
        self._refresh()  # Record and Use wait until this recording is back

    def stop_current(self) -> None:
        """End the running recording now; the app hands it back and it is taken for the site."""
        if self.recording_in_progress and self.stop_recording is not None:
            self.stop_recording()

    def use_selected(self) -> None:
        path = self.selected_recording()
        if path is None:
            self.notify("warning", "Select a recording in the Listen tab's recordings list first.")
            return
        self.accept_recording(path, force=True)

    def accept_recording(self, result, force: bool = False) -> int | None:
        """Take a finished recording (a RecordingResult or a Path) for the current step.

        Called by the app when a recording is saved; ignored unless this tab asked for it
        (``Record this site``) or ``force`` is set. Returns the new recording id.
        """
        if self.protocol is None or self.finished or not (self.recording_in_progress or force):
            return None
        self.recording_in_progress = False
        self.recording_view.end()
        path = Path(getattr(result, "path", result))
        error = getattr(result, "error", None)
        if error and not path.exists():
            self.notify("error", f"The recording failed: {error}")
            return None
        s = self.protocol.steps[self.step]
        meta = {}
        meta_path = getattr(result, "metadata_path", None) or path.with_suffix(".json")
        try:
            meta = json.loads(Path(meta_path).read_text())
        except (OSError, ValueError, TypeError):
            pass
        try:
            from stethodesk.audio.dsp import signal_quality
            from stethodesk.audio.fileio import read_audio

            x, sr = read_audio(path)
            quality = signal_quality(x, sr, s.domain)
        except Exception as exc:
            self.notify("error", f"The recording for {site_title(s.site)} cannot be used: {exc}")
            return None
        try:
            rec = self.store.add_recording(self.exam_id, path, s.site, domain=s.domain,
                                           device=str(meta.get("device", "")),
                                           filter=str(meta.get("filter", s.filter)), quality=quality)
        except StoreError as exc:
            self.notify("error", str(exc))
            return None
        i = self.step
        self.step_recording[i] = rec.id
        self.step_state[i] = "recorded"
        if quality.level == "poor":
            self.notify("warning", f"{site_title(s.site)}: {quality.reason} You can record the site again with Back.")
        if rec.note:  # a file with damaged frames: the rest is used, and the store keeps the note
            self.notify("warning", f"{site_title(s.site)}: {rec.note}")
        self._analyse(i, rec.id)
        self.step += 1
        while not self.finished and self.step_state[self.step] in ("recorded", "analysing", "analysed"):
            self.step += 1
        self.state.recordsChanged.emit()
        self._refresh()
        if self.finished:
            self._announce_done()
        return rec.id

    def _analyse(self, i: int, rec_id: int) -> None:
        engine = self.get_engine()
        if engine is None:
            return  # saved; analysable later from the Patients tab
        self.step_state[i] = "analysing"

        def done(_analysis, i=i):
            self.step_state[i] = "analysed"
            self.state.recordsChanged.emit()
            self._refresh()

        def failed(message: str, i=i):
            self.step_state[i] = "failed"
            self.notify("error", f"Analysis of {site_title(self.protocol.steps[i].site)} failed: {message}")
            self._refresh()

        self.runner.submit(lambda: analyse_recording(self.store, engine, rec_id), done, failed)

    def skip(self) -> None:
        if self.protocol is None or self.finished:
            return
        self.step_state[self.step] = "skipped"
        self._leave_recording()
        self.step += 1
        self._refresh()
        if self.finished:
            self._announce_done()

    def back(self) -> None:
        if self.protocol is not None and self.step > 0:
            self.step -= 1
            self._leave_recording()
            self._refresh()

    def _jump(self, row: int) -> None:
        if self.protocol is not None and 0 <= row < len(self.protocol.steps) and row != self.step:
            self.step = row
            self._leave_recording()
            self._refresh()

    def _leave_recording(self) -> None:
        """Moving to another site: a recording still running is stopped and not taken for it."""
        running = self.recording_in_progress
        self.recording_in_progress = False
        self.recording_view.end()
        if running and self.stop_recording is not None:
            self.stop_recording()

    def _announce_done(self) -> None:
        n = sum(st in ("recorded", "analysing", "analysed") for st in self.step_state)
        self.notify("success", f"Exam complete: {n} of {len(self.step_state)} sites recorded.")

    # ----------------------------------------------------------------- display
    def _step_text(self, i: int) -> tuple[str, str]:
        """(one line for the list, tooltip) of step ``i``."""
        s = self.protocol.steps[i]
        title = site_title(s.site).split(" (")[0]
        st = self.step_state[i]
        rid = self.step_recording[i]
        if rid is None:
            return f"{title}: {st}", site_title(s.site)
        rec = self.store.get_recording(rid)
        findings, points = self.store.latest_findings(rid), self.store.latest_points(rid)  # called as analysed
        quality = f"quality {quality_verdict(rec.quality_level, findings, points)[1]}"
        tip = f"{site_title(s.site)}\n{quality}: {rec.quality_reason}"
        if st != "analysed":
            return f"{title}: {st}, {quality}", tip
        analyses = self.store.list_analyses(rid)
        if not findings:  # the engine refused it (no contact, too short...)
            reason = analyses[-1].answer if analyses else "not analysable"
            return f"{title}: not analysable, {quality}", tip + "\n" + reason
        mf = main_finding(findings, s.domain, points)
        return f"{title}: {mf.text}, {quality}", tip + ("\n" + analyses[-1].answer if analyses else "")

    def _refresh(self) -> None:
        active = self.protocol is not None
        for b in (self.record_btn, self.use_btn, self.skip_btn):
            b.setEnabled(active and not self.finished and not (self.recording_in_progress and b is not self.skip_btn))
        self.back_btn.setEnabled(active and self.step > 0)
        self.steps.blockSignals(True)
        self.steps.clear()
        if not active:
            self.current.setText("Choose a protocol and press <b>Start exam</b>.")
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.steps.blockSignals(False)
            return
        status = exam_site_status(self.store, self.exam_id)
        for i, s in enumerate(self.protocol.steps):
            text, tip = self._step_text(i)
            item = QListWidgetItem(("\u25b6 " if i == self.step else "   ") + f"{i + 1}. {text}")
            item.setToolTip(tip)
            self.steps.addItem(item)
        self.steps.setCurrentRow(min(self.step, len(self.protocol.steps) - 1))
        self.steps.blockSignals(False)
        done = sum(st in ("recorded", "analysing", "analysed") for st in self.step_state)
        self.progress.setRange(0, len(self.protocol.steps))
        self.progress.setValue(done)
        self.map.set_status(status)
        if self.finished:
            self.map.set_selected(None)
            analysing = sum(st == "analysing" for st in self.step_state)
            self.current.setText("<b>All sites done.</b>" + (f" Analysing {analysing} recording(s)…" if analysing else
                                 " Open the Patients tab for the report."))
        else:
            s = self.protocol.steps[self.step]
            self.map.set_selected(s.site)
            self.current.setText(
                f"<b>Step {self.step + 1} of {len(self.protocol.steps)}: {site_title(s.site)}</b><br>"
                f"{s.hint}<br>Record about {s.seconds:.0f} s{', ' + s.filter + ' filter' if s.filter else ''}.")
        if self.get_engine() is None:
            self.status.setText("The model is not loaded: recordings are saved and can be analysed later.")
        else:
            self.status.setText("")
