"""DSP units: stethoscope filters, streaming state, resampling, envelope, heart rate (knocks left out,
re-test F8), quality."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from stethodesk.audio import dsp
from stethodesk.audio.dsp import (
    FILTER_MODES,
    StreamingFilter,
    apply_filter,
    envelope,
    heart_rate_bpm,
    resample,
    signal_quality,
)
from stethodesk.audio.fileio import read_audio
from stethodesk.audio.synth import render
from stethodesk.paths import shared_data_dir

SR = 4000


def _tone(freq: float, seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _gain(mode: str, freq: float, sr: int = SR) -> float:
    y = apply_filter(_tone(freq, sr=sr), sr, mode)
    return float(np.std(y[sr // 2 :]) / np.std(_tone(freq, sr=sr)))  # skip the start transient


@pytest.mark.parametrize(
    "mode, passes, stops",
    [("bell", 60.0, 900.0), ("diaphragm", 400.0, 25.0), ("wide", 300.0, 5.0)],
)
def test_filter_modes_pass_their_band(mode, passes, stops):
    assert _gain(mode, passes) > 0.8
    assert _gain(mode, stops) < 0.3


def test_bell_and_diaphragm_emphasise_low_and_high():
    assert _gain("bell", 50) > 2 * _gain("diaphragm", 50)
    assert _gain("diaphragm", 600) > 2 * _gain("bell", 600)


def test_filter_upper_edge_adapts_to_low_sample_rates():
    # 2 kHz files (PhysioNet 2016) must not break the 20-2000 Hz wide filter.
    y = apply_filter(_tone(200, sr=2000), 2000, "wide")
    assert np.all(np.isfinite(y)) and np.std(y) > 0.2


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="bell"):
        apply_filter(np.zeros(100), SR, "loud")
    assert set(FILTER_MODES) == {"bell", "diaphragm", "wide"}


@pytest.mark.parametrize("mode", FILTER_MODES)
def test_streaming_filter_equals_whole_array(mode):
    x = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32)
    f = StreamingFilter(SR, mode)
    parts = [f.process(b) for b in np.array_split(x, [37, 500, 501, 4000, 6666])]
    np.testing.assert_allclose(np.concatenate(parts), apply_filter(x, SR, mode), atol=1e-5)
    f.reset()
    np.testing.assert_allclose(f.process(x[:100]), apply_filter(x[:100], SR, mode), atol=1e-5)


@pytest.mark.parametrize("sr_in, sr_out", [(48000, 4000), (4000, 48000), (44100, 4000), (2000, 4000)])
def test_resample_keeps_tone_and_length(sr_in, sr_out):
    x = _tone(150, 1.0, sr_in)
    y = resample(x, sr_in, sr_out)
    assert abs(y.size - round(x.size * sr_out / sr_in)) <= 1
    f = np.fft.rfftfreq(y.size, 1 / sr_out)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(y)))] - 150) < 2
    assert resample(x, sr_in, sr_in) is not x


def test_envelope_peaks_at_the_heart_sounds():
    r = render("normal_heart", seconds=6.0, samplerate=SR, heart_rate=60.0)
    env, esr = envelope(r.samples, r.samplerate)
    assert esr == dsp.ENV_SR and env.size == pytest.approx(6.0 * esr, abs=2)
    s1 = [t for t, name in r.events if name == "S1" and 0.5 < t < 5.5]
    assert len(s1) >= 4
    for t in s1:  # each S1 sits on a high part of the envelope
        i = int(t * esr)
        assert env[max(0, i - 5) : i + 15].max() > 1.0
    assert not np.any(envelope(np.zeros(SR * 3, np.float32), SR)[0])


@pytest.mark.parametrize("bpm", [50.0, 72.0, 110.0, 150.0])
@pytest.mark.parametrize("sound", ["normal_heart", "aortic_stenosis", "s3_gallop"])
def test_heart_rate_on_synthetic_sounds(sound, bpm):
    r = render(sound, seconds=12.0, samplerate=SR, heart_rate=bpm, seed=3)
    est = heart_rate_bpm(r.samples, r.samplerate)
    assert est is not None and abs(est - bpm) < 5, est


def test_heart_rate_is_none_when_it_cannot_tell():
    assert heart_rate_bpm(np.zeros(SR * 10, np.float32), SR) is None  # flat
    assert heart_rate_bpm(render("normal_heart", seconds=1.0, samplerate=SR).samples, SR) is None  # short


def test_heart_rate_at_48k_input_matches_4k():
    r = render("normal_heart", seconds=10.0, samplerate=SR, heart_rate=84.0)
    a = heart_rate_bpm(r.samples, SR)
    b = heart_rate_bpm(resample(r.samples, SR, 48000), 48000)
    assert a is not None and b is not None and abs(a - b) < 1.0


# --- quality ---------------------------------------------------------------------------
def _real_heart() -> tuple[np.ndarray, int]:
    return read_audio(shared_data_dir() / "circor2022" / "training_data" / "50111_MV.flac")


def test_quality_good_on_a_clean_real_recording():
    x, sr = _real_heart()
    q = signal_quality(x, sr, "heart")
    assert q.level == "good" and q.issues == [] and q.score >= 0.75 and q.reason


def test_quality_flat():
    q = signal_quality(np.zeros(SR * 5, np.float32), SR)
    assert q.issues == ["flat"] and q.level == "poor" and "flat" in q.reason


def test_quality_clipping():
    x, sr = _real_heart()
    q = signal_quality(np.clip(x * 200, -1, 1), sr, "heart")
    assert "clipping" in q.issues and q.level != "good" and "gain" in q.reason


def test_quality_no_contact():
    # what an input gives with the chest piece off the skin: its own hiss, -58 dBFS, no beats
    hiss = np.random.default_rng(2).standard_normal(SR * 10).astype(np.float32) * 10 ** (-58 / 20)
    for domain in ("heart", "lung"):
        q = signal_quality(hiss, SR, domain)
        assert "no_contact" in q.issues and q.level == "poor" and "skin" in q.reason


@pytest.mark.parametrize("db", [-40, -58])
def test_quality_quiet_but_real_recording_is_usable(db):
    """Level is judged against the content, not an absolute scale (issue 9 item 4): a real
    recording 40-58 dB quieter is "quiet", never "flat" or "no contact", and keeps its rate."""
    x, sr = _real_heart()
    quiet = x * 10 ** (db / 20)
    q = signal_quality(quiet, sr, "heart")
    assert "no_contact" not in q.issues and "flat" not in q.issues and q.level != "poor", q
    assert "quiet" in q.issues and "gain" in q.reason
    hr, hr_quiet = heart_rate_bpm(x, sr), heart_rate_bpm(quiet, sr)
    assert hr is not None and hr_quiet is not None and abs(hr - hr_quiet) < 1.0


def test_quality_noise():
    rng = np.random.default_rng(0)
    x, sr = _real_heart()
    hiss = rng.standard_normal(x.size).astype(np.float32) * 4 * float(np.std(x))
    q = signal_quality(np.clip(x + hiss, -1, 1), sr, "heart")
    assert "noise" in q.issues and q.level != "good"


def test_quality_too_short():
    x, sr = _real_heart()
    q = signal_quality(x[: sr], sr, "heart")
    assert "too_short" in q.issues and "1.0 s" in q.reason


def test_quality_lung_synthetic_is_usable_and_domain_checked():
    r = render("normal_lung", seconds=8.0, samplerate=SR)
    assert signal_quality(r.samples, SR, "lung").level in ("good", "fair")
    with pytest.raises(ValueError):
        signal_quality(r.samples, SR, "brain")


def test_knocks_on_a_quiet_real_heart_leave_its_rate(tmp_path):
    """Re-test F8: three 30-ms knocks (60 Hz, 0.8 full scale) on a real heart at -40 dBFS were the
    one thing each 8-s window's envelope saw, and the rate was lost ("No regular heartbeat stands
    out"). Transients far above the heart sounds are left out of the rate like dropouts, and a
    few knocks are no noise."""
    x, sr = _real_heart()
    x = x * 10 ** (-40 / 20) / np.max(np.abs(x))
    knocked = x.copy()
    k = np.arange(int(0.03 * sr))
    for t in (3.3, 9.1, 13.2):
        a = int(t * sr)
        knocked[a : a + k.size] += 0.8 * np.sin(2 * np.pi * 60 * k / sr) * np.exp(-k / (0.008 * sr))
    p = tmp_path / "knocks.wav"
    sf.write(p, knocked, sr, subtype="PCM_16")
    y, rate = read_audio(p)
    clean = heart_rate_bpm(x, sr)
    assert clean is not None
    got = heart_rate_bpm(y, rate)
    assert got is not None and abs(got - clean) <= 2.0, (got, clean)
    q = signal_quality(y, rate, "heart")
    assert "noise" not in q.issues and q.heart_rate_bpm is not None and abs(q.heart_rate_bpm - clean) <= 2.0, q


# Issue 11 follow-up: PhysioNet 2016 e00266 (an adult). Beats counted on its envelope over the first
# 8 s: S1 at 0.51, 1.41, 2.55, 3.55, 4.44, 5.48, 6.52 and 7.46 s (median S1-S1 1.00 s = 60 bpm), each
# followed by S2 0.35 s later. The file holds one 10-ms click at 14.13 s; kept in, it is the one thing
# the 8-16 s window's envelope sees, that window's autocorrelation becomes the envelope around the
# click, and the S1-S2 interval (0.35 s = 171 bpm) won. 57.7 bpm with the click left out is right.
E00266_BPM = 60.0


def _e00266() -> tuple[np.ndarray, int]:
    return read_audio(shared_data_dir() / "physionet2016" / "audio" / "e00266.flac")


@pytest.mark.parametrize("skip_s", [0.0, 0.5, 1.0])
def test_a_real_click_does_not_make_the_systole_the_beat(skip_s):
    x, sr = _e00266()
    got = heart_rate_bpm(x[int(skip_s * sr) :], sr)
    assert got is not None and abs(got - E00266_BPM) <= 0.06 * E00266_BPM, got


def test_one_short_knock_anywhere_keeps_a_real_adult_rate():
    """A 10-ms click 20x the loudest heart sound, made here, on the click-free first 12.5 s of
    e00266 (58 bpm): wherever it falls, the rate stays within 6 % of the counted 60 bpm. Kept in,
    a click at 9.0 s gave 169 bpm (the systolic interval). Not within 5 % of the clean 58.3: its
    own S1-S1 intervals run 0.89-1.14 s, and a click taking out the S1 at 5.48 s moves the median
    interval (windows 2 s apart) to 0.97 s, 61.9 bpm, 3 % from the count."""
    x, sr = _e00266()
    x = x[: int(12.5 * sr)]
    clean = heart_rate_bpm(x, sr)
    assert clean is not None and abs(clean - E00266_BPM) <= 0.06 * E00266_BPM, clean
    k = np.arange(int(0.01 * sr))
    click = 20 * np.max(np.abs(x)) * np.hanning(k.size) * np.sign(np.sin(2 * np.pi * 150 * k / sr) + 1e-9)
    for t in (0.51, 2.55, 4.44, 5.48, 7.46, 9.0, 10.5):
        y = x.copy()
        y[int(t * sr) : int(t * sr) + k.size] += click.astype(y.dtype)
        got = heart_rate_bpm(y, sr)
        assert got is not None and abs(got - E00266_BPM) <= 0.06 * E00266_BPM, (t, got, clean)
