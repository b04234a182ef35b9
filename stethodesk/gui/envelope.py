"""Incremental min/max envelope of a stream, for drawing a long trace cheaply (numpy only, no Qt).

An 8 s window at 4 kHz is 32,000 samples but the plot is under 1,000 pixels wide. Each
bucket of ``bucket`` samples is reduced once, when it completes, to its minimum and
maximum; a frame then draws ~2 points per bucket plus the raw samples of the unfinished
bucket (so a click shows in the very frame it arrives). Buckets are aligned to the stream,
so old ones never change and the trace does not shimmer as it scrolls. Storage is
double-length like the audio ring: the newest buckets are one contiguous slice.
"""

from __future__ import annotations

import numpy as np

TARGET_BUCKETS = 1500  # per window: about 2 points per pixel on a large screen


def bucket_for(window_samples: int) -> int:
    """Samples per bucket so a window of ``window_samples`` gives about :data:`TARGET_BUCKETS`."""
    return max(1, int(round(window_samples / TARGET_BUCKETS)))


class PeakEnvelope:
    """Min/max per bucket of a stream.

    Parameters
    ----------
    bucket : int
        Samples per bucket.
    capacity : int
        Buckets kept (the longest span :meth:`latest` can return).
    """

    def __init__(self, bucket: int, capacity: int):
        self.bucket = int(bucket)
        self.capacity = int(capacity)
        self._lo = np.zeros(2 * self.capacity, dtype=np.float32)
        self._hi = np.zeros(2 * self.capacity, dtype=np.float32)
        self.count = 0  # buckets ever completed
        self.pending = np.zeros(0, dtype=np.float32)  # samples of the unfinished bucket

    def push(self, x: np.ndarray) -> None:
        """Append samples, shape ``(n,)``."""
        buf = np.concatenate([self.pending, np.asarray(x, dtype=np.float32).reshape(-1)])
        n_full = buf.size // self.bucket
        if n_full:
            blocks = buf[: n_full * self.bucket].reshape(n_full, self.bucket)
            lo, hi = blocks.min(axis=1), blocks.max(axis=1)
            if n_full > self.capacity:
                lo, hi = lo[-self.capacity :], hi[-self.capacity :]
            cap = self.capacity
            for i in range(lo.size):  # a tick completes a handful of buckets
                j = (self.count + (n_full - lo.size) + i) % cap
                self._lo[j] = self._lo[j + cap] = lo[i]
                self._hi[j] = self._hi[j + cap] = hi[i]
            self.count += n_full
        self.pending = buf[n_full * self.bucket :]

    def latest(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Minima and maxima of the newest ``n`` completed buckets, oldest first. Shapes ``(m,)``, m <= n."""
        n = max(0, min(int(n), self.count, self.capacity))
        end = self.count % self.capacity + self.capacity
        return self._lo[end - n : end], self._hi[end - n : end]

    def trace(self, n_buckets: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw: ``(x, y)`` with x in seconds relative to the newest sample (0).

        Two points per completed bucket (its minimum and maximum at the bucket's centre)
        followed by the raw samples of the unfinished bucket. Shapes ``(2 m + p,)``.
        """
        lo, hi = self.latest(n_buckets)
        m, p = lo.size, self.pending.size
        y = np.empty(2 * m + p, dtype=np.float32)
        y[0 : 2 * m : 2] = lo
        y[1 : 2 * m : 2] = hi
        y[2 * m :] = self.pending
        centres = -(p + (m - 1 - np.arange(m)) * self.bucket + (self.bucket - 1) / 2.0) / rate
        x = np.empty(2 * m + p, dtype=np.float64)
        x[0 : 2 * m : 2] = centres
        x[1 : 2 * m : 2] = centres
        x[2 * m :] = -(p - 1 - np.arange(p)) / rate
        return x, y
