"""Device-like augmentation applied to cached log-mel windows during encoder training.

Why in the log-mel domain: features are computed once and cached (``training/feature_cache.py``),
and the operations that matter here have exact or close log-mel equivalents (GUIDE 2b: device and
site shift dominate; augment with band-limits, gain and noise):

- gain: a constant added to log power (+-``GAIN_DB`` dB);
- a stethoscope/microphone response: ``log|H(f)|^2`` of a random Butterworth band-pass added per
  mel band (a linear filter multiplies power per frequency);
- background noise: ``log(exp(mel) + noise)`` with noise power at a random SNR below the window's
  mean band power, white or pink, with chi-square fluctuation over time;
- a low sample rate: a recording saved at 2 or 3 kHz has *no* energy above its Nyquist frequency,
  so after resampling to the frontend's rate its upper mel bands sit at the log floor
  (``log(LOG_EPS)``), far below what any smooth filter gives. The guide (section 2c) measured
  this as a device fingerprint: the same normal recordings saved at 2 kHz moved from abnormal
  0.25-0.56 to 0.82-0.92. ``p_nyquist`` of the windows get that hard edge at a random Nyquist;
- time shift: circular roll along time; SpecAugment-style time and band masks.

Every operation works on a batch ``[B, n_mels, T]`` float tensor and draws from ``generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from stethodesk.model.features import LOG_EPS, FrontendConfig, mel_filterbank

DB_TO_LOGPOW = math.log(10.0) / 10.0  # 1 dB of power in natural-log units


@dataclass(frozen=True)
class AugmentConfig:
    p_filter: float = 0.6  # probability of a random device band-limit per window
    highpass_hz: tuple[float, float] = (25.0, 200.0)  # random low-cut corner range (Hz)
    lowpass_hz: tuple[float, float] = (250.0, 2000.0)  # random high-cut corner range (Hz)
    p_nyquist: float = 0.3  # probability of a hard edge as if recorded at a low sample rate
    nyquist_hz: tuple[float, float] = (700.0, 1600.0)  # its Nyquist frequency range (Hz)
    gain_db: float = 6.0  # +- random gain
    p_noise: float = 0.4  # probability of added noise
    snr_db: tuple[float, float] = (0.0, 25.0)  # noise level below the window's mean band power
    max_shift_frames: int = 200  # circular time shift (frames; 2 s at 10 ms)
    time_mask_frames: int = 60  # longest SpecAugment time mask
    band_mask: int = 6  # widest SpecAugment band mask (mel bands)


def mel_centres(cfg: FrontendConfig = FrontendConfig()) -> np.ndarray:
    """Centre frequency (Hz) of every mel band, shape ``(n_mels,)``."""
    fb = mel_filterbank(cfg)
    freqs = np.linspace(0.0, cfg.sample_rate / 2.0, cfg.n_fft // 2 + 1)
    return (fb * freqs).sum(1) / np.maximum(fb.sum(1), 1e-12)


class Augmenter:
    """Callable ``mel [B, F, T] -> augmented mel [B, F, T]`` (new tensor)."""

    def __init__(self, frontend: FrontendConfig = FrontendConfig(), cfg: AugmentConfig = AugmentConfig(),
                 seed: int = 0):
        self.cfg = cfg
        self.f = torch.from_numpy(mel_centres(frontend)).float()  # [F]
        self.g = torch.Generator().manual_seed(seed)

    def _u(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=self.g)

    def band_limit(self, b: int) -> torch.Tensor:
        """log|H(f)|^2 of random Butterworth high- and low-pass filters, ``[B, F]``."""
        c = self.cfg
        # corners drawn log-uniformly: devices differ by octaves, not by hertz
        hp = torch.exp(self._u(b, math.log(c.highpass_hz[0]), math.log(c.highpass_hz[1])))[:, None]
        lp = torch.exp(self._u(b, math.log(c.lowpass_hz[0]), math.log(c.lowpass_hz[1])))[:, None]
        order = torch.randint(1, 5, (b, 1), generator=self.g).float()
        f = self.f[None, :]
        # |H_hp|^2 = 1 / (1 + (fc/f)^(2n)); |H_lp|^2 = 1 / (1 + (f/fc)^(2n)) -> log1p form
        log_h = -torch.log1p((hp / f) ** (2 * order)) - torch.log1p((f / lp) ** (2 * order))
        on = (torch.rand(b, 1, generator=self.g) < c.p_filter).float()
        return log_h * on

    def nyquist_edge(self, x: torch.Tensor) -> torch.Tensor:
        """Bands above a random Nyquist frequency set to the log floor, as after resampling a
        low-rate recording up to the frontend's rate (``x`` ``[B, F, T]``, changed in place)."""
        c = self.cfg
        b = x.shape[0]
        on = torch.rand(b, generator=self.g) < c.p_nyquist
        if not on.any():
            return x
        ny = torch.exp(self._u(b, math.log(c.nyquist_hz[0]), math.log(c.nyquist_hz[1])))
        floor = math.log(LOG_EPS)
        for i in on.nonzero().flatten().tolist():
            above = self.f > ny[i]
            x[i, above, :] = floor
        return x

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        x = mel.float().clone()
        b, nf, nt = x.shape
        x = x + self.band_limit(b)[:, :, None]
        x = x + (self._u(b, -c.gain_db, c.gain_db) * DB_TO_LOGPOW)[:, None, None]
        # additive noise in the power domain
        noisy = torch.rand(b, generator=self.g) < c.p_noise
        if noisy.any():
            idx = noisy.nonzero().flatten()
            xs = x[idx]
            mean_pow = torch.logsumexp(xs.reshape(len(idx), -1), dim=1) - math.log(nf * nt)  # [n]
            snr = self._u(len(idx), *c.snr_db) * DB_TO_LOGPOW
            pink = (torch.rand(len(idx), generator=self.g) < 0.5).float()[:, None]
            tilt = -pink * torch.log(self.f / self.f[0])[None, :]  # pink: power ~ 1/f
            level = (mean_pow - snr)[:, None] + tilt  # [n, F] log noise power per band
            fluct = torch.empty(len(idx), nf, nt).exponential_(generator=self.g)  # chi2(2)/2: |noise|^2 per bin
            x[idx] = torch.logaddexp(xs, level[:, :, None] + torch.log(fluct.clamp_min(1e-6)))
        x = self.nyquist_edge(x)  # after the noise: a low-rate file's noise stops at Nyquist too
        # time shift and masks
        shifts = torch.randint(-c.max_shift_frames, c.max_shift_frames + 1, (b,), generator=self.g)
        fill = x.mean(dim=(1, 2))  # masks are filled with the window's mean level, not -inf
        for i in range(b):
            x[i] = torch.roll(x[i], int(shifts[i]), dims=-1)
            w = int(torch.randint(0, c.time_mask_frames + 1, (1,), generator=self.g))
            t0 = int(torch.randint(0, max(1, nt - w), (1,), generator=self.g))
            x[i, :, t0 : t0 + w] = fill[i]
            w = int(torch.randint(0, c.band_mask + 1, (1,), generator=self.g))
            f0 = int(torch.randint(0, max(1, nf - w), (1,), generator=self.g))
            x[i, f0 : f0 + w, :] = fill[i]
        return x
