"""Mono float32 ring buffer between the audio callback and its readers. No Qt here.

The storage is twice the capacity and every sample is written twice (at ``i``
and ``i + capacity``), so the newest ``n <= capacity`` samples always sit in one
contiguous slice: a read is a single ``copy()`` with no wrap-around logic
(the trick friture uses).

Threading: one writer (the audio callback) and any number of readers. The
writer publishes ``total`` only after the samples are in place, and a short
lock makes a reader's (position, copy) pair consistent even while the writer
is lapping the ring.
"""

from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    """Fixed-capacity ring of the newest mono float32 samples.

    Parameters
    ----------
    capacity : int
        Number of newest samples kept (e.g. 20 s x 48 kHz = 960000).
    """

    def __init__(self, capacity: int):
        capacity = int(capacity)
        if capacity <= 0:
            raise ValueError("RingBuffer capacity must be positive")
        self.capacity = capacity
        self._data = np.zeros(2 * capacity, dtype=np.float32)  # (2 * capacity,)
        self._total = 0  # samples ever written
        self._lost = 0  # samples readers asked for that had already been overwritten
        # Held only for memcpy-sized work; the audio callback never waits long.
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Samples ever written (absolute write position)."""
        return self._total

    @property
    def lost(self) -> int:
        """Samples that :meth:`read_since` callers missed because they fell out of the ring."""
        return self._lost

    def __len__(self) -> int:
        return min(self._total, self.capacity)

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (shape ``(n,)``, any float dtype) at the write position."""
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        n = x.shape[0]
        if n == 0:
            return
        cap = self.capacity
        if n > cap:  # only the newest `cap` samples can be kept
            x = x[-cap:]
            skipped = n - cap
        else:
            skipped = 0
        with self._lock:
            start = (self._total + skipped) % cap
            m = x.shape[0]
            first = min(m, cap - start)
            # Write into both halves so any window of <= cap samples is contiguous.
            self._data[start : start + first] = x[:first]
            self._data[start + cap : start + cap + first] = x[:first]
            rest = m - first
            if rest:
                self._data[:rest] = x[first:]
                self._data[cap : cap + rest] = x[first:]
            self._total += n

    def _slice(self, end_total: int, n: int) -> np.ndarray:
        """Copy of the ``n`` samples ending at absolute position ``end_total`` (lock held)."""
        cap = self.capacity
        end = end_total % cap + cap  # index in the second half; [end - n, end) is contiguous
        return self._data[end - n : end].copy()

    def latest(self, n: int) -> np.ndarray:
        """Copy of at most the ``n`` newest samples, oldest first. Shape ``(min(n, len),)``."""
        with self._lock:
            n = max(0, min(int(n), self._total, self.capacity))
            return self._slice(self._total, n)

    def read_since(self, pos: int) -> tuple[np.ndarray, int]:
        """Samples written since absolute position ``pos`` and the new position.

        If ``pos`` is older than the ring holds, the surviving samples are
        returned and the gap is added to :attr:`lost`.

        Returns
        -------
        data : np.ndarray, shape ``(k,)`` float32
        new_pos : int
            Pass this to the next call.
        """
        with self._lock:
            total = self._total
            pos = min(max(int(pos), 0), total)
            n = total - pos
            if n > self.capacity:
                self._lost += n - self.capacity
                n = self.capacity
            return self._slice(total, n), total
