"""Live phonocardiogram, spectrogram, heart rate, signal quality and overflow counter.

A ``QTimer`` on the GUI thread (40 Hz) pulls whatever the audio thread put in
the source's ring since the last tick (``ring.read_since``), runs it through the
:class:`~stethodesk.gui.livepipe.LivePipeline` and draws once. Heart rate and
signal quality are recomputed once per second on the last 6 s. Nothing here
waits on audio or disk: a tick only copies what is already in memory.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from stethodesk.audio import dsp
from stethodesk.audio.limits import MIN_SECONDS
from stethodesk.gui import style
from stethodesk.gui.elided import ElidedLabel
from stethodesk.gui.envelope import PeakEnvelope, bucket_for
from stethodesk.gui.livepipe import MAX_WINDOW_S, LivePipeline

TICK_MS = 25  # 40 Hz redraw: smooth scrolling, well under a quarter of a core
SPEC_EVERY = 2  # spectrogram redrawn every 2nd tick (20 Hz): its image blit costs ~3 ms
STATS_PERIOD_S = 1.0  # heart rate / quality refresh
STATS_WINDOW_S = 6.0  # audio used for heart rate and quality
MIN_STATS_S = MIN_SECONDS  # below this there is not enough audio to judge (audio.limits)
SPEC_FMAX_HZ = 1000.0  # heart and most lung sound energy is below 1 kHz
WINDOW_CHOICES_S = (3, 5, 8, 10, 15)
PAINT_HISTORY = 8192  # paint timestamps kept (benchmarks match them with drawn samples)
AXIS_WIDTH_PX = 56  # same left axis width on both plots so their time axes line up
MIN_Y_RANGE = 0.02  # never zoom in on pure noise further than this


class _PaintCounter(QObject):
    """Counts real paint events of a widget (frames actually drawn)."""

    def __init__(self, target: QWidget):
        super().__init__(target)
        self.count = 0
        self.last_time = 0.0
        self.times: deque[float] = deque(maxlen=PAINT_HISTORY)  # perf_counter of recent paints
        target.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
            self.last_time = time.perf_counter()
            self.times.append(self.last_time)
        return False


class LiveView(QWidget):
    """The live display. Call :meth:`set_source` to attach a running source.

    Signals
    -------
    statsUpdated(object, object) : heart rate (float or None), Quality (or None)
    sourceFailed(str) : the source reported an error (device lost); emitted once
    """

    statsUpdated = Signal(object, object)
    sourceFailed = Signal(str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.source = None
        self.pipeline: LivePipeline | None = None
        self._pos = 0  # absolute ring position read so far
        self._error_reported = False
        self._last_stats = 0.0
        self.window_s = float(ctx.settings.get("window_s", 8))
        self.mode = ctx.settings.get("filter", "bell")
        self.gain_db = float(ctx.settings.get("gain_db", 0.0))
        self.heart_rate: float | None = None
        self.quality = None
        self.drawn_total = 0  # display samples drawn in the last frame (for latency checks)
        self.ticks = 0
        self._env: PeakEnvelope | None = None  # min/max trace of the shown signal
        self._env_pos = 0
        self._env_buckets = 0
        self._y_half = 0.2
        # Spectrogram colour levels (dB); they follow the signal once per second, not per
        # frame, so the picture does not flicker.
        self._levels = (-90.0, -30.0)
        self._build()
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        pg.setConfigOptions(antialias=False, background="w", foreground=style.TEXT)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)

        strip = QHBoxLayout()
        self.source_label = ElidedLabel("No input")
        self.source_label.setObjectName("muted")
        strip.addWidget(self.source_label, 1)
        self.quality_label = QLabel("Signal: waiting")
        self.quality_label.setToolTip("Signal quality of the last 6 seconds")
        strip.addWidget(self.quality_label)
        self.overflow_label = QLabel("Overflows: 0")
        self.overflow_label.setObjectName("muted")
        self.overflow_label.setToolTip("Audio blocks the computer could not take in time (should stay 0)")
        strip.addSpacing(12)
        strip.addWidget(self.overflow_label)
        strip.addSpacing(12)
        self.hr_label = QLabel("-- bpm")
        self.hr_label.setObjectName("heartRate")
        self.hr_label.setToolTip("Heart rate from the sound envelope, last 6 seconds")
        strip.addWidget(self.hr_label)
        lay.addLayout(strip)
        self.reason_label = QLabel("")
        self.reason_label.setObjectName("muted")
        self.reason_label.setWordWrap(True)
        lay.addWidget(self.reason_label)

        self.pcg = pg.PlotWidget()
        self.pcg.setMenuEnabled(False)
        self.pcg.setMouseEnabled(x=False, y=False)
        self.pcg.hideButtons()
        # No grid: grid lines belong to the axis items, which then repaint with every frame (~4 ms each).
        self.pcg.setLabel("left", "Phonocardiogram")
        self.pcg.getAxis("left").setStyle(showValues=False)
        self.pcg.getAxis("left").enableAutoSIPrefix(False)
        self.pcg.getAxis("left").setWidth(AXIS_WIDTH_PX)
        self.pcg.getPlotItem().setClipToView(True)
        self.pcg.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.curve = self.pcg.plot(pen=pg.mkPen(style.ACCENT, width=1), skipFiniteCheck=True)
        self.curve.setClipToView(True)
        self.curve.setDownsampling(auto=True, method="peak")
        self.pcg.setXRange(-self.window_s, 0, padding=0)
        self.pcg.setYRange(-self._y_half, self._y_half, padding=0)
        lay.addWidget(self.pcg, 3)

        self.spec_plot = pg.PlotWidget()
        self.spec_plot.setMenuEnabled(False)
        self.spec_plot.setMouseEnabled(x=False, y=False)
        self.spec_plot.hideButtons()
        self.spec_plot.setLabel("left", "Hz")
        self.spec_plot.setLabel("bottom", "seconds")
        self.spec_plot.getAxis("left").setWidth(AXIS_WIDTH_PX)
        self.spec_img = pg.ImageItem(axisOrder="col-major")
        self.spec_img.setColorMap(pg.colormap.get("viridis"))
        self.spec_plot.addItem(self.spec_img)
        self.spec_plot.setXRange(-self.window_s, 0, padding=0)
        self.spec_plot.setYRange(0, SPEC_FMAX_HZ, padding=0)
        self.spec_plot.setXLink(self.pcg)
        lay.addWidget(self.spec_plot, 2)
        self.paints = _PaintCounter(self.pcg.viewport())
        self._show_stats()

    # ------------------------------------------------------------------ control
    def set_source(self, source) -> None:
        """Attach a started source (or None). The pipeline is rebuilt for its rate."""
        self.source = source
        self._error_reported = False
        self.heart_rate = None
        self.quality = None
        if source is None:
            self.pipeline = None
            self.timer.stop()
            self.source_label.setText("No input")
            self.curve.setData([], [])
            self._show_stats()
            return
        self.pipeline = LivePipeline(source.samplerate, self.mode, self.gain_db)
        self._pos = source.ring.total
        self._env = None
        self.source_label.setText(f"{source.label}  \u00b7  {source.samplerate} Hz")
        self._show_stats()
        self.timer.start()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if self.pipeline is not None:
            self.pipeline.set_mode(mode)

    def set_gain_db(self, gain_db: float) -> None:
        self.gain_db = float(gain_db)
        if self.pipeline is not None:
            self.pipeline.set_gain_db(gain_db)

    def set_window(self, seconds: float) -> None:
        self.window_s = float(seconds)
        self._env = None
        self.pcg.setXRange(-self.window_s, 0, padding=0)

    # ------------------------------------------------------------------ the clock
    def tick(self) -> None:
        """Pull new samples, process them and draw one frame."""
        src, pipe = self.source, self.pipeline
        if src is None or pipe is None:
            return
        data, self._pos = src.ring.read_since(self._pos)
        if data.size:
            pipe.push(data)
        self._draw()
        self.ticks += 1
        now = time.monotonic()
        if now - self._last_stats >= STATS_PERIOD_S:
            self._last_stats = now
            self._update_stats()
        err = getattr(src, "error", None)
        if err and not self._error_reported:
            self._error_reported = True
            self.sourceFailed.emit(str(err))

    def _new_envelope(self) -> None:
        """(Re)build the trace's min/max envelope for the current window from the shown history."""
        pipe = self.pipeline
        window = int(self.window_s * pipe.rate)
        bucket = bucket_for(window)
        self._env = PeakEnvelope(bucket, int(np.ceil(MAX_WINDOW_S * pipe.rate / bucket)) + 2)
        self._env_buckets = int(np.ceil(window / bucket))
        self._env.push(pipe.latest_shown(self.window_s))
        self._env_pos = pipe.shown.total

    def _draw(self) -> None:
        pipe = self.pipeline
        if self._env is None:
            self._new_envelope()
        new, self._env_pos = pipe.shown.read_since(self._env_pos)
        self._env.push(new)
        x, y = self._env.trace(self._env_buckets, pipe.rate)
        self.curve.setData(x, y, skipFiniteCheck=True)
        self.drawn_total = pipe.shown.total
        if self.ticks % SPEC_EVERY:
            return
        spec = pipe.spectrogram
        # Only the bins up to SPEC_FMAX_HZ are shown: half the image to convert and blit at 4 kHz.
        n_bins = min(spec.n_bins, int(np.ceil(SPEC_FMAX_HZ / spec.max_freq * (spec.n_bins - 1))) + 1)
        cols = spec.latest(self.window_s)[:, :n_bins]
        top = (n_bins - 1) / (spec.n_bins - 1) * spec.max_freq
        self.spec_img.setImage(cols, autoLevels=False, levels=self._levels)
        self.spec_img.setRect(QRectF(-cols.shape[0] / spec.columns_per_second, 0.0,
                                     cols.shape[0] / spec.columns_per_second, top))

    def _update_stats(self) -> None:
        pipe = self.pipeline
        x = pipe.latest_raw(STATS_WINDOW_S)
        domain = self.ctx.domain if self.ctx.domain in ("heart", "lung") else "heart"
        self.heart_rate = None
        if x.size >= MIN_STATS_S * pipe.rate:
            self.quality = dsp.signal_quality(x, pipe.rate, domain=domain)
            # the rate the quality check found: never beside "no regular heartbeat"
            self.heart_rate = self.quality.heart_rate_bpm
        else:
            self.quality = None
        shown = pipe.latest_shown(self.window_s)
        if shown.size:
            peak = float(np.percentile(np.abs(shown), 99.9)) * 1.3
            target = max(MIN_Y_RANGE, peak)
            # Grow at once, shrink gently: a loud click should not make the trace jump around.
            self._y_half = target if target > self._y_half else 0.7 * self._y_half + 0.3 * target
            self.pcg.setYRange(-self._y_half, self._y_half, padding=0)
        cols = pipe.spectrogram.latest(self.window_s)
        if cols.size:
            hi = float(np.percentile(cols, 99.5))
            self._levels = (hi - 60.0, hi)  # 60 dB of dynamic range below the loudest bins
        self._show_stats()
        self.statsUpdated.emit(self.heart_rate, self.quality)

    def _show_stats(self) -> None:
        domain = self.ctx.domain
        if domain == "heart" and self.heart_rate:
            self.hr_label.setText(f"{self.heart_rate:.0f} bpm")
        else:
            self.hr_label.setText("-- bpm" if domain == "heart" else "")
        q = self.quality
        if q is None:
            self.quality_label.setText("Signal: waiting" if self.source is not None else "Signal: no input")
            colour = style.QUALITY_COLOURS[None]
            self.reason_label.setText("")
        else:
            self.quality_label.setText(f"Signal: {q.level}")
            colour = style.QUALITY_COLOURS.get(q.level, style.MUTED)
            self.reason_label.setText(q.reason)
        self.quality_label.setStyleSheet(
            f"color: white; background: {colour}; border-radius: 8px; padding: 2px 8px; font-weight: 600;"
        )
        lost = self.lost_samples()
        self.overflow_label.setText(f"Overflows: {self.overflows()}" + (f" · display skipped {lost}" if lost else ""))

    def overflows(self) -> int:
        """Input overflows reported by the source (audio the computer could not take in time)."""
        return 0 if self.source is None else int(getattr(self.source, "overflows", 0))

    def lost_samples(self) -> int:
        """Samples the display fell so far behind on that the ring overwrote them (should be 0)."""
        return 0 if self.source is None else int(getattr(self.source.ring, "lost", 0))
