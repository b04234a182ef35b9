"""Stethoscope filters, resampling and the heart-sound envelope. No Qt here.

Plain numpy/scipy on mono float32 arrays, shared by the live view, the recorder, the CLI and the
model frontend (through :mod:`stethodesk.audio.dsp`, which re-exports these names).
"""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy import signal

# --- stethoscope filters -----------------------------------------------------------
FILTER_MODES = ("bell", "diaphragm", "wide")
# (low Hz, high Hz) of each mode. Bell emphasises low-pitched sounds (S3/S4, rumbles),
# diaphragm the high-pitched ones (S1/S2 splits, regurgitant murmurs, crackles), wide is
# the whole clinically useful band.
FILTER_BANDS: dict[str, tuple[float, float]] = {
    "bell": (20.0, 200.0),
    "diaphragm": (100.0, 1000.0),
    "wide": (20.0, 2000.0),
}
FILTER_ORDER = 2  # Butterworth order per edge: gentle slopes, like an acoustic chest piece
NYQUIST_MARGIN = 0.45  # the upper edge is kept below 0.45 * sr to stay a stable band-pass

# --- envelope -----------------------------------------------------------------------------
ENV_WORK_SR = 1000  # Hz: heart sound energy lies below ~400 Hz, so 1 kHz keeps all of it
ENV_BAND = (25.0, 200.0)  # Hz: band-pass before the envelope: where S1/S2 energy peaks (tuned on CirCor)
ENV_SR = 100  # Hz: envelope rate (10 ms frames) = 0.6 bpm per lag step at 60 bpm
ENV_SMOOTH_S = 0.04  # s: low-pass of the Shannon energy, shorter than S1 (~100 ms)


def _band(sr: int, mode: str) -> tuple[float, float]:
    if mode not in FILTER_BANDS:
        raise ValueError(f"unknown filter mode {mode!r}; choose one of {', '.join(FILTER_MODES)}")
    lo, hi = FILTER_BANDS[mode]
    hi = min(hi, NYQUIST_MARGIN * sr)
    lo = min(lo, hi / 2)
    return lo, hi


def filter_sos(sr: int, mode: str) -> np.ndarray:
    """Second-order sections of the band-pass for ``mode`` at rate ``sr``. Shape ``(k, 6)``."""
    lo, hi = _band(sr, mode)
    return signal.butter(FILTER_ORDER, [lo, hi], btype="bandpass", fs=sr, output="sos")


# samples per block of the whole-recording steps (filter, Welch spectrum, clipping runs): 8 MB of
# float64, so a 30-min recording costs its float32 output, not float64 copies of it (issue 11 item 8)
LONG_BLOCK = 1 << 20


def apply_filter(x: np.ndarray, sr: int, mode: str) -> np.ndarray:
    """Stethoscope filter over a whole array (causal, like the live view). Shape kept, float32.

    A 1-D array is filtered in :data:`LONG_BLOCK` blocks with the state carried between them,
    which gives the same samples as one call on the whole array."""
    x = np.asarray(x)
    if x.size == 0:
        return x.astype(np.float32)
    sos = filter_sos(sr, mode)
    if x.ndim != 1:
        return signal.sosfilt(sos, x.astype(np.float32, copy=False)).astype(np.float32)
    out = np.empty(x.size, np.float32)
    zi = np.zeros((sos.shape[0], 2))
    for a in range(0, x.size, LONG_BLOCK):
        out[a : a + LONG_BLOCK], zi = signal.sosfilt(sos, x[a : a + LONG_BLOCK].astype(np.float32), zi=zi)
    return out


