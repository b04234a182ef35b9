"""Signal processing for auscultation: stethoscope filters, envelope, heart rate, quality.

No Qt here; everything is plain numpy/scipy on mono float32 arrays so the live
view, the recorder, the CLI and the model frontend share one implementation.
Gain is not applied here: the caller multiplies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stethodesk.audio.body_sound import (
    MODULATION_Z, body_sound_evidence, body_sound_modulation, modulation_z, no_body_sound_reason,
)
from stethodesk.audio.filters import (
    ENV_BAND, ENV_SMOOTH_S, ENV_SR, ENV_WORK_SR, FILTER_BANDS, FILTER_MODES, FILTER_ORDER, NYQUIST_MARGIN,
    LONG_BLOCK, StreamingFilter, apply_filter, envelope, filter_sos, resample,
)
from stethodesk.audio.dropouts import CROSSFADE_S, DROPOUT_MAX_S, coarse_note, cut_dropouts, dropout_note
from stethodesk.audio.heart_rate import HR_MAX_BPM, HR_MIN_BPM, HR_MIN_PEAK, HR_MIN_SECONDS, heart_rate_bpm
from stethodesk.audio.limits import MIN_SECONDS, short_seconds
from stethodesk.audio.noise_share import NOISE_RATIO, high_band_share, judge_noise, noisy_spans
from stethodesk.audio.resolution import coarse_reason

# The app's names for the filters, the heart rate and the body-sound test stay dsp.* (they live in
# filters.py, heart_rate.py and body_sound.py since dsp.py passed 400 lines).
__all__ = [
    "ENV_BAND", "ENV_SMOOTH_S", "ENV_SR", "ENV_WORK_SR", "FILTER_BANDS", "FILTER_MODES", "FILTER_ORDER",
    "NOISE_RATIO", "high_band_share", "judge_noise", "noisy_spans",
    "HR_MAX_BPM", "HR_MIN_BPM", "HR_MIN_PEAK", "HR_MIN_SECONDS", "NYQUIST_MARGIN", "Quality", "StreamingFilter",
    "HEAVY_CLIP_FRACTION", "MODULATION_Z", "NORM_RMS", "ac_rms", "apply_filter", "body_sound_evidence",
    "body_sound_modulation", "clipped_fraction", "drop_silence", "envelope", "filter_sos", "heart_rate_bpm",
    "input_quality",
    "is_flat", "modulation_z", "no_body_sound_reason", "noted", "noted_silence", "resample", "signal_quality", "silence_note",
]

# --- quality ----------------------------------------------------------------------------
# Flat is nothing at all: constant, or DC only, to float32 rounding of the peak (FLAT_EPS). A sound
# that moves by only a few steps of its file's format is coming in, but is too coarse to analyse:
# :mod:`stethodesk.audio.resolution` says so in its own words (issue 11 item 3, re-test F5), while
# a float file 100 dB down still holds a recording.
FLAT_EPS = 8 * float(np.finfo(np.float32).eps)
FLAT_PROBE = 1 << 20  # samples the DC level is first taken from (the first ~2 min at 8 kHz)
NO_CONTACT_RMS = 10 ** (-50 / 20)  # below -50 dBFS in the body-sound band, the level alone cannot
# tell a quiet stethoscope from one off the skin: the content decides (:func:`no_body_sound_reason`):
# quiet with a body sound is "quiet" (usable), quiet without one "no_contact"
NORM_RMS = 0.1  # the content checks and the encoder get the sound at this RMS: level-free findings
# Clipping is judged by flat runs at the signal's own extreme, not by |x| against 1.0: a float
# file may exceed 1.0 (or carry a DC offset) without anything clipped, while a converter or an
# integer format at its limit holds the same value for several samples in a row.
# A flattened peak: this many equal samples in a row at the extreme, at least 3 and at least
# 0.2 ms (a 20 Hz tone at exactly 16-bit full scale repeats its peak for up to 5 samples at 48 kHz,
# while even 10 % overdrive holds a 100 Hz heart sound flat for 66 samples there, 5.5 at 4 kHz).
CLIP_RUN = 3
CLIP_RUN_S = 0.0002
CLIP_MIN_LEVEL = 0.5  # extremes below -6 dBFS are a quiet signal's quantisation steps, not clipping
CLIP_FRACTION = 0.001  # > 0.1% clipped samples is audible distortion
HEAVY_CLIP_FRACTION = 0.02  # > 2 % held flat at the peak: S1/S2 flattened, the recording is refused
# Digital silence inside a recording (a device that stopped sending, zero-padding, a muted stretch) is
# no sound to analyse: stretches of at least SILENT_RUN_S made of SILENT_FRAME_S frames held at one
# value are left out and said so (issue 11 item 3, re-test F9). Exactly one value: a real quiet
# recording always moves by a quantisation step or more within 50 ms.
SILENT_FRAME_S = 0.05
SILENT_RUN_S = 0.5
DOMAINS = ("heart", "lung")
# Body sounds live below ~1 kHz (heart) / ~2 kHz (lung): energy above is hiss, talk, rubbing.
NOISE_SPLIT_HZ = {"heart": 600.0, "lung": 1500.0}
QUALITY_SR = 8000  # Hz: contact/noise/periodicity are judged at this rate at most (body band < 2 kHz)

# --- quality -------------------------------------------------------------------------------------
QUALITY_LEVELS = ("good", "fair", "poor")


@dataclass
class Quality:
    """Signal quality of a stretch of auscultation audio.

    ``level`` is "good", "fair" or "poor"; ``score`` 0..1 (1 = clean);
    ``issues`` a subset of {"flat", "too_quiet", "no_contact", "no_body_sound", "quiet", "clipping", "noise",
    "too_short", "silent_part", "dropouts", "hum"} ("flat": nothing comes in - constant or DC only,
    check the cable; "too_quiet": something comes in but in a few steps of its format, unusable,
    raise the gain; "quiet": low level but a real body sound, usable; "no_body_sound":
    only a tone, hum or steady noise, or a generated signal of a few exact values, unusable;
    "silent_part": digital silence was left out, added by :func:`noted_silence`; "dropouts": short
    runs of exact zeros inside the sound were cut out before judging, :mod:`stethodesk.audio.dropouts`;
    "hum": a tone louder than the body sound was filtered out before analysis, :mod:`stethodesk.audio.hum`);
    ``reason`` one plain-words sentence for the user;
    ``heart_rate_bpm`` the rate the check found (heart, usable contact and at least ``MIN_SECONDS``),
    which is the rate to show: the reason "no regular heartbeat" and a shown rate then never meet.
    """

    level: str
    score: float
    issues: list[str] = field(default_factory=list)
    reason: str = ""
    heart_rate_bpm: float | None = None


def ac_rms(x: np.ndarray) -> float:
    """RMS of ``x`` (shape ``(n,)``) about its mean, summed in :data:`FLAT_PROBE` blocks in float64
    (no copy of a 30-min recording); 0.0 when empty."""
    x = np.asarray(x).reshape(-1)
    if x.size == 0:
        return 0.0
    shift = float(np.mean(x[:FLAT_PROBE], dtype=np.float64))
    total = total2 = 0.0
    for a in range(0, x.size, FLAT_PROBE):
        b = np.asarray(x[a : a + FLAT_PROBE], dtype=np.float64) - shift
        total, total2 = total + float(np.sum(b)), total2 + float(np.dot(b, b))
    return float(np.sqrt(max(0.0, total2 / x.size - (total / x.size) ** 2)))


def is_flat(x: np.ndarray) -> bool:
    """Whether ``x`` (shape ``(n,)``) holds nothing: empty, constant, or DC only (its AC part's RMS
    within float32 rounding of its peak, :data:`FLAT_EPS`). Scale-free: a real recording scaled by
    1e-5 in a float file is not flat, nor is a 16-bit file whose last bit moves (that one is too
    coarse to analyse, :func:`stethodesk.audio.resolution.coarse_reason`)."""
    x = np.asarray(x).reshape(-1)
    if x.size == 0:
        return True
    peak = max(abs(float(np.max(x[:FLAT_PROBE]))), abs(float(np.min(x[:FLAT_PROBE]))))
    return not ac_rms(x) > FLAT_EPS * peak


FLAT_REASON = ("The signal is flat: nothing is coming in. Check that the stethoscope is plugged in and the "
               "input is not muted.")


def input_quality(x: np.ndarray, grid: np.ndarray | None = None) -> Quality | None:
    """The "poor" :class:`Quality` of ``x`` (shape ``(n,)``) when its sample values alone rule it out,
    else None: "flat" (:func:`is_flat`: nothing comes in) or, from
    :func:`stethodesk.audio.resolution.coarse_reason`, "too_quiet" (AC RMS under one step of its
    format) or "no_body_sound" (a few exact values). ``grid``: the samples whose value grid is
    measured (default ``x``). Meant for the samples as read, at the file's own rate, before any
    resampling, silence cut or filter: a DC step at a file's edges through a resampler is a
    transient that passed for a heart at 179 bpm (16-48 kHz), and a heart under one step of its
    24-bit format, its zeros cut out as silence, read "quiet but clearly there" (re-test 8)."""
    if is_flat(x):  # constant or DC only: a float file 100 dB down is not flat
        return Quality("poor", 0.0, ["flat"], FLAT_REASON)
    coarse = coarse_reason(x if grid is None else grid, ac_rms(x))
    if coarse is not None:  # something comes in, in a few steps of its format or a few values: no rate
        return Quality("poor", 0.05, [coarse[0]], coarse[1])
    return None


def drop_silence(x: np.ndarray, sr: int, in_place: bool = False) -> tuple[np.ndarray, float]:
    """``x`` (shape ``(n,)``, rate ``sr`` Hz) without its stretches of digital silence (frames of
    :data:`SILENT_FRAME_S` held at one value, in runs of at least :data:`SILENT_RUN_S`), and the
    seconds left out. A recording that is silent throughout comes back whole (0.0 s left out): the
    quality check calls it flat. ``in_place`` (``x`` writable; its contents are then lost): the
    kept samples are moved to the front of ``x`` and a view of them returned, no second copy."""
    frame = max(1, int(SILENT_FRAME_S * sr))
    n = x.size // frame
    need = max(1, round(SILENT_RUN_S / SILENT_FRAME_S))
    if n < need:
        return x, 0.0
    frames = x[: n * frame].reshape(n, frame)
    held = frames.max(axis=1) == frames.min(axis=1)
    if not held.any():
        return x, 0.0
    if x.size > n * frame:  # the last partial frame goes with the last frame
        tail = x[n * frame :]
        held_tail = bool(held[-1] and np.all(tail == frames[-1, 0]))
    else:
        held_tail = False
    edges = np.flatnonzero(np.diff(np.concatenate(([0], held.view(np.int8), [0]))))
    silent = np.zeros(n, bool)
    for a, b in zip(edges[::2], edges[1::2]):
        # exact zeros shorter than DROPOUT_MAX_S are a dropout (cut and counted by the dropout check)
        if b - a >= need and not (frames[a, 0] == 0 and (b - a) * SILENT_FRAME_S < DROPOUT_MAX_S):
            silent[a:b] = True
    if not silent.any() or silent.all():
        return x, 0.0
    # the kept runs joined (no sample mask the length of the recording: 30 min at 48 kHz is 86 MB)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], (~silent).view(np.int8), [0]))))
    runs = [(a * frame, b * frame) for a, b in zip(edges[::2], edges[1::2])]
    if x.size > n * frame and not (held_tail and silent[-1]):
        runs.append((n * frame, x.size))
    if not in_place:
        kept = np.concatenate([x[a:b] for a, b in runs]) if runs else x[:0].copy()
        return kept, (x.size - kept.size) / sr
    pos = 0
    for a, b in runs:  # forward, block by block: each block moves to where nothing unread lies
        for s in range(a, b, LONG_BLOCK):
            e = min(b, s + LONG_BLOCK)
            x[pos + s - a : pos + e - a] = x[s:e]
        pos += b - a
    return x[:pos], (x.size - pos) / sr


def silence_note(silent_s: float, kept_s: float) -> str:
    """"83% of the recording (23.8 of 28.8 s) is silent, with no signal at all; 5.0 s hold sound"."""
    total = silent_s + kept_s
    return (f"{silent_s / total:.0%} of the recording ({silent_s:.1f} of {total:.1f} s) is silent, with no "
            f"signal at all; {kept_s:.1f} s hold sound")


def noted(q: Quality, note: str, issue: str) -> Quality:
    """``q`` with ``note`` (one clause, said first) and ``issue`` added: the level at most "fair",
    the score at most 0.7, the heart rate kept. What the app did to the sound before judging it
    (:func:`noted_silence`, :func:`stethodesk.audio.hum.noted_hum`)."""
    reason = note + "." if not q.issues else note + "; " + q.reason[0].lower() + q.reason[1:]
    level = "fair" if q.level == "good" else q.level
    return Quality(level, min(q.score, 0.7), q.issues + [issue], reason, q.heart_rate_bpm)


def noted_silence(q: Quality, silent_s: float, kept_s: float) -> Quality:
    """``q`` with the note that ``silent_s`` seconds of digital silence were left out and only
    ``kept_s`` seconds analysed (issue "silent_part"; the level is at most "fair")."""
    if silent_s <= 0:
        return q
    return noted(q, silence_note(silent_s, kept_s) + "; only these were analysed", "silent_part")


def clipped_fraction(x: np.ndarray, sr: int) -> float:
    """Fraction of ``x`` (shape ``(n,)``, rate ``sr`` Hz) in flat runs of equal samples at the
    signal's own maximum or minimum (runs of at least :data:`CLIP_RUN` samples and
    :data:`CLIP_RUN_S`), where that extreme is at least :data:`CLIP_MIN_LEVEL`.

    Whatever the format: int16 held at 32767, a float file held at 1.0 by the converter before it,
    or a clipped recording turned down later all sit flat at their extreme; a float file above
    1.0 with a DC offset whose peaks are round is not clipped (issue 11 item 3).
    """
    x = np.asarray(x).reshape(-1)
    run = max(CLIP_RUN, round(CLIP_RUN_S * sr))
    if x.size < run:
        return 0.0
    held = 0
    for extreme in {float(x.max()), float(x.min())}:
        if abs(extreme) >= CLIP_MIN_LEVEL:
            held += _held_runs(x, extreme, run)
    return held / x.size


def _held_runs(x: np.ndarray, value: float, run: int) -> int:
    """Samples of ``x`` (shape ``(n,)``) in runs of at least ``run`` equal to ``value``, found in
    :data:`LONG_BLOCK` blocks (a run crossing a block's end is carried into the next)."""
    held = carry = 0
    for a in range(0, x.size, LONG_BLOCK):
        eq = x[a : a + LONG_BLOCK] == value
        edges = np.flatnonzero(np.diff(np.concatenate(([0], eq.view(np.int8), [0]))))
        runs = edges[1::2] - edges[::2]
        if runs.size and edges[0] == 0:
            runs[0] += carry  # the run from the block before goes on
        elif carry >= run:
            held += carry
        carry = 0
        if runs.size and edges[-1] == eq.size:  # goes on into the next block
            carry, runs = int(runs[-1]), runs[:-1]
        held += int(runs[runs >= run].sum())
    return held + (carry if carry >= run else 0)


def signal_quality(x: np.ndarray, sr: int, domain: str = "heart") -> Quality:
    """Judge whether ``x`` (shape ``(n,)``, float; may exceed 1 for float files) is usable
    auscultation audio. Raises ValueError for a domain other than "heart" or "lung"."""
    if domain not in DOMAINS:
        raise ValueError("domain must be 'heart' or 'lung'")
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    whole, whole_sr = x, sr  # the heart rate keeps the dropouts' time (it leaves them out itself)
    x, dropouts = cut_dropouts(x, sr)
    seconds = x.size / sr if sr else 0.0
    issues: list[str] = []
    reasons: list[str] = []
    score = 1.0
    rate = None

    first = input_quality(x, whole)  # the grid of the samples as read (a cut's crossfade is off it)
    if first is not None:
        return first
    if seconds < MIN_SECONDS:
        issues.append("too_short")
        reasons.append(f"only {short_seconds(seconds)} s of sound; at least {MIN_SECONDS:g} s is needed")
        score -= 0.5

    clipped = clipped_fraction(x, sr)
    if clipped > CLIP_FRACTION:
        issues.append("clipping")
        reasons.append(f"the sound is too loud and clipped ({clipped:.1%} of samples); lower the gain")
        score -= min(0.5, 0.1 + 20 * clipped)
        if clipped > HEAVY_CLIP_FRACTION:  # refused by the engine: the level says so too
            score = min(score, 0.3)

    # Body sounds lie below 2 kHz: judge contact and noise at <= 8 kHz, which makes a 10 s
    # window of 48 kHz input ~6x cheaper (the live view calls this about once a second).
    if sr > QUALITY_SR:
        x, sr = resample(x, sr, QUALITY_SR), QUALITY_SR
    body_band = apply_filter(x, sr, "wide" if domain == "lung" else "bell")
    body_rms = float(np.sqrt(np.mean(np.square(body_band, dtype=np.float64))))
    del body_band
    # from here on the level plays no part: content checks and heart rate see the sound at NORM_RMS
    # (a real recording 100 dB down gets the findings of the loud one, issue 11 item 3)
    gain = NORM_RMS / max(ac_rms(x), 1e-300)
    x = (x * gain).astype(np.float32)
    nothing = no_body_sound_reason(x, sr, domain)
    if body_rms < NO_CONTACT_RMS and nothing is None:
        issues.append("quiet")
        reasons.append(f"the sound is quiet ({20 * np.log10(max(body_rms, 1e-300)):.0f} dBFS in the body-sound "
                       "band) but clearly there; raising the gain would help")
        score -= 0.1
    if body_rms < NO_CONTACT_RMS and nothing is not None:
        issues.append("no_contact")
        reasons.append(
            "almost no body sound; the chest piece may not be touching the skin or the gain is too low"
        )
        score -= 0.7  # unusable: nothing to analyse
    elif nothing is not None:
        issues.append("no_body_sound")
        reasons.append(nothing)
        score -= 0.7  # unusable: nothing to analyse
    else:
        split = NOISE_SPLIT_HZ[domain]
        ratio, noisy, noise_what = judge_noise(x, sr, split)
        periodic = None
        if domain == "heart" and seconds >= MIN_SECONDS:  # never from the noisy seconds (re-test F7),
            if noisy.all():  # unless all are: then the reason names the noise beside any rate found
                noisy = np.zeros_like(noisy)
            if dropouts.size:
                out = noisy_spans(noisy, whole_sr, dropouts, round(CROSSFADE_S * whole_sr), seconds)
                rate = heart_rate_bpm(whole, whole_sr, leave_out=out)
            else:
                rate = heart_rate_bpm(x, sr, leave_out=noisy_spans(noisy, sr, seconds=seconds))
            periodic = rate is not None
        if noise_what is not None or periodic is False:
            issues.append("noise")
            if noise_what is None:
                reasons.append("no regular heartbeat stands out from the background noise")
            else:
                reasons.append(noise_what)
            score -= 0.3 + 0.3 * min(1.0, max(0.0, ratio - NOISE_RATIO) * 2)

    if dropouts.size:  # said first: it explains any pause the user hears, and it is never the sound's fault
        issues.insert(0, "dropouts")
        reasons.insert(0, dropout_note(dropouts, whole_sr))
        score = min(score, 0.7)
    score = float(np.clip(score, 0.0, 1.0))
    level = "good" if score >= 0.75 else ("fair" if score >= 0.4 else "poor")
    if issues and level == "good":
        level = "fair"  # any named problem is worth the user's attention
    if not issues:
        reason = "Clear signal."
    else:
        reason = "; ".join(reasons)
        reason = reason[0].upper() + reason[1:] + "."
    caveat = "" if dropouts.size else coarse_note(whole, whole_sr)
    if caveat:  # what the check could not look for is said, without lowering the level (re-test F6)
        reason += f" Note: {caveat}."
    return Quality(level, score, issues, reason, rate)
