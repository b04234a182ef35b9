"""Flat and too quiet are judged on the samples as read, before the engine resamples them or cuts
silence out (issue 11 item 3, maintainers' re-test 8): a file of one constant value at 16-48 kHz
once read "usable, 179.1 bpm, hum 200 Hz" (the resampler turned its edges into a transient), and a
real heart under one step of its 24-bit format, its zeros cut as silence, read "quiet but clearly
there, 179.1 bpm". Files written with soundfile in the formats users bring; the heart is a real
CirCor recording (105.3 bpm); the installed (or dev) bundle, real llama.cpp loaded."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from test_engine_fixture import runtime_engine

from stethodesk.audio.dsp import input_quality
from stethodesk.audio.fileio import read_audio
from stethodesk.paths import shared_data_dir

HEART = shared_data_dir() / "circor2022" / "training_data" / "84802_MV.flac"
PLUGGED_IN = "plugged in"  # the advice only "flat" gives


def _written(tmp_path, name: str, x: np.ndarray, sr: int, subtype: str) -> tuple[np.ndarray, int]:
    """``x`` through a real file of ``subtype`` (rounded to its format as a user's file is)."""
    path = tmp_path / f"{name}.{'wav' if subtype == 'FLOAT' else 'flac'}"
    sf.write(path, x, sr, subtype=subtype)
    return read_audio(path)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    yield from runtime_engine(tmp_path_factory)


@pytest.mark.llm
@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("subtype,dc", [("PCM_16", 0.1), ("PCM_24", -0.3), ("FLOAT", 0.5)])
def test_a_constant_file_is_flat_at_every_rate(engine, tmp_path, sr, subtype, dc):
    x, rate = _written(tmp_path, f"dc_{sr}", np.full(20 * sr, dc), sr, subtype)
    assert input_quality(x) is not None and input_quality(x).issues == ["flat"]
    a = engine.analyze_audio(x, rate, domain="heart")
    assert a.quality.issues == ["flat"] and PLUGGED_IN in a.unusable_reason
    assert not a.usable and a.heart_rate_bpm is None and a.findings == {}


@pytest.mark.llm
@pytest.mark.parametrize("subtype,db", [("PCM_24", -125), ("PCM_16", -85)])
def test_a_heart_under_one_step_of_its_format_is_too_quiet(engine, tmp_path, subtype, db):
    heart, sr = read_audio(HEART)
    x, rate = _written(tmp_path, f"tq_{db}", heart * 10 ** (db / 20) / np.max(np.abs(heart)), sr, subtype)
    a = engine.analyze_audio(x, rate, domain="heart")
    assert a.quality.issues == ["too_quiet"] and not a.usable and a.heart_rate_bpm is None
    assert "gain" in a.unusable_reason and "silent" not in a.unusable_reason
    assert PLUGGED_IN not in a.unusable_reason
    loud, _ = _written(tmp_path, "loud", heart * 0.5 / np.max(np.abs(heart)), sr, subtype)
    assert engine.analyze_audio(loud, rate, domain="heart").usable  # the same heart at a real level


@pytest.mark.llm
def test_one_step_idle_noise_at_44k_is_too_quiet_not_no_contact(engine, tmp_path):
    rng = np.random.default_rng(3)
    x, sr = _written(tmp_path, "lsb", rng.integers(-1, 2, 20 * 44100) * 2.0**-15, 44100, "PCM_16")
    a = engine.analyze_audio(x, sr, domain="heart")
    assert a.quality.issues == ["too_quiet"] and not a.usable
