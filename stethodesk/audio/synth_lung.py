"""Physiological lung sound synthesis: breath sounds and adventitious sounds.

Rendered at :data:`synth_common.FS`; :mod:`stethodesk.audio.synth` is the public entry.

Breathing model: a whole number of cycles tiles the rendering (so it loops
seamlessly); each lasts about ``60 / resp_rate`` s (+-8 % per cycle),
inspiration first, I:E = 1:2. Airflow is a half-sine in inspiration and a
faster-peaking, decaying curve in the active part of expiration (the last
quarter of expiration is a pause). Breath-sound amplitude follows airflow;
vesicular expiration is quieter and fades early, bronchial expiration is as
loud and long as inspiration with a gap between the phases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .synth_common import FS, add_wrap, bandpass_noise, circular_times, shaped_noise, smooth_env

IE_INSP_FRACTION = 1 / 3  # I:E = 1:2
EXP_ACTIVE_FRACTION = 0.75  # of expiration with airflow; the rest is the end-expiratory pause
CYCLE_JITTER = 0.08  # fractional per-cycle variation of the period
FINE_CRACKLE_2CD_S = 0.005  # s, two-cycle duration of a fine crackle (~5 ms)
COARSE_CRACKLE_2CD_S = 0.013  # s, coarse crackle (~10-15 ms)


@dataclass(frozen=True)
class LungParams:
    """Everything that makes one lung preset different from another."""

    breath: str = "vesicular"  # "vesicular" | "bronchial"
    crackles: str | None = None  # None | "fine" | "coarse"
    wheeze: bool = False
    rhonchi: bool = False
    rub: bool = False


@dataclass
class LungRender:
    x: np.ndarray  # (n,) float64 at FS
    events: list[tuple[float, str]]
    cycles: list[tuple[float, float, float]]  # (insp_start, exp_start, cycle_end) in s


def breath_cycles(rng: np.random.Generator, seconds: float, resp_rate: float) -> list[tuple[float, float, float]]:
    """(insp_start, exp_start, cycle_end) in s of a whole number of cycles tiling ``seconds``.

    Times run from t0 (in the first cycle) to t0 + seconds; they wrap round the end.
    """
    starts = circular_times(rng, seconds, resp_rate,
                            lambda t, mean: float(np.clip(CYCLE_JITTER * rng.standard_normal(), -0.2, 0.2)))
    ends = np.append(starts[1:], starts[0] + seconds)
    out = []
    for t, e in zip(starts, ends):
        ti = (e - t) * IE_INSP_FRACTION * float(np.clip(1 + 0.05 * rng.standard_normal(), 0.85, 1.15))
        out.append((float(t), float(t + ti), float(e)))
    return out


def _flow(n_insp: int, n_exp: int, exp_shape: str) -> tuple[np.ndarray, np.ndarray]:
    """Airflow magnitude (0..1) over inspiration (n_insp,) and expiration (n_exp,)."""
    u = np.linspace(0, 1, n_insp, endpoint=False)
    fi = np.sin(np.pi * u) ** 0.8
    v = np.linspace(0, 1, n_exp, endpoint=False) / EXP_ACTIVE_FRACTION
    if exp_shape == "bronchial":
        fe = np.where(v < 1, np.sin(np.pi * np.clip(v, 0, 1)) ** 0.8, 0.0)
    else:  # passive expiration: quick peak, long decay
        fe = np.where(v < 1, (v / 0.25) * np.exp(1 - v / 0.25), 0.0)
        fe = fe * np.clip((1 - v) / 0.3, 0, 1)
    return fi, fe


def _crackle(rng: np.random.Generator, two_cd: float) -> np.ndarray:
    """One crackle: a sharp initial deflection then ~2 cycles of lengthening period."""
    dur = 2.2 * two_cd
    n = max(int(dur * FS), 6)
    t = np.arange(n) / FS
    f0 = 1.0 / two_cd * 2.0  # first cycle faster (short initial deflection width)
    f = f0 * (1 - 0.45 * t / dur)
    phase = 2 * np.pi * np.cumsum(f) / FS
    env = np.exp(-t / (0.45 * two_cd)) * (1 - np.exp(-t / (0.08 * two_cd)))
    y = np.sin(phase) * env * rng.choice([-1.0, 1.0])
    return y / (np.max(np.abs(y)) or 1.0)


def _tone(rng: np.random.Generator, n: int, f0: float, harmonics: tuple[float, ...], glide: float) -> np.ndarray:
    """A musical continuous sound (wheeze/rhonchus) of n samples, peak ~1, with glide and vibrato."""
    t = np.arange(n) / FS
    u = t / max(t[-1], 1e-9)
    vib = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 8) * t)
    f = f0 * (1 + glide * (u - 0.5)) * vib
    phase = 2 * np.pi * np.cumsum(f) / FS
    y = sum(a * np.sin((k + 1) * phase) for k, a in enumerate(harmonics))
    return y / (np.max(np.abs(y)) or 1.0)


def _attack_release(n: int, r_s: float = 0.04) -> np.ndarray:
    env = np.ones(n)
    r = min(int(r_s * FS), n // 2)
    if r > 0:
        ramp = np.sin(np.linspace(0, np.pi / 2, r)) ** 2
        env[:r] = ramp
        env[n - r :] = ramp[::-1]
    return env


def render_lung(
    rng: np.random.Generator, seconds: float, resp_rate: float, p: LungParams, cycles=None
) -> LungRender:
    """Render ``seconds`` of lung sounds at FS (breath RMS ~0.2 re adventitious peaks ~1).

    ``cycles``: breathing cycles from :func:`breath_cycles` (made here when None).
    """
    n = int(round(seconds * FS))
    x = np.zeros(n)
    events: list[tuple[float, str]] = []
    if cycles is None:
        cycles = breath_cycles(rng, seconds, resp_rate)
    if p.breath == "bronchial":
        # tubular: louder high-frequency content, flatter spectrum up to ~1 kHz
        src = shaped_noise(rng, n, 150, 1200, 400, 10.0)
        exp_gain, gap = 1.0, 0.12
    else:
        # vesicular: rustling, energy mostly just above 100 Hz, ~10 dB/octave towards 1 kHz
        src = shaped_noise(rng, n, 100, 1000, 80, 10.5)
        exp_gain, gap = 0.45, 0.0
    breath = np.zeros(n)
    for ts, te, tend in cycles:
        i0, i1, i2 = int(round(ts * FS)), int(round(te * FS)), int(round(tend * FS))
        ni = i1 - i0
        ne = i2 - i1
        if p.breath == "bronchial":
            # pause between inspiration and expiration: shorten inspiratory sound
            ni_s = int(ni * (1 - gap))
            fi, fe = _flow(ni_s, ne, "bronchial")
            fi = np.concatenate([fi, np.zeros(ni - ni_s)])
        else:
            fi, fe = _flow(ni, ne, "vesicular")
        env = np.concatenate([fi, exp_gain * fe]) * float(np.clip(1 + 0.1 * rng.standard_normal(), 0.75, 1.25))
        add_wrap(breath, i0, env)
        for t, name in ((ts, "inspiration"), (te, "expiration")):
            events.append((round(t % seconds, 4), name))
    x += 0.25 * breath * src

    for ts, te, tend in cycles:
        ti, tex = te - ts, (tend - te) * EXP_ACTIVE_FRACTION
        if p.crackles == "fine":
            # late inspiratory, many, small and high-pitched
            for _ in range(rng.integers(6, 13)):
                tc = ts + ti * rng.uniform(0.5, 0.97)
                _put(x, events, tc, _crackle(rng, FINE_CRACKLE_2CD_S * rng.uniform(0.8, 1.2)), rng.uniform(0.3, 0.6), "crackle", seconds)
        elif p.crackles == "coarse":
            # early inspiratory (and some expiratory), fewer, louder, lower-pitched
            for _ in range(rng.integers(3, 8)):
                tc = ts + ti * rng.uniform(0.02, 0.45)
                _put(x, events, tc, _crackle(rng, COARSE_CRACKLE_2CD_S * rng.uniform(0.8, 1.2)), rng.uniform(0.7, 1.0), "crackle", seconds)
            for _ in range(rng.integers(0, 3)):
                tc = te + tex * rng.uniform(0.05, 0.5)
                _put(x, events, tc, _crackle(rng, COARSE_CRACKLE_2CD_S * rng.uniform(0.8, 1.2)), rng.uniform(0.5, 0.8), "crackle", seconds)
        if p.wheeze:
            # expiratory musical sound, >100 ms (here most of active expiration)
            a = te + tex * rng.uniform(0.05, 0.2)
            b = te + tex * rng.uniform(0.75, 0.95)
            m = int((b - a) * FS)
            f0 = rng.uniform(250, 450)
            y = _tone(rng, m, f0, (1.0, 0.2, 0.02), rng.uniform(-0.15, 0.05)) * _attack_release(m)
            _put(x, events, a, y, 0.35, "wheeze", seconds)
        if p.rhonchi:
            # low, snoring-like continuous sound in expiration and late inspiration
            for a, b in ((ts + 0.4 * ti, te), (te + 0.02 * tex, te + 0.9 * tex)):
                m = int((b - a) * FS)
                if m < int(0.1 * FS):
                    continue
                y = _tone(rng, m, rng.uniform(150, 220), (1.0, 0.5, 0.3, 0.12, 0.04), 0.06)
                am = 0.7 + 0.3 * smooth_env(rng.standard_normal(m), 0.03) / 0.2
                y = y * np.clip(am, 0.2, 1.3) * _attack_release(m, 0.05)
                _put(x, events, a, y, 0.45, "rhonchus", seconds)
        if p.rub:
            # creaky, grating bursts at end-inspiration and early expiration
            for a, b in ((ts + 0.55 * ti, te), (te, te + 0.35 * tex)):
                t = a
                events_added = False
                while t < b:
                    m = int(rng.uniform(0.004, 0.012) * FS)
                    y = bandpass_noise(rng, m, 300, 600, order=4) * np.hanning(m)
                    add_wrap(x, int(round(t * FS)), 1.6 * rng.uniform(0.5, 1.0) * y)
                    if not events_added:
                        events.append((round(t % seconds, 4), "rub"))
                        events_added = True
                    t += rng.uniform(0.012, 0.035)
    events.sort()
    return LungRender(x=x, events=events, cycles=cycles)


def _put(x: np.ndarray, events: list, t: float, y: np.ndarray, gain: float, name: str, seconds: float) -> None:
    add_wrap(x, int(round(t * FS)), gain * y)
    events.append((round(t % seconds, 4), name))
