"""A compact waveform plot (pyqtgraph) used by the compare and teaching tabs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

MAX_POINTS = 20000  # points handed to pyqtgraph; peak downsampling keeps transients


class WaveformPlot(pg.PlotWidget):
    def __init__(self, parent=None, title: str = ""):
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.setLabel("bottom", "time", units="s")
        self.hideAxis("left")
        self.setMouseEnabled(x=True, y=False)
        if title:
            self.setTitle(title, color="#333333", size="10pt")
        self.curve = self.plot(pen=pg.mkPen("#1f5f8b", width=1))
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.samples = np.zeros(0, np.float32)
        self.samplerate = 1

    def set_audio(self, samples: np.ndarray, samplerate: int, title: str | None = None) -> None:
        """Show ``samples`` (shape (n,)) scaled to its own peak."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.samples, self.samplerate = x, int(samplerate)
        peak = float(np.abs(x).max()) if x.size else 1.0
        t = np.arange(x.size, dtype=np.float64) / samplerate
        self.curve.setData(t, x / (peak or 1.0), skipFiniteCheck=True)
        self.setYRange(-1.05, 1.05, padding=0)
        self.setXRange(0, max(t[-1] if x.size else 1.0, 0.1), padding=0.01)
        if title is not None:
            self.setTitle(title, color="#333333", size="10pt")

    def clear_audio(self, title: str = "") -> None:
        self.samples = np.zeros(0, np.float32)
        self.curve.setData([], [])
        self.setTitle(title, color="#333333", size="10pt")
