"""From raw input blocks to what the live view draws (numpy/scipy only, no Qt).

Input arrives at the device's native rate (4-48 kHz). Heart and lung sounds live
below 2 kHz, so the live view works at a *display rate* of about 4 kHz: an
anti-alias low-pass and an integer decimation first, then the stethoscope filter
(bell / diaphragm / wide) and the gain. Everything keeps filter state between
blocks so the trace has no seams.

Two histories are kept at the display rate:

- ``raw``: decimated, unfiltered, no gain (heart rate, signal quality, "analyse the
  last N seconds");
- ``shown``: filtered and amplified (the phonocardiogram), plus its spectrogram.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from stethodesk.audio import dsp
from stethodesk.audio.ringbuffer import RingBuffer
from stethodesk.gui.spectrogram import LiveSpectrogram

DISPLAY_RATE_HZ = 4000  # lowest display rate; the actual rate is samplerate / decimation
MAX_WINDOW_S = 15.0  # longest scrolling window the user can choose
HISTORY_S = 60.0  # raw history kept for "analyse the last N seconds"
ANTI_ALIAS_ORDER = 8


def decimation_for(samplerate: int) -> int:
    """Largest integer factor ``d`` with ``samplerate % d == 0`` and ``samplerate / d >= 4 kHz``.

    An exact divisor keeps the display rate an integer (48 kHz -> 12 -> 4 kHz,
    44.1 kHz -> 10 -> 4.41 kHz), which every DSP function accepts.
    """
    samplerate = int(samplerate)
    best = 1
    for d in range(1, samplerate // DISPLAY_RATE_HZ + 1):
        if samplerate % d == 0:
            best = d
    return best


class LivePipeline:
    """Stateful block processor feeding the live view.

    Parameters
    ----------
    samplerate : int
        Native rate of the input blocks.
    mode : str
        Stethoscope filter, one of ``dsp.FILTER_MODES``.
    gain_db : float
        Display gain applied after the filter.
    """

    def __init__(self, samplerate: int, mode: str = "bell", gain_db: float = 0.0):
        self.input_rate = int(samplerate)
        self.decimation = decimation_for(self.input_rate)
        self.rate = self.input_rate // self.decimation  # display rate, Hz
        if self.decimation > 1:
            # Cut at 90% of the new Nyquist frequency before dropping samples.
            self._aa = signal.butter(ANTI_ALIAS_ORDER, 0.45 * self.rate, fs=self.input_rate, output="sos")
            self._aa_zi = np.zeros((self._aa.shape[0], 2))
        else:
            self._aa = None
        self._consumed = 0  # input samples processed (sets the decimation phase)
        self.raw = RingBuffer(int(HISTORY_S * self.rate))
        self.shown = RingBuffer(int((MAX_WINDOW_S + 1.0) * self.rate))
        self.spectrogram = LiveSpectrogram(self.rate, MAX_WINDOW_S)
        self.gain = 1.0
        self.set_gain_db(gain_db)
        self.mode = mode
        self._filter = dsp.StreamingFilter(self.rate, mode)
        self.peak = 0.0  # max |raw| of the last block (input level meter)

    def set_mode(self, mode: str) -> None:
        if mode not in dsp.FILTER_MODES:
            raise ValueError(f"unknown filter mode {mode!r}; expected one of {dsp.FILTER_MODES}")
        if mode != self.mode:
            self.mode = mode
            self._filter = dsp.StreamingFilter(self.rate, mode)

    def set_gain_db(self, gain_db: float) -> None:
        self.gain_db = float(gain_db)
        self.gain = float(10 ** (self.gain_db / 20.0))

    def push(self, block: np.ndarray) -> int:
        """Process input samples (shape ``(n,)`` at ``input_rate``); returns display samples added."""
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return 0
        self.peak = float(np.max(np.abs(x)))
        if self._aa is not None:
            y, self._aa_zi = signal.sosfilt(self._aa, x, zi=self._aa_zi)
            first = (-self._consumed) % self.decimation
            d = y[first :: self.decimation].astype(np.float32)
        else:
            d = x
        self._consumed += x.size
        if d.size == 0:
            return 0
        self.raw.write(d)
        shown = np.asarray(self._filter.process(d), dtype=np.float32) * self.gain
        self.shown.write(shown)
        self.spectrogram.push(shown)
        return int(d.size)

    def latest_raw(self, seconds: float) -> np.ndarray:
        """Unfiltered display-rate samples of the last ``seconds``. Shape ``(n,)``."""
        return self.raw.latest(int(seconds * self.rate))

    def latest_shown(self, seconds: float) -> np.ndarray:
        """Filtered, amplified display-rate samples of the last ``seconds``. Shape ``(n,)``."""
        return self.shown.latest(int(seconds * self.rate))
