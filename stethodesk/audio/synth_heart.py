"""Physiological heart sound synthesis: S1/S2 (with split), S3, S4, clicks and murmurs.

Rendered at :data:`synth_common.FS`; :mod:`stethodesk.audio.synth` is the public entry.

Timing model
------------
- Beat-to-beat RR varies with respiration (sinus arrhythmia: shorter RR in
  inspiration) plus a small random jitter, giving an RR coefficient of
  variation of ~4 %, the median of the CirCor annotations.
- Systole (S1 onset to S2 onset) shortens with rate:
  ``SYS_A_S - SYS_B_S_PER_BPM * HR``. The constants are a least-squares fit to
  the S1-S2 onset intervals of the 481 CirCor ``.tsv`` segmentations
  (0.39 - 0.0013*HR), nudged towards adult textbook values (~0.30 s at 72 bpm).
  Diastole takes the rest, so it shrinks faster than systole at high rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .synth_common import FS, add_wrap, bandpass_noise, circular_times, smooth_env, transient

SYS_A_S = 0.40  # s, systole intercept
SYS_B_S_PER_BPM = 0.0014  # s per bpm
SYS_MAX_FRACTION = 0.5  # systole never longer than half the cycle
RSA_DEPTH = 0.08  # fractional RR change between expiration and inspiration
RR_JITTER = 0.03  # fractional random RR jitter per beat

S1_DUR_S = 0.115  # s, each of M1 and T1
T1_DELAY_S = 0.03  # s, T1 after M1
A2_DUR_S = 0.115  # s
P2_DUR_S = 0.10  # s
SPLIT_NORMAL_S = (0.012, 0.030)  # s, A2-P2 in expiration / inspiration (heard single)
SPLIT_PHYSIO_S = (0.020, 0.060)  # s, audibly widened in inspiration
SPLIT_FIXED_S = 0.065  # s, wide and fixed (atrial septal defect)
S3_DELAY_S = 0.15  # s after A2, early rapid filling
S3_DUR_S = 0.06
S4_LEAD_S = 0.10  # s before S1, atrial kick
S4_DUR_S = 0.055
CLICK_DUR_S = 0.018
OPENING_SNAP_DELAY_S = 0.08  # s after A2 (mitral stenosis)
GRADE_RMS = 0.2  # murmur RMS (re S1 peak 1.0) at grade I; x GRADE_STEP per grade
GRADE_STEP = 1.45


@dataclass(frozen=True)
class Murmur:
    """One murmur: where in the cycle, what envelope, what band, how loud."""

    phase: str  # "systolic" | "diastolic"
    shape: str  # "plateau" | "diamond" | "decrescendo" | "crescendo" | "rumble"
    band: tuple[float, float]  # Hz, pass band of the shaped noise
    grade: int = 3  # Levine grade 1..6
    start: float = 0.0  # fraction of the phase where it begins
    end: float = 1.0  # fraction of the phase where it stops
    harsh: float = 0.0  # 0..1, amplitude roughness (AS "harsh" vs MR "blowing")


@dataclass(frozen=True)
class HeartParams:
    """Everything that makes one heart preset different from another."""

    s1_gain: float = 1.0
    s2_gain: float = 0.75
    split: str = "normal"  # "normal" | "physiological" | "fixed"
    s3: bool = False
    s4: bool = False
    click: bool = False  # mid-systolic click (mitral valve prolapse)
    opening_snap: bool = False
    murmurs: tuple[Murmur, ...] = field(default_factory=tuple)


@dataclass
class HeartRender:
    """Clean heart signal at FS plus its timing ground truth."""

    x: np.ndarray  # (n,) float64 at FS
    events: list[tuple[float, str]]
    segments: list[tuple[float, float, int]]  # (start_s, end_s, state) CirCor style: 1=S1, 3=S2
    splits: list[tuple[float, float, float]]  # (S2 time s, A2-P2 split s, inspiration depth 0..1)


def systole_s(hr: float, rr: float) -> float:
    """S1-onset to S2-onset interval in seconds for instantaneous rate ``hr`` (bpm)."""
    return float(min(SYS_A_S - SYS_B_S_PER_BPM * hr, SYS_MAX_FRACTION * rr))


def inspiring(t: float, resp_period: float) -> float:
    """Depth of inspiration 0..1 at time ``t`` (I:E = 1:2, inspiration first)."""
    ph = (t % resp_period) / resp_period
    return float(np.sin(np.pi * ph / (1 / 3))) if ph < 1 / 3 else 0.0


def resp_period_s(seconds: float, resp_rate: float) -> float:
    """Breathing period that fits a whole number of breaths into ``seconds`` (loops seamlessly)."""
    return seconds / max(1, int(round(seconds * resp_rate / 60.0)))


def inspiration_depth(seconds: float, resp_rate: float, cycles=None):
    """Function t -> depth of inspiration 0..1, from breathing ``cycles`` (as made by
    :func:`synth_lung.breath_cycles`, so the heart follows the audible breaths) or, without
    them, from a regular breathing pattern starting with inspiration at t = 0."""
    if not cycles:
        period = resp_period_s(seconds, resp_rate)
        return lambda t: inspiring(t, period)
    t0 = cycles[0][0]
    starts = np.array([c[0] for c in cycles])

    def depth(t: float) -> float:
        t = t0 + (t - t0) % seconds
        ts, te, _ = cycles[int(np.searchsorted(starts, t, side="right")) - 1]
        return float(np.sin(np.pi * (t - ts) / (te - ts))) if t < te else 0.0

    return depth


def beat_times(rng: np.random.Generator, seconds: float, hr: float, insp) -> np.ndarray:
    """S1 onsets (s) of a whole number of beats tiling ``seconds``, plus the first one again
    shifted by ``seconds`` (the next beat after the last, for look-ahead across the seam).
    ``insp(t)`` is the depth of inspiration 0..1."""

    def jitter(t: float, mean: float) -> float:
        # sinus arrhythmia: shorter RR in inspiration; plus random beat-to-beat jitter
        return -RSA_DEPTH * (insp(t) - 0.33) + RR_JITTER * rng.standard_normal()

    t = circular_times(rng, seconds, hr, jitter)
    return np.append(t, t[0] + seconds)


def _murmur_env(m: Murmur, n: int) -> np.ndarray:
    """Envelope (n,) of one murmur over its own span, peak 1."""
    u = np.linspace(0, 1, n, endpoint=False)
    if m.shape == "plateau":
        env = np.ones(n)
    elif m.shape == "diamond":
        env = 1 - np.abs(2 * u - 1)  # crescendo-decrescendo, peak mid-span
        env = env**0.8
    elif m.shape == "decrescendo":
        env = np.exp(-2.0 * u)
    elif m.shape == "crescendo":
        env = 0.25 + 0.75 * u**1.5
    elif m.shape == "rumble":  # mid-diastolic decrescendo + presystolic accentuation
        env = 0.75 * np.exp(-2.5 * u) + 0.9 * np.clip((u - 0.65) / 0.35, 0, 1) ** 2
    else:
        raise ValueError(f"unknown murmur shape {m.shape!r}")
    # 15 ms ramps so the murmur starts and ends smoothly
    r = min(int(0.015 * FS), n // 2)
    if r > 0:
        ramp = np.sin(np.linspace(0, np.pi / 2, r)) ** 2
        env[:r] *= ramp
        env[n - r :] *= ramp[::-1]
    return env


def render_heart(
    rng: np.random.Generator, seconds: float, hr: float, resp_rate: float, p: HeartParams, cycles=None
) -> HeartRender:
    """Render ``seconds`` of heart sounds at FS. See module docstring for the timing model.

    ``cycles``: breathing cycles (insp_start, exp_start, end) the heart-rate variability and
    S2 splitting follow; None for a regular pattern at ``resp_rate``.
    """
    n = int(round(seconds * FS))
    x = np.zeros(n)
    murmur_track = np.zeros(n)
    insp_at = inspiration_depth(seconds, resp_rate, cycles)
    beats = beat_times(rng, seconds, hr, insp_at)
    splits: list[tuple[float, float, float]] = []
    events: list[tuple[float, str]] = []
    segs: list[tuple[float, float, int]] = []
    noise_cache: dict[tuple, np.ndarray] = {}

    def place(t0: float, y: np.ndarray, gain: float) -> None:
        add_wrap(x, int(round(t0 * FS)), gain * y)

    def mark(t: float, name: str) -> None:
        events.append((round(t % seconds, 4), name))

    for i in range(len(beats) - 1):
        t1, t_next = beats[i], beats[i + 1]
        rr = t_next - t1
        hr_i = 60.0 / rr
        sys = systole_s(hr_i, rr) + 0.004 * rng.standard_normal()
        t2 = t1 + sys
        g = 1 + 0.08 * rng.standard_normal()  # beat-to-beat amplitude variation
        # S1 = M1 + T1: low (30-150 Hz), ~110 ms overall
        m1 = transient(rng, S1_DUR_S * rng.uniform(0.9, 1.1), 70, 45, (25, 110), 0.3)
        tt1 = transient(rng, S1_DUR_S * rng.uniform(0.9, 1.1), 65, 42, (25, 110), 0.3)
        place(t1, m1, p.s1_gain * g)
        place(t1 + T1_DELAY_S, tt1, 0.6 * p.s1_gain * g)
        # S2 = A2 + P2: shorter and higher
        insp = insp_at(t2)
        if p.split == "fixed":
            split = SPLIT_FIXED_S
        else:
            lo, hi = SPLIT_PHYSIO_S if p.split == "physiological" else SPLIT_NORMAL_S
            split = lo + (hi - lo) * insp
        a2 = transient(rng, A2_DUR_S * rng.uniform(0.9, 1.1), 85, 55, (40, 180), 0.3)
        p2 = transient(rng, P2_DUR_S * rng.uniform(0.9, 1.1), 80, 50, (40, 180), 0.3)
        place(t2, a2, p.s2_gain * g)
        place(t2 + split, p2, 0.6 * p.s2_gain * g)
        splits.append((t2 % seconds, split, insp))
        mark(t1, "S1")
        segs.append((t1 % seconds, t1 % seconds + T1_DELAY_S + S1_DUR_S * 0.95, 1))
        mark(t2, "S2")
        segs.append((t2 % seconds, t2 % seconds + max(A2_DUR_S, split + P2_DUR_S) * 0.95, 3))
        if p.s3:
            t3 = t2 + S3_DELAY_S + 0.01 * rng.standard_normal()
            if t3 + S3_DUR_S < t_next - 0.05:
                place(t3, transient(rng, S3_DUR_S, 55, 35, (30, 90), 0.3), 0.55 * g)
                mark(t3, "S3")
        if p.s4:
            t4 = t_next - S4_LEAD_S
            if t4 > t2 + 0.12:
                place(t4, transient(rng, S4_DUR_S, 55, 35, (30, 90), 0.3), 0.5 * g)
                mark(t4, "S4")
        t_click = t1 + 0.5 * sys
        if p.click:
            place(t_click, transient(rng, CLICK_DUR_S, 260, 180, (120, 500), 0.3), 0.7 * g)
            mark(t_click, "click")
        if p.opening_snap:
            t_os = t2 + OPENING_SNAP_DELAY_S
            place(t_os, transient(rng, 0.03, 160, 110, (80, 300), 0.3), 0.45 * g)
            mark(t_os, "opening_snap")
        for m in p.murmurs:
            if m.phase == "systolic":
                a, b = t1 + 0.02, t2 + 0.01
                if m.start >= 0.45 and p.click:  # MVP: late systolic murmur starts at the click
                    a = t_click + 0.01
                else:
                    a = a + m.start * (b - a)
                b = t1 + 0.02 + m.end * (t2 + 0.01 - t1 - 0.02)
            else:
                d0, d1 = t2 + 0.01, t_next - 0.005
                a, b = d0 + m.start * (d1 - d0), d0 + m.end * (d1 - d0)
            i0, i1 = int(round(a * FS)), int(round(b * FS))
            if i1 - i0 < 16:
                continue
            key = (m.band, m.harsh)
            if key not in noise_cache:
                # one circular noise per murmur band: beats differ but share one spectrum
                noise_cache[key] = bandpass_noise(rng, n, *m.band, order=3)
            src = noise_cache[key]
            seg = src[np.arange(i0, i1) % n]
            env = _murmur_env(m, seg.size)
            if m.harsh > 0:  # rough, irregular amplitude: harsh ejection murmur
                am = smooth_env(np.abs(rng.standard_normal(seg.size)), 0.012)
                env = env * ((1 - m.harsh) + m.harsh * am / (am.mean() or 1))
            amp = GRADE_RMS * GRADE_STEP ** (m.grade - 1) * g
            add_wrap(murmur_track, i0, amp * env * seg)
            mark(a, f"{m.phase}_murmur")
    x += murmur_track
    events.sort()
    segs.sort()
    return HeartRender(x=x, events=events, segments=segs, splits=splits)
