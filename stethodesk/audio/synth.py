"""StethoDesk's physiological heart and lung sound synthesizer (numpy/scipy only, no Qt).

The simulated stethoscope and the teaching mode play these sounds. Every
preset in :data:`SOUNDS` carries a teaching description and labels in the
vocabulary the training data uses; :func:`render` turns a preset into audio
at any rate from 2 to 48 kHz, deterministically for a given ``seed``.

Example
-------
>>> r = render("aortic_stenosis", seconds=5, samplerate=4000, heart_rate=80)
>>> r.samples.shape, r.labels["lesion"], r.events[:2]
((20000,), 'AS', [(0.xx, 'S1'), ...])

Label vocabulary: the keys and values of ``training/data/record.py`` (LABEL_VALUES), so
rendered sounds can be fed to the same code as real recordings. Heart: ``abnormal``,
``murmur`` "present"/"absent", ``murmur_timing`` "systolic"/"diastolic"/None,
``murmur_timing_detail`` (e.g. "holosystolic", "mid-systolic", "early-diastolic"),
``murmur_shape`` "plateau"/"diamond"/"crescendo"/"decrescendo", ``murmur_grade`` "III/VI" (diastolic "II/IV"),
``murmur_pitch`` "low"/"medium"/"high", ``murmur_quality`` "blowing"/"harsh"/None,
``lesion`` "N"/"AS"/"MR"/"MS"/"MVP" and "AR" (which the encoder's lesion head does not
have), ``s3``, ``s4``, plus ``split_s2`` ("none"/"physiological"/"fixed"), ``click`` and
``site`` (aortic/pulmonic/tricuspid/mitral). Lung: ``abnormal``, ``adventitious``,
``crackle``, ``crackle_type`` "fine"/"coarse"/None, ``wheeze``, ``rhonchi``, ``stridor``,
``pleural_rub``, plus ``breath_sound`` "vesicular"/"bronchial". Both carry ``domain``;
renderings add ``heart_rate_bpm`` and ``resp_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import gcd

import numpy as np
from scipy import signal

from .synth_common import FS, add_wrap, bandpass_noise, lowpass, pink_noise
from .synth_heart import HeartParams, render_heart
from .synth_lung import LungParams, breath_cycles, render_lung
from .synth_presets import PRESETS as _PRESETS
from .synth_presets import SOUNDS, SoundSpec

__all__ = ["SOUNDS", "SoundSpec", "Rendering", "render"]

MIN_SR, MAX_SR = 2000, 48000  # Hz, supported output rates
HR_RANGE = (40.0, 180.0)  # bpm
RR_RANGE = (6.0, 40.0)  # breaths per minute
MAX_SECONDS = 600.0  # 10 min: more is never needed for a demo and would only fill memory
PEAK = 0.5  # output peak, leaves 6 dB headroom for the live gain and filters
OTHER_DB = {"heart": -22.0, "lung": 3.0}  # other organ's level re the main sound's RMS
CONTACT_PER_S = 1 / 8  # stethoscope contact/friction events per second (on average)
ROMAN = ("I", "II", "III", "IV", "V", "VI")
MAX_GRADE = {"systolic": 6, "diastolic": 4}  # Levine I-VI for systolic, I-IV for diastolic murmurs


@dataclass
class Rendering:
    """A rendered sound.

    samples: (round(seconds * samplerate),) float32, peak <= 0.5.
    events: (time_s, event) sorted by time; e.g. "S1", "S2", "S3", "S4", "click",
    "systolic_murmur", "inspiration", "expiration", "crackle", "wheeze", "rub".
    """

    samples: np.ndarray
    samplerate: int
    domain: str
    labels: dict
    events: list[tuple[float, str]]




def _check(name: str, seconds: float, samplerate: int, heart_rate: float, resp_rate: float) -> None:
    if name not in _PRESETS:
        raise ValueError(f"Unknown synthetic sound {name!r}. Choose one of: {', '.join(SOUNDS)}.")
    if not (0 < seconds <= MAX_SECONDS):
        raise ValueError(f"Length must be between 0 and {MAX_SECONDS:.0f} seconds (got {seconds}).")
    if not (MIN_SR <= int(samplerate) <= MAX_SR):
        raise ValueError(f"Sample rate must be {MIN_SR}-{MAX_SR} Hz (got {samplerate}).")
    if not (HR_RANGE[0] <= heart_rate <= HR_RANGE[1]):
        raise ValueError(f"Heart rate must be {HR_RANGE[0]:.0f}-{HR_RANGE[1]:.0f} bpm (got {heart_rate}).")
    if not (RR_RANGE[0] <= resp_rate <= RR_RANGE[1]):
        raise ValueError(f"Breathing rate must be {RR_RANGE[0]:.0f}-{RR_RANGE[1]:.0f} /min (got {resp_rate}).")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) or 1.0


def _contact_noise(rng: np.random.Generator, n: int, level: float, seconds: float) -> np.ndarray:
    """Sparse stethoscope handling noise: low thumps and brief friction scratches."""
    out = np.zeros(n)
    for _ in range(rng.poisson(seconds * CONTACT_PER_S)):
        m = int(rng.uniform(0.05, 0.25) * FS)
        if rng.random() < 0.6:  # thump: chest piece pressure change, < 60 Hz
            y = lowpass(rng.standard_normal(m), 60, order=2)
        else:  # friction of skin/hair/clothing on the diaphragm: broadband scratch
            y = bandpass_noise(rng, m, 150, 1000, order=2)
        y = y * np.hanning(m)
        add_wrap(out, int(rng.integers(0, max(n, 1))), level * y / (np.max(np.abs(y)) or 1.0))
    return out


def _to_rate(x: np.ndarray, sr: int, n_out: int) -> np.ndarray:
    """Resample the periodic signal x from FS to ``sr`` (polyphase, anti-aliased, circular:
    the filter sees the wrapped-round signal at both ends) and fix the length to ``n_out``."""
    if sr != FS:
        g = gcd(int(sr), FS)
        up, down = int(sr) // g, FS // g
        k = down * int(np.ceil(256 / down))  # input samples of wrap padding, a multiple of down
        k = min(k, down * (x.size // down)) if x.size >= down else 0
        xp = np.concatenate([x[x.size - k :], x, x[:k]]) if k else x
        y = signal.resample_poly(xp, up, down)
        k_out = k * up // down
        x = y[k_out : k_out + n_out]
    if x.size < n_out:
        x = np.concatenate([x, np.zeros(n_out - x.size)])
    return x[:n_out]


def render(
    name: str,
    seconds: float = 10.0,
    samplerate: int = 4000,
    heart_rate: float = 72.0,
    resp_rate: float = 16.0,
    noise_db: float | None = -30.0,
    seed: int = 0,
    *,
    grade: int | None = None,
    mix_other: bool = True,
    other_db: float | None = None,
    contact_noise: bool = True,
    noise_color: str = "pink",
) -> Rendering:
    """Render the preset ``name``.

    Parameters
    ----------
    name : a key of :data:`SOUNDS`.
    seconds : length, 0 < seconds <= 600.
    samplerate : output rate in Hz, 2000-48000.
    heart_rate : bpm (40-180); also the rate of the heart sounds bleeding into lung presets.
        The rendering holds a whole number of beats so that it loops without a seam: the
        realised rate (``labels["heart_rate_bpm"]``) is within half a beat per rendering.
    resp_rate : breaths per minute (6-40); also modulates S2 splitting and heart-rate variability.
        Also a whole number of breaths (``labels["resp_rate"]``).
    noise_db : background noise level in dB re the clean sound's RMS; None for none.
    seed : same seed and arguments give bit-identical output.
    grade : murmur grade overriding the preset's (murmur presets only): 1-6 systolic, 1-4 diastolic.
    mix_other : add the other organ's sound (breathing under heart presets, heart under lung).
    other_db : its level in dB re the main sound's RMS (default -22 dB under heart, +3 dB under lung: in real lung
        recordings most of the energy below 100 Hz is heart sound, see docs/synth.md).
    contact_noise : add sparse stethoscope handling thumps and scratches.
    noise_color : "pink" or "white".

    Returns
    -------
    Rendering with samples of shape (round(seconds * samplerate),), float32, peak 0.5;
    ``np.tile(samples, k)`` plays on seamlessly (the simulated stethoscope loops it).
    """
    _check(name, seconds, samplerate, heart_rate, resp_rate)
    if noise_color not in ("pink", "white"):
        raise ValueError(f"noise_color must be 'pink' or 'white' (got {noise_color!r}).")
    spec, params = _PRESETS[name]
    # a whole number of beats and breaths tiles the rendering so it loops seamlessly: the realised
    # rates (in the labels) differ from the requested ones by at most half a cycle per rendering
    beats = max(1, int(round(seconds * heart_rate / 60.0)))
    breaths = max(1, int(round(seconds * resp_rate / 60.0)))
    labels = dict(spec.labels, heart_rate_bpm=round(60.0 * beats / seconds, 2),
                  resp_rate=round(60.0 * breaths / seconds, 2))
    rng = np.random.default_rng([int(seed), list(_PRESETS).index(name)])
    n = int(round(seconds * FS))
    if grade is not None:
        if not getattr(params, "murmurs", ()):
            raise ValueError(f"{name!r} has no murmur, so it has no grade to set.")
        top = MAX_GRADE[params.murmurs[0].phase]
        if not 1 <= int(grade) <= top:
            raise ValueError(f"Murmur grade must be 1-{top} for this {params.murmurs[0].phase} murmur (got {grade}).")
        params = replace(params, murmurs=tuple(replace(m, grade=int(grade)) for m in params.murmurs))
        labels["murmur_grade"] = f"{ROMAN[int(grade) - 1]}/{'VI' if top == 6 else 'IV'}"
    # one breathing pattern drives the breath sounds, the heart-rate variability and S2 splitting
    cycles = breath_cycles(rng, seconds, resp_rate)
    if spec.domain == "heart":
        main = render_heart(rng, seconds, heart_rate, resp_rate, params, cycles)
        other = render_lung(rng, seconds, resp_rate, LungParams(), cycles).x if mix_other else None
        # breathing phases help to hear a split S2 widen in inspiration
        for ts, te, _ in cycles:
            main.events += [(round(ts % seconds, 4), "inspiration"), (round(te % seconds, 4), "expiration")]
        main.events.sort()
    else:
        main = render_lung(rng, seconds, resp_rate, params, cycles)
        # heart sounds reach the lung fields low-passed by the chest wall
        other = (lowpass(render_heart(rng, seconds, heart_rate, resp_rate, HeartParams(), cycles).x, 120)
                 if mix_other else None)
    x = main.x.copy()
    ref = _rms(x)
    if other is not None:
        db = OTHER_DB[spec.domain] if other_db is None else float(other_db)
        x += other * (ref * 10 ** (db / 20) / _rms(other))
    if contact_noise:
        x += _contact_noise(rng, n, 2.0 * ref, seconds)
    if noise_db is not None and np.isfinite(noise_db):
        nz = pink_noise(rng, n) if noise_color == "pink" else rng.standard_normal(n)
        x += nz * ref * 10 ** (noise_db / 20)
    n_out = int(round(seconds * samplerate))
    y = _to_rate(x, int(samplerate), n_out)
    y *= PEAK / (np.max(np.abs(y)) or 1.0)
    return Rendering(samples=y.astype(np.float32), samplerate=int(samplerate), domain=spec.domain,
                     labels=labels, events=[(round(float(t), 4), e) for t, e in main.events])
