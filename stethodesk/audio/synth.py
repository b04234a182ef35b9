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

from dataclasses import dataclass, field, replace
from math import gcd

import numpy as np
from scipy import signal

from .synth_common import FS, add_wrap, bandpass_noise, lowpass, pink_noise
from .synth_heart import HeartParams, Murmur, render_heart
from .synth_lung import LungParams, breath_cycles, render_lung

MIN_SR, MAX_SR = 2000, 48000  # Hz, supported output rates
HR_RANGE = (40.0, 180.0)  # bpm
RR_RANGE = (6.0, 40.0)  # breaths per minute
MAX_SECONDS = 600.0  # 10 min: more is never needed for a demo and would only fill memory
PEAK = 0.5  # output peak, leaves 6 dB headroom for the live gain and filters
OTHER_DB = {"heart": -22.0, "lung": 3.0}  # other organ's level re the main sound's RMS
CONTACT_PER_S = 1 / 8  # stethoscope contact/friction events per second (on average)
ROMAN = ("I", "II", "III", "IV", "V", "VI")
MAX_GRADE = {"systolic": 6, "diastolic": 4}  # Levine I-VI for systolic, I-IV for diastolic murmurs


@dataclass(frozen=True)
class SoundSpec:
    """One catalogue entry: what it is, how to listen to it, and its labels."""

    name: str
    domain: str  # "heart" | "lung"
    title: str
    description: str
    labels: dict = field(default_factory=dict)


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


def _heart_labels(**kw) -> dict:
    base = dict(domain="heart", abnormal=False, murmur="absent", murmur_timing=None,
                murmur_timing_detail=None, murmur_shape=None, murmur_grade=None,
                murmur_pitch=None, murmur_quality=None, lesion="N", s3=False, s4=False,
                split_s2="none", click=False, site="mitral")
    base.update(kw)
    return base


def _lung_labels(**kw) -> dict:
    base = dict(domain="lung", abnormal=False, adventitious=False, crackle=False, crackle_type=None,
                wheeze=False, rhonchi=False, stridor=False, pleural_rub=False, breath_sound="vesicular")
    base.update(kw)
    base["adventitious"] = bool(base["crackle"] or base["wheeze"] or base["rhonchi"] or base["pleural_rub"])
    return base


_PRESETS: dict[str, tuple[SoundSpec, object]] = {}


def _add(name: str, domain: str, title: str, description: str, labels: dict, params: object) -> None:
    _PRESETS[name] = (SoundSpec(name, domain, title, description, labels), params)


_add("normal_heart", "heart", "Normal heart sounds (S1, S2)",
     "Two sounds per beat: S1 ('lub', lower, longer, loudest at the apex) at the start of systole and "
     "S2 ('dub', shorter, higher, loudest at the base) at its end. Systole is shorter than diastole; "
     "the rate varies slightly with breathing. Listen at all four areas with the diaphragm.",
     _heart_labels(), HeartParams())
_add("split_s2", "heart", "Physiological split S2",
     "S2 splits into A2 then P2 during inspiration (gap up to ~60 ms) and becomes single in "
     "expiration. Best heard at the pulmonary area (2nd left intercostal space) with the diaphragm; "
     "normal in children and young adults.",
     _heart_labels(split_s2="physiological", site="pulmonic"), HeartParams(split="physiological"))
_add("fixed_split_s2", "heart", "Wide fixed split S2",
     "A2 and P2 ~65 ms apart in both inspiration and expiration: the split does not change with "
     "breathing. Pulmonary area. Suggests an atrial septal defect.",
     _heart_labels(abnormal=True, split_s2="fixed", site="pulmonic"), HeartParams(split="fixed"))
_add("s3_gallop", "heart", "S3 gallop",
     "A dull, low extra sound ~150 ms after S2 in early diastole ('Ken-tuck-y'). Best heard at the "
     "apex with the bell, patient in left lateral decubitus. Normal in the young, a sign of "
     "ventricular volume overload or heart failure in older adults.",
     _heart_labels(abnormal=True, s3=True), HeartParams(s3=True))
_add("s4_gallop", "heart", "S4 gallop",
     "A low soft sound just before S1 ('Ten-nes-see'), from atrial contraction into a stiff "
     "ventricle. Apex, bell, left lateral decubitus. Hypertension, aortic stenosis, ischaemia.",
     _heart_labels(abnormal=True, s4=True), HeartParams(s4=True))
_add("aortic_stenosis", "heart", "Aortic stenosis (ejection murmur)",
     "Harsh crescendo-decrescendo (diamond) murmur in mid-systole, starting after S1 and ending "
     "before S2, S2 soft. Loudest at the aortic area (2nd right intercostal space), radiating to "
     "the carotids; diaphragm, patient leaning forward.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="systolic",
                   murmur_timing_detail="mid-systolic", murmur_shape="diamond", murmur_grade="III/VI",
                   murmur_pitch="medium", murmur_quality="harsh", lesion="AS", site="aortic"),
     HeartParams(s1_gain=0.8, s2_gain=0.5, murmurs=(Murmur("systolic", "diamond", (80, 280), 3, 0.12, 0.85, 0.6),)))
