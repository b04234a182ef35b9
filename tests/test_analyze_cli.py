"""``stethodesk analyze``: the jsonl contract for good and bad files, in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from stethodesk.paths import REPO_ROOT, shared_data_dir
from test_engine_fixture import runtime_bundle_dir

pytestmark = pytest.mark.llm

HEART = "circor2022/training_data/13918_MV.flac"
LUNG = "sprsound2022/train_flac/40638274_9.7_1_p1_1789.flac"
CONTRACT_KEYS = {"file", "task", "domain", "site", "answer", "findings", "heart_rate_bpm",
                 "signal_quality", "timing", "model", "disclaimer"}


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return runtime_bundle_dir(tmp_path_factory.mktemp("cli-bundle"))[0]


def _run(args: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "stethodesk", "analyze", *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_jsonl_good_and_bad_files(tmp_path, bundle_dir):
    heart = str(shared_data_dir() / HEART)
    lung = str(shared_data_dir() / LUNG)
    garbage = tmp_path / "notes.wav"
    garbage.write_bytes(b"this is not audio at all" * 20)
    missing = tmp_path / "missing.flac"
    short = tmp_path / "short.wav"
    sf.write(short, (0.1 * np.sin(np.arange(4000) / 5)).astype(np.float32), 4000)  # 1 s
    files = [heart, str(garbage), lung, str(missing), str(short)]
    p = _run([*files, "--task", "binary", "--format", "jsonl", "--max-tokens", "8",
              "--bundle", str(bundle_dir), "--site", "MV"])
    assert p.returncode == 1, p.stderr  # bad files -> non-zero exit at the end
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["file"] for o in lines] == files  # one object per file, in order, nothing else on stdout

    for o, domain in ((lines[0], "heart"), (lines[2], "lung")):
        assert CONTRACT_KEYS <= set(o), set(o) ^ CONTRACT_KEYS
        assert o["task"] == "binary" and o["domain"] in ("heart", "lung") and o["site"] == "MV"
        assert isinstance(o["answer"], str) and o["answer"].strip()
        assert o["findings"] and all(0 <= v <= 1 for v in o["findings"].values())
        assert set(o["signal_quality"]) == {"level", "score", "reason", "issues"}
        t = o["timing"]
        assert set(t) >= {"encode_ms", "first_token_ms", "total_ms", "tokens"}
        assert t["encode_ms"] > 0 and 0 < t["first_token_ms"] <= t["total_ms"] and 1 <= t["tokens"] <= 8
        assert o["model"]["name"] and o["model"]["version"]
        assert o["disclaimer"].startswith("Decision support")
        if o["domain"] != "heart":
            assert o["heart_rate_bpm"] is None

    assert set(lines[1]) == {"file", "error"} and "notes.wav" in lines[1]["error"]
    assert "readable audio" in lines[1]["error"]
    assert set(lines[3]) == {"file", "error"} and "not found" in lines[3]["error"]
    # Too short to analyse: findings object with the reason, and no answer.
    s = lines[4]
    assert s["answer"] is None and s["usable"] is False and "at least 3 s" in s["unusable_reason"]


def test_nothing_coming_in_and_too_quiet_have_their_own_keys_and_advice(tmp_path, bundle_dir):
    """Issue 11 item 3: a heart at -70 dBFS in a 16-bit file (under one step RMS) was refused under
    the key "flat", the key of a dead or unplugged stethoscope, so whatever reads the key advised
    checking the cable. Now "too_quiet" (raise the gain), and silence stays "flat" (check the cable)."""
    x, sr = sf.read(shared_data_dir() / HEART, dtype="float32")
    x = x[: 12 * sr]
    silent, quiet = tmp_path / "silent.wav", tmp_path / "quiet.wav"
    sf.write(silent, np.zeros_like(x), sr, subtype="PCM_16")
    sf.write(quiet, x * 10 ** (-70 / 20) / float(np.max(np.abs(x))), sr, subtype="PCM_16")
    p = _run([str(silent), str(quiet), "--task", "binary", "--format", "jsonl", "--bundle", str(bundle_dir),
              "--domain", "heart"])
    assert p.returncode == 0, p.stderr
    flat, low = (json.loads(line) for line in p.stdout.splitlines())
    assert flat["signal_quality"]["issues"] == ["flat"] and flat["usable"] is False and flat["answer"] is None
    assert "plugged in" in flat["unusable_reason"] and "gain" not in flat["unusable_reason"]
    assert low["signal_quality"]["issues"] == ["too_quiet"] and low["usable"] is False and low["answer"] is None
    assert "gain" in low["unusable_reason"] and "plugged in" not in low["unusable_reason"]
    assert low["findings"] == {} and low["heart_rate_bpm"] is None


def test_all_good_exits_zero_and_text_format_streams(bundle_dir):
    heart = str(shared_data_dir() / HEART)
    p = _run([heart, "--task", "question", "--question", "Is there a murmur?", "--domain", "heart",
              "--format", "text", "--max-tokens", "6", "--bundle", str(bundle_dir)])
    assert p.returncode == 0, p.stderr
    assert "13918_MV.flac" in p.stdout and "Findings:" in p.stdout and "Decision support" in p.stdout


def test_bad_arguments_and_bad_bundle(tmp_path):
    heart = str(shared_data_dir() / HEART)
    p = _run([heart, "--task", "comparison", "--format", "jsonl"])
    assert p.returncode == 2 and "--compare" in p.stderr
    p = _run([heart, "--task", "binary", "--format", "jsonl", "--bundle", str(tmp_path / "nope")])
    assert p.returncode == 1
    obj = json.loads(p.stdout.splitlines()[0])
    assert obj["file"] == heart and "model bundle folder not found" in obj["error"]


def test_a_latin1_file_name_opens_and_the_jsonl_stays_utf8(tmp_path, bundle_dir):
    """Any name the OS can open must open (issue 11 item 4); the output shows it safely."""
    name = os.fsencode(str(tmp_path)) + b"/caf\xe9 souffle.flac"  # Latin-1 bytes, not UTF-8
    with open(shared_data_dir() / HEART, "rb") as src, open(name, "wb") as dst:
        dst.write(src.read())
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.run([sys.executable.encode(), b"-m", b"stethodesk", b"analyze", name, b"--task", b"binary",
                        b"--format", b"jsonl", b"--max-tokens", b"8", b"--bundle", os.fsencode(str(bundle_dir))],
                       cwd=REPO_ROOT, env=env, capture_output=True, timeout=180)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    obj = json.loads(p.stdout.decode("utf-8"))  # strict UTF-8: a raw 0xE9 byte would fail here
    assert obj["file"].endswith("caf\\xe9 souffle.flac") and "error" not in obj
    assert obj["findings"] and obj["answer"]


def test_channel_choice_for_multichannel_files(tmp_path, bundle_dir):
    """``--channel N`` analyses that channel of an imported file, as ``record --channel`` does for a
    device (issue 11 item 2): the heart sound on channel 1 is analysed, not its mix with the
    noise on channel 0, and a file without that channel gets a clear error."""
    from stethodesk.audio.fileio import read_audio

    x, sr = read_audio(shared_data_dir() / HEART)
    x = x[: 12 * sr]
    noise = 0.5 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    noisy, clean, mono = tmp_path / "noisy.wav", tmp_path / "clean.wav", tmp_path / "mono.wav"
    sf.write(noisy, np.stack([noise, x], axis=1), sr, subtype="FLOAT")
    sf.write(clean, np.stack([x, x], axis=1), sr, subtype="FLOAT")
    sf.write(mono, x, sr, subtype="FLOAT")
    files = [str(noisy), str(clean), str(mono)]
    p = _run([*files, "--channel", "1", "--domain", "heart", "--task", "binary", "--format", "jsonl",
              "--max-tokens", "4", "--bundle", str(bundle_dir)])
    assert p.returncode == 1, p.stderr
    got_noisy, got_clean, got_mono = (json.loads(line) for line in p.stdout.splitlines())
    assert got_noisy["usable"] and got_noisy["findings"] == got_clean["findings"]
    assert got_noisy["heart_rate_bpm"] == got_clean["heart_rate_bpm"] is not None
    assert "mono.wav: has 1 channel(s); channel 1 (counting from 0) does not exist" in got_mono["error"]


def test_damaged_frames_are_named_in_jsonl_and_text(tmp_path, bundle_dir):
    """Issue 11 item 1: an MP3 with bytes overwritten in its middle is analysed without them, and
    the reader's note travels in ``file_notes`` (jsonl) and a ``Note:`` line (text); the undamaged
    file has neither."""
    from scipy.signal import resample_poly

    from audio_files import encode, overwrite
    from stethodesk.audio.fileio import read_audio

    x, sr = sf.read(str(shared_data_dir() / HEART), dtype="float32")
    clean, hit = tmp_path / "clean.mp3", tmp_path / "hit.mp3"
    encode(clean, resample_poly(x[: 16 * sr], 8000, sr)[:, None], 8000, "libmp3lame", "mp3")  # MP3: 8 kHz or more
    hit.write_bytes(clean.read_bytes())
    overwrite(hit)
    notes = []
    y, _ = read_audio(hit, notes=notes)
    assert len(notes) == 1 and "could not be decoded and were left out" in notes[0]
    p = _run([str(clean), str(hit), "--domain", "heart", "--task", "binary", "--format", "jsonl",
              "--max-tokens", "4", "--bundle", str(bundle_dir)])
    assert p.returncode == 0, p.stderr
    got_clean, got_hit = (json.loads(line) for line in p.stdout.splitlines())
    assert "file_notes" not in got_clean and got_hit["file_notes"] == notes
    assert got_hit["duration_s"] == pytest.approx(y.size / 8000, abs=0.01) and got_hit["findings"]
    p = _run([str(hit), "--domain", "heart", "--task", "binary", "--format", "text", "--max-tokens", "4",
              "--bundle", str(bundle_dir)])
    assert p.returncode == 0, p.stderr
    assert f"Note: {notes[0]}" in p.stdout


def test_text_output_names_files_once_and_safely(tmp_path, bundle_dir):
    """Issue 11 re-test F15: a name with a newline cannot forge output lines, and a text file with a
    Latin-1 name is named once in its error line, with no Python repr of a file object."""
    good = os.fsencode(str(tmp_path)) + b"/new\nline.flac"
    bad = os.fsencode(str(tmp_path)) + b"/bad\xe9.wav"
    with open(shared_data_dir() / HEART, "rb") as src, open(good, "wb") as dst:
        dst.write(src.read())
    with open(bad, "wb") as f:
        f.write(b"this is not audio\n" * 10)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    p = subprocess.run([sys.executable.encode(), b"-m", b"stethodesk", b"analyze", good, bad, b"--task", b"binary",
                        b"--format", b"text", b"--max-tokens", b"4", b"--bundle", os.fsencode(str(bundle_dir))],
                       cwd=REPO_ROOT, env=env, capture_output=True, timeout=180)
    out, err = p.stdout.decode("utf-8"), p.stderr.decode("utf-8")  # strict UTF-8 on both
    assert p.returncode == 1
    assert any(line.startswith("== ") and line.split("  (")[0].endswith("/new\\nline.flac") for line in out.splitlines())
    assert not any(line.startswith("line.flac") for line in out.splitlines())
    error = next(line for line in err.splitlines() if line.startswith("error: "))
    assert error.startswith("error: bad\\xe9.wav: not a readable audio file") and error.count("bad") == 1
    assert "<_io" not in err and "\\udce9" not in err
