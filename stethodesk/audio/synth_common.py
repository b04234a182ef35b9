"""Building blocks shared by the heart and lung synthesizers (numpy/scipy only, no Qt).

Everything is rendered at one internal rate, :data:`FS`, and resampled to the
caller's rate at the very end, so a preset sounds the same at 4 kHz and 48 kHz
and timing never depends on the output rate.

Renderings are *circular*: noise is made in the frequency domain and every sound
that runs past the end wraps round to the start, so the simulated stethoscope can
loop a rendering without a click or a missing beat at the seam.
"""

from __future__ import annotations

import numpy as np

FS = 8000  # Hz, internal synthesis rate: every heart/lung component lies below 2 kHz


def butter_mag(f: np.ndarray, order: int, lo: float | None, hi: float) -> np.ndarray:
    """Magnitude response at ``f`` Hz of the digital Butterworth filter ``scipy.signal.butter``
    designs (bilinear transform with pre-warping): band-pass ``[lo, hi]`` or low-pass ``hi``
    when ``lo`` is None. Closed form, equal to ``sosfreqz`` to ~1e-13, and far cheaper for the
    thousands of short noise bursts a long rendering needs."""
    w = np.tan(np.pi * np.asarray(f, dtype=float) / FS)
    wh = np.tan(np.pi * hi / FS)
    if lo is None:
        return 1 / np.sqrt(1 + (w / wh) ** (2 * order))
    wl = np.tan(np.pi * lo / FS)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (w**2 - wl * wh) / (w * (wh - wl))
        mag = 1 / np.sqrt(1 + q ** (2 * order))
    return np.where(w > 0, mag, 0.0)


def bandpass_noise(rng: np.random.Generator, n: int, lo: float, hi: float, order: int = 4) -> np.ndarray:
    """White noise band-limited to ``[lo, hi]`` Hz, unit RMS, periodic in n.

    The magnitude response is that of a Butterworth band-pass of ``order``
    (so 2*order poles), applied in the frequency domain so the noise wraps
    round seamlessly.

    Returns
    -------
    np.ndarray, shape (n,), float64
    """
    if n <= 0:
        return np.zeros(0)
    spec = np.fft.rfft(rng.standard_normal(n))
    y = np.fft.irfft(spec * butter_mag(np.fft.rfftfreq(n, 1 / FS), order, lo, min(hi, 0.45 * FS)), n)
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
    """Circular low-pass (Butterworth magnitude, zero phase) of a periodic signal x (n,)."""
    if x.size == 0:
        return x
    return np.fft.irfft(np.fft.rfft(x) * butter_mag(np.fft.rfftfreq(x.size, 1 / FS), order, None, hi), x.size)


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise by spectral shaping, unit RMS. Shape (n,)."""
    if n <= 0:
        return np.zeros(0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    return y / (np.sqrt(np.mean(y**2)) or 1.0)


def add_wrap(out: np.ndarray, start: int, x: np.ndarray) -> None:
    """Add ``x`` into ``out`` from sample ``start``, wrapping round the end (circular)."""
    if x.size == 0 or out.size == 0:
        return
    idx = (start + np.arange(x.size)) % out.size
    np.add.at(out, idx, x)


def circular_times(rng: np.random.Generator, seconds: float, rate_per_min: float, jitter) -> np.ndarray:
    """Onsets of a whole number of cycles that exactly tile ``seconds`` (so a loop has no seam).

    ``jitter(t, mean_period) -> float`` gives each cycle's fractional deviation. The
    count is the nearest whole number to ``seconds * rate / 60`` (at least 1), so the
    realised rate differs from the requested one by at most half a cycle per rendering.

    Returns
    -------
    np.ndarray, shape (k,), onsets in [t0, t0 + seconds) with t0 in [0, mean period)
    """
    k = max(1, int(round(seconds * rate_per_min / 60.0)))
    mean = seconds / k
    t0 = rng.uniform(0.0, mean)
    periods, t = [], t0
    for _ in range(k):
        p = mean * float(np.clip(1 + jitter(t, mean), 0.7, 1.3))
        periods.append(p)
        t += p
    periods = np.asarray(periods) * (seconds / np.sum(periods))
    return t0 + np.concatenate([[0.0], np.cumsum(periods)[:-1]])


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
