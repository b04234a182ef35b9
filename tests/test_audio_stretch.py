"""Pitch-preserving slow playback: length scales, pitch and timing of beats stay right."""

from __future__ import annotations

import numpy as np
import pytest

from stethodesk.audio.dsp import heart_rate_bpm
from stethodesk.audio.stretch import time_stretch
from stethodesk.audio.synth import render


def _peak_freq(x: np.ndarray, sr: int) -> float:
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float(f[np.argmax(np.abs(np.fft.rfft(x * np.hanning(len(x)))))])


@pytest.mark.parametrize("rate", [0.5, 0.75])
@pytest.mark.parametrize("sr", [4000, 48000])
def test_length_scales_and_pitch_stays(rate, sr):
    t = np.arange(sr * 3) / sr
    x = (0.5 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    y = time_stretch(x, sr, rate)
    assert y.dtype == np.float32 and len(y) == round(len(x) / rate)
    assert abs(_peak_freq(y, sr) - 180) < 2  # resampling would give 90 / 135 Hz
    mid = y[len(y) // 4 : 3 * len(y) // 4]
    assert np.std(mid) == pytest.approx(np.std(x), rel=0.05)  # no level wobble


def test_rate_one_is_identity_and_bad_rates_refused():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    np.testing.assert_array_equal(time_stretch(x, 4000, 1.0), x)
    with pytest.raises(ValueError):
        time_stretch(x, 4000, 0.0)


@pytest.mark.parametrize("rate", [0.5, 0.75])
def test_slowed_heart_beats_at_the_slowed_rate(rate):
    r = render("normal_heart", seconds=12.0, samplerate=4000, heart_rate=90.0)
    y = time_stretch(r.samples, 4000, rate)
    est = heart_rate_bpm(y, 4000)
    assert est is not None and abs(est - 90.0 * rate) < 4
