"""Signals with no body sound at all are unusable, whatever their level (issue 11 item 3, re-test
F7/F8): a pure tone or mains hum and steady broadband noise are named as such, while real heart
and lung recordings - also 40 dB quieter, or under loud hum - stay usable. A heavily clipped
recording (refused by the engine) is "poor", not "fair". Files the tests write and read back;
real recordings from ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from stethodesk.audio.dsp import HEAVY_CLIP_FRACTION, clipped_fraction, signal_quality
from stethodesk.audio.fileio import read_audio
from stethodesk.paths import shared_data_dir

DATA = shared_data_dir()
HEART = DATA / "circor2022" / "training_data" / "13918_MV.flac"
# real recordings of both kinds and several datasets that must stay usable
REAL = [p for pattern in ("circor2022/training_data/*.flac", "icbhi2017_cycles/audio/*/*.flac",
                          "sprsound2022/train_flac/*.flac", "hls_cmds/LS/*.flac", "hls_cmds/HS/*.flac")
        for p in sorted(DATA.glob(pattern))[:3]]


def _roundtrip(tmp_path, x, sr, name="x.wav"):
    p = tmp_path / name
    sf.write(p, np.asarray(x, np.float64), sr, subtype="PCM_16")
    return read_audio(p)


@pytest.mark.parametrize("sr", [4000, 44100])
@pytest.mark.parametrize("f0", [50.0, 60.0, 440.0])
def test_pure_tone_is_unusable_and_named(tmp_path, sr, f0):
    t = np.arange(20 * sr) / sr
    y, rate = _roundtrip(tmp_path, 0.3 * np.sin(2 * np.pi * f0 * t), sr)
    q = signal_quality(y, rate, "heart")
    assert "no_body_sound" in q.issues and q.level == "poor", q
    assert f"tone at about {f0:.0f} Hz" in q.reason and "no heart or lung sound" in q.reason
    assert q.heart_rate_bpm is None


@pytest.mark.parametrize("domain", ["heart", "lung"])
@pytest.mark.parametrize("level", [0.3, 0.05])
def test_white_noise_is_unusable(tmp_path, domain, level):
    sr = 4000
    y, rate = _roundtrip(tmp_path, np.random.default_rng(0).normal(0, level, 20 * sr).clip(-1, 1), sr)
    q = signal_quality(y, rate, domain)
    assert "no_body_sound" in q.issues and q.level == "poor", q
    assert "only steady noise" in q.reason.lower() and q.heart_rate_bpm is None


@pytest.mark.parametrize("gain_db", [0.0, -40.0])
def test_real_heart_at_any_level_and_under_hum_keeps_its_sound(tmp_path, gain_db):
    x, sr = read_audio(HEART)
    x = x / np.max(np.abs(x)) * 0.5 * 10 ** (gain_db / 20)
    y, rate = _roundtrip(tmp_path, x, sr)
    q = signal_quality(y, rate, "heart")
    assert "no_body_sound" not in q.issues, q.reason
    assert q.heart_rate_bpm is not None and abs(q.heart_rate_bpm - 105.3) < 3
    hum = x + 4 * np.max(np.abs(x)) * np.sin(2 * np.pi * 50 * np.arange(x.size) / sr)
    assert "no_body_sound" not in signal_quality(hum.astype(np.float32), sr, "heart").issues


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.parent.name + "/" + p.name)
def test_real_heart_and_lung_recordings_have_body_sound(path):
    x, sr = read_audio(path)
    for domain in ("heart", "lung"):
        assert "no_body_sound" not in signal_quality(x, sr, domain).issues


def test_sample_covers_both_kinds():
    assert len(REAL) >= 10 and any("icbhi" in str(p) for p in REAL) and any("circor" in str(p) for p in REAL)


def test_heavily_clipped_level_agrees_with_the_refusal(tmp_path):
    x, sr = read_audio(HEART)
    y, rate = _roundtrip(tmp_path, np.clip(x / np.max(np.abs(x)) * 20, -1, 1), sr)
    assert clipped_fraction(y, rate) > HEAVY_CLIP_FRACTION
    q = signal_quality(y, rate, "heart")
    assert "clipping" in q.issues and q.level == "poor", q
