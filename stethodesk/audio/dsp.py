"""Signal processing for auscultation: stethoscope filters, envelope, heart rate, quality.

No Qt here; everything is plain numpy/scipy on mono float32 arrays so the live
view, the recorder, the CLI and the model frontend share one implementation.
Gain is not applied here: the caller multiplies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

# --- envelope / heart rate -----------------------------------------------------------
ENV_WORK_SR = 1000  # Hz: heart sound energy lies below ~400 Hz, so 1 kHz keeps all of it
ENV_BAND = (25.0, 200.0)  # Hz: band-pass before the envelope: where S1/S2 energy peaks (tuned on CirCor)
ENV_SR = 100  # Hz: envelope rate (10 ms frames) = 0.6 bpm per lag step at 60 bpm
ENV_SMOOTH_S = 0.04  # s: low-pass of the Shannon energy, shorter than S1 (~100 ms)
HR_MIN_BPM = 40.0
HR_MAX_BPM = 200.0
HR_MIN_SECONDS = 2.0  # s: ~3 beats at 90 bpm; slow rates need longer (lag <= half the length)
HR_MIN_PEAK = 0.05  # normalised autocorrelation below this = no periodicity found

# --- quality ----------------------------------------------------------------------------
FLAT_RMS = 10 ** (-100 / 20)  # below -100 dBFS (under 16-bit quantization noise): nothing at all
NO_CONTACT_RMS = 10 ** (-50 / 20)  # below -50 dBFS in the body-sound band, the level alone cannot
# tell a quiet stethoscope from one off the skin: the content decides (:func:`body_sound_evidence`)
# Body-band energy std/mean over 0.1 s frames at or above which a quiet signal holds beats or
# breaths (measured 2026-11-30: 60 CirCor recordings min 0.75, white noise in the heart band at
# most 0.20; 40 ICBHI cycles min 0.34, SPRSound 1.36, HLS-CMDS 0.63, noise in the lung band 0.08)
BODY_MODULATION = {"heart": 0.4, "lung": 0.2}
MODULATION_FRAME_S = 0.1
CLIP_LEVEL = 0.999  # |x| at or above this counts as clipped
CLIP_FRACTION = 0.001  # > 0.1% clipped samples is audible distortion
MIN_SECONDS = {"heart": 3.0, "lung": 4.0}  # s: at least ~3 beats / one breath cycle
# Body sounds live below ~1 kHz (heart) / ~2 kHz (lung): energy above is hiss, talk, rubbing.
NOISE_SPLIT_HZ = {"heart": 600.0, "lung": 1500.0}
NOISE_RATIO = 0.5  # fraction of energy above the split at which we call the signal noisy
QUALITY_SR = 8000  # Hz: contact/noise/periodicity are judged at this rate at most (body band < 2 kHz)
QUALITY_NPERSEG = 512  # Welch segment (64 ms at 8 kHz, 16 Hz resolution)


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


def apply_filter(x: np.ndarray, sr: int, mode: str) -> np.ndarray:
    """Stethoscope filter over a whole array (causal, like the live view). Shape kept."""
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return x.copy()
    return signal.sosfilt(filter_sos(sr, mode), x).astype(np.float32)


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


# --- quality -------------------------------------------------------------------------------------
QUALITY_LEVELS = ("good", "fair", "poor")


@dataclass
class Quality:
    """Signal quality of a stretch of auscultation audio.

    ``level`` is "good", "fair" or "poor"; ``score`` 0..1 (1 = clean);
    ``issues`` a subset of {"flat", "no_contact", "quiet", "clipping", "noise", "too_short"}
    ("quiet": low level but a real body sound, usable);
    ``reason`` one plain-words sentence for the user.
    """

    level: str
    score: float
    issues: list[str] = field(default_factory=list)
    reason: str = ""


def body_sound_evidence(body_band: np.ndarray, sr: int, domain: str = "heart") -> bool:
    """Whether a quiet signal holds a body sound rather than the input's own noise floor.

    Level alone cannot decide (a real recording 40 dB quieter is still a recording), so the
    content does: body-band energy that rises and falls with beats or breaths (std/mean of
    :data:`MODULATION_FRAME_S` frame energies at least :data:`BODY_MODULATION` of the domain;
    steady hiss or hum stays below). A heart rate alone is no evidence: the envelope of white
    noise can yield one.

    Parameters
    ----------
    body_band : np.ndarray, shape (n,)
        The signal filtered to the domain's body-sound band (float).
    sr : int
        Sample rate in Hz.
    domain : {"heart", "lung"}
    """
    frame = max(1, int(MODULATION_FRAME_S * sr))
    n = body_band.size // frame
    if n < 20:  # under 2 s: too short to see a breath or several beats
        return False
    energy = np.mean(np.square(body_band[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    return float(np.std(energy) / max(float(np.mean(energy)), 1e-30)) >= BODY_MODULATION[domain]


def signal_quality(x: np.ndarray, sr: int, domain: str = "heart") -> Quality:
    """Judge whether ``x`` (shape ``(n,)``, float in [-1, 1]) is usable auscultation audio."""
    if domain not in MIN_SECONDS:
        raise ValueError("domain must be 'heart' or 'lung'")
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    seconds = x.size / sr if sr else 0.0
    issues: list[str] = []
    reasons: list[str] = []
    score = 1.0

    if x.size == 0 or float(np.sqrt(np.mean(np.square(x - x.mean())))) < FLAT_RMS:
        return Quality(
            "poor",
            0.0,
            ["flat"],
            "The signal is flat: nothing is coming in. Check that the stethoscope is "
            "plugged in and the input is not muted.",
        )
    if seconds < MIN_SECONDS[domain]:
        issues.append("too_short")
        reasons.append(
            f"only {seconds:.1f} s of sound; at least {MIN_SECONDS[domain]:.0f} s is needed"
        )
        score -= 0.5

    clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL))
    if clipped > CLIP_FRACTION:
        issues.append("clipping")
        reasons.append(f"the sound is too loud and clipped ({clipped:.1%} of samples); lower the gain")
        score -= min(0.5, 0.1 + 20 * clipped)

    # Body sounds lie below 2 kHz: judge contact and noise at <= 8 kHz, which makes a 10 s
    # window of 48 kHz input ~6x cheaper (the live view calls this about once a second).
    if sr > QUALITY_SR:
        x, sr = resample(x, sr, QUALITY_SR), QUALITY_SR
    body_band = apply_filter(x, sr, "wide" if domain == "lung" else "bell")
    body_rms = float(np.sqrt(np.mean(np.square(body_band))))
    quiet_but_real = body_rms < NO_CONTACT_RMS and body_sound_evidence(body_band, sr, domain)
    if quiet_but_real:
        issues.append("quiet")
        reasons.append(f"the sound is quiet ({20 * np.log10(max(body_rms, 1e-12)):.0f} dBFS in the body-sound "
                       "band) but clearly there; raising the gain would help")
        score -= 0.1
    if body_rms < NO_CONTACT_RMS and not quiet_but_real:
        issues.append("no_contact")
        reasons.append(
            "almost no body sound; the chest piece may not be touching the skin or the gain is too low"
        )
        score -= 0.7  # unusable: nothing to analyse
    else:
        split = NOISE_SPLIT_HZ[domain]
        f, pxx = signal.welch(x - x.mean(), fs=sr, nperseg=min(QUALITY_NPERSEG, x.size))
        total = float(np.sum(pxx[f >= 20.0])) + 1e-20
        high = float(np.sum(pxx[f >= split]))
        ratio = high / total
        periodic = None
        if domain == "heart" and seconds >= MIN_SECONDS["heart"]:
            periodic = heart_rate_bpm(x, sr) is not None
        if ratio > NOISE_RATIO or periodic is False:
            issues.append("noise")
            if periodic is False and ratio <= NOISE_RATIO:
                reasons.append("no regular heartbeat stands out from the background noise")
            else:
                reasons.append(
                    f"{ratio:.0%} of the energy is above {split:.0f} Hz (rubbing, talking or hiss)"
                )
            score -= 0.3 + 0.3 * min(1.0, max(0.0, ratio - NOISE_RATIO) * 2)

    score = float(np.clip(score, 0.0, 1.0))
    level = "good" if score >= 0.75 else ("fair" if score >= 0.4 else "poor")
    if issues and level == "good":
        level = "fair"  # any named problem is worth the user's attention
    if not issues:
        reason = "Clear signal."
    else:
        reason = "; ".join(reasons)
        reason = reason[0].upper() + reason[1:] + "."
    return Quality(level, score, issues, reason)
