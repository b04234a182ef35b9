"""Pitch-preserving time stretch for slowed-down playback (0.5x, 0.75x). No Qt here.

WSOLA (waveform-similarity overlap-add): the output is built from windowed
frames of the input at a regular output hop; each frame is taken near its
nominal input position, shifted by up to ``TOLERANCE_S`` so that it lines up
best (highest cross-correlation) with the natural continuation of the frame
placed before it. Copying whole waveform pieces keeps the pitch and keeps
heart-sound transients sharp, where a phase vocoder smears them.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

FRAME_S = 0.04  # s: frame length (about one S1 component; several periods of 50 Hz)
TOLERANCE_S = 0.01  # s: how far a frame may move to match the previous one
MIN_RATE, MAX_RATE = 0.25, 4.0


def time_stretch(x: np.ndarray, sr: int, rate: float) -> np.ndarray:
    """Play ``x`` at ``rate`` times its speed without changing pitch.

    Parameters
    ----------
    x : np.ndarray, shape ``(n,)``
    sr : int
        Sample rate in Hz (sets the frame length).
    rate : float
        0.5 = half speed (output twice as long), 1.0 = unchanged.

    Returns
    -------
    np.ndarray, shape ``(round(n / rate),)`` float32
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"rate must be between {MIN_RATE} and {MAX_RATE}")
    n_out = int(round(x.size / rate))
    if rate == 1.0 or x.size == 0:
        return x.copy()
    frame = max(16, int(round(FRAME_S * sr)) // 2 * 2)
    hop_out = frame // 2  # 50% overlap: Hann windows then sum to a constant
    hop_in = hop_out * rate
    tol = max(1, int(round(TOLERANCE_S * sr)))
    win = signal.windows.hann(frame, sym=False).astype(np.float32)

    # Pad so every frame and its search region exist.
    pad = frame + tol
    xp = np.concatenate([np.zeros(pad, np.float32), x, np.zeros(pad + frame, np.float32)])
    n_frames = int(np.ceil(n_out / hop_out)) + 1
    out = np.zeros(n_frames * hop_out + frame, dtype=np.float32)
    norm = np.zeros_like(out)

    prev = pad  # input start of the previous frame (in xp)
    for k in range(n_frames):
        nominal = pad + int(round(k * hop_in))
        if k == 0:
            start = nominal
        else:
            # Best match to what naturally follows the previous frame.
            target = xp[prev + hop_out : prev + hop_out + frame]
            lo = max(0, nominal - tol)
            region = xp[lo : nominal + tol + frame]
            if region.size < frame or not np.any(target):
                start = nominal
            else:
                corr = signal.correlate(region, target, mode="valid", method="fft")
                start = lo + int(np.argmax(corr))
        seg = xp[start : start + frame]
        if seg.size < frame:
            break
        o = k * hop_out
        out[o : o + frame] += seg * win
        norm[o : o + frame] += win
        prev = start
    # Divide by the window sum (constant inside, tapering at the ends).
    out = np.where(norm > 1e-3, out / np.maximum(norm, 1e-3), 0.0)
    # Frame k's nominal input start (pad + k*hop_in) lands at output k*hop_out; input
    # sample 0 sits at xp index `pad`, i.e. output index 0.
    return out[:n_out].astype(np.float32)
