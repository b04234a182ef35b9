"""Synthetic artifact windows: what a stethoscope records when no usable body sound is in it.

Issue 9 item 8: the poor-quality head must learn what is *not* a heart or lung sound. The share's
poor-quality labels (PhysioNet 2016 signal quality, PASCAL "noisy", SPRSound "Poor Quality") are
few and mostly noisy body sounds; this module adds artifacts rendered as audio and converted with
the app's own frontend (``recording_features``), so they reach the encoder exactly as a recorded
file would:

- ``speech``: a talking-like source - a glottal pulse train (f0 100-250 Hz, drifting intonation
  and jitter) through three formant resonators that move per syllable, gated at a syllable rate
  of 3-6 Hz with pauses, plus unvoiced (fricative) noise syllables;
- ``rubbing``: broadband noise bursts with slow envelopes (chest piece sliding on skin or cloth);
- ``handling``: irregular low-frequency thumps (damped 15-90 Hz resonances) over rustle;
- ``hum``: mains at 50 or 60 Hz with random harmonic amplitudes over a weak noise floor;
- ``noise``: stationary white, pink or brown ambient noise with slow level changes;
- ``silence``: a device noise floor only (quiet coloured noise, DC and 16-bit quantisation).

:class:`ArtifactMixer` puts them into a training batch: with probability ``p`` per item the
log-mel window is replaced by an artifact, or (half the time) the real window is mixed under it
at a heart/lung-to-artifact ratio of ``mix_snr_db`` (-30..-15 dB), so no usable body sound remains.
Those items get ``poor_quality = 1`` and every other head masked (NaN / -1). Mixing happens in
the power domain of the log-mel: both inputs are unit-RMS after the frontend, so the sum of powers
``P_art + s^2 P_real`` renormalised by ``1 + s^2`` is the log-mel of the mixed, renormalised audio
up to the (zero-mean) cross term and clipping.

Shapes: renderers return ``(n,)`` float32 audio at ``sr`` Hz; the mixer works on ``x`` ``[B, F, T]``
float32 and the target dict of ``training.encoder_targets`` (``{head: [B, C] float | [B] int}``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import signal

from stethodesk.model.encoder import HEADS
from stethodesk.model.features import FrontendConfig, recording_features

KINDS = ("speech", "rubbing", "handling", "hum", "noise", "silence")


# ----------------------------------------------------------------------------- audio renderers


def _coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """Unit-RMS white, pink (1/f power) or brown (1/f^2 power) noise, ``(n,)``."""
    w = rng.standard_normal(n)
    if colour != "white":
        spec = np.fft.rfft(w)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        spec /= np.sqrt(f) if colour == "pink" else f
        w = np.fft.irfft(spec, n)
    return w / max(float(np.sqrt(np.mean(w * w))), 1e-12)


def _smooth_envelope(rng: np.random.Generator, n: int, sr: int, rate_hz: float, depth: float) -> np.ndarray:
    """A slowly varying positive gain ``(n,)``: log-normal fluctuation low-passed at ``rate_hz``."""
    k = max(2, int(n / sr * rate_hz) + 2)
    pts = np.exp(depth * rng.standard_normal(k))
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), pts)


def speech(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Talking-like audio ``(n,)``: voiced syllables with formants, fricatives and pauses."""
    t = np.arange(n) / sr
    f0_mean = rng.uniform(100.0, 250.0)
    # intonation: slow drift +-20 % plus jitter
    f0 = f0_mean * _smooth_envelope(rng, n, sr, 2.0, 0.12) * (1 + 0.01 * rng.standard_normal(n))
    phase = np.cumsum(f0 / sr)
    # glottal source: a pulse per period, smoothed, then lip radiation (a first difference): no DC
    pulses = np.diff(np.floor(phase), prepend=0.0)
    src = signal.lfilter([1.0, -1.0], [1.0, -0.95], pulses)
    # syllables at 3-6 Hz: each has its own vowel (formants), length and a chance of a pause
    rate = rng.uniform(3.0, 6.0)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(sr / rate * rng.uniform(0.6, 1.4))
        seg = slice(pos, min(n, pos + length))
        m = seg.stop - seg.start
        env = np.sin(np.linspace(0, np.pi, m)) ** rng.uniform(0.5, 2.0)
        r = rng.random()
        if r < 0.15:  # pause between words
            piece = np.zeros(m)
        elif r < 0.3:  # unvoiced fricative: high-passed noise
            b, a = signal.butter(2, rng.uniform(900.0, 1600.0) / (sr / 2), "highpass")
            piece = 0.3 * signal.lfilter(b, a, rng.standard_normal(m))
        else:
            piece = src[seg].copy()
            for lo, hi in ((300.0, 900.0), (900.0, 1800.0), (1800.0, 1950.0)):
                fc = rng.uniform(lo, min(hi, 0.48 * sr))
                bw = rng.uniform(60.0, 160.0)
                rad = math.exp(-math.pi * bw / sr)
                piece = piece + signal.lfilter([1 - rad], [1.0, -2 * rad * math.cos(2 * math.pi * fc / sr), rad * rad],
                                               src[seg]) * rng.uniform(0.5, 3.0)
        out[seg] = piece * env
        pos += length
    out += 0.01 * rng.standard_normal(n) * np.std(out)  # room noise
    return out.astype(np.float32)


