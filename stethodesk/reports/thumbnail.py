"""Waveform thumbnails as a min/max envelope: cheap to draw, faithful to peaks. No Qt here."""

from __future__ import annotations

import numpy as np

THUMB_COLUMNS = 400  # columns of a thumbnail; ~1.5 points each across a page width


def minmax_envelope(x: np.ndarray, columns: int = THUMB_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Per-column minimum and maximum of ``x``.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
    columns : int
        Output length; fewer when ``n < columns``.

    Returns
    -------
    (mins, maxs) : two np.ndarray of shape (min(columns, n),), float32.
    Every sample falls in exactly one column, so no peak is lost (unlike
    plain decimation, which would drop the short S1/S2 transients).
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if x.size == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    columns = max(1, min(columns, x.size))
    edges = np.linspace(0, x.size, columns + 1).astype(np.int64)
    mins = np.minimum.reduceat(x, edges[:-1])
    maxs = np.maximum.reduceat(x, edges[:-1])
    return mins.astype(np.float32), maxs.astype(np.float32)
