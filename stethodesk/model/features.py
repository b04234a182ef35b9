"""Audio frontend shared by training and runtime: resample, band-limit, normalise, window, log-mel.

Training (``training/feature_cache.py``) and the app (``stethodesk/model/encode.py``) both call
:func:`recording_features`, so the encoder sees bit-identical inputs in both places (a parity
test checks it). No Qt here.

Shapes: a recording is ``(n,)`` float32; :func:`windows` gives ``[W, window_samples]``;
:class:`LogMel` maps ``[B, n]`` to ``[B, n_mels, T]`` with ``T = n // hop + 1`` (centred frames).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from math import gcd

import numpy as np
import torch
from scipy import signal

HIGHPASS_ORDER = 4  # Butterworth order of the low-cut at fmin: removes DC, drift and handling rumble
NORM_FLOOR = 1e-6  # RMS floor (full scale = 1, -120 dBFS): a silent file is not blown up to noise, while a
# real recording 40 dB quieter than usual (-80 dBFS and below) is still normalised like any other
# (issue 9 item 4: at 1e-4, -40 dB moved crackle by 0.10 on average over the test split)
CLIP_RMS = 20.0  # after normalisation, clip at 20 RMS so one knock does not dominate a window
LOG_EPS = 1e-6  # added to mel power before log: ~-60 dB below a unit-RMS signal's band power


@dataclass(frozen=True)
class FrontendConfig:
    """Audio frontend parameters (stored in ``bundle.json`` under ``"frontend"``)."""

    sample_rate: int = 4000  # Hz; heart and lung energy of interest lies below 2 kHz
    n_fft: int = 256  # samples, 64 ms at 4 kHz: 15.6 Hz bins
    hop: int = 40  # samples, 10 ms frames
    n_mels: int = 64  # mel bands
    fmin: float = 25.0  # Hz, lowest mel edge and high-pass corner
    fmax: float = 2000.0  # Hz, highest mel edge (Nyquist at 4 kHz)
    window_s: float = 7.0  # s, encoder window; recordings are cut into windows of this length
    window_hop_s: float = 3.5  # s, step between windows (50 % overlap)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate))  # 28000 at defaults

    @property
    def hop_samples(self) -> int:
        return int(round(self.window_hop_s * self.sample_rate))  # 14000 at defaults

    @property
    def n_frames(self) -> int:
        """Frames T of one window: ``window_samples // hop + 1`` (701 at defaults)."""
        return self.window_samples // self.hop + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FrontendConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown frontend settings: {sorted(unknown)}")
        return cls(**d)


