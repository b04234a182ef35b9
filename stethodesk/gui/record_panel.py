"""Recording controls: exam domain and chest site, notes, record button, elapsed time.

The recorder writes in its own thread (``stethodesk.audio.recorder``); this panel
only hands it the audio blocks (through :meth:`RecordPanel.feed_hook`, called on
the audio thread, which only enqueues) and asks it to stop from a helper thread
so the GUI never waits for the disk.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stethodesk.gui.sites import sites_for

ELAPSED_MS = 200  # elapsed-time label refresh


class _Relay(QObject):
    """Carries results from helper threads to the GUI thread (queued signal)."""

    stopped = Signal(object, str)  # RecordingResult, reason ("" = user pressed stop)


class RecordPanel(QWidget):
    """Signals: domainSiteChanged(str, str)."""

    domainSiteChanged = Signal(str, str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.recorder = None
        self.recording_path: Path | None = None
        self._started = 0.0
        self._relay = _Relay()
        self._relay.stopped.connect(self._on_stopped)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        box = QGroupBox("Record")
        form = QFormLayout(box)
        self.domain_combo = QComboBox()
        self.domain_combo.addItem("Heart", "heart")
        self.domain_combo.addItem("Lung", "lung")
        form.addRow("Exam", self.domain_combo)
        self.site_combo = QComboBox()
        form.addRow("Site", self.site_combo)
        self.notes_edit = QLineEdit()
        self.notes_edit.setPlaceholderText("Notes (optional)")
        form.addRow(self.notes_edit)
        self.record_button = QPushButton("\u25cf  Record")
        self.record_button.setObjectName("record")
        self.record_button.setCheckable(True)
        form.addRow(self.record_button)
        self.elapsed_label = QLabel("Not recording")
        self.elapsed_label.setObjectName("muted")
        form.addRow(self.elapsed_label)
        lay.addWidget(box)

        self.domain_combo.setCurrentIndex(max(0, self.domain_combo.findData(ctx.domain)))
        self._fill_sites(ctx.domain, ctx.site)
        self.domain_combo.currentIndexChanged.connect(self._domain_changed)
        self.site_combo.currentIndexChanged.connect(self._site_changed)
        self.record_button.clicked.connect(self._record_clicked)
        self.timer = QTimer(self)
        self.timer.setInterval(ELAPSED_MS)
        self.timer.timeout.connect(self._show_elapsed)

    # ------------------------------------------------------------------ exam
    def _fill_sites(self, domain: str, site: str | None = None) -> None:
        self.site_combo.blockSignals(True)
        self.site_combo.clear()
        for key, title in sites_for(domain):
            self.site_combo.addItem(title, key)
        i = self.site_combo.findData(site)
        self.site_combo.setCurrentIndex(max(0, i))
        self.site_combo.blockSignals(False)

    def set_domain(self, domain: str) -> None:
        """Switch the exam domain (e.g. when a simulated lung sound is chosen)."""
        i = self.domain_combo.findData(domain)
        if i >= 0 and i != self.domain_combo.currentIndex():
            self.domain_combo.setCurrentIndex(i)

    def _domain_changed(self, _i: int) -> None:
        self._fill_sites(self.domain_combo.currentData())
        self._site_changed()

    def _site_changed(self, *_a) -> None:
        domain, site = self.domain_combo.currentData(), self.site_combo.currentData()
        self.ctx.domain, self.ctx.site = domain, site
        self.ctx.save_settings(domain=domain, site=site)
        self.ctx.examChanged.emit(domain, site)
        self.domainSiteChanged.emit(domain, site)

    # ------------------------------------------------------------------ recording
    @property
    def is_recording(self) -> bool:
        return self.recorder is not None

    def feed_hook(self, block) -> None:
        """Source listener (audio thread): hand the block to the recorder, if any. Only enqueues."""
        rec = self.recorder
        if rec is not None:
            rec.feed(block)

    def _record_clicked(self, checked: bool) -> None:
        if checked:
            self.start_recording()
        else:
            self.stop_recording()

    def record_site(self, site: str, domain: str, seconds: float | None = None) -> Path | None:
        """Record at ``site`` (switching the exam to ``domain``), stopping after ``seconds`` if given.

        This is ``ctx.start_recording`` for the workflow tabs (guided exam); the result
        arrives through ``ctx.recordingSaved``.
        """
        if self.is_recording:
            self.ctx.show_message("warning", "A recording is already running; stop it first.", "record")
            return None
        self.set_domain(domain)
        i = self.site_combo.findData(site)
        if i >= 0:
            self.site_combo.setCurrentIndex(i)
        path = self.start_recording()
        if path is not None and seconds:
            rec = self.recorder
            QTimer.singleShot(int(seconds * 1000), lambda: self.recorder is rec and self.stop_recording())
        return path

    def start_recording(self) -> Path | None:
        src = self.ctx.current_source
        if src is None or not getattr(src, "running", True):
            self.record_button.setChecked(False)
            self.ctx.show_message("warning", "Choose an input and press Listen before recording.", "record")
            return None
        from stethodesk.audio.recorder import Recorder

        domain, site = self.domain_combo.currentData(), self.site_combo.currentData()
        started = datetime.now().astimezone()
        path = self.ctx.recordings_dir / f"{started:%Y%m%d-%H%M%S}_{domain}_{site}.flac"
        metadata = {
            "site": site,
            "domain": domain,
            "device": src.label,
            "samplerate": int(src.samplerate),
            "started": started.isoformat(timespec="seconds"),
            "filter": self.ctx.settings.get("filter", "bell"),
            "notes": self.notes_edit.text().strip(),
        }
        try:
            rec = Recorder(path, int(src.samplerate), metadata)
            rec.start()
        except Exception as exc:
            self.record_button.setChecked(False)
            self.ctx.show_message("error", f"Could not start recording: {exc}", "record")
            return None
        self.recording_path = path
        self._started = time.monotonic()
        self.recorder = rec  # published last: from now on the audio thread feeds it
        self.record_button.setChecked(True)
        self.record_button.setText("\u25a0  Stop")
        self.domain_combo.setEnabled(False)
        self.site_combo.setEnabled(False)
        self.timer.start()
        self._show_elapsed()
        self.ctx.recordingStarted.emit(path)
        return path

    def stop_recording(self, reason: str = "") -> None:
        """Stop feeding and finish the file in a helper thread; ``reason`` explains an automatic stop."""
        rec = self.recorder
        if rec is None:
            return
        self.recorder = None  # the audio thread stops feeding at once
        self.timer.stop()
        self.record_button.setChecked(False)
        self.record_button.setEnabled(False)
        self.record_button.setText("Saving\u2026")

        def finish():
            try:
                result = rec.stop()
            except Exception as exc:  # keep the message; the FLAC on disk is still readable
                result = _Failed(self.recording_path, str(exc))
            self._relay.stopped.emit(result, reason)

        threading.Thread(target=finish, name="recorder-stop", daemon=True).start()

    def _on_stopped(self, result, reason: str) -> None:
        self.record_button.setEnabled(True)
        self.record_button.setText("\u25cf  Record")
        self.domain_combo.setEnabled(True)
        self.site_combo.setEnabled(True)
        secs = float(getattr(result, "seconds", 0.0) or 0.0)
        name = Path(result.path).name if getattr(result, "path", None) else "recording"
        self.elapsed_label.setText(f"Saved {secs:.1f} s: {name}")
        err = getattr(result, "error", None)
        if reason:
            self.ctx.show_message("error", f"{reason} The recording was stopped and saved with the "
                                  f"{secs:.1f} s captured so far: {name}.", "record")
        elif err:
            self.ctx.show_message("error", f"The recording stopped early: {err}. "
                                  f"{secs:.1f} s were kept in {name}.", "record")
        else:
            self.ctx.show_message("success", f"Saved {secs:.1f} s to {name}.", "record")
        self.ctx.recordingSaved.emit(result)

    def _show_elapsed(self) -> None:
        if self.recorder is None:
            return
        s = time.monotonic() - self._started
        self.elapsed_label.setText(f"\u25cf Recording  {int(s) // 60:02d}:{s % 60:04.1f}")


class _Failed:
    """Stand-in result when ``Recorder.stop`` itself raised."""

    def __init__(self, path, error):
        self.path, self.error, self.seconds, self.frames, self.metadata_path = path, error, 0.0, 0, None
