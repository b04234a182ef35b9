"""The one inference thread: loads the Engine, analyses audio and streams answers.

Every call into the engine (torch encoder and llama.cpp) happens in a single
``QThread`` that owns the llama.cpp context, as the architecture requires. The
GUI talks to it only through queued signals; answers come back one signal per
token. ``Engine.cancel()`` is thread-safe and is called directly from the GUI
thread by :meth:`InferenceClient.cancel` so Stop works while the worker is busy.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot


@dataclass
class AskRequest:
    """One question for the worker.

    ``analysis`` set means a follow-up on an already analysed recording (the
    engine reuses its audio KV cache); otherwise ``samples``/``samplerate`` are
    analysed first.
    """

    req_id: int
    task: str
    question: str | None = None
    samples: np.ndarray | None = None  # (n,) float32 mono
    samplerate: int = 0
    domain: str = "auto"
    site: str | None = None
    label: str = ""
    analysis: object | None = None
    other_samples: np.ndarray | None = None  # second recording for "comparison"
    other_samplerate: int = 0
    other_path: str | None = None  # or a file to read (in the worker thread) for "comparison"
    other_site: str | None = None
    max_tokens: int = 256
    extra: dict = field(default_factory=dict)


class InferenceWorker(QObject):
    """Lives in the inference thread; slots run there."""

    loadProgress = Signal(str, float)
    loaded = Signal(object)
    loadFailed = Signal(str)
    analysisReady = Signal(int, object)
    token = Signal(int, str)
    answerDone = Signal(int, dict)
    failed = Signal(int, str)

    def __init__(self, engine_factory=None):
        super().__init__()
        self._engine_factory = engine_factory
        self.engine = None
        self.cancelled_upto = 0  # requests with an id <= this are dropped (set from the GUI thread)

    @Slot()
    def load(self) -> None:
        try:
            self.loadProgress.emit("Loading the analysis model", 0.0)
            if self._engine_factory is not None:
                engine = self._engine_factory()
            else:
                # Imported here: torch and llama.cpp load in this thread, not at GUI start.
                from stethodesk.model.engine import Engine

                engine = Engine()
            engine.load(progress=lambda step, frac: self.loadProgress.emit(str(step), float(frac)))
        except Exception as exc:  # BundleError and friends: the app stays usable for recording
            self.loadFailed.emit(_load_message(exc))
            return
        self.engine = engine
        self.loadProgress.emit("Model ready", 1.0)
        self.loaded.emit(engine)

    @Slot(object)
    def ask(self, req: AskRequest) -> None:
        engine = self.engine
        if engine is None:
            self.failed.emit(req.req_id, "The analysis model is not loaded.")
            return
        if req.req_id <= self.cancelled_upto:
            self.answerDone.emit(req.req_id, {"cancelled": True, "tokens": 0})
            return
        try:
            analysis = req.analysis
            if analysis is None:
                analysis = engine.analyze_audio(req.samples, req.samplerate, domain=req.domain, site=req.site)
                self.analysisReady.emit(req.req_id, analysis)
            if not getattr(analysis, "usable", True):
                self.answerDone.emit(req.req_id, {"unusable": True, "tokens": 0})
                return
            other = None
            file_notes: list[str] = []  # the compared file's damaged frames left out, said with the answer
            if req.other_path is not None:
                from stethodesk.audio.fileio import read_audio

                xs, sr = read_audio(req.other_path, notes=file_notes)
                other = engine.analyze_audio(xs, sr, domain=analysis.domain, site=req.other_site)
                if not other.usable:
                    self.failed.emit(req.req_id, f"The second recording cannot be compared: {other.unusable_reason}")
                    return
            if req.req_id <= self.cancelled_upto:
                self.answerDone.emit(req.req_id, {"cancelled": True, "tokens": 0})
                return
            answer = engine.ask(analysis, req.task, question=req.question, other=other, max_tokens=req.max_tokens)
            n = 0
            for piece in answer:
                n += 1
                self.token.emit(req.req_id, piece)
                if req.req_id <= self.cancelled_upto:  # belt and braces: engine.cancel() also stops it
                    close = getattr(answer, "close", None)
                    if close is not None:
                        close()
                    break
            self.answerDone.emit(
                req.req_id,
                {
                    "tokens": int(getattr(answer, "tokens", n) or n),
                    "first_token_ms": getattr(answer, "first_token_ms", None),
                    "total_ms": getattr(answer, "total_ms", None),
                    "cancelled": bool(getattr(answer, "cancelled", False)) or req.req_id <= self.cancelled_upto,
                    "grounding": answer.grounding.to_dict() if getattr(answer, "grounding", None) else None,
                    "notes": file_notes + list(getattr(answer, "notes", []) or []),
                },
            )
        except Exception as exc:
            if type(exc).__name__ == "UnusableRecording":
                self.failed.emit(req.req_id, str(exc))
                return
            traceback.print_exc()
            self.failed.emit(req.req_id, f"The analysis failed: {exc}")



def _load_message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if type(exc).__name__ == "BundleError":
        tail = "" if "recording" in text.lower() else " Recording and playback still work."
        return f"The analysis model could not be loaded: {text.rstrip('.')}.{tail}"
    if isinstance(exc, ImportError):
        return (
            f"The analysis model is not available ({text}). Recording and playback still work; "
            "reinstall StethoDesk to restore analysis."
        )
    return f"The analysis model failed to load: {text}. Recording and playback still work."


class InferenceClient(QObject):
    """GUI-side handle: owns the thread and the worker, forwards requests as queued calls."""

    _load = Signal()
    _ask = Signal(object)

    def __init__(self, parent: QObject | None = None, engine_factory=None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("inference")
        self.worker = InferenceWorker(engine_factory)
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load)
        self._ask.connect(self.worker.ask)
        self.thread.start()
        self._next_id = 0

    def load(self) -> None:
        self._load.emit()

    def ask(self, req: AskRequest) -> None:
        self._ask.emit(req)

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def cancel(self) -> None:
        """Stop the answer being streamed and drop every request sent so far."""
        self.worker.cancelled_upto = self._next_id
        engine = self.worker.engine
        if engine is not None:
            engine.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop any answer and end the thread (called when the window closes)."""
        self.cancel()
        self.thread.quit()
        self.thread.wait(timeout_ms)