def resample_poly(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling ``(n,) -> (round(n * sr_out / sr_in),)`` float32."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    g = gcd(int(sr_in), int(sr_out))
    y = signal.resample_poly(np.asarray(x, dtype=np.float64), sr_out // g, sr_in // g)
    return y.astype(np.float32)


def prepare(samples: np.ndarray, sr: int, cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Resample to ``cfg.sample_rate``, high-pass at ``cfg.fmin``, normalise to unit RMS.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono audio, any scale.
    sr : int
        Its sample rate in Hz.

    Returns
    -------
    np.ndarray, shape (m,), float32
        ``m = round(n * cfg.sample_rate / sr)``. Per-recording normalisation removes the gain
        differences between stethoscopes; a flat file stays (near) zero instead of being
        amplified (RMS floor ``NORM_FLOOR``).
    """
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio of shape (n,), got {x.shape}")
    if sr <= 0:
        raise ValueError(f"invalid sample rate {sr}")
    x = resample_poly(x, int(sr), cfg.sample_rate).astype(np.float64)
    x = x - x.mean()
    if cfg.fmin > 0 and x.size > 3 * (2 * HIGHPASS_ORDER + 1):
        sos = signal.butter(HIGHPASS_ORDER, cfg.fmin, btype="highpass", fs=cfg.sample_rate, output="sos")
        # sosfilt (causal, one pass) rather than filtfilt: cheap and identical for any caller
        x = signal.sosfilt(sos, x)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    x = x / max(rms, NORM_FLOOR)
    np.clip(x, -CLIP_RMS, CLIP_RMS, out=x)
    return x.astype(np.float32)


def window_starts(n: int, cfg: FrontendConfig = FrontendConfig()) -> list[int]:
    """Start samples of the windows covering ``n`` samples (last window aligned to the end)."""
    w, h = cfg.window_samples, cfg.hop_samples
    if n <= w:
        return [0]
    starts = list(range(0, n - w + 1, h))
    if starts[-1] + w < n:  # never drop the tail: add one window ending exactly at the end
        starts.append(n - w)
    return starts


def windows(x: np.ndarray, cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Cut a prepared recording into encoder windows.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        Output of :func:`prepare`.

    Returns
    -------
    np.ndarray, shape (W, cfg.window_samples), float32
        Overlapping windows (hop ``cfg.hop_samples``), the last one aligned to the end so no
        sample is dropped. A recording shorter than one window is repeated (circular padding)
        up to the window length, so mean pooling is not diluted by silence; an empty input
        gives one all-zero window.
    """
    x = np.asarray(x, dtype=np.float32)
    w = cfg.window_samples
    if x.size == 0:
        return np.zeros((1, w), dtype=np.float32)
    if x.size < w:
        reps = -(-w // x.size)
        return np.tile(x, reps)[:w][None, :].copy()
    return np.stack([x[s : s + w] for s in window_starts(x.size, cfg)]).astype(np.float32)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (no empty bands at 15.6 Hz bins)."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3.0)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f < 1000.0, lin, log)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3.0)
    log = 1000.0 * np.exp((m - 15.0) * (np.log(6.4) / 27.0))
    return np.where(m < 15.0, lin, log)


def mel_filterbank(cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Triangular, area-normalised mel filters, shape ``(n_mels, n_fft // 2 + 1)`` float32."""
    n_bins = cfg.n_fft // 2 + 1
    freqs = np.linspace(0.0, cfg.sample_rate / 2.0, n_bins)
    fmax = min(cfg.fmax, cfg.sample_rate / 2.0)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(fmax), cfg.n_mels + 2))
    fb = np.zeros((cfg.n_mels, n_bins))
    for i in range(cfg.n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[i] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return fb.astype(np.float32)


class LogMel(torch.nn.Module):
    """Log-mel spectrogram: ``[B, n]`` float32 -> ``[B, n_mels, T]`` with ``T = n // hop + 1``."""

    def __init__(self, cfg: FrontendConfig = FrontendConfig()):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("window", torch.hann_window(cfg.n_fft, periodic=True), persistent=False)
        self.register_buffer("fb", torch.from_numpy(mel_filterbank(cfg)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"LogMel expects [B, n], got {tuple(x.shape)}")
        spec = torch.stft(
            x.float(), n_fft=self.cfg.n_fft, hop_length=self.cfg.hop, window=self.window,
            center=True, pad_mode="reflect", return_complex=True,
        )  # [B, n_fft//2+1, T]
        power = spec.real.square() + spec.imag.square()
        mel = torch.matmul(self.fb, power)  # [n_mels, F] @ [B, F, T] -> [B, n_mels, T]
        return torch.log(mel + LOG_EPS)


_LOGMEL_CACHE: dict[FrontendConfig, LogMel] = {}


def logmel_module(cfg: FrontendConfig = FrontendConfig()) -> LogMel:
    """A shared :class:`LogMel` per config (building the filterbank once)."""
    mod = _LOGMEL_CACHE.get(cfg)
    if mod is None:
        mod = _LOGMEL_CACHE[cfg] = LogMel(cfg).eval()
    return mod


def recording_features(samples: np.ndarray, sr: int, cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """The one path from raw audio to encoder input, used by training and runtime alike.

    Returns
    -------
    np.ndarray, shape (W, cfg.n_mels, cfg.n_frames), float32
        Log-mel of every window of the recording (see :func:`windows`). Windows are computed
        one at a time so the result does not depend on how many windows a recording has.
    """
    win = windows(prepare(samples, sr, cfg), cfg)
    mod = logmel_module(cfg)
    out = np.empty((win.shape[0], cfg.n_mels, cfg.n_frames), dtype=np.float32)
    with torch.no_grad():
        for i in range(win.shape[0]):
            out[i] = mod(torch.from_numpy(win[i : i + 1]))[0].numpy()
    return out
