"""The shared application context handed to every panel (and to ``workflow.make_tabs``).

Panels never reach into each other; they read and write this object and listen
to its signals. Attributes:

- ``settings``: dict remembered between runs (``stethodesk.paths`` settings JSON);
  change it with :meth:`AppContext.save_settings`.
- ``recordings_dir``: :class:`pathlib.Path` where recordings are written.
- ``engine``: the loaded ``stethodesk.model.engine.Engine``, or ``None`` while it
  loads or when it failed (``engine_error`` then holds the message).
- ``current_source``: the running audio ``Source`` (``stethodesk.audio.capture``) or None.
- ``pipeline``: the :class:`~stethodesk.gui.livepipe.LivePipeline` of the current
  source (display-rate histories), or None.
- ``selected_recording``: :class:`pathlib.Path` of the recording selected in the
  recordings list, or None; ``selected_audio``: its ``(samples (n,) float32, samplerate)``
  once loaded, or None; ``selected_meta``: its sidecar metadata (site, domain, ...; empty
  for imported files).
- ``domain`` / ``site``: what the user is examining ("heart"/"lung", site key).
- ``start_recording(site, domain, seconds=None, filter=None) -> Path | None``: record at a
  site (the record panel switches exam and site, the stethoscope switches to ``filter`` when
  given, so it is heard, shown and written into the metadata as applied; stops after
  ``seconds``); the finished recording arrives through ``recordingSaved``. None when it could
  not start (a banner says why). ``stop_recording()``: end the running recording now.
- ``store``: set by the workflow tabs (``stethodesk.store`` records), else absent.
- ``main_window``: the main window.

Signals (all delivered on the GUI thread):

- ``sourceChanged(object)``: new Source or None.
- ``engineReady(object)``: the Engine once loaded.
- ``engineFailed(str)``: the load failed (message for the user).
- ``engineProgress(str, float)``: load step and fraction 0..1.
- ``recordingStarted(object)``: Path of the FLAC being written.
- ``recordingSaved(object)``: ``RecordingResult`` of a finished recording.
- ``recordingSelected(object)``: Path (or None) selected in the recordings list.
- ``examChanged(str, str)``: domain, site chosen in the record panel.
- ``message(str, str, str)``: level ("info"|"success"|"warning"|"error"), text, key
  (may be ""); the main window shows it as a non-modal banner.
- ``messageCleared(str)``: dismiss the banners with that key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from stethodesk import paths


class AppContext(QObject):
    sourceChanged = Signal(object)
    engineReady = Signal(object)
    engineFailed = Signal(str)
    engineProgress = Signal(str, float)
    recordingStarted = Signal(object)
    recordingSaved = Signal(object)
    recordingSelected = Signal(object)
    examChanged = Signal(str, str)
    message = Signal(str, str, str)
    messageCleared = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.settings: dict = paths.load_settings()
        self.recordings_dir: Path = paths.recordings_dir()
        self.engine = None
        self.engine_error: str | None = None
        self.current_source = None
        self.pipeline = None
        self.selected_recording: Path | None = None
        self.selected_audio: tuple[np.ndarray, int] | None = None
        self.selected_meta: dict = {}
        self.domain = self.settings.get("domain", "heart")
        self.site = self.settings.get("site", "mitral")
        self.main_window = None
        self.start_recording = lambda site, domain, seconds=None, filter=None: None  # set by the main window
        self.stop_recording = lambda: None  # set by the main window

    def save_settings(self, **values) -> None:
        """Update and persist settings (a failure to write is reported, never fatal)."""
        self.settings.update(values)
        try:
            paths.save_settings(values)
        except OSError as exc:
            self.show_message("warning", f"Could not save your settings: {exc}", "settings")

    def show_message(self, level: str, text: str, key: str = "") -> None:
        self.message.emit(level, text, key)

    def clear_message(self, key: str) -> None:
        """Dismiss the banners shown with ``key``."""
        self.messageCleared.emit(key)

    def live_samples(self, seconds: float) -> tuple[np.ndarray, int] | None:
        """The last ``seconds`` of unfiltered live input at the display rate (~4 kHz), or None."""
        if self.pipeline is None:
            return None
        return self.pipeline.latest_raw(seconds), self.pipeline.rate
