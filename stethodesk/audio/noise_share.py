"""How much of a recording is noise above the body-sound band (issue 11 item 3, re-test F6-F8).

One full-scale click made a quiet clean heart "92 % above 600 Hz", while hiss through 5 of 18 s
went unseen: noise is therefore judged per second, and a recording is noisy by how many of its
seconds are. Split out of :mod:`stethodesk.audio.dsp`, whose quality check uses it. No Qt.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from stethodesk.audio.filters import LONG_BLOCK, welch_long

__all__ = ["NOISE_CAP", "NOISE_MIN_S", "NOISE_MIN_SHARE", "NOISE_RATIO", "NOISE_SEGMENT_S", "QUALITY_NPERSEG",
           "high_band_share", "noisy_spans", "segment_shares"]

NOISE_RATIO = 0.5  # fraction of energy above the split at which we call the signal noisy
# Noise is judged by how much of the recording is noisy (issue 11 re-test F6-F8): the share above
# the split is taken per NOISE_SEGMENT_S second, and the sound is noisy when at least NOISE_MIN_S of
# them (all, in a shorter one) and NOISE_MIN_SHARE of them are, so a click or a few knocks decide
# nothing but seconds of hiss do.
NOISE_SEGMENT_S = 1.0  # s
NOISE_MIN_S = 3.0  # s of noisy segments that make the recording noisy, when they are also ...
NOISE_MIN_SHARE = 0.2  # ... this share of it (handling as the chest piece is placed is no noise)
# Within a second, a 64-ms window's high-band energy counts at most NOISE_CAP times the second's
# median window: a click is no hiss (sustained hiss, talking or rubbing is hardly touched).
NOISE_CAP = 10.0
QUALITY_NPERSEG = 512  # Welch segment (64 ms at 8 kHz, 16 Hz resolution)


def segment_shares(x: np.ndarray, sr: int, split: float) -> tuple[np.ndarray, np.ndarray]:
    """Per :data:`NOISE_SEGMENT_S` segment of ``x`` (shape ``(n,)``, rate ``sr`` Hz): the share 0..1 of
    its energy above 20 Hz that lies above ``split`` Hz, and its high-band power relative to the
    median segment's power above 20 Hz; both shape ``(segments,)`` (empty when ``x`` is shorter than
    a segment). Each 64-ms window's high-band power counts at most :data:`NOISE_CAP` times the
    segment's median window, so a click or knock inside a second does not make it noisy."""
    nperseg = min(QUALITY_NPERSEG, x.size)
    seg = max(nperseg, int(NOISE_SEGMENT_S * sr))
    n = x.size // seg
    if n == 0:
        return np.zeros(0), np.zeros(0)
    f = np.fft.rfftfreq(nperseg, 1.0 / sr)
    band, high = f >= 20.0, f >= split
    step = max(1, LONG_BLOCK // seg)
    his, bands = [], []
    for a in range(0, n, step):  # blocks of segments: no 30-min copy at once
        b = min(n, a + step)
        blocks = x[a * seg : b * seg].reshape(b - a, seg).astype(np.float64)
        _, _, p = signal.spectrogram(blocks, fs=sr, nperseg=nperseg, axis=-1)  # (segments, freq, windows)
        hi_t = p[:, high, :].sum(axis=1)
        capped = np.minimum(hi_t, NOISE_CAP * np.median(hi_t, axis=-1, keepdims=True))
        his.append(capped.mean(axis=-1))
        bands.append(p[:, band, :].sum(axis=1).mean(axis=-1) - hi_t.mean(axis=-1) + capped.mean(axis=-1))
    hi, bd = np.concatenate(his), np.concatenate(bands)
    return hi / (bd + 1e-300), hi / (float(np.median(bd)) + 1e-300)


def high_band_share(x: np.ndarray, sr: int, split: float) -> tuple[float, np.ndarray]:
    """The noise share of ``x`` (shape ``(n,)``, rate ``sr`` Hz) above ``split`` Hz, judged by how much
    of the recording is noisy (re-test F6-F8: one full-scale click made a quiet clean heart "92%
    above 600 Hz", while hiss through 5 of 18 s went unseen): ``(share, noisy)``, ``noisy`` bool
    per :data:`NOISE_SEGMENT_S` segment (shape ``(segments,)``), True where over
    :data:`NOISE_RATIO` of the segment's energy, and over :data:`NOISE_RATIO` of the median
    segment's, lies above ``split`` (a quiet pause between beats is no hiss), when they make the
    recording noisy: at least :data:`NOISE_MIN_S` s of them (all segments of a shorter recording)
    and :data:`NOISE_MIN_SHARE` of the segments; ``share`` is then the median share of the noisy
    segments (over :data:`NOISE_RATIO`). Otherwise ``noisy`` is all False and ``share`` the lowest
    of the whole recording's, the segments' median and :data:`NOISE_RATIO`. Under 3 segments, the
    whole recording's share (``noisy`` all True when it is over :data:`NOISE_RATIO`)."""
    nperseg = min(QUALITY_NPERSEG, x.size)
    f, pxx = welch_long(x - x.mean(), sr, nperseg)
    band, high = f >= 20.0, f >= split
    whole = float(np.sum(pxx[high])) / (float(np.sum(pxx[band])) + 1e-20)
    shares, level = segment_shares(x, sr, split)
    if shares.size < 3:  # too few segments to outvote one
        return whole, np.full(shares.size, whole > NOISE_RATIO)
    noisy = (shares > NOISE_RATIO) & (level > NOISE_RATIO)
    k = int(noisy.sum())
    if k >= min(shares.size, round(NOISE_MIN_S / NOISE_SEGMENT_S)) and k >= NOISE_MIN_SHARE * shares.size:
        return float(np.median(shares[noisy])), noisy
    return min(whole, float(np.median(shares)), NOISE_RATIO), np.zeros_like(noisy)


def noisy_spans(noisy: np.ndarray, sr: int, dropouts: np.ndarray | None = None, fade: int = 0) -> np.ndarray:
    """Sample spans ``(k, 2)`` (int64, at ``sr``) of the noisy segments (``noisy`` from
    :func:`high_band_share`), for :func:`heart_rate_bpm` to leave out. With ``dropouts`` (spans at
    ``sr`` that were cut before the segments were judged, each with a ``fade``-sample crossfade),
    the spans are placed on the uncut timeline."""
    seg = int(NOISE_SEGMENT_S * sr)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], noisy.astype(np.int8), [0]))))
    spans = np.stack([edges[::2], edges[1::2]], axis=1).astype(np.int64) * seg
    if dropouts is not None and dropouts.size and spans.size:
        cut = (dropouts[:, 1] - dropouts[:, 0]) + fade  # samples each cut removed
        starts = dropouts[:, 0] - np.concatenate(([0], np.cumsum(cut)[:-1]))  # where each lies when cut
        spans = spans + np.array([[cut[starts <= v].sum() for v in row] for row in spans], dtype=np.int64)
    return spans