_add("mitral_regurgitation", "heart", "Mitral regurgitation (holosystolic murmur)",
     "Blowing, high-pitched murmur of even loudness (plateau) filling all of systole from S1 to S2. "
     "Loudest at the apex, radiating to the left axilla; diaphragm.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="systolic",
                   murmur_timing_detail="holosystolic", murmur_shape="plateau", murmur_grade="III/VI",
                   murmur_pitch="high", murmur_quality="blowing", lesion="MR", site="mitral"),
     HeartParams(s1_gain=0.75, murmurs=(Murmur("systolic", "plateau", (90, 220), 3, 0.0, 1.0, 0.1),)))
_add("aortic_regurgitation", "heart", "Aortic regurgitation (early diastolic murmur)",
     "Soft, high-pitched, blowing decrescendo murmur starting right after S2. Easy to miss: "
     "listen at the left sternal border (3rd-4th space, Erb's point) with the diaphragm, patient "
     "sitting up, leaning forward, breath held in expiration.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="diastolic",
                   murmur_timing_detail="early-diastolic", murmur_shape="decrescendo",
                   murmur_grade="III/IV", murmur_pitch="high", murmur_quality="blowing", lesion="AR",
                   site="aortic"),
     HeartParams(murmurs=(Murmur("diastolic", "decrescendo", (120, 500), 3, 0.0, 0.8, 0.0),)))
_add("mitral_stenosis", "heart", "Mitral stenosis (diastolic rumble)",
     "Loud S1, an opening snap shortly after S2, then a low rumbling mid-diastolic murmur that "
     "fades and swells again just before S1 (presystolic accentuation). Apex, bell, patient in "
     "left lateral decubitus; easily missed with the diaphragm.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="diastolic",
                   murmur_timing_detail="mid-diastolic", murmur_shape="decrescendo",
                   murmur_grade="III/IV", murmur_pitch="low", murmur_quality=None, lesion="MS"),
     HeartParams(s1_gain=1.3, opening_snap=True,
                 murmurs=(Murmur("diastolic", "rumble", (70, 180), 3, 0.18, 1.0, 0.4),)))
_add("mvp_click_murmur", "heart", "Mitral valve prolapse (click and late systolic murmur)",
     "A sharp mid-systolic click followed by a crescendo murmur to S2. Apex, diaphragm; standing "
     "makes the click earlier and the murmur longer, squatting the reverse.",
     _heart_labels(abnormal=True, murmur="present", murmur_timing="systolic",
                   murmur_timing_detail="late-systolic", murmur_shape="crescendo", murmur_grade="II/VI",
                   murmur_pitch="high", murmur_quality="blowing", lesion="MVP", click=True),
     HeartParams(click=True, murmurs=(Murmur("systolic", "crescendo", (120, 400), 2, 0.5, 1.0, 0.1),)))
_add("normal_lung", "lung", "Normal vesicular breath sounds",
     "Soft, low-pitched rustling heard through all of inspiration and only the first part of "
     "expiration (I:E about 1:2 in time, expiration quieter). Heard over most of the lung fields; "
     "diaphragm, patient breathing through the mouth.",
     _lung_labels(), LungParams())
_add("bronchial_breathing", "lung", "Bronchial breath sounds",
     "Loud, hollow, higher-pitched sound with expiration as loud and long as inspiration and a "
     "short gap between them. Normal over the trachea; over the lung fields it means consolidation.",
     _lung_labels(abnormal=True, breath_sound="bronchial"), LungParams(breath="bronchial"))
_add("fine_crackles", "lung", "Fine crackles (late inspiratory)",
     "Many brief (~5 ms), soft, high-pitched pops in the second half of inspiration, like hair "
     "rubbed between fingers; they do not clear with coughing. Lung bases. Pulmonary fibrosis, "
     "early heart failure.",
     _lung_labels(abnormal=True, crackle=True, crackle_type="fine"), LungParams(crackles="fine"))
_add("coarse_crackles", "lung", "Coarse crackles (early inspiratory)",
     "Fewer, louder, lower-pitched and longer (~15 ms) pops early in inspiration, sometimes in "
     "expiration; may change after coughing. Bronchiectasis, COPD, pneumonia.",
     _lung_labels(abnormal=True, crackle=True, crackle_type="coarse"), LungParams(crackles="coarse"))
_add("wheeze", "lung", "Expiratory wheeze",
     "A continuous musical whistle (here ~300-500 Hz with harmonics) lasting most of expiration. "
     "Over the whole chest and at the mouth. Asthma, COPD.",
     _lung_labels(abnormal=True, wheeze=True), LungParams(wheeze=True))
_add("rhonchi", "lung", "Rhonchi",
     "Low-pitched (~150-220 Hz), snoring continuous sound, mostly in expiration, over the large "
     "airways; often changes or clears after coughing. Secretions in bronchi.",
     _lung_labels(abnormal=True, rhonchi=True), LungParams(rhonchi=True))
_add("pleural_rub", "lung", "Pleural friction rub",
     "Creaky, grating, leather-like bursts at the end of inspiration and the start of expiration, "
     "close to the ear, unchanged by coughing. Lower lateral chest. Pleurisy.",
     _lung_labels(abnormal=True, pleural_rub=True), LungParams(rub=True))

SOUNDS: dict[str, SoundSpec] = {k: v[0] for k, v in _PRESETS.items()}


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
