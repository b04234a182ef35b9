"""The analysis panel beside the live view.

Choose the audio (the last N seconds of live input, or the selected recording, and heart
or lung: :mod:`stethodesk.gui.audio_choice`), press one of the seven preset tasks or ask a
question, and watch the answer stream in token by token from the inference thread. Stop
cancels at once. A follow-up question reuses the analysed recording (the engine keeps its
audio KV cache). Every answer carries "Decision support, not a diagnosis" and the model's
name and version.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from stethodesk import paths
from stethodesk.audio.limits import MIN_SECONDS
from stethodesk.gui.answer_store import save_answer
from stethodesk.gui.banner import BannerArea
from stethodesk.gui.elided import elide_middle
from stethodesk.gui.audio_choice import DOMAIN_NOTES, AudioChoice
from stethodesk.gui.findings_card import CardScroll, FindingsCard
from stethodesk.gui.inference import AskRequest, InferenceClient
from stethodesk.gui.sites import site_title
from stethodesk.model.grounded import grounding_note

TASK_ORDER = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
FREE_TEXT_TASK = "question"  # the engine's task name for a free-text question
MIN_ANALYSIS_S = MIN_SECONDS  # s: shorter audio gets a banner instead of an answer (audio.limits)
DISCLAIMER = "Decision support, not a diagnosis"
ANSWER_LINES = 8  # the answer area shows at least this many lines on any screen
CARD_LINES = 6  # and the findings card this many (headline, verdict line, the first bars); it scrolls


def load_task_specs() -> tuple[dict, dict]:
    """(tasks by name, free-text spec) from ``resources/prompts/tasks.json``."""
    try:
        data = json.loads((paths.RESOURCES / "prompts" / "tasks.json").read_text(encoding="utf-8"))
        return data["tasks"], data.get("free_text", {})
    except (OSError, ValueError, KeyError):
        return {name: {"title": name.capitalize()} for name in TASK_ORDER}, {}


class AnalysisPanel(QWidget):
    """Signals: answerFinished(dict) with the answer text and timing (also used by tests)."""

    answerFinished = Signal(dict)

    def __init__(self, ctx, engine_factory=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.tasks, self.free_text = load_task_specs()
        self.client = InferenceClient(self, engine_factory)
        self.current_id = 0
        self.analysis = None  # the last usable AudioAnalysis (follow-ups use it)
        self.analysis_label = ""
        self.analysed_path = None  # the recording the card and answer describe (None: live input or none)
        self.answer_text = ""
        self._asked: tuple[str, str | None] = (FREE_TEXT_TASK, None)  # (task, typed question) of the answer
        self.streaming = False
        self._build()
        w = self.client.worker
        w.loadProgress.connect(self._load_progress)
        w.loaded.connect(self._loaded)
        w.loadFailed.connect(self._load_failed)
        w.analysisReady.connect(self._analysis_ready)
        w.token.connect(self._token)
        w.answerDone.connect(self._done)
        w.failed.connect(self._failed)
        ctx.recordingSelected.connect(lambda _p: self.update_source_hint())
        self._recordings: list = []  # the recordings list's paths (candidates for recording B)
        ctx.recordingSelected.connect(lambda _p: self.set_recordings(self._recordings))
        ctx.recordingSelected.connect(self._recording_selected)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        box = QGroupBox("Analysis")
        v = QVBoxLayout(box)
        self.model_label = QLabel("The analysis model is not loaded.")
        self.model_label.setObjectName("muted")
        self.model_label.setWordWrap(True)
        v.addWidget(self.model_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        v.addWidget(self.progress)

        self.choice = AudioChoice(self.ctx)  # what to analyse, and heart or lung
        v.addWidget(self.choice)
        c = self.choice  # the panel's names for its parts (tests and the main window use them)
        self.source_combo, self.seconds_spin, self.domain_combo = c.source_combo, c.seconds_spin, c.domain_combo
        self.source_hint = c.hint

        grid = QGridLayout()
        grid.setSpacing(4)
        self.task_buttons: dict[str, QPushButton] = {}
        for i, name in enumerate(TASK_ORDER):
            spec = self.tasks.get(name, {})
            b = QPushButton(spec.get("title", name))
            b.setObjectName("task")
            b.setToolTip(spec.get("description", ""))
            b.clicked.connect(lambda _c=False, n=name: self.run_task(n))
            grid.addWidget(b, i // 2, i % 2)
            self.task_buttons[name] = b
        self.compare_combo = QComboBox()
        self.compare_combo.setToolTip("Recording B for \u201cCompare two recordings\u201d")
        self.compare_combo.setMinimumContentsLength(10)  # long file names elide, never widen the panel
        self.compare_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        grid.addWidget(self.compare_combo, 3, 1)
        v.addLayout(grid)

        qrow = QHBoxLayout()
        self.question_edit = QLineEdit()
        self.question_edit.setPlaceholderText(self.free_text.get("title", "Ask a question") + "\u2026")
        self.question_edit.returnPressed.connect(self.ask_question)
        qrow.addWidget(self.question_edit, 1)
        self.ask_button = QPushButton("Ask")
        self.ask_button.setToolTip("Analyse the chosen audio and answer this question")
        self.ask_button.clicked.connect(self.ask_question)
        qrow.addWidget(self.ask_button)
        self.followup_button = QPushButton("Follow-up")
        self.followup_button.setToolTip("Ask about the recording analysed last (no new analysis)")
        self.followup_button.setEnabled(False)
        self.followup_button.clicked.connect(self.ask_followup)
        qrow.addWidget(self.followup_button)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        qrow.addWidget(self.stop_button)
        v.addLayout(qrow)
        lay.addWidget(box)

        self.banners = BannerArea()
        lay.addWidget(self.banners)
        self.card = FindingsCard()
        # the card scrolls on a small screen so the answer keeps its ANSWER_LINES
        self.card_scroll = CardScroll()
        self.card_scroll.setWidget(self.card)
        self.card_scroll.setMinimumHeight(CARD_LINES * self.fontMetrics().lineSpacing())
        lay.addWidget(self.card_scroll, 0)
        self.answer_view = QTextBrowser()
        self.answer_view.setPlaceholderText("The answer appears here as it is written.")
        frame = 2 * self.answer_view.frameWidth() + 2 * int(self.answer_view.document().documentMargin())
        self.answer_view.setMinimumHeight(ANSWER_LINES * self.answer_view.fontMetrics().lineSpacing() + frame)
        # the card first (up to its full height), the answer its ANSWER_LINES and all the room left
        self.answer_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        lay.addWidget(self.answer_view, 1)
        self.disclaimer = QLabel(DISCLAIMER)
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setWordWrap(True)
        lay.addWidget(self.disclaimer)
        self._set_enabled(False)

    def _set_enabled(self, ready: bool) -> None:
        for b in self.task_buttons.values():
            b.setEnabled(ready)
        self.ask_button.setEnabled(ready)
        self.followup_button.setEnabled(ready and self.analysis is not None)

    def update_source_hint(self) -> None:
        self.choice.update_hint()

    def set_recordings(self, paths_: list) -> None:
        """Fill the "compare with" list (recording B for the comparison task) from the recordings
        list's ``paths_``; the selected recording is never offered as its own partner."""
        self._recordings = list(paths_)
        selected = self.ctx.selected_recording
        current = self.compare_combo.currentData()
        self.compare_combo.clear()
        self.compare_combo.addItem("Compare with\u2026", None)
        for p in paths_:
            if selected is None or Path(p) != Path(selected):
                self.compare_combo.addItem(p.name, str(p))
        i = self.compare_combo.findData(current)
        self.compare_combo.setCurrentIndex(max(0, i))

    # ------------------------------------------------------------------ model loading
    def start_loading(self) -> None:
        self.model_label.setText("Loading the analysis model\u2026")
        self.progress.setVisible(True)
        self.client.load()

    def _load_progress(self, step: str, frac: float) -> None:
        self.model_label.setText(step)
        self.progress.setValue(int(round(100 * max(0.0, min(1.0, frac)))))
        self.ctx.engineProgress.emit(step, frac)

    def _loaded(self, engine) -> None:
        self.ctx.engine = engine
        self.ctx.engine_error = None
        self.progress.setVisible(False)
        self.model_label.setText(f"Model {engine.name} {engine.version}, on this computer")  # one line
        self.disclaimer.setText(f"{DISCLAIMER} \u00b7 {engine.name} {engine.version}")
        self._set_enabled(True)
        self.ctx.engineReady.emit(engine)

    def _load_failed(self, message: str) -> None:
        self.ctx.engine = None
        self.ctx.engine_error = message
        self.progress.setVisible(False)
        self.model_label.setText("Analysis unavailable")
        self.banners.show_message("error", message, "model")
        self._set_enabled(False)
        self.ctx.engineFailed.emit(message)

    # ------------------------------------------------------------------ asking
    def _banner(self, level: str, text: str) -> None:
        self.banners.show_message(level, text, "analysis")

    def run_task(self, task: str, question: str | None = None) -> int | None:
        """Analyse the chosen audio and stream the answer to ``task``; returns the request id."""
        if self.ctx.engine is None:
            self._banner("warning", self.ctx.engine_error or "The analysis model is still loading.")
            return None
        audio = self.choice.chosen_audio(self._banner)
        if audio is None:
            return None
        x, sr, label, domain, site = audio
        if x.size < MIN_ANALYSIS_S * sr:
            self._banner("warning", f"Only {x.size / sr:.1f} s of sound: at least {MIN_ANALYSIS_S:.0f} s are "
                         "needed for an analysis. Listen or record a little longer.")
            return None
        other_path = None
        if task == "comparison":
            other_path = self.compare_combo.currentData()
            if not other_path:
                self._banner("warning", "Choose recording B in \u201cCompare with\u2026\u201d first.")
                return None
        req = AskRequest(
            req_id=self._begin(task, question, label),
            task=task,
            question=question,
            samples=x,
            samplerate=int(sr),
            domain=domain,
            site=site,
            label=label,
            other_path=other_path,
            max_tokens=int(self._spec(task).get("max_tokens", 256)),
        )
        self.analysis = None
        self.analysed_path = None if self.choice.is_live() else self.ctx.selected_recording
        self.card.clear(f"Analysing {elide_middle(label)}\u2026")
        self.card.set_source(label)
        self.client.ask(req)
        return req.req_id

    def ask_question(self) -> int | None:
        q = self.question_edit.text().strip()
        if not q:
            self._banner("info", "Type a question first.")
            return None
        return self.run_task(FREE_TEXT_TASK, q)

    def ask_followup(self) -> int | None:
        q = self.question_edit.text().strip()
        if not q:
            self._banner("info", "Type a follow-up question first.")
            return None
        if self.analysis is None:
            return self.ask_question()
        req = AskRequest(
            req_id=self._begin(FREE_TEXT_TASK, q, self.analysis_label, follow_up=True),
            task=FREE_TEXT_TASK,
            question=q,
            analysis=self.analysis,
            max_tokens=int(self.free_text.get("max_tokens", 160)),
        )
        self.client.ask(req)
        return req.req_id

    def _spec(self, task: str) -> dict:
        return self.free_text if task == FREE_TEXT_TASK else self.tasks.get(task, {})

    def _begin(self, task: str, question: str | None, label: str, follow_up: bool = False) -> int:
        if self.streaming:
            self.client.cancel()  # one answer at a time: the new question replaces the old
        self.banners.clear("analysis")
        self.current_id = self.client.new_id()
        self.streaming = True
        self.answer_text = ""
        self._asked = (task, question)
        self.analysis_label = label
        title = question or self._spec(task).get("title", task)
        head = ("Follow-up: " if follow_up else "") + title
        self.answer_view.setHtml(
            f"<p style='color:#0f766e; font-weight:600; margin-bottom:2px'>{_esc(head)}</p>"
            f"<p style='color:#6b7280; font-size:{self._note_pt()}; margin-top:0'>{_esc(label)}</p><p></p>"
        )
        self.stop_button.setEnabled(True)
        return self.current_id

    def _recording_selected(self, path) -> None:
        """Another recording was selected: findings and an answer about the one before are stale,
        so the card and the answer are cleared (a live-input analysis stays: it names its source)."""
        if self.analysed_path is None or path == self.analysed_path:
            return
        if self.streaming:
            self.stop()
            self.streaming = False
        self.analysed_path = None
        self.analysis = None
        self.followup_button.setEnabled(False)
        self.answer_view.clear()
        self.card.set_source("")
        self.card.clear(f"Not analysed yet: {elide_middle(path.name)}. Choose a task to analyse it." if path
                        else "No recording analysed yet.")

    def _note_pt(self) -> str:
        """CSS size of the small print in the answer (0.9 of the answer's font: it follows the desktop's)."""
        return f"{0.9 * self.answer_view.font().pointSizeF():.1f}pt"

    def stop(self) -> None:
        """Cancel the answer being streamed (takes effect before the next token)."""
        self.client.cancel()
        self.stop_button.setEnabled(False)

    # ------------------------------------------------------------------ results (GUI thread)
    def _analysis_ready(self, req_id: int, analysis) -> None:
        if req_id != self.current_id:
            return
        note = DOMAIN_NOTES.get(getattr(analysis, "domain_source", ""), self.choice.note)
        self.card.show_analysis(analysis, domain_note=note)
        self.card_scroll.updateGeometry()  # the card's height changed: the layout asks again
        if analysis.usable:
            self.analysis = analysis
            self.analysis_label += f" \u00b7 {analysis.domain}, {site_title(analysis.site)}"
            if getattr(analysis, "domain_warning", None):
                self._banner("warning", analysis.domain_warning)
        else:
            self.analysis = None
            self._banner("warning", f"No answer: {analysis.unusable_reason}")
            self.answer_view.clear()
        self.followup_button.setEnabled(self.analysis is not None)

    def _token(self, req_id: int, piece: str) -> None:
        if req_id != self.current_id:
            return
        self.answer_text += piece
        cur = self.answer_view.textCursor()
        cur.movePosition(QTextCursor.MoveOperation.End)
        cur.insertText(piece)
        self.answer_view.setTextCursor(cur)
        self.answer_view.ensureCursorVisible()

    def _done(self, req_id: int, info: dict) -> None:
        if req_id != self.current_id:
            return
        self.streaming = False
        self.stop_button.setEnabled(False)
        engine = self.ctx.engine
        model = f"{engine.name} {engine.version}" if engine is not None else ""
        if info.get("unusable"):
            result = dict(info, text="", unusable=True)
        else:
            note = " (stopped)" if info.get("cancelled") else ""
            timing = ""
            if info.get("first_token_ms") is not None and info.get("total_ms") is not None:
                first_s, total_s = info["first_token_ms"] / 1000, info["total_ms"] / 1000
                timing = f" \u00b7 first word {first_s:.2f} s, total {total_s:.1f} s"
            checked = grounding_note(info.get("grounding"))
            checked = f"{checked} \u00b7 " if checked else ""
            checked = "".join(f"{n} \u00b7 " for n in info.get("notes") or []) + checked
            cur = self.answer_view.textCursor()
            cur.movePosition(QTextCursor.MoveOperation.End)
            cur.insertHtml(
                f"<br><br><span style='color:#6b7280; font-size:{self._note_pt()}; font-style:italic'>"
                f"{DISCLAIMER} \u00b7 {_esc(checked)}{_esc(model)}{note}{timing}</span>"
            )
            result = dict(info, text=self.answer_text)
            result["saved"] = self._save(result, engine)
        result["model"] = model
        self.answerFinished.emit(result)

    def _save(self, result: dict, engine) -> bool:
        """Keep the answer with the recording (:func:`stethodesk.gui.answer_store.save_answer`);
        a failure is said in a banner, never raised: the answer stays on screen."""
        error = save_answer(self.ctx, self.analysed_path, self._asked, result,
                            self.analysis, engine)
        if error:
            self._banner("warning", f"The answer could not be saved: {error}")
        return error is None

    def _failed(self, req_id: int, message: str) -> None:
        if req_id != self.current_id:
            return
        self.streaming = False
        self.stop_button.setEnabled(False)
        self._banner("error", message)
        self.answerFinished.emit({"error": message, "text": self.answer_text})

    def shutdown(self) -> None:
        self.client.shutdown()


def _esc(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
