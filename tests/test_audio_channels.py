"""Multi-channel files keep their body sound (issue 11 item 2, re-test F5/F6): a copy inverted and
a few samples late is lined up by cross-correlation lag and polarity instead of cancelling, a noise
channel beside the stethoscope's is left out by content, not energy, and the reader says which
channels it used and how. Real CirCor heart sound written by the tests into files read back
through the app's reader; the jsonl ``channels`` key through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from stethodesk.audio.dsp import signal_quality
from stethodesk.audio.fileio import mixdown, read_audio
from stethodesk.paths import REPO_ROOT, shared_data_dir

HEART = shared_data_dir() / "circor2022" / "training_data" / "13918_MV.flac"  # 105.3 bpm


def _heart(sr: int = 4000, seconds: float = 20.0) -> np.ndarray:
    x, rate = read_audio(HEART)
    x = x[: int(seconds * rate)].astype(np.float64)
    if sr != rate:
        x = resample_poly(x, sr, rate)
    return x / np.max(np.abs(x)) * 0.8


def _delayed(x: np.ndarray, d: int) -> np.ndarray:
    return np.concatenate((np.zeros(d), x[: x.size - d]))


def _best_match(y: np.ndarray, x: np.ndarray, lags: int = 100) -> tuple[float, float]:
    """Largest |normalised correlation| of ``y`` with ``x`` within +-lags, and rms(y)/rms(x)."""
    best = max(abs(float(np.dot(y[max(0, l):y.size + min(0, l)], x[max(0, -l):x.size - max(0, l)])))
               for l in range(-lags, lags + 1))
    return best / float(np.linalg.norm(x) * np.linalg.norm(y)), float(np.std(y) / np.std(x))


@pytest.mark.parametrize("sr, delay_s", [(4000, 0.00075), (4000, 0.00025), (44100, 0.00075), (4000, 0.0),
                                         (4000, 0.005), (4000, 0.015), (44100, 0.015), (48000, 0.021)])
def test_inverted_delayed_copy_is_lined_up_not_cancelled(tmp_path, sr, delay_s):
    x = _heart(sr)
    d = round(delay_s * sr)
    p = tmp_path / "inv_delay.wav"
    sf.write(p, np.stack([x, -0.9 * _delayed(x, d)], axis=1), sr, subtype="PCM_16")
    used: dict = {}
    y, rate = read_audio(p, channels=used)
    corr, level = _best_match(y.astype(np.float64), x, lags=d + 100)  # the mix is x delayed by d
    assert corr > 0.99 and level > 0.9, (corr, level)  # a plain or flip-only mix loses the heart band
    assert used["used"] == [0, 1] and "turned over" in used["rule"]
    if d:
        assert f"moved {d / sr * 1000:.2f} ms" in used["rule"]
    q = signal_quality(y, rate, "heart")
    assert q.heart_rate_bpm is not None and abs(q.heart_rate_bpm - 105.3) < 3


def test_noise_channel_is_left_out_by_content_not_energy(tmp_path):
    sr = 4000
    x = _heart(sr)
    noise = np.random.default_rng(0).normal(0, 0.3, x.size)  # 4x louder than the heart channel
    p = tmp_path / "noise_heart.wav"
    sf.write(p, np.stack([noise, 0.2 * x], axis=1), sr, subtype="PCM_16")
    used: dict = {}
    y, rate = read_audio(p, channels=used)
    right, _ = read_audio(p, channel=1)
    assert used["used"] == [1] and "channel 0 holds no heart or lung sound" in used["rule"]
    assert np.array_equal(y, right)
    q = signal_quality(y, rate, "heart")
    assert "no_body_sound" not in q.issues and abs(q.heart_rate_bpm - 105.3) < 3


def test_silent_channels_are_named_and_in_memory_mixdown_agrees(tmp_path):
    sr = 4000
    x = _heart(sr, 10.0)
    six = np.zeros((x.size, 6))
    six[:, 4] = x
    p = tmp_path / "six.wav"
    sf.write(p, six, sr, subtype="PCM_16", format="WAVEX")
    used: dict = {}
    y, _ = read_audio(p, channels=used)
    assert used["used"] == [4] and "channels 0, 1, 2, 3, 5 are silent" in used["rule"]
    assert np.allclose(y, read_audio(p, channel=4)[0])
    inv = np.stack([x, -0.9 * _delayed(x, 3)], axis=1).astype(np.float32)
    assert _best_match(mixdown(inv, sr).astype(np.float64), x)[0] > 0.99



@pytest.mark.parametrize("before, lead_s, found_s", [("zeros", 35, 30), ("shared noise", 35, 30),
                                                   ("independent noise", 35, 30), ("zeros", 400, 400),
                                                   ("independent noise", 180, 180)])
def test_channels_are_chosen_where_the_sound_is_not_where_the_file_starts(tmp_path, before, lead_s, found_s):
    """Re-test F4: 35 s of silence or steady noise, then the heart with an inverted, late copy. The
    first 30 s alone held nothing to line up, so the copy was mixed as it was and cancelled the heart.
    Silence of any length is passed over exactly, and every 10-s stretch is tested for sound (after
    2 min of noise only one a minute was, so the heart after 180 s of noise was found at 230 s)."""
    sr, d = 4000, 3
    x = np.tile(_heart(sr), 4 if lead_s > 120 else 1)
    rng = np.random.default_rng(2)
    lead = np.zeros((lead_s * sr, 2))
    if before == "shared noise":
        lead += 0.001 * rng.standard_normal((lead_s * sr, 1))
    elif before == "independent noise":
        lead = 0.001 * rng.standard_normal((lead_s * sr, 2))
    data = np.concatenate((lead, np.stack([x, -0.9 * _delayed(x, d)], axis=1)))
    p = tmp_path / "late_sound.wav"
    sf.write(p, data, sr, subtype="PCM_16")
    used: dict = {}
    y, rate = read_audio(p, channels=used)
    corr, level = _best_match(y[lead_s * sr :].astype(np.float64), x, lags=d + 100)
    assert corr > 0.99 and level > 0.9, (corr, level)
    assert used["used"] == [0, 1] and "turned over" in used["rule"] and f"moved {d / sr * 1000:.2f} ms" in used["rule"]
    assert f"chosen from the sound from {found_s:.1f} s on" in used["rule"], used  # the 10-s stretch it was found in
    q = signal_quality(y[lead_s * sr :], rate, "heart")
    assert q.heart_rate_bpm is not None and abs(q.heart_rate_bpm - 105.3) < 3
    mixed = mixdown(data.astype(np.float32), sr)[lead_s * sr :]
    assert _best_match(mixed.astype(np.float64), x, lags=d + 100)[0] > 0.99



def test_noise_channel_is_left_out_when_the_heart_starts_late(tmp_path):
    """Re-test F4, the choice: 35 s of steady noise in both channels, then the heart in channel 1
    while channel 0 stays loud noise. Judged on the first 30 s, neither held a body sound and both
    were averaged, burying the heart under noise 4x louder."""
    sr = 4000
    x = _heart(sr)
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.3, 35 * sr + x.size)
    right = np.concatenate((rng.normal(0, 0.001, 35 * sr), 0.2 * x))
    p = tmp_path / "noise_then_heart.wav"
    sf.write(p, np.stack([noise, right], axis=1), sr, subtype="PCM_16")
    used: dict = {}
    y, rate = read_audio(p, channels=used)
    assert used["used"] == [1] and "channel 0 holds no heart or lung sound" in used["rule"], used
    assert np.array_equal(y, read_audio(p, channel=1)[0])
    q = signal_quality(y[35 * sr :], rate, "heart")
    assert abs(q.heart_rate_bpm - 105.3) < 3



def test_heart_in_one_channel_between_the_stretches_tested_once_a_minute_is_found(tmp_path):
    """Re-test F4: 150 s of noise in 4 channels, then 18 s of heart in channel 2 only. After 2 min of
    noise one stretch a minute was tested (at 170 s, past the heart), so the file was judged from its
    first 30 s: all four channels averaged, the heart buried under three noise channels."""
    sr = 4000
    x = _heart(sr, 18.0)
    rng = np.random.default_rng(4)
    data = 0.01 * rng.standard_normal((150 * sr + x.size + 2 * sr, 4))
    data[150 * sr : 150 * sr + x.size, 2] += 0.5 * x
    p = tmp_path / "late_heart_ch2.wav"
    sf.write(p, data, sr, subtype="PCM_16")
    used: dict = {}
    y, _ = read_audio(p, channels=used)
    assert used["used"] == [2] and "chosen from the sound from 150.0 s on" in used["rule"], used
    assert np.array_equal(y, read_audio(p, channel=2)[0])


def test_noise_channel_with_one_knock_is_left_out(tmp_path):
    """Re-test F4: a noise channel that passes the body-sound test in one stretch (by chance, or by
    one knock) was chosen beside the heart. A channel's sound must persist: in at least half the
    stretches with sound, not once."""
    sr = 4000
    x = _heart(sr, 30.0)
    rng = np.random.default_rng(5)
    n = 40 * sr + x.size
    noise = 0.05 * rng.standard_normal(n)
    t = np.arange(int(0.05 * sr)) / sr
    noise[55 * sr : 55 * sr + t.size] += 0.9 * np.sin(2 * np.pi * 80 * t) * np.exp(-t / 0.01)  # one knock
    heart = np.concatenate((0.001 * rng.standard_normal(40 * sr), 0.5 * x))
    p = tmp_path / "knock_beside_heart.wav"
    sf.write(p, np.stack([noise, heart], axis=1), sr, subtype="PCM_16")
    used: dict = {}
    read_audio(p, channels=used)
    assert used["used"] == [1] and "channel 0 holds no heart or lung sound" in used["rule"], used


@pytest.mark.llm
def test_cli_jsonl_says_which_channels_and_matches_the_mono_findings(tmp_path):
    from test_engine_fixture import runtime_bundle_dir

    bundle = runtime_bundle_dir(tmp_path / "bundle")[0]
    sr = 4000
    x = _heart(sr)
    mono, stereo = tmp_path / "mono.wav", tmp_path / "noise_inv.wav"
    sf.write(mono, x, sr, subtype="PCM_16")
    noise = np.random.default_rng(1).normal(0, 0.3, x.size)
    sf.write(stereo, np.stack([x, -0.9 * _delayed(x, 3), noise], axis=1), sr, subtype="PCM_16", format="WAVEX")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.run([sys.executable, "-m", "stethodesk", "analyze", str(mono), str(stereo), "--format", "jsonl",
                        "--max-tokens", "4", "--bundle", str(bundle)], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    a, b = (json.loads(line) for line in p.stdout.splitlines())
    assert a["channels"]["used"] == [0] and b["channels"]["used"] == [0, 1]
    assert "channel 2 holds no heart or lung sound" in b["channels"]["rule"]
    assert b["usable"] and abs(b["heart_rate_bpm"] - a["heart_rate_bpm"]) < 2
    for k in ("murmur", "abnormal"):
        assert abs(b["findings"][k] - a["findings"][k]) < 0.05, (k, a["findings"][k], b["findings"][k])
