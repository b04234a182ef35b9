"""What the workflow tabs share: the chosen patient and exam, and one engine job runner."""

from __future__ import annotations

import queue
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

ENGINE_LOCK = threading.Lock()  # the workflow tabs never run two engine calls at once


class WorkflowState(QObject):
    """The current patient/exam; ``changed`` fires when either or the records change."""

    patientChanged = Signal(object)  # patient id or None
    examChanged = Signal(object)  # exam id or None
    recordsChanged = Signal()  # something was added/removed: lists and maps refresh

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.patient_id: int | None = None
        self.exam_id: int | None = None

    def set_patient(self, patient_id: int | None) -> None:
        if patient_id != self.patient_id:
            self.patient_id = patient_id
            self.exam_id = None
            self.patientChanged.emit(patient_id)
            self.examChanged.emit(None)

    def set_exam(self, exam_id: int | None) -> None:
        if exam_id != self.exam_id:
            self.exam_id = exam_id
            self.examChanged.emit(exam_id)


class JobRunner(QObject):
    """Runs slow functions (engine calls, file work) on one background thread, in order.

    ``submit(fn, on_done, on_error)``: ``fn()`` runs in the worker thread;
    ``on_done(result)`` or ``on_error(message)`` run later on the GUI thread.
    One thread only, because the engine must be used by one thread at a time.
    """

    _finished = Signal(object, object, object)  # callback, value, is_error

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs: queue.Queue = queue.Queue()
        self._finished.connect(self._deliver)
        self.busy = 0  # jobs submitted and not yet delivered
        self._thread = threading.Thread(target=self._loop, name="workflow-jobs", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None) -> None:
        self.busy += 1
        self._jobs.put((fn, on_done, on_error))

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, on_done, on_error = job
            try:
                with ENGINE_LOCK:
                    value = fn()
            except Exception as exc:  # reported to the user, never raised into Qt
                msg = str(exc) or type(exc).__name__
                if not isinstance(exc, (ValueError, OSError)) and type(exc).__name__ not in (
                    "StoreError", "TamperedAudioError", "MissingAudioError", "UnusableRecording",
                    "AudioFileError",
                ):
                    traceback.print_exc()
                self._finished.emit(on_error, msg, True)
            else:
                self._finished.emit(on_done, value, False)

    @Slot(object, object, object)
    def _deliver(self, callback, value, is_error) -> None:
        self.busy -= 1
        if callback is not None:
            callback(value)

    def shutdown(self) -> None:
        self._jobs.put(None)