def rubbing(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Chest piece rubbing: band-limited noise bursts (0.1-1 s) with slow envelopes ``(n,)``."""
    out = 0.05 * _coloured_noise(rng, n, "pink")
    for _ in range(int(rng.integers(3, 14))):
        m = int(sr * rng.uniform(0.1, 1.0))
        s0 = int(rng.integers(0, max(1, n - m)))
        lo = rng.uniform(30.0, 300.0)
        hi = min(0.45 * sr, lo * rng.uniform(3.0, 20.0))
        sos = signal.butter(2, [lo, hi], "bandpass", fs=sr, output="sos")
        burst = signal.sosfilt(sos, rng.standard_normal(m)) * np.hanning(m) * rng.uniform(0.5, 3.0)
        out[s0 : s0 + m] += burst[: n - s0]
    return out.astype(np.float32)


def handling(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Handling: irregular thumps (damped 15-90 Hz resonances with a click) over rustle ``(n,)``."""
    out = 0.3 * rubbing(rng, n, sr).astype(np.float64)
    for _ in range(int(rng.integers(2, 10))):
        s0 = int(rng.integers(0, n))
        dur = int(sr * rng.uniform(0.1, 0.6))
        tt = np.arange(min(dur, n - s0)) / sr
        f = rng.uniform(15.0, 90.0)
        thump = np.sin(2 * np.pi * f * tt) * np.exp(-tt * rng.uniform(5.0, 30.0))
        click = rng.standard_normal(len(tt)) * np.exp(-tt * 200.0) * rng.uniform(0.1, 1.0)
        out[s0 : s0 + len(tt)] += rng.uniform(2.0, 10.0) * (thump + click)
    return out.astype(np.float32)


def hum(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Mains hum at 50 or 60 Hz (+-0.5 %) with random harmonic amplitudes, weak noise ``(n,)``."""
    t = np.arange(n) / sr
    f0 = (50.0 if rng.random() < 0.5 else 60.0) * rng.uniform(0.995, 1.005)
    out = np.zeros(n)
    for k in range(1, int(min(12, 0.45 * sr // f0)) + 1):
        out += rng.uniform(0.0, 1.0) / k ** rng.uniform(0.0, 1.5) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    out += 10 ** (-rng.uniform(1.0, 3.0)) * _coloured_noise(rng, n, "white")
    return out.astype(np.float32)


def noise(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Ambient noise: white, pink or brown with a slow level fluctuation ``(n,)``."""
    colour = ("white", "pink", "brown")[int(rng.integers(0, 3))]
    return (_coloured_noise(rng, n, colour) * _smooth_envelope(rng, n, sr, 0.5, 0.3)).astype(np.float32)


def silence(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Nothing picked up: a quiet device noise floor (random colour, DC, 16-bit steps) ``(n,)``."""
    colour = ("white", "pink", "brown")[int(rng.integers(0, 3))]
    x = 10 ** (-rng.uniform(3.0, 4.5)) * _coloured_noise(rng, n, colour) + rng.uniform(-1e-3, 1e-3)
    return (np.round(x * 32767.0) / 32767.0).astype(np.float32)


RENDERERS = {"speech": speech, "rubbing": rubbing, "handling": handling, "hum": hum, "noise": noise,
             "silence": silence}


def render(kind: str, rng: np.random.Generator, seconds: float, sr: int = 4000) -> np.ndarray:
    """Artifact audio of ``kind`` (one of :data:`KINDS`), ``(round(seconds * sr),)`` float32."""
    if kind not in RENDERERS:
        raise ValueError(f"unknown artifact kind {kind!r}; known: {', '.join(KINDS)}")
    return RENDERERS[kind](rng, int(round(seconds * sr)), sr)


# ----------------------------------------------------------------------------- batch mixer


@dataclass(frozen=True)
class ArtifactConfig:
    p: float = 0.1  # probability per batch item of becoming an artifact window
    p_replace: float = 0.5  # of those: replaced outright; otherwise the real window is mixed under it
    mix_snr_db: tuple[float, float] = (-30.0, -15.0)  # heart/lung power relative to the artifact
    kinds: tuple[str, ...] = KINDS
    # Rendering costs ~20-50 ms a window (~0.1 s a batch of 32 at p = 0.1, ~15 % of a laptop step), so
    # rendered windows are kept in a pool and reused: a draw renders a new one while the pool fills and
    # then with probability ``p_fresh`` (replacing a random slot); every reuse is mixed, masked and
    # device-augmented afresh. 0 = render every draw.
    pool: int = 256
    p_fresh: float = 0.25


def artifact_window(kind: str, rng: np.random.Generator, frontend: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Log-mel ``[n_mels, n_frames]`` of one encoder window of artifact ``kind`` (the app's frontend)."""
    x = render(kind, rng, frontend.window_s, frontend.sample_rate)
    return recording_features(x, frontend.sample_rate, frontend)[0]


def artifact_targets(y: dict, rows: torch.Tensor) -> dict:
    """Targets with ``rows`` set to poor_quality = 1 and every other head masked (new tensors)."""
    out = {}
    for h, v in y.items():
        v = v.clone()
        if h == "poor_quality":
            v[rows] = 1.0
        elif HEADS[h].kind == "multiclass":
            v[rows] = -1
        else:
            v[rows] = float("nan")
        out[h] = v
    return out


class ArtifactMixer:
    """Callable ``(x [B, F, T], y {head: targets}) -> (x, y, kinds drawn)``; inputs are not changed.

    Uses its own seeded generator, so the device augmentation's draws (``training/augment.py``)
    stay the same whether or not artifacts are on.
    """

    def __init__(self, frontend: FrontendConfig = FrontendConfig(), cfg: ArtifactConfig = ArtifactConfig(),
                 seed: int = 0):
        self.frontend, self.cfg = frontend, cfg
        self.rng = np.random.default_rng(seed)
        self.pool: list[tuple[str, torch.Tensor]] = []  # (kind, log-mel [F, T] float16)
        self.rendered = 0

    def draw(self) -> tuple[str, torch.Tensor]:
        """One artifact window ``(kind, [F, T] float32)``: new, or reused from the pool."""
        c = self.cfg
        if c.pool <= 0 or len(self.pool) < c.pool or self.rng.random() < c.p_fresh:
            kind = c.kinds[int(self.rng.integers(0, len(c.kinds)))]
            # float16 like the cached training windows, so a reuse is the very same window
            mel = torch.from_numpy(artifact_window(kind, self.rng, self.frontend)).to(torch.float16)
            self.rendered += 1
            if c.pool > 0:
                if len(self.pool) < c.pool:
                    self.pool.append((kind, mel))
                else:
                    self.pool[int(self.rng.integers(0, c.pool))] = (kind, mel)
            return kind, mel.float()
        kind, mel = self.pool[int(self.rng.integers(0, len(self.pool)))]
        return kind, mel.float()

    def __call__(self, x: torch.Tensor, y: dict) -> tuple[torch.Tensor, dict, list[str]]:
        c = self.cfg
        hit = np.flatnonzero(self.rng.random(x.shape[0]) < c.p)
        if hit.size == 0:
            return x, y, []
        x = x.clone()
        kinds = []
        for i in hit.tolist():
            kind, art = self.draw()
            art = art.to(x.dtype)
            if self.rng.random() < c.p_replace:
                x[i] = art
            else:
                s2 = 10.0 ** (self.rng.uniform(*c.mix_snr_db) / 10.0)  # body-sound power ratio
                x[i] = torch.logaddexp(art, x[i] + math.log(s2)) - math.log1p(s2)
                kind += "+body"
            kinds.append(kind)
        return x, artifact_targets(y, torch.from_numpy(hit)), kinds
