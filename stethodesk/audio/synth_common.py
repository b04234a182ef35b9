"""Building blocks shared by the heart and lung synthesizers (numpy/scipy only, no Qt).

Everything is rendered at one internal rate, :data:`FS`, and resampled to the
caller's rate at the very end, so a preset sounds the same at 4 kHz and 48 kHz
and timing never depends on the output rate.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

FS = 8000  # Hz, internal synthesis rate: every heart/lung component lies below 2 kHz


def bandpass_noise(rng: np.random.Generator, n: int, lo: float, hi: float, order: int = 4) -> np.ndarray:
    """White noise band-limited to ``[lo, hi]`` Hz, unit RMS.

    Returns
    -------
    np.ndarray, shape (n,), float64
    """
    if n <= 0:
        return np.zeros(0)
    pad = 512  # samples discarded at the start so the filter transient is not heard
    x = rng.standard_normal(n + pad)
    sos = signal.butter(order, [lo, min(hi, 0.45 * FS)], btype="bandpass", fs=FS, output="sos")
    y = signal.sosfilt(sos, x)[pad:]
    rms = np.sqrt(np.mean(y**2)) or 1.0
    return y / rms


def shaped_noise(
    rng: np.random.Generator, n: int, lo: float, hi: float, corner: float, slope_db_oct: float
) -> np.ndarray:
    """Noise whose power spectrum is flat to ``corner`` Hz then falls by ``slope_db_oct`` dB/octave,
    with first-order (6 dB/octave) skirts below ``lo`` and a steep cut above ``hi``. Unit RMS.

    This is how breath sounds look at the chest wall: most energy just above 100 Hz and
    a steady roll-off of ~10 dB/octave towards 1 kHz.

    Returns
    -------
    np.ndarray, shape (n,)
    """
    if n <= 0:
        return np.zeros(0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    f[0] = 1e-3
    a = slope_db_oct / 20 / np.log10(2)  # amplitude exponent
    gain = 1 / np.sqrt(1 + (f / corner) ** (2 * a))  # power falls slope_db_oct per octave
    gain *= (f / lo) / np.sqrt(1 + (f / lo) ** 2)  # first-order high-pass at lo
    gain *= 1 / np.sqrt(1 + (f / hi) ** 16)  # 8th-order-like cut at hi
    y = np.fft.irfft(spec * gain, n)
    return y / (np.sqrt(np.mean(y**2)) or 1.0)


def lowpass(x: np.ndarray, hi: float, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, hi, btype="lowpass", fs=FS, output="sos")
    return signal.sosfilt(sos, x)


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise by spectral shaping, unit RMS. Shape (n,)."""
    if n <= 0:
        return np.zeros(0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    return y / (np.sqrt(np.mean(y**2)) or 1.0)


def add_at(out: np.ndarray, start: int, x: np.ndarray) -> None:
    """Add ``x`` into ``out`` starting at sample ``start``, clipped to the bounds of ``out``."""
    a, b = max(start, 0), min(start + x.size, out.size)
    if b > a:
        out[a:b] += x[a - start : b - start]


def transient(
    rng: np.random.Generator,
    dur_s: float,
    f0: float,
    f1: float,
    noise_band: tuple[float, float] | None = None,
    noise_mix: float = 0.3,
) -> np.ndarray:
    """One valve-closure-like vibration: a decaying chirp plus band-limited noise.

    The envelope is a gamma-like bump (fast rise, slower decay) that falls below
    ~5 % of its peak at ``dur_s``; the frequency glides from ``f0`` to ``f1`` Hz,
    which is how the cardiohemic system rings down after a valve closes.

    Returns
    -------
    np.ndarray, shape (round(dur_s * FS),), peak ~1
    """
    n = max(int(round(dur_s * FS)), 8)
    t = np.arange(n) / FS
    # gamma envelope t^k e^{-t/tau}: peak at k*tau; 5 % level near t = dur_s for k=2, tau=dur/7.8
    k = 2.0
    tau = dur_s / 7.8
    env = (t / (k * tau)) ** k * np.exp(k - t / tau)
    freq = f0 + (f1 - f0) * (t / dur_s)
    phase = 2 * np.pi * np.cumsum(freq) / FS + rng.uniform(0, 2 * np.pi)
    tone = np.sin(phase) + 0.15 * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
    x = tone
    if noise_band is not None and noise_mix > 0:
        x = (1 - noise_mix) * tone + noise_mix * 1.5 * bandpass_noise(rng, n, *noise_band, order=2)
    y = env * x
    return y / (np.max(np.abs(y)) or 1.0)


def smooth_env(x: np.ndarray, win_s: float) -> np.ndarray:
    """Moving-average smoothing of an envelope (keeps murmur edges from clicking)."""
    w = max(int(win_s * FS), 1)
    if w <= 1 or x.size == 0:
        return x
    k = np.hanning(w + 2)[1:-1]
    return np.convolve(x, k / k.sum(), mode="same")
