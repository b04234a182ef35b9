"""Play / Stop, speed and a playhead for a waveform plot, as in the audio tools people know.

One :class:`PlaybackControls` serves the review waveform, the teaching library and each side
of the compare view, so they behave alike:

- the Play button (or :meth:`toggle`, bound to Space by the main window) plays or stops;
- 1x / 0.75x / 0.5x keep the pitch (``stethodesk.audio.stretch``);
- the playhead shows only while playing or at a point clicked while stopped, and goes away
  on Stop, at the end, and when other audio is shown;
- a click on the waveform seeks (while playing playback jumps there, while stopped the next
  Play starts there); the mouse wheel zooms the time axis; the Fit button shows it all again.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QWidget

from stethodesk.gui import style
from stethodesk.gui.player import SPEEDS, Player

PLAY_TEXT, STOP_TEXT = "\u25b6  Play", "\u25a0  Stop"


class PlaybackControls(QWidget):
    """Controls for the audio shown on ``plot`` (a ``pg.PlotWidget``).

    Parameters
    ----------
    plot : pg.PlotWidget
        The waveform; its x axis is in seconds from the start of the audio.
    mode : callable, optional
        Returns the stethoscope filter to play through (``dsp.apply_filter`` mode); default "wide".

    Attributes ``player`` (:class:`Player`), ``playhead`` (``pg.InfiniteLine``), ``play_button``,
    ``speed_combo``, ``fit_button``; ``start_s`` is where the next Play starts (seconds).
    Signals: ``message(str level, str text)`` from the player.
    """

    message = Signal(str, str)

    def __init__(self, plot: pg.PlotWidget, mode: Callable[[], str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot
        self.mode = mode or (lambda: "wide")
        self.samples: np.ndarray | None = None  # (n,) float32
        self.samplerate = 1
        self.start_s = 0.0  # where the next Play starts
        self._offset_s = 0.0  # start of the slice being played
        self._active = False  # Play pressed and not stopped since (the player may still be preparing)
        self.player = Player(self)
        self.playhead = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(style.PLAYHEAD, width=2))
        self.playhead.setVisible(False)
        plot.addItem(self.playhead, ignoreBounds=True)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole recording again (the mouse wheel zooms, a click seeks)")
        self.fit_button.setAccessibleName("Reset zoom")
        self.speed_combo = QComboBox()
        for s in SPEEDS:
            self.speed_combo.addItem(f"{s:g}\u00d7", s)
        self.speed_combo.setToolTip("Playback speed; the pitch stays the same")
        self.speed_combo.setAccessibleName("Playback speed")
        self.play_button = QPushButton(PLAY_TEXT)
        self.play_button.setObjectName("primary")
        self.play_button.setToolTip("Play or stop (Space)")
        lay.addWidget(self.fit_button)
        lay.addWidget(self.speed_combo)
        lay.addWidget(self.play_button)
        self._set_enabled(False)

        vb = plot.getPlotItem().getViewBox()
        plot.setMouseEnabled(x=True, y=False)  # the wheel zooms time only
        self.fit_button.clicked.connect(self.fit)
        self.play_button.clicked.connect(self.toggle)
        self.player.position.connect(self._show_position)
        self.player.finished.connect(self._finished)
        self.player.message.connect(self.message)
        plot.scene().sigMouseClicked.connect(self._clicked)
        self._vb = vb

    # ------------------------------------------------------------------ audio
    def set_audio(self, samples: np.ndarray, samplerate: int) -> None:
        """Audio to play, ``samples`` (n,) at ``samplerate`` Hz; stops what was playing."""
        self.stop()
        self.samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.samplerate = int(samplerate)
        self._vb.setLimits(xMin=0.0, xMax=max(self.duration, 0.1))
        self._set_enabled(self.samples.size > 0)

    def clear(self) -> None:
        """No audio: stop, hide the playhead, disable the controls."""
        self.stop()
        self.samples = None
        self._set_enabled(False)

    @property
    def duration(self) -> float:
        return 0.0 if self.samples is None else self.samples.size / float(self.samplerate)

    def _set_enabled(self, on: bool) -> None:
        for w in (self.play_button, self.fit_button):
            w.setEnabled(on)

    # ------------------------------------------------------------------ transport
    @property
    def playing(self) -> bool:
        return self._active

    def toggle(self) -> None:
        """Play when stopped, stop when playing."""
        if self.playing:
            self.stop()
        else:
            self.play()

    def play(self, speed: float | None = None, start_s: float | None = None) -> None:
        """Play from ``start_s`` (default: the point clicked while stopped, else 0) at ``speed``."""
        if self.samples is None or not self.samples.size:
            return
        if speed is not None:
            self.speed_combo.setCurrentIndex(self.speed_combo.findData(speed))
        start = self.start_s if start_s is None else float(start_s)
        start = min(max(0.0, start), max(0.0, self.duration - 0.05))
        self._offset_s = start
        first = int(round(start * self.samplerate))
        self.player.play(self.samples[first:], self.samplerate, float(self.speed_combo.currentData()), self.mode())
        self.playhead.setValue(start)
        self.playhead.setVisible(True)
        self.play_button.setText(STOP_TEXT)
        self._active = True

    def stop(self) -> None:
        """Stop playback; the playhead goes away and the next Play starts at the beginning."""
        self.player.stop()
        self._active = False
        self.start_s = 0.0
        self.playhead.setVisible(False)
        self.play_button.setText(PLAY_TEXT)

    def seek(self, seconds: float) -> None:
        """Jump to ``seconds``: playback continues from there, or (stopped) the next Play starts there."""
        if self.samples is None:
            return
        seconds = min(max(0.0, float(seconds)), self.duration)
        if self._active:
            self.play(start_s=seconds)
            return
        self.start_s = seconds
        self.playhead.setValue(seconds)
        self.playhead.setVisible(True)

    def fit(self) -> None:
        """Reset the zoom: the whole recording in view."""
        self._vb.setXRange(0.0, max(self.duration, 0.1), padding=0.01)

    def _show_position(self, seconds: float) -> None:
        self.playhead.setValue(self._offset_s + seconds)

    def _finished(self) -> None:
        self.stop()

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        pos = event.scenePos()
        if not self._vb.sceneBoundingRect().contains(pos):
            return
        self.seek(self._vb.mapSceneToView(pos).x())
