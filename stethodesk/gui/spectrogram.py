"""Incremental short-time spectrogram for the live view (numpy only, no Qt).

New samples are appended as they arrive; only the new STFT columns are computed,
so the cost per GUI tick is proportional to the new audio, not to the window.
Columns live in a double-length store (every column written twice) so the newest
``n`` columns are always one contiguous slice, like the audio ring buffer.
"""

from __future__ import annotations

import numpy as np

N_FFT = 256  # 64 ms at the 4 kHz display rate: resolves S1/S2 and murmur bands
HOP = 64  # 16 ms between columns -> 62.5 columns per second at 4 kHz
FLOOR_DB = -100.0  # power floor so log() never sees zero


class LiveSpectrogram:
    """Power spectrogram in dB of a stream, computed column by column.

    Parameters
    ----------
    samplerate : float
        Rate of the samples pushed (the display rate, ~4 kHz).
    max_seconds : float
        Longest span that :meth:`latest` can return.
    """

    def __init__(self, samplerate: float, max_seconds: float = 15.0, n_fft: int = N_FFT, hop: int = HOP):
        self.samplerate = float(samplerate)
        self.n_fft = int(n_fft)
        self.hop = int(hop)
        self.n_bins = self.n_fft // 2 + 1
        self.capacity = int(np.ceil(max_seconds * self.samplerate / self.hop)) + 2
        self._cols = np.full((2 * self.capacity, self.n_bins), FLOOR_DB, dtype=np.float32)
        self._stored = 0  # columns ever computed
        self._pending = np.zeros(0, dtype=np.float32)  # samples not yet in a full frame
        self._window = np.hanning(self.n_fft).astype(np.float32)
        # Scale so a full-scale sine reads about 0 dB.
        self._scale = 4.0 / float(self._window.sum()) ** 2

    @property
    def columns_per_second(self) -> float:
        return self.samplerate / self.hop

    @property
    def max_freq(self) -> float:
        return self.samplerate / 2.0

    def push(self, x: np.ndarray) -> int:
        """Append samples (shape ``(n,)``); returns how many new columns were computed."""
        buf = np.concatenate([self._pending, np.asarray(x, dtype=np.float32)])
        n_new = 0 if buf.size < self.n_fft else 1 + (buf.size - self.n_fft) // self.hop
        if n_new:
            idx = np.arange(self.n_fft)[None, :] + self.hop * np.arange(n_new)[:, None]
            frames = buf[idx] * self._window  # (n_new, n_fft)
            power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 * self._scale
            db = 10.0 * np.log10(np.maximum(power, 10 ** (FLOOR_DB / 10))).astype(np.float32)
            if n_new > self.capacity:
                db = db[-self.capacity :]
            self._store(db)
            buf = buf[n_new * self.hop :]
        self._pending = buf
        return n_new

    def _store(self, db: np.ndarray) -> None:
        cap = self.capacity
        for row in db:  # a tick brings a handful of columns; a loop is clearer than index math
            i = self._stored % cap
            self._cols[i] = row
            self._cols[i + cap] = row
            self._stored += 1

    def latest(self, seconds: float) -> np.ndarray:
        """The newest columns covering ``seconds``, oldest first. Shape ``(n_cols, n_bins)``.

        Before enough audio has arrived the missing (older) columns are at the floor.
        """
        n = min(self.capacity, max(1, int(round(seconds * self.columns_per_second))))
        end = self._stored % self.capacity + self.capacity
        return self._cols[end - n : end]
