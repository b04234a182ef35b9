"""Patients and exams: browse, add, delete; the exam's site map, recordings, "Ask about this
exam" (:mod:`.exam_ask`) and the patient's history (:mod:`.history_view`); report and export
(:mod:`.exam_output`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QTextEdit, QVBoxLayout, QWidget,
)

from stethodesk.audio.fileio import FILE_DIALOG_FILTER
from stethodesk.store import Store, StoreError, site_title
from stethodesk.store.analyse import analyse_recording
from stethodesk.store.protocols import protocol_title
from stethodesk.store.summary import exam_count, main_finding, quality_verdict

from .exam_ask import ExamAskPanel
from .exam_output import ExamOutput
from .history_view import PatientHistory
from .sitemap import SiteMapWidget, exam_site_status
from .state import JobRunner, WorkflowState

Notify = Callable[[str, str], None]  # (level "info"|"success"|"warning"|"error", text)


class PatientsTab(ExamOutput, QWidget):
    """Left: patients (search, add, delete). Middle: exams of the patient. Right: the
    exam's site map over three pages: its recordings (add, analyse, report, export), "Ask about
    this exam" (``ask``) and the patient's history (``history``).

    Parameters
    ----------
    store : the records.
    state : shared current patient/exam.
    runner : background jobs (analysis).
    get_engine : returns the loaded Engine or None.
    selected_recording : returns the Path of the recording chosen elsewhere in the app (or None).
    notify : shows a message to the user.
    """

    def __init__(self, store: Store, state: WorkflowState, runner: JobRunner,
                 get_engine: Callable[[], object | None], selected_recording: Callable[[], Path | None],
                 notify: Notify, parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.state, self.runner = store, state, runner
        self.get_engine, self.selected_recording, self.notify = get_engine, selected_recording, notify
        self.confirm: Callable[[str], bool] = self._ask_user  # replaced in tests
        self.site: str | None = None

        # ---- patients column
        self.search = QLineEdit(placeholderText="Search name or MRN")
        self.patients = QListWidget()
        self.name = QLineEdit(placeholderText="Name (optional)")
        self.mrn = QLineEdit(placeholderText="MRN (optional)")
        self.age = QDoubleSpinBox(minimum=-1, maximum=130, decimals=1, specialValueText="age ?")
        self.age.setValue(-1)
        self.sex = QComboBox()
        self.sex.addItems(["", "female", "male", "other", "unknown"])
        self.add_patient_btn = QPushButton("Add as new patient")
        self.save_patient_btn = QPushButton("Save changes")
        self.clear_btn = QPushButton("Clear")
        self.delete_patient_btn = QPushButton("Delete patient…")
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("MRN", self.mrn)
        form.addRow("Age (years)", self.age)
        form.addRow("Sex", self.sex)
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Patients</b>"))
        left.addWidget(self.search)
        left.addWidget(self.patients, 1)
        box = QGroupBox("Patient details")
        bl = QVBoxLayout(box)
        bl.addLayout(form)
        brow = QHBoxLayout()
        brow.addWidget(self.save_patient_btn)
        brow.addWidget(self.clear_btn)
        bl.addWidget(self.add_patient_btn)
        bl.addLayout(brow)
        left.addWidget(box)
        left.addWidget(self.delete_patient_btn)

        # ---- exams column
        self.exams = QListWidget()
        self.clinician = QLineEdit(placeholderText="Clinician")
        self.notes = QTextEdit(placeholderText="Exam notes")
        self.notes.setTabChangesFocus(True)  # Tab moves on (keyboard users were trapped in the notes)
        self.notes.setMaximumHeight(90)
        self.add_exam_btn = QPushButton("New exam")
        self.save_notes_btn = QPushButton("Save notes")
        mid = QVBoxLayout()
        mid.addWidget(QLabel("<b>Exams</b>"))
        mid.addWidget(self.exams, 1)
        mid.addWidget(self.clinician)
        mid.addWidget(self.notes)
        row = QHBoxLayout()
        row.addWidget(self.add_exam_btn)
        row.addWidget(self.save_notes_btn)
        mid.addLayout(row)

        # ---- exam detail column
        self.map = SiteMapWidget()
        self.site_label = QLabel("Click a site on the map.")
        self.recordings = QTableWidget(0, 5)
        self.recordings.setHorizontalHeaderLabels(["Site", "Length", "Quality", "Main finding", "Answer"])
        self.recordings.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.recordings.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.recordings.horizontalHeader().setStretchLastSection(True)
        self.add_rec_btn = QPushButton("Add selected recording at this site")
        self.import_btn = QPushButton("Import file at this site…")
        self.analyse_btn = QPushButton("Analyse")
        self.analyse_all_btn = QPushButton("Analyse the rest")
        self.analyse_all_btn.setToolTip("Analyse every recording of this exam that has no analysis yet")
        self.report_btn = QPushButton("PDF report…")
        self.export_btn = QPushButton("Export folder…")
        self.delete_rec_btn = QPushButton("Delete recording…")
        self.delete_rec_btn.setToolTip("Delete the selected recording, its analyses and its audio file (Delete)")
        self.strip = QCheckBox("Remove identifying fields")
        recs = QVBoxLayout()
        recs.setContentsMargins(0, 4, 0, 0)
        recs.addWidget(self.recordings, 1)
        r1 = QHBoxLayout()
        for b in (self.add_rec_btn, self.import_btn, self.analyse_btn, self.analyse_all_btn):
            r1.addWidget(b)
        r2 = QHBoxLayout()
        for b in (self.report_btn, self.export_btn, self.delete_rec_btn):
            r2.addWidget(b)
        r2.addWidget(self.strip)
        recs.addLayout(r1)
        recs.addLayout(r2)
        self.ask = ExamAskPanel(store, state, runner, get_engine, notify, self.map)
        self.history = PatientHistory(store, state, {k: v.get("title", k) for k, v in self.ask.tasks.items()})
        self.ask.answered.connect(lambda _a: (self.history.refresh(), self.history.select_last()))
        recs_page = QWidget()
        recs_page.setLayout(recs)
        self.pages = QTabWidget()
        for page, title in ((recs_page, "Recordings"), (self.ask, "Ask about this exam"), (self.history, "History")):
            self.pages.addTab(page, title)
        right = QVBoxLayout()
        right.addWidget(self.map, 2)
        right.addWidget(self.site_label)
        right.addWidget(self.pages, 3)

        split = QSplitter(Qt.Horizontal)
        for lay, w in ((left, 230), (mid, 220), (right, 600)):
            holder = QWidget()
            holder.setLayout(lay)
            split.addWidget(holder)
        split.setSizes([230, 220, 600])
        outer = QVBoxLayout(self)
        outer.addWidget(split)

        self.search.textChanged.connect(self.refresh_patients)
        self.patients.currentItemChanged.connect(self._patient_chosen)
        self.exams.currentItemChanged.connect(self._exam_chosen)
        self.add_patient_btn.clicked.connect(self.add_patient)
        self.delete_patient_btn.clicked.connect(self.delete_patient)
        self.save_patient_btn.clicked.connect(self.save_patient)
        self.clear_btn.clicked.connect(self._clear_form)
        self.add_exam_btn.clicked.connect(self.add_exam)
        self.save_notes_btn.clicked.connect(self.save_notes)
        self.map.siteClicked.connect(self._site_chosen)
        self.add_rec_btn.clicked.connect(self.add_selected_recording)
        self.import_btn.clicked.connect(self._import_dialog)
        self.analyse_btn.clicked.connect(self.analyse_selected)
        self.analyse_all_btn.clicked.connect(self.analyse_pending)
        self.report_btn.clicked.connect(self._report_dialog)
        self.export_btn.clicked.connect(self._export_dialog)
        self.recordings.itemSelectionChanged.connect(self._recording_chosen)
        self.delete_rec_btn.clicked.connect(self.delete_recording)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.recordings, self.delete_recording,
                  context=Qt.ShortcutContext.WidgetShortcut)
        state.recordsChanged.connect(self.refresh_exams)  # the exam list's counts too, then the exam
        state.examChanged.connect(self._external_exam)
        self.refresh_patients()
        self._update_buttons()

    # ----------------------------------------------------------------- helpers
    def _ask_user(self, text: str) -> bool:
        return QMessageBox.question(self, "StethoDesk", text) == QMessageBox.Yes

    def _update_buttons(self) -> None:
        has_p, has_e = self.state.patient_id is not None, self.state.exam_id is not None
        self.delete_patient_btn.setEnabled(has_p)
        self.save_patient_btn.setEnabled(has_p)
        self.add_exam_btn.setEnabled(has_p)
        self.save_notes_btn.setEnabled(has_e)
        for b in (self.add_rec_btn, self.import_btn):
            b.setEnabled(has_e and self.site is not None)
        for b in (self.report_btn, self.export_btn):
            b.setEnabled(has_e)
        self.analyse_btn.setEnabled(bool(self.recordings.selectedItems()))
        self.delete_rec_btn.setEnabled(bool(self.recordings.selectedItems()))
        self.analyse_all_btn.setEnabled(has_e and bool(self.pending()))

    def selected_recording_id(self) -> int | None:
        rows = {i.row() for i in self.recordings.selectedItems()}
        if not rows:
            return None
        return self.recordings.item(min(rows), 0).data(Qt.UserRole)

    # ---------------------------------------------------------------- patients
    def refresh_patients(self) -> None:
        keep = self.state.patient_id
        self.patients.blockSignals(True)
        self.patients.clear()
        for p in self.store.list_patients(self.search.text()):
            bits = [p.display]
            if p.age_years is not None:
                bits.append(f"{p.age_years:g} y")
            if p.sex:
                bits.append(p.sex)
            item = QListWidgetItem(", ".join(bits))
            item.setData(Qt.UserRole, p.id)
            self.patients.addItem(item)
            if p.id == keep:
                self.patients.setCurrentItem(item)
        self.patients.blockSignals(False)

    def add_patient(self) -> int | None:
        age = self.age.value()
        try:
            p = self.store.add_patient(self.name.text().strip() or None, self.mrn.text().strip() or None,
                                       None if age < 0 else age, self.sex.currentText() or None)
        except StoreError as exc:
            self.notify("error", str(exc))
            return None
        self.state.set_patient(p.id)
        self.refresh_patients()
        self.refresh_exams()
        self.notify("success", f"Added {p.display}.")
        return p.id

    def delete_patient(self) -> None:
        pid = self.state.patient_id
        if pid is None:
            return
        p = self.store.get_patient(pid)
        n = len(self.store.recordings_of_patient(pid))
        if not self.confirm(f"Delete {p.display}, their exams and {n} recording(s)? "
                            "The audio files are removed too. This cannot be undone."):
            return
        removed = self.store.delete_patient(pid)
        self.state.set_patient(None)
        self.refresh_patients()
        self.refresh_exams()
        self.state.recordsChanged.emit()
        self.notify("info", f"Deleted {p.display} and {len([f for f in removed if f.suffix != '.json'])} audio file(s).")

    def delete_recording(self) -> bool:
        """Ask, then delete the selected recording: its row and analyses (one transaction), then
        its audio file and sidecar. True when deleted."""
        rid = self.selected_recording_id()
        if rid is None:
            return False
        rec = self.store.get_recording(rid)
        n = len(self.store.list_analyses(rid))
        if not self.confirm(f"Delete the recording at {site_title(rec.site)} ({rec.duration_s:.0f} s) and its "
                            f"{n} analysis/analyses? The audio file is removed too. This cannot be undone."):
            return False
        try:
            self.store.delete_recording(rid)
        except StoreError as exc:
            self.notify("error", f"Could not delete the recording: {exc}")
            return False
        self.state.recordsChanged.emit()  # the exam's table, map and counts, the other tabs' lists
        self.notify("info", f"Deleted the recording at {site_title(rec.site)}.")
        return True

    def _patient_chosen(self, item, _prev=None) -> None:
        self.state.set_patient(item.data(Qt.UserRole) if item else None)
        self._fill_form()
        self.refresh_exams()

    def _fill_form(self) -> None:
        if self.state.patient_id is None:
            self._clear_form()
            return
        p = self.store.get_patient(self.state.patient_id)
        self.name.setText(p.name or "")
        self.mrn.setText(p.mrn or "")
        self.age.setValue(-1 if p.age_years is None else p.age_years)
        self.sex.setCurrentText(p.sex or "")

    def _clear_form(self) -> None:
        self.name.clear()
        self.mrn.clear()
        self.age.setValue(-1)
        self.sex.setCurrentIndex(0)

    def save_patient(self) -> None:
        """Write the form into the selected patient."""
        if self.state.patient_id is None:
            return
        age = self.age.value()
        try:
            p = self.store.update_patient(self.state.patient_id, name=self.name.text().strip(),
                                          mrn=self.mrn.text().strip(), age_years=None if age < 0 else age,
                                          sex=self.sex.currentText() or None)
        except StoreError as exc:
            self.notify("error", str(exc))
            return
        self.refresh_patients()
        self.notify("success", f"Saved {p.display}.")

    # ------------------------------------------------------------------- exams
    def refresh_exams(self) -> None:
        keep = self.state.exam_id
        self.exams.blockSignals(True)
        self.exams.clear()
        if self.state.patient_id is not None:
            for e in self.store.list_exams(self.state.patient_id):
                text = f"{e.date.replace('T', ' ')[:16]}  ({exam_count(self.store.list_recordings(e.id))})"
                if e.protocol:
                    text += f"  {protocol_title(e.protocol)}"
                item = QListWidgetItem(text)
                item.setData(Qt.UserRole, e.id)
                self.exams.addItem(item)
                if e.id == keep:
                    self.exams.setCurrentItem(item)
        self.exams.blockSignals(False)
        self.refresh_exam()

    def add_exam(self, protocol: str | None = None) -> int | None:
        if self.state.patient_id is None:
            self.notify("warning", "Choose or add a patient first.")
            return None
        e = self.store.add_exam(self.state.patient_id, clinician=self.clinician.text().strip(),
                                notes=self.notes.toPlainText().strip(), protocol=protocol or None)
        self.state.set_exam(e.id)
        self.refresh_exams()
        return e.id

    def save_notes(self) -> None:
        if self.state.exam_id is not None:
            self.store.update_exam(self.state.exam_id, clinician=self.clinician.text().strip(),
                                   notes=self.notes.toPlainText().strip())
            self.notify("success", "Exam notes saved.")

    def _exam_chosen(self, item, _prev=None) -> None:
        self.state.set_exam(item.data(Qt.UserRole) if item else None)
        self.refresh_exam()

    def _external_exam(self, exam_id) -> None:
        """Another tab (guided exam) chose an exam: follow it."""
        if exam_id is not None:
            exam = self.store.get_exam(exam_id)
            if exam.patient_id != self.state.patient_id:
                self.state.set_patient(exam.patient_id)
                self.state.set_exam(exam_id)
            self.refresh_patients()
            self.refresh_exams()
        else:
            self.refresh_exam()

    def refresh_exam(self) -> None:
        eid = self.state.exam_id
        self.map.set_status(exam_site_status(self.store, eid))
        self.recordings.setRowCount(0)
        if eid is not None:
            exam = self.store.get_exam(eid)
            self.clinician.setText(exam.clinician)
            self.notes.setPlainText(exam.notes)
            for r in self.store.list_recordings(eid):
                findings, points = self.store.latest_findings(r.id), self.store.latest_points(r.id)
                mf = main_finding(findings, r.domain, points)  # called at the points it was analysed with
                analyses = self.store.list_analyses(r.id)
                quality = quality_verdict(r.quality_level, findings, points)[0]
                # a file with damaged frames left out: its length says so, the note is the tooltip
                length = f"{r.duration_s:.1f} s" + (" (damaged part left out)" if r.note else "")
                cells = [site_title(r.site).split(" (")[0], length, quality or "-",
                         mf.text, analyses[-1].answer if analyses else ""]
                row = self.recordings.rowCount()
                self.recordings.insertRow(row)
                for col, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.UserRole, r.id)
                    if col == 4:
                        item.setToolTip(text)
                    elif r.note:
                        item.setToolTip(r.note)
                    self.recordings.setItem(row, col, item)
            self.recordings.resizeColumnsToContents()
        self._update_buttons()

    # -------------------------------------------------------------- recordings
    def _site_chosen(self, key: str) -> None:
        self.site = key
        self.site_label.setText(f"Site: <b>{site_title(key)}</b>")
        # a recorded site: select its newest recording in the table
        rows = [row for row in range(self.recordings.rowCount())
                if self.store.get_recording(self.recordings.item(row, 0).data(Qt.UserRole)).site == key]
        self.recordings.blockSignals(True)
        if rows:
            self.recordings.selectRow(rows[-1])
        else:
            self.recordings.clearSelection()
        self.recordings.blockSignals(False)
        self._update_buttons()

    def _recording_chosen(self) -> None:
        rid = self.selected_recording_id()
        if rid is not None:
            rec = self.store.get_recording(rid)
            self.map.set_selected(rec.site)
            self.site = rec.site
            self.site_label.setText(f"Site: <b>{site_title(rec.site)}</b>")
        self._update_buttons()

    def add_recording(self, path: Path, site: str | None = None) -> int | None:
        """Add the audio file ``path`` to the current exam at ``site`` (the map's choice)."""
        site = site or self.site
        if self.state.exam_id is None or site is None:
            self.notify("warning", "Choose an exam and click a site on the map first.")
            return None
        try:
            from stethodesk.audio.dsp import signal_quality
            from stethodesk.audio.fileio import read_audio
            from stethodesk.store.sites import domain_of

            x, sr = read_audio(path)
            quality = signal_quality(x, sr, domain_of(site))
        except Exception as exc:  # the quality is a nicety: the recording is still added
            quality = None
            if "not a readable" in str(exc) or "empty" in str(exc):
                self.notify("error", str(exc))
                return None
        try:
            rec = self.store.add_recording(self.state.exam_id, Path(path), site, quality=quality)
        except StoreError as exc:
            self.notify("error", str(exc))
            return None
        if rec.note:  # damaged frames left out: stored and shown in the list, and said now
            self.notify("warning", rec.note)
        self.refresh_exams()
        self.state.recordsChanged.emit()
        return rec.id

    def add_selected_recording(self) -> None:
        path = self.selected_recording()
        if path is None:
            self.notify("warning", "Select a recording in the Listen tab's recordings list first.")
            return
        self.add_recording(Path(path))

    def _import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a recording", "", FILE_DIALOG_FILTER)
        if path:
            self.add_recording(Path(path))

    def analyse_selected(self) -> None:
        rid = self.selected_recording_id()
        engine = self.get_engine()
        if rid is None:
            return
        if engine is None:
            self.notify("warning", "The model is not loaded yet; the recording is saved and can be analysed later.")
            return
        self.analyse_btn.setEnabled(False)
        self.runner.submit(lambda: analyse_recording(self.store, engine, rid),
                           self._analysed, self._failed)

    def pending(self) -> list[int]:
        """Recordings of the current exam without any analysis."""
        if self.state.exam_id is None:
            return []
        return [r.id for r in self.store.list_recordings(self.state.exam_id) if not self.store.list_analyses(r.id)]

    def analyse_pending(self) -> int:
        """Queue every not-yet-analysed recording of the exam; returns how many."""
        engine = self.get_engine()
        if engine is None:
            self.notify("warning", "The model is not loaded yet; try again when it is ready.")
            return 0
        todo = self.pending()
        for rid in todo:
            self.runner.submit(lambda rid=rid: analyse_recording(self.store, engine, rid),
                               self._analysed, self._failed)
        self.analyse_all_btn.setEnabled(False)
        return len(todo)

    def _analysed(self, _analysis) -> None:
        self.state.recordsChanged.emit()
        self.notify("success", "Analysis saved (decision support, not a diagnosis).")

    def _failed(self, message: str) -> None:
        self.notify("error", message)
        self._update_buttons()
