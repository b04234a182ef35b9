"""Heart rate from the Shannon-energy envelope (autocorrelation, harmonic check, peak intervals).

No Qt here; re-exported by :mod:`stethodesk.audio.dsp`.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from stethodesk.audio.filters import ENV_SR, ENV_WORK_SR, envelope, resample

HR_MIN_BPM = 40.0
HR_MAX_BPM = 200.0
HR_MIN_SECONDS = 2.0  # s: ~3 beats at 90 bpm; slow rates need longer (lag <= half the length)
HR_MIN_PEAK = 0.05  # normalised autocorrelation below this = no periodicity found


def _autocorr(env: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """Normalised autocorrelation of ``env`` (``ac[0] == 1``). Shape ``(n,)``.

    The biased estimate (default) tapers long lags, which favours the beat
    period over its multiples.
    """
    n = env.size
    nfft = 1 << (2 * n - 1).bit_length()
    spec = np.fft.rfft(env, nfft)
    ac = np.fft.irfft(spec * np.conj(spec), nfft)[:n]
    if unbiased:
        ac = ac / np.arange(n, 0, -1)  # each lag averaged over its own overlap
    return ac / ac[0] if ac[0] > 0 else ac


def _parabolic(ac: np.ndarray, i: int) -> float:
    """Sub-sample position of the peak at ``i`` (parabola through 3 points)."""
    if 0 < i < ac.size - 1:
        a, b, c = ac[i - 1], ac[i], ac[i + 1]
        den = a - 2 * b + c
        if den < 0:
            return i + 0.5 * (a - c) / den
    return float(i)


def heart_rate_bpm(x: np.ndarray, sr: int) -> float | None:
    """Heart rate in beats per minute from the envelope, or ``None`` when it cannot tell.

    1. The recording is cut into 8 s windows (hop 4 s); each gets its own
       Shannon-energy envelope (so a loud knock in one window does not squash
       the others) and its autocorrelation. The autocorrelations are averaged,
       each weighted by its strongest peak in the 40-200 bpm range: clean,
       periodic stretches count, rubbing and talking barely do.
    2. Harmonic check: each candidate lag ``L`` (a peak of the average) is
       scored ``ac[L] + 0.5 ac[2L] + 0.5 ac[3L]``. A true beat period repeats at
       2L and 3L; the systolic interval S1-S2 (a sharp peak in children, whose
       rate varies beat to beat) and other half-cycle lags do not.
    3. Refinement: the period is re-measured as the median distance between
       envelope peaks that lie about ``L`` apart (+-25 %) in the well-weighted
       windows, which follows the clinical definition (median beat-to-beat
       interval) more closely than the autocorrelation maximum.

    Tuned on CirCor (``benchmarks/heart_rate_circor.py``).

    Parameters
    ----------
    x : np.ndarray, shape ``(n,)``
        Heart sound at any rate >= 500 Hz.
    sr : int
        Sample rate in Hz.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if sr <= 0 or x.size < HR_MIN_SECONDS * sr:
        return None
    # Resample once; each window's envelope then starts at the working rate.
    x, sr = resample(x, sr, ENV_WORK_SR), ENV_WORK_SR
    esr = ENV_SR
    lag_min = int(np.floor(esr * 60.0 / HR_MAX_BPM))
    win = int(HR_WINDOW_S * sr)
    if x.size <= 1.25 * win:
        starts, win = [0], x.size
    else:
        starts = list(range(0, x.size - win + 1, int(HR_HOP_S * sr)))
    acs, envs, weights = [], [], []
    for s in starts:
        env, esr = envelope(x[s : s + win], sr)
        if not np.any(env):
            continue
        ac = _autocorr(env.astype(np.float64))
        lag_max = min(int(np.ceil(esr * 60.0 / HR_MIN_BPM)), ac.size // 2)
        peaks, _ = signal.find_peaks(ac[lag_min : lag_max + 1])
        weight = max(0.0, float(ac[lag_min + peaks].max())) if peaks.size else 0.0
        acs.append(ac)
        envs.append(env)
        weights.append(weight)
    if not acs or max(weights) <= 0.0:
        return None
    n = min(a.size for a in acs)
    ac = np.average(np.stack([a[:n] for a in acs]), axis=0, weights=np.asarray(weights) + 1e-9)
    lag_max = min(int(np.ceil(esr * 60.0 / HR_MIN_BPM)), ac.size // 2)
    if lag_max <= lag_min + 2:
        return None
    peaks, _ = signal.find_peaks(ac[lag_min : lag_max + 1])
    if peaks.size == 0:
        return None
    peaks = peaks + lag_min
    scores = [_harmonic_score(ac, int(p)) for p in peaks]
    best = int(peaks[int(np.argmax(scores))])
    if ac[best] < HR_MIN_PEAK:
        return None
    good = [e for e, w in zip(envs, weights, strict=True) if w >= 0.5 * max(weights)]
    lag = _refine_period(good, esr, _parabolic(ac, best))
    return float(60.0 * esr / lag)


HR_WINDOW_S = 8.0  # s: analysis window (several beats even at 40 bpm)
HR_HOP_S = 4.0  # s: window hop (50 % overlap)
HARMONIC_WEIGHTS = (0.5, 0.5)  # weights of ac at 2L and 3L in a candidate's score
HARMONIC_TOL = 0.03  # relative lag tolerance when reading ac at 2L and 3L
# When 2L/3L run past the autocorrelation, assume this fraction of ac[L] (a neutral guess).
HARMONIC_FALLBACK = (0.5, 0.3)
REFINE_TOL = 0.25  # peaks L * (1 +- 0.25) apart count as one beat period
REFINE_PROMINENCE = 0.6  # envelope peaks (in std units) this prominent are heart sounds
REFINE_MIN_GAP_S = 0.12  # s: two heart sounds are never closer than this


def _harmonic_score(ac: np.ndarray, lag: int) -> float:
    score = float(ac[lag])
    for k, w, fallback in zip((2, 3), HARMONIC_WEIGHTS, HARMONIC_FALLBACK, strict=True):
        lo = int(np.floor(k * lag * (1 - HARMONIC_TOL)))
        hi = int(np.ceil(k * lag * (1 + HARMONIC_TOL))) + 1
        score += w * (float(ac[lo:hi].max()) if hi <= ac.size else fallback * float(ac[lag]))
    return score


def _refine_period(envs: list[np.ndarray], esr: int, lag: float) -> float:
    """Median distance between envelope peaks about ``lag`` apart (frames); ``lag`` if too few."""
    lo, hi = (1 - REFINE_TOL) * lag, (1 + REFINE_TOL) * lag
    dists = []
    for env in envs:
        peaks, _ = signal.find_peaks(
            env, distance=max(1, int(REFINE_MIN_GAP_S * esr)), prominence=REFINE_PROMINENCE
        )
        for i, p in enumerate(peaks[:-1]):
            d = peaks[i + 1 :] - p
            d = d[(d >= lo) & (d <= hi)]
            if d.size:
                dists.append(d[np.argmin(np.abs(d - lag))])
    return float(np.median(dists)) if len(dists) >= 2 else lag

