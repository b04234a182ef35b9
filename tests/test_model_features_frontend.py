"""The shared audio frontend (stethodesk.model.features) on synthetic and real recordings."""

from pathlib import Path

import numpy as np
import pytest
import torch

from stethodesk.audio.fileio import read_audio
from stethodesk.model.features import (
    FrontendConfig,
    LogMel,
    mel_filterbank,
    prepare,
    recording_features,
    window_starts,
    windows,
)
from stethodesk.paths import shared_data_dir

CFG = FrontendConfig()


def real_file() -> Path:
    """A real CirCor recording (4 kHz) from the shared data folder."""
    files = sorted((shared_data_dir() / "circor2022" / "training_data").glob("*.flac"))
    assert files, f"no CirCor recordings under {shared_data_dir()}"
    return files[0]


def test_config_round_trip_and_unknown_keys():
    d = CFG.to_dict()
    assert d["sample_rate"] == 4000 and d["n_mels"] == 64 and d["hop"] == 40
    assert FrontendConfig.from_dict(d) == CFG
    with pytest.raises(ValueError, match="unknown"):
        FrontendConfig.from_dict({**d, "bogus": 1})
    assert CFG.window_samples == 28000 and CFG.n_frames == 701


def test_prepare_resamples_and_normalises():
    sr = 8000
    t = np.arange(sr * 3) / sr
    x = (0.01 * np.sin(2 * np.pi * 100 * t) + 0.3).astype(np.float32)  # quiet tone on a DC offset
    y = prepare(x, sr, CFG)
    assert y.dtype == np.float32 and y.shape == (12000,)
    tail = y[2000:]  # after the high-pass has settled
    assert abs(float(tail.mean())) < 0.05
    assert 0.9 < float(np.sqrt(np.mean(tail**2))) < 1.1


def test_prepare_keeps_silence_silent():
    y = prepare(np.zeros(8000, np.float32), 4000, CFG)
    assert np.all(np.isfinite(y)) and float(np.abs(y).max()) == 0.0


def test_prepare_rejects_stereo():
    with pytest.raises(ValueError, match="mono"):
        prepare(np.zeros((100, 2), np.float32), 4000, CFG)


def test_windows_cover_every_sample():
    n = int(20.3 * CFG.sample_rate)
    x = np.arange(n, dtype=np.float32)
    w = windows(x, CFG)
    starts = window_starts(n, CFG)
    assert w.shape == (len(starts), CFG.window_samples)
    assert starts[0] == 0 and starts[-1] + CFG.window_samples == n  # tail kept, not truncated
    assert np.array_equal(w[-1], x[-CFG.window_samples:])
    assert np.all(np.diff(starts) <= CFG.hop_samples)


def test_short_recording_is_repeated_to_one_window():
    x = np.arange(1000, dtype=np.float32)
    w = windows(x, CFG)
    assert w.shape == (1, CFG.window_samples)
    assert np.array_equal(w[0, :1000], x) and np.array_equal(w[0, 1000:2000], x)


def test_logmel_shape_and_tone_lands_in_its_band():
    sr = CFG.sample_rate
    t = np.arange(CFG.window_samples) / sr
    f0 = 400.0
    x = torch.from_numpy(np.sin(2 * np.pi * f0 * t).astype(np.float32))[None]
    mel = LogMel(CFG)(x)
    assert mel.shape == (1, CFG.n_mels, CFG.n_frames)
    peak_band = int(mel[0, :, 100:600].mean(dim=1).argmax())
    fb = mel_filterbank(CFG)
    freqs = np.linspace(0, sr / 2, CFG.n_fft // 2 + 1)
    centre = float(freqs[fb[peak_band].argmax()])
    assert abs(centre - f0) < 40.0, centre


def test_filterbank_has_no_empty_band():
    fb = mel_filterbank(CFG)
    assert fb.shape == (64, 129)
    assert np.all(fb.sum(axis=1) > 0)


def test_real_recording_features():
    x, sr = read_audio(real_file())
    f = recording_features(x, sr, CFG)
    n = round(len(x) * CFG.sample_rate / sr)
    assert f.shape == (len(window_starts(n, CFG)), 64, 701)
    assert np.all(np.isfinite(f))
    assert float(f.std()) > 0.5  # a real heart sound is not flat in time-frequency


def test_features_do_not_depend_on_recording_length():
    """Window i of a long recording equals the same audio encoded on its own (same normalisation)."""
    x, sr = read_audio(real_file())
    y = prepare(x, sr, CFG)
    mod = LogMel(CFG)
    one = mod(torch.from_numpy(y[: CFG.window_samples])[None])[0].numpy()
    assert np.array_equal(recording_features(x, sr, CFG)[0], one)
