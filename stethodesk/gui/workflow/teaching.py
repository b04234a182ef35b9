"""Teaching mode: the reference library and the listening quiz with score history."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QPushButton, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from stethodesk import DISCLAIMER
from stethodesk.audio.fileio import FILE_DIALOG_FILTER
from stethodesk.gui.playback import PlaybackControls
from stethodesk.store import Store, StoreError
from stethodesk.teaching import Quiz, import_sound, load_sound, model_opinion, reference_library

from .state import JobRunner
from .waveform import WaveformPlot


class TeachingTab(QWidget):
    """Left: the library (listen, read how to recognise it, import your own).
    Right: the quiz (student name, questions, reveal truth + model answer, history)."""

    def __init__(self, store: Store, runner: JobRunner, get_engine: Callable[[], object | None],
                 notify: Callable[[str, str], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.store, self.runner, self.get_engine, self.notify = store, runner, get_engine, notify
        self.quiz: Quiz | None = None
        self.last_result = None
        self.player = None
        self.audio_cache: dict[str, tuple] = {}

        # ---- library
        self.domain = QComboBox()
        self.domain.addItem("All sounds", None)
        self.domain.addItem("Heart", "heart")
        self.domain.addItem("Lung", "lung")
        self.library = QListWidget()
        self.about = QLabel(wordWrap=True)
        self.about.setAlignment(Qt.AlignTop)
        self.wave = WaveformPlot()
        self.library_controls = PlaybackControls(self.wave)  # play / stop / 0.5x, playhead, seek, zoom
        self.play_btn = self.library_controls.play_button
        self.import_title = QLineEdit(placeholderText="Title (what a student should recognise)")
        self.import_about = QLineEdit(placeholderText="How to recognise it (optional)")
        self.import_domain = QComboBox()
        self.import_domain.addItems(["heart", "lung"])
        self.import_btn = QPushButton("Import labelled recording…")
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Reference library</b>"))
        left.addWidget(self.domain)
        left.addWidget(self.library, 2)
        left.addWidget(self.about, 1)
        left.addWidget(self.wave, 1)
        left.addWidget(self.library_controls, 0, Qt.AlignRight)
        imp = QGroupBox("Add your own")
        il = QFormLayout(imp)
        il.addRow("Title", self.import_title)
        il.addRow("Kind", self.import_domain)
        il.addRow("About", self.import_about)
        il.addRow(self.import_btn)
        left.addWidget(imp)

        # ---- quiz
        self.student = QLineEdit(placeholderText="Student name")
        self.n_questions = QSpinBox(minimum=1, maximum=30, value=5)
        self.quiz_domain = QComboBox()
        self.quiz_domain.addItem("Heart and lung", None)
        self.quiz_domain.addItem("Heart", "heart")
        self.quiz_domain.addItem("Lung", "lung")
        self.start_btn = QPushButton("Start quiz")
        self.question = QLabel("Enter your name and start a quiz.", wordWrap=True)
        self.quiz_play = QPushButton("Listen")
        self.choice_box = QWidget()
        self.choice_grid = QGridLayout(self.choice_box)
        self.choice_buttons: list[QPushButton] = []
        self.reveal = QLabel(wordWrap=True)
        self.reveal.setTextFormat(Qt.RichText)
        self.model_label = QLabel(wordWrap=True)
        self.next_btn = QPushButton("Next question")
        self.score = QLabel("")
        self.history = QTableWidget(0, 3)
        self.history.setHorizontalHeaderLabels(["Quiz started", "Correct", "Answered"])
        self.history.horizontalHeader().setStretchLastSection(True)
        right = QVBoxLayout()
        right.addWidget(QLabel("<b>Listening quiz</b>"))
        form = QFormLayout()
        form.addRow("Student", self.student)
        row = QHBoxLayout()
        row.addWidget(self.n_questions)
        row.addWidget(self.quiz_domain)
        form.addRow("Questions", row)
        right.addLayout(form)
        right.addWidget(self.start_btn)
        right.addWidget(self.question)
        right.addWidget(self.quiz_play)
        right.addWidget(self.choice_box)
        right.addWidget(self.reveal)
        right.addWidget(self.model_label)
        right.addWidget(self.next_btn)
        right.addWidget(self.score)
        right.addWidget(QLabel("<b>Score history</b>"))
        right.addWidget(self.history, 1)

        split = QSplitter(Qt.Horizontal)
        for lay in (left, right):
            w = QWidget()
            w.setLayout(lay)
            split.addWidget(w)
        QVBoxLayout(self).addWidget(split)

        self.domain.currentIndexChanged.connect(self.refresh_library)
        self.library.currentItemChanged.connect(self._sound_chosen)
        self.library_controls.message.connect(lambda level, text: self.notify(level, text))
        self.library_controls.player.started.connect(lambda _d: self._stop_quiz_sound())
        self.import_btn.clicked.connect(self._import_dialog)
        self.start_btn.clicked.connect(self.start_quiz)
        self.quiz_play.clicked.connect(self.play_question)
        self.next_btn.clicked.connect(self.next_question)
        self.student.editingFinished.connect(self.refresh_history)
        self.refresh_library()
        self._show_question()

    # ----------------------------------------------------------------- library
    def refresh_library(self) -> None:
        self.library.clear()
        for s in reference_library(self.store, self.domain.currentData()):
            item = QListWidgetItem(f"{s.title}   [{s.domain}{', yours' if s.source == 'user' else ''}]")
            item.setData(Qt.UserRole, s)
            self.library.addItem(item)
        if self.library.count():
            self.library.setCurrentRow(0)

    def _audio(self, sound):
        if sound.key not in self.audio_cache:
            self.audio_cache[sound.key] = load_sound(sound, self.store)
        return self.audio_cache[sound.key]

    def _sound_chosen(self, item, _prev=None) -> None:
        if item is None:
            return
        s = item.data(Qt.UserRole)
        note = f"<br><i>Damaged file: {escape(s.note)}</i>" if s.note else ""  # frames left out of a user import
        self.about.setText(f"<b>{s.title}</b><br>{s.description}{note}")
        try:
            x, sr = self._audio(s)
        except StoreError as exc:
            self.notify("error", str(exc))
            return
        self.wave.set_audio(x, sr)
        self.library_controls.set_audio(x, sr)

    def _play(self, x, sr) -> None:
        """Play a quiz sound (no waveform: the library's controls stop meanwhile)."""
        self.library_controls.stop()
        try:
            if self.player is None:
                from stethodesk.gui.player import Player

                self.player = Player(self)
                self.player.message.connect(lambda level, text: self.notify(level, text))
                self.player.finished.connect(self._stop_quiz_sound)
            self.player.play(x, sr)
            self.quiz_play.setText("Stop")
        except Exception as exc:  # no output device: say so, never crash
            self.notify("warning", f"Cannot play sound here: {exc}")

    def _stop_quiz_sound(self) -> None:
        if self.player is not None:
            self.player.stop()
        self.quiz_play.setText("Listen")

    def play_selected(self) -> None:
        """Play the library sound shown (from the start, or the point clicked on its waveform)."""
        if self.library.currentItem() is not None:
            self.library_controls.play()

    def toggle_play(self) -> None:
        """Space: stop what plays, else play the library sound shown."""
        if self.quiz_play.text() == "Stop":
            self._stop_quiz_sound()
        else:
            self.library_controls.toggle()

    def import_file(self, path: Path, title: str, domain: str, labels: dict | None = None,
                    description: str = "") -> bool:
        try:
            sound = import_sound(self.store, Path(path), title, domain, labels or {"title": title}, description)
        except StoreError as exc:
            self.notify("error", str(exc))
            return False
        self.import_title.clear()
        self.import_about.clear()
        self.refresh_library()
        if sound.note:  # added without its damaged frames: said now, and beside the sound in the library
            self.notify("warning", f"Added '{title}' to the library. {sound.note}")
        else:
            self.notify("success", f"Added '{title}' to the library.")
        return True

    def _import_dialog(self) -> None:
        if not self.import_title.text().strip():
            self.notify("warning", "Type the sound's title first (what a student should recognise).")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import a labelled recording", "", FILE_DIALOG_FILTER)
        if path:
            self.import_file(Path(path), self.import_title.text().strip(), self.import_domain.currentText(),
                             description=self.import_about.text().strip())

    # -------------------------------------------------------------------- quiz
    def start_quiz(self, seed: int | None = None) -> None:
        name = self.student.text().strip()
        if not name:
            self.notify("warning", "Enter the student's name to keep a score history.")
            return
        try:
            self.quiz = Quiz(reference_library(self.store, self.quiz_domain.currentData()),
                             self.n_questions.value(), seed=seed, store=self.store, student=name)
        except ValueError as exc:
            self.notify("error", str(exc))
            return
        self._show_question()
        self.refresh_history()

    def _show_question(self) -> None:
        self._stop_quiz_sound()
        for b in self.choice_buttons:
            b.deleteLater()
        self.choice_buttons = []
        self.reveal.setText("")
        self.model_label.setText("")
        self.next_btn.setEnabled(False)
        q = self.quiz.current if self.quiz else None
        self.quiz_play.setEnabled(q is not None)
        if self.quiz is None:
            return
        c, n = self.quiz.score
        self.score.setText(f"Score: {c} / {n}")
        if q is None:
            self.question.setText(f"<b>Quiz finished: {c} of {n} correct.</b> Start another to practise more.")
            return
        self.question.setText(f"Question {self.quiz.index + 1} of {len(self.quiz.questions)}: "
                              f"listen to this {q.sound.domain} sound and choose what it is.")
        for i, text in enumerate(q.choices):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, t=text: self.answer(t))
            self.choice_grid.addWidget(b, i // 2, i % 2)
            self.choice_buttons.append(b)

    def play_question(self) -> None:
        """Listen / Stop for the current quiz sound."""
        if self.quiz_play.text() == "Stop":
            self._stop_quiz_sound()
        elif self.quiz and self.quiz.current:
            self._play(*self._audio(self.quiz.current.sound))

    def answer(self, choice: str):
        """Answer the current question: reveal the truth, then the model's opinion."""
        if self.quiz is None or self.quiz.current is None:
            return None
        sound = self.quiz.current.sound
        result = self.quiz.answer(choice)
        self.last_result = result
        for b in self.choice_buttons:
            b.setEnabled(False)
            if b.text() == result.truth:
                b.setStyleSheet("background:#c8e6c9; color:#1b5e20; font-weight:bold")
            elif b.text() == choice:
                b.setStyleSheet("background:#ffcdd2; color:#b71c1c")
        verdict = "<span style='color:#2e7d32'>Correct.</span>" if result.correct else \
            "<span style='color:#c62828'>Not quite.</span>"
        self.reveal.setText(f"{verdict} It is <b>{result.truth}</b>.<br>{result.description}")
        self.next_btn.setEnabled(True)
        c, n = self.quiz.score
        self.score.setText(f"Score: {c} / {n}")
        self.refresh_history()
        engine = self.get_engine()
        if engine is None:
            self.model_label.setText("The model's answer appears here once the model is loaded.")
        else:
            self.model_label.setText("Asking the model…")
            x, sr = self._audio(sound)
            self.runner.submit(lambda: model_opinion(engine, x, sr, sound.domain),
                               lambda text: self.model_label.setText(f"<b>The model says:</b> {text}<br><i>{DISCLAIMER}</i>"),
                               lambda msg: self.model_label.setText(f"The model could not answer: {msg}"))
        return result

    def next_question(self) -> None:
        self._show_question()

    def refresh_history(self) -> None:
        name = self.student.text().strip()
        rows = self.store.quiz_history(name) if name else []
        self.history.setRowCount(len(rows))
        for i, h in enumerate(reversed(rows)):
            for col, text in enumerate((h["started"][:16].replace("T", " "), str(h["correct"]), str(h["answered"]))):
                self.history.setItem(i, col, QTableWidgetItem(text))
