"""The engine never analyses what holds no sound (issue 11 item 3, re-test F7/F8/F9): a recording
that is mostly digital silence is analysed on its sound only and says so (or is refused when too
little is left), and a pure tone or steady noise gets no findings and no heart rate. Real CirCor
recording (murmur, 105.3 bpm), the installed (or dev) bundle, real llama.cpp loaded."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine_fixture import runtime_engine

from stethodesk.audio.dsp import drop_silence
from stethodesk.audio.fileio import read_audio
from stethodesk.paths import shared_data_dir

HEART = shared_data_dir() / "circor2022" / "training_data" / "13918_MV.flac"


def _heart() -> tuple[np.ndarray, int]:
    return read_audio(HEART)


def test_drop_silence_cuts_only_digital_silence():
    x, sr = _heart()
    burst = np.concatenate((x[: 5 * sr], np.zeros(int(23.8 * sr), np.float32)))
    kept, silent = drop_silence(burst, sr)
    assert np.array_equal(kept, x[: 5 * sr]) and abs(silent - 23.8) < 0.06
    middle = np.concatenate((x[: 6 * sr], np.full(10 * sr, 0.01, np.float32), x[6 * sr : 12 * sr]))
    kept, silent = drop_silence(middle, sr)  # held at any one value, not only zero
    assert abs(kept.size / sr - 12.0) < 0.06 and abs(silent - 10.0) < 0.06
    quiet = np.round(x * 0.001 * 32768) / 32768  # a real recording 60 dB down in 16 bits: not silent
    assert drop_silence(quiet, sr)[1] == 0.0 and drop_silence(x, sr)[1] == 0.0
    zeros = np.zeros(10 * sr, np.float32)  # silent throughout: left whole for the "flat" message
    assert drop_silence(zeros, sr)[0].size == zeros.size


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    yield from runtime_engine(tmp_path_factory)


@pytest.mark.llm
def test_mostly_silent_recording_analyses_its_sound_only_and_says_so(engine):
    x, sr = _heart()
    alone = engine.analyze_audio(x[: 5 * sr], sr, domain="heart")
    a = engine.analyze_audio(np.concatenate((x[: 5 * sr], np.zeros(int(23.8 * sr), np.float32))), sr,
                             domain="heart")
    assert a.usable and abs(a.duration_s - 5.0) < 0.06
    assert "83% of the recording" in a.quality.reason and "silent" in a.quality.reason
    assert "silent_part" in a.quality.issues and a.quality.level != "good"
    assert a.heart_rate_bpm == alone.heart_rate_bpm
    assert all(abs(a.findings[k] - alone.findings[k]) < 1e-4 for k in alone.findings)


@pytest.mark.llm
def test_too_little_sound_left_is_refused_with_the_silence_named(engine):
    x, sr = _heart()
    a = engine.analyze_audio(np.concatenate((x[: 2 * sr], np.zeros(20 * sr, np.float32))), sr)
    assert not a.usable and a.findings == {} and a.heart_rate_bpm is None
    assert "91% of the recording" in a.unusable_reason and "at least" in a.unusable_reason


@pytest.mark.llm
@pytest.mark.parametrize("kind", ["hum", "noise"])
def test_tone_or_noise_gets_no_findings(engine, kind):
    sr = 4000
    t = np.arange(20 * sr) / sr
    x = 0.3 * np.sin(2 * np.pi * 50 * t) if kind == "hum" else np.random.default_rng(0).normal(0, 0.2, t.size)
    a = engine.analyze_audio(x.astype(np.float32), sr)
    assert not a.usable and a.findings == {} and a.heart_rate_bpm is None
    assert "no heart or lung sound" in a.unusable_reason and a.quality.level == "poor"
