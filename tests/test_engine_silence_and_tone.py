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


@pytest.mark.llm
@pytest.mark.parametrize("kind", ["am_tone", "brown"])
def test_beating_tone_or_brown_noise_gets_no_findings(engine, kind):
    """A 40 Hz tone rising and falling 1.2 times a second (once a "heart" with a murmur) and brown
    noise (once "Clear signal" for lung) are no auscultation (issue 11 item 3, maintainers' re-test)."""
    sr = 4000
    t = np.arange(20 * sr) / sr
    if kind == "am_tone":
        x = 0.4 * (0.5 + 0.5 * np.sin(2 * np.pi * 1.2 * t)) * np.sin(2 * np.pi * 40 * t)
    else:
        from scipy import signal

        x = np.cumsum(np.random.default_rng(1).standard_normal(t.size))  # 1/f^2, its drift below 2 Hz off
        x = signal.sosfilt(signal.butter(1, 2.0, "highpass", fs=sr, output="sos"), x)
        x = 0.3 * x / np.max(np.abs(x))
    for domain in ("auto", "heart", "lung"):
        a = engine.analyze_audio(x.astype(np.float32), sr, domain=domain)
        assert not a.usable and a.findings == {} and a.heart_rate_bpm is None, (domain, a.quality)
        assert "no heart or lung sound" in a.unusable_reason
        assert ("tone at about 40 Hz" if kind == "am_tone" else "steady noise") in a.unusable_reason


@pytest.mark.llm
def test_recording_100_db_down_in_a_float_file_gets_the_same_findings(engine, tmp_path):
    import soundfile as sf

    x, sr = _heart()
    p = tmp_path / "quiet.wav"
    sf.write(p, x.astype(np.float64) * 1e-5, sr, subtype="FLOAT")
    quiet, rate = read_audio(p)
    loud_a, quiet_a = engine.analyze_audio(x, sr, domain="heart"), engine.analyze_audio(quiet, rate, domain="heart")
    assert loud_a.usable and quiet_a.usable, quiet_a.unusable_reason
    assert quiet_a.heart_rate_bpm == loud_a.heart_rate_bpm and set(quiet_a.quality.issues) <= {"quiet"}
    assert quiet_a.findings.keys() == loud_a.findings.keys()
    assert all(abs(quiet_a.findings[k] - loud_a.findings[k]) < 0.05 for k in loud_a.findings)
