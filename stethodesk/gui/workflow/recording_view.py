"""What the guided exam shows while a site is recorded: countdown, Stop and the live trace.

The Listen tab with the big live view is hidden behind the guided exam, so the exam keeps
its own small view of the same input (``ctx.live_samples``) for as long as a site records.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

# seconds -> (samples (n,) float32, rate Hz) of the latest live input, or None without input
LiveSamples = Callable[[float], "tuple[np.ndarray, float] | None"]
LIVE_TRACE_S = 4.0  # seconds of live input drawn
TICK_MS = 100  # trace and countdown refresh


class SiteRecordingView(QWidget):
    """Hidden until :meth:`begin`; :meth:`end` hides it again. Signal ``stopRequested()``: the
    user pressed Stop (the owner ends the recording; the view shows "Saving...")."""

    stopRequested = Signal()

    def __init__(self, live_samples: LiveSamples | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.live_samples = live_samples
        self.title, self.seconds, self.filter = "", 0.0, ""
        self._started = 0.0  # time.monotonic() at begin()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.countdown = QLabel()
        self.countdown.setStyleSheet("font-weight: 600; color: #b91c1c;")
        self.stop_button = QPushButton("\u25a0  Stop recording")
        self.stop_button.setToolTip("End this site's recording now; what was recorded is kept for the site")
        head.addWidget(self.countdown, 1)
        head.addWidget(self.stop_button)
        lay.addLayout(head)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideAxis("left")
        self.plot.setLabel("bottom", "seconds before now")
        self.plot.setXRange(-LIVE_TRACE_S, 0.0, padding=0)
        self.plot.setMinimumHeight(90)
        self.curve = self.plot.plot(pen=pg.mkPen("#1f5f8b", width=1))
        lay.addWidget(self.plot, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self.stop_button.clicked.connect(self._stop_clicked)
        self.setVisible(False)

    def begin(self, title: str, seconds: float, filter: str = "", can_stop: bool = True) -> None:
        """Show the view for a recording of ``seconds`` at the site ``title`` through ``filter``."""
        self.title, self.seconds, self.filter = title, float(seconds), filter or ""
        self._started = time.monotonic()
        self.stop_button.setEnabled(can_stop)
        self.setVisible(True)
        self.tick()
        self.timer.start()

    def end(self) -> None:
        self.timer.stop()
        self.curve.setData([], [])
        self.setVisible(False)

    def seconds_left(self) -> float:
        return max(0.0, self.seconds - (time.monotonic() - self._started))

    def tick(self) -> None:
        """Countdown and live trace."""
        filt = f" \u00b7 {self.filter} filter" if self.filter else ""
        self.countdown.setText(f"\u25cf Recording {self.title}: {self.seconds_left():.0f} s left{filt}")
        got = self.live_samples(LIVE_TRACE_S) if self.live_samples is not None else None
        if got is None or not len(got[0]):
            return
        x, rate = got
        t = (np.arange(x.size, dtype=np.float64) - x.size) / float(rate)  # seconds before now
        self.curve.setData(t, np.asarray(x, dtype=np.float32), skipFiniteCheck=True)

    def _stop_clicked(self) -> None:
        self.stop_button.setEnabled(False)
        self.timer.stop()
        self.countdown.setText("Saving\u2026")
        self.stopRequested.emit()
