"""The analysis panel beside the live view.

Choose the audio (the last N seconds of live input, or the selected recording),
press one of the seven preset tasks or ask a question, and watch the answer
stream in token by token from the inference thread. Stop cancels at once. A
follow-up question reuses the analysed recording (the engine keeps its audio
KV cache). Every answer carries "Decision support, not a diagnosis" and the
model's name and version.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from stethodesk import paths
from stethodesk.audio.limits import MIN_SECONDS
from stethodesk.gui.banner import BannerArea
from stethodesk.gui.elided import elide_middle
from stethodesk.gui.findings_card import FindingsCard
from stethodesk.gui.inference import AskRequest, InferenceClient
from stethodesk.gui.sites import site_title

TASK_ORDER = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
FREE_TEXT_TASK = "question"  # the engine's task name for a free-text question
MIN_ANALYSIS_S = MIN_SECONDS  # s: shorter audio gets a banner instead of an answer (audio.limits)
LIVE_SECONDS = (round(MIN_SECONDS), 60, 10)  # min, max, default of "the last N seconds"
DISCLAIMER = "Decision support, not a diagnosis"
SOURCE_LIVE, SOURCE_RECORDING = "live", "recording"
ANSWER_LINES = 8  # the answer area shows at least this many lines on any screen
CARD_LINES = 6  # and the findings card this many (headline, verdict line, the first bars); it scrolls
# Heart or lung: detected by the model unless the user says (the record panel's Exam box only
# speaks for a stethoscope being recorded, never for an imported file or a simulated sound)
DOMAIN_CHOICES = (("auto", "Detect sound"), ("heart", "Heart"), ("lung", "Lung"))
DOMAIN_NOTES = {"detected": "detected", "default": "assumed: the model has no detector"}


def load_task_specs() -> tuple[dict, dict]:
    """(tasks by name, free-text spec) from ``resources/prompts/tasks.json``."""
    try:
        data = json.loads((paths.RESOURCES / "prompts" / "tasks.json").read_text(encoding="utf-8"))
        return data["tasks"], data.get("free_text", {})
    except (OSError, ValueError, KeyError):
        return {name: {"title": name.capitalize()} for name in TASK_ORDER}, {}


# How an answer was checked against the findings card (stethodesk.model.grounded), in words.
GROUNDING_NOTES = {
    "model": "Checked against the findings \u00b7 ",
    "template": "Worded from the findings: the model's own answer disagreed with them and was withheld \u00b7 ",
    "model+findings": "Checked against the findings; the model's sentences that disagreed were withheld \u00b7 ",
    "facts": "Answered from the findings \u00b7 ",
}


class _CardScroll(QScrollArea):
    """Scrolls the findings card; asks for the card's whole height at the current width (a plain
    QScrollArea asks for little, and the answer below would take the room the card needs)."""

    def sizeHint(self):  # noqa: N802 (Qt name)
        hint = super().sizeHint()
        card = self.widget()
        if card is None:
            return hint
        width = max(1, self.viewport().width())
        height = card.heightForWidth(width) if card.hasHeightForWidth() else card.sizeHint().height()
        return QSize(hint.width(), height + 2 * self.frameWidth())


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
        self.domain_note = ""  # how heart or lung was chosen for the last analysis ("as recorded"...)
        self.answer_text = ""
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

        row = QHBoxLayout()
        self.source_combo = QComboBox()
        self.source_combo.addItem("Last seconds of live input", SOURCE_LIVE)
        self.source_combo.addItem("Selected recording", SOURCE_RECORDING)
        self.source_combo.setToolTip("What to analyse: the last seconds of the live input, or the recording "
                                     "selected in the list")
        self.source_combo.setMinimumContentsLength(12)
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        row.addWidget(self.source_combo, 1)
        self.seconds_spin = QSpinBox()
        self.seconds_spin.setRange(*LIVE_SECONDS[:2])
        self.seconds_spin.setValue(LIVE_SECONDS[2])
        self.seconds_spin.setSuffix(" s")
        row.addWidget(self.seconds_spin)
        self.domain_combo = QComboBox()
        for key, title in DOMAIN_CHOICES:
            self.domain_combo.addItem(title, key)
        self.domain_combo.setToolTip("Heart or lung: detected from the sound, or as you choose here")
        self.domain_combo.setAccessibleName("Heart or lung")
        row.addWidget(self.domain_combo)
        v.addLayout(row)
        self.source_hint = QLabel("")
        self.source_hint.setObjectName("muted")
        self.source_hint.setWordWrap(True)
        v.addWidget(self.source_hint)

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
        self.card_scroll = _CardScroll()
        self.card_scroll.setWidget(self.card)
        self.card_scroll.setWidgetResizable(True)
        self.card_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.card_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
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
        self.source_combo.currentIndexChanged.connect(lambda _i: self.update_source_hint())
        self.seconds_spin.valueChanged.connect(lambda _v: self.update_source_hint())
        self.update_source_hint()

    def _set_enabled(self, ready: bool) -> None:
        for b in self.task_buttons.values():
            b.setEnabled(ready)
        self.ask_button.setEnabled(ready)
        self.followup_button.setEnabled(ready and self.analysis is not None)

    def update_source_hint(self) -> None:
        live = self.source_combo.currentData() == SOURCE_LIVE
        self.seconds_spin.setEnabled(live)
        if live:
            src = self.ctx.current_source
            self.source_hint.setText(
                f"Analyses the last {self.seconds_spin.value()} s from {src.label}." if src is not None
                else "No live input: press Listen, or choose the selected recording."
            )
        else:
            p = self.ctx.selected_recording
            self.source_hint.setText(f"Analyses {elide_middle(p.name)}." if p else
                                     "Select a recording in the list below.")
            self.source_hint.setToolTip(str(p) if p else "")

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
    def _chosen_audio(self):
        """(samples, samplerate, label, domain, site) of the chosen audio, or None with a banner.

        Heart or lung (:meth:`chosen_domain`): the "Sound" box when the user set it; else a
        recording made here keeps the exam it was recorded as, a stethoscope being listened to
        takes the record panel's exam and site, and an imported file, a simulated sound or a
        file played as the input is "auto" (the engine detects it). A domain given either way
        that the sound contradicts comes back with a warning (``analysis.domain_warning``).
        """
        if self.source_combo.currentData() == SOURCE_LIVE:
            got = self.ctx.live_samples(self.seconds_spin.value())
            if got is None:
                self._banner("warning", "There is no live input to analyse. Press Listen, or choose "
                             "\u201cSelected recording\u201d.")
                return None
            x, sr = got
            device = type(self.ctx.current_source).__name__ == "DeviceSource"
            domain, self.domain_note = self.chosen_domain(self.ctx.domain if device else None, "from the Exam box")
            return x, sr, f"last {x.size / sr:.0f} s of live input", domain, self.ctx.site if device else None
        if self.ctx.selected_audio is None:
            self._banner("warning", "Select a recording in the list first.")
            return None
        x, sr = self.ctx.selected_audio
        meta = getattr(self.ctx, "selected_meta", None) or {}
        domain, self.domain_note = self.chosen_domain(meta.get("domain"), "as recorded")
        return x, sr, self.ctx.selected_recording.name, domain, meta.get("site")

    def chosen_domain(self, known: str | None, how: str) -> tuple[str, str]:
        """(domain for the engine, how it was chosen): the "Sound" box when set, else ``known``
        ("heart"/"lung", described by ``how``), else "auto" (the engine detects it)."""
        forced = self.domain_combo.currentData()
        if forced in ("heart", "lung"):
            return forced, "as you chose"
        if known in ("heart", "lung"):
            return known, how
        return "auto", ""

    def _banner(self, level: str, text: str) -> None:
        self.banners.show_message(level, text, "analysis")

    def run_task(self, task: str, question: str | None = None) -> int | None:
        """Analyse the chosen audio and stream the answer to ``task``; returns the request id."""
        if self.ctx.engine is None:
            self._banner("warning", self.ctx.engine_error or "The analysis model is still loading.")
            return None
        audio = self._chosen_audio()
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
        self.analysed_path = self.ctx.selected_recording if self.source_combo.currentData() == SOURCE_RECORDING else None
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
        note = DOMAIN_NOTES.get(getattr(analysis, "domain_source", ""), self.domain_note)
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
            checked = GROUNDING_NOTES.get((info.get("grounding") or {}).get("source"), "")
            checked = "".join(f"{n} \u00b7 " for n in info.get("notes") or []) + checked
            cur = self.answer_view.textCursor()
            cur.movePosition(QTextCursor.MoveOperation.End)
            cur.insertHtml(
                f"<br><br><span style='color:#6b7280; font-size:{self._note_pt()}; font-style:italic'>"
                f"{DISCLAIMER} \u00b7 {_esc(checked)}{_esc(model)}{note}{timing}</span>"
            )
            result = dict(info, text=self.answer_text)
        result["model"] = model
        self.answerFinished.emit(result)

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