def welch_long(x: np.ndarray, fs: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.welch(x, fs=fs, nperseg=nperseg)`` of a 1-D ``x``: frequencies
    ``(nperseg // 2 + 1,)`` in Hz and power spectral density, the same to float rounding.

    scipy holds every segment (detrended and transformed) of the whole array at once, ~500 MB for
    30 min at 8 kHz; here blocks of about :data:`LONG_BLOCK` samples that start on the segment
    grid (so their segments are scipy's) are taken one at a time and their means weighted by count.
    """
    x = np.asarray(x).reshape(-1)
    step = nperseg - nperseg // 2
    n_seg = (x.size - nperseg) // step + 1 if x.size >= nperseg else 0
    per_block = max(1, LONG_BLOCK // step)
    if n_seg <= per_block:
        return signal.welch(x, fs=fs, nperseg=nperseg)
    total = None
    for k in range(0, n_seg, per_block):
        m = min(per_block, n_seg - k)
        f, p = signal.welch(x[k * step : (k + m - 1) * step + nperseg], fs=fs, nperseg=nperseg)
        total = p.astype(np.float64) * m if total is None else total + p * m
    return f, (total / n_seg).astype(p.dtype)


class StreamingFilter:
    """Stethoscope filter applied block by block with state carried between blocks.

    ``process(a) ; process(b)`` equals ``apply_filter(concat(a, b))``.
    """

    def __init__(self, sr: int, mode: str):
        self.sr = int(sr)
        self.mode = mode
        self._sos = filter_sos(self.sr, mode)
        self._zi = np.zeros((self._sos.shape[0], 2))

    def reset(self) -> None:
        self._zi[:] = 0.0

    def process(self, block: np.ndarray) -> np.ndarray:
        """Filter one block, shape ``(n,)`` -> ``(n,)`` float32."""
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return np.zeros(0, dtype=np.float32)
        y, self._zi = signal.sosfilt(self._sos, x, zi=self._zi)
        return y.astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling ``(n,)`` -> ``(round(n * sr_out / sr_in),)`` float32."""
    x = np.asarray(x, dtype=np.float32)
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError("sample rates must be positive")
    if sr_in == sr_out or x.size == 0:
        return x.copy()
    g = gcd(sr_in, sr_out)
    return signal.resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


RESAMPLE_BLOCK_S = 60.0  # s of input per block of :func:`resample_blocks`
RESAMPLE_PAD = 2048  # input samples of context each side of a block: more than the filter's half length


def resample_blocks(x: np.ndarray, sr_in: int, sr_out: int, block_s: float = RESAMPLE_BLOCK_S) -> np.ndarray:
    """:func:`resample` of a long recording, one block at a time: ``(n,)`` -> ``(ceil(n * up / down),)``.

    A 30-min 384 kHz (or 48 kHz) file resampled whole takes several float64 copies of the full
    length; here only the float32 output and one ``block_s`` block (plus :data:`RESAMPLE_PAD`
    samples each side, so the polyphase filter sees the same neighbours) are held at a time. The
    result equals ``resample`` up to float rounding. Blocks start at multiples of the decimation
    factor, so each one's output falls exactly on the whole-array output grid.
    """
    x = np.asarray(x).reshape(-1)
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError("sample rates must be positive")
    if sr_in == sr_out or x.size == 0:
        return np.asarray(x, dtype=np.float32).copy()
    g = gcd(sr_in, sr_out)
    up, down = sr_out // g, sr_in // g
    n = x.size
    n_out = -(-n * up // down)
    step = down * max(1, int(block_s * sr_in) // down)
    pad = down * -(-RESAMPLE_PAD // down)
    out = np.empty(n_out, dtype=np.float32)
    for s in range(0, n, step):
        a, b = max(0, s - pad), min(n, s + step + pad)
        y = signal.resample_poly(np.asarray(x[a:b], dtype=np.float32), up, down)
        o0 = s * up // down
        o1 = min(n_out, (s + step) * up // down)
        k0 = (s - a) * up // down
        out[o0:o1] = y[k0:k0 + (o1 - o0)]
    return out


# --- envelope ---------------------------------------------------------------------------------
def envelope(x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """Shannon-energy envelope of heart sounds.

    The signal is resampled to 1 kHz, band-passed 25-200 Hz, normalised by a
    robust peak (99.9th percentile, so a single knock does not flatten the
    rest), turned into Shannon energy ``-x^2 log x^2`` (which lifts medium
    sounds such as S2 relative to loud S1 and squashes spikes), averaged over
    10 ms frames and smoothed with a 40 ms low-pass.

    Returns
    -------
    env : np.ndarray, shape ``(n * ENV_SR / sr,)`` float32, zero mean, unit std
        (all zeros for a flat input)
    env_sr : int
        The envelope rate (``ENV_SR`` = 100 Hz).
    """
    y = resample(np.asarray(x, dtype=np.float32), sr, ENV_WORK_SR).astype(np.float64)
    hop = ENV_WORK_SR // ENV_SR
    n_frames = y.size // hop
    if n_frames < 4:
        return np.zeros(max(n_frames, 0), dtype=np.float32), ENV_SR
    lo, hi = ENV_BAND
    y = signal.sosfiltfilt(signal.butter(2, [lo, hi], btype="bandpass", fs=ENV_WORK_SR, output="sos"), y)
    peak = np.percentile(np.abs(y), 99.9)
    if peak <= 1e-9:
        return np.zeros(n_frames, dtype=np.float32), ENV_SR
    y = np.clip(y / peak, -1.0, 1.0)
    e2 = y * y
    se = -e2 * np.log(e2 + 1e-12)  # Shannon energy per sample
    env = se[: n_frames * hop].reshape(n_frames, hop).mean(axis=1)
    smooth = signal.butter(2, 1.0 / ENV_SMOOTH_S, btype="lowpass", fs=ENV_SR, output="sos")
    env = signal.sosfiltfilt(smooth, env) if n_frames > 15 else env
    std = env.std()
    if std <= 1e-12:
        return np.zeros(n_frames, dtype=np.float32), ENV_SR
    return ((env - env.mean()) / std).astype(np.float32), ENV_SR

