"""The real capture path: PCM into PulseAudio's pipe source -> PortAudio -> ``stethodesk record``.

These run the CLI as a subprocess, exactly as a user would, against the
virtual microphone of ``tests/conftest.py`` (device ``pulse``, 48 kHz).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from stethodesk.audio.capture import DeviceSource
from stethodesk.audio.fileio import read_audio
from stethodesk.audio.recorder import Recorder, recover_incomplete

RATE = 48000


def _pattern(seconds: float, seed: int) -> np.ndarray:
    """Random int16 PCM with no zero sample, so its start is found exactly after idle zeros."""
    x = np.random.default_rng(seed).integers(-30000, 30000, int(seconds * RATE)).astype(np.int16)
    x[x == 0] = 1
    return x


def _start_record(tmp_path: Path, out: Path, seconds: float, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "STETHODESK_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "stethodesk", "record", "--seconds", str(seconds), "--site", "MV",
           "--domain", "heart", "--device", "pulse", "--rate", str(RATE), *extra, str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_recording(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()  # printed right after the stream started
    assert line.startswith("Recording"), f"record did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    return line


def _find(recorded: np.ndarray) -> int:
    """Index of the first fed sample: the feeder writes exact zeros while idle."""
    nz = np.flatnonzero(recorded)
    assert nz.size, "the recording holds only silence: the fed pattern never arrived"
    return int(nz[0])


def test_record_cli_is_bit_exact(pulse_mic, tmp_path):
    pat = _pattern(2.0, seed=1)
    out = tmp_path / "mv.flac"
    proc = _start_record(tmp_path, out, 5.0, "--notes", "bit-exact test")
    _wait_recording(proc)
    time.sleep(0.3)
    done = pulse_mic.feed(pat)
    assert done.wait(10), "the feeder did not write the pattern"
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert str(out) in stdout
    y, sr = sf.read(out, dtype="int16")
    assert sr == RATE
    assert abs(len(y) - 5 * RATE) == 0  # exactly the seconds asked for
    start = _find(y)
    got = y[start : start + pat.size]
    assert got.size == pat.size, "the pattern was cut off at the end of the recording"
    assert np.array_equal(got, pat), f"{np.count_nonzero(got != pat)} samples differ"
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["site"] == "MV" and meta["domain"] == "heart" and meta["samplerate"] == RATE
    assert meta["complete"] is True and meta["notes"] == "bit-exact test" and meta["device"] == "pulse"
    assert meta["frames"] == 5 * RATE
    # the device, rate and channel are remembered for the next run
    settings = json.loads((tmp_path / "home" / "settings.json").read_text())
    assert settings["input_device"] == "pulse" and settings["input_rate"] == RATE


def test_kill9_during_record_leaves_readable_file_then_recovered(pulse_mic, tmp_path):
    pat = _pattern(20.0, seed=2)
    out = tmp_path / "rec" / "killed.flac"
    proc = _start_record(tmp_path, out, 30.0)
    _wait_recording(proc)
    pulse_mic.feed(pat)
    time.sleep(3.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    pulse_mic.clear()
    assert proc.returncode == -signal.SIGKILL

    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["complete"] is False
    # readable as it is, before any repair (what a user opening it would get)
    x, sr = read_audio(out)
    assert sr == RATE and len(x) > 1.5 * RATE
    pcm = np.rint(x * 32768).astype(np.int16)
    start = _find(pcm)
    n = len(pcm) - start
    assert n > RATE  # more than a second of the pattern survived
    assert np.array_equal(pcm[start:], pat[:n])  # and it is exactly what was fed

    fixed = recover_incomplete(tmp_path / "rec")
    assert fixed == [out]
    info = sf.info(out)
    assert info.frames == len(x)  # the header now holds the true length
    y, _ = sf.read(out, dtype="int16")
    assert np.array_equal(y, pcm)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["recovered"] is True and meta["frames"] == len(x)
    assert recover_incomplete(tmp_path / "rec") == []  # done once only


def test_device_lost_mid_recording_keeps_audio(pulse_mic, tmp_path):
    out = tmp_path / "lost.flac"
    proc = _start_record(tmp_path, out, 20.0)
    _wait_recording(proc)
    pulse_mic.feed(_pattern(2.0, seed=3))
    time.sleep(2.0)
    pulse_mic.pause()  # the "device" stops delivering: what an unplugged USB stethoscope does
    try:
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        pulse_mic.resume()
        pulse_mic.clear()
    assert proc.returncode == 3, stderr
    assert "Lost the input" in stderr and "saved" in stderr
    x, sr = read_audio(out)
    assert len(x) > 1.0 * RATE and np.count_nonzero(x) > RATE
    meta = json.loads(out.with_suffix(".json").read_text())
    assert "device_error" in meta and meta["frames"] == len(x)


def test_device_source_feeds_ring_and_listener(pulse_mic, tmp_path):
    src = DeviceSource("pulse", samplerate=RATE, channel=0)
    rec = Recorder(tmp_path / "direct.flac", src.samplerate, {"site": "AV", "domain": "heart"})
    rec.start()
    src.add_listener(rec.feed)
    src.start()
    pat = _pattern(1.0, seed=4)
    pulse_mic.feed(pat).wait(10)
    time.sleep(0.5)
    src.stop()
    res = rec.stop()
    assert src.error is None and not src.running
    assert src.ring.total == res.frames > RATE
    y, _ = sf.read(res.path, dtype="int16")
    s = _find(y)
    assert np.array_equal(y[s : s + pat.size], pat)
    # the ring holds the newest samples: the same as the file's tail
    tail = np.rint(src.ring.latest(RATE // 2) * 32768).astype(np.int16)
    assert np.array_equal(tail, y[-RATE // 2 :])


def test_devices_cli_lists_pulse(pulse_mic):
    proc = subprocess.run([sys.executable, "-m", "stethodesk", "devices"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pulse" in proc.stdout and "48" in proc.stdout


def test_device_source_at_another_rate_with_mixdown(pulse_mic):
    # 8 kHz from a 48 kHz source: PulseAudio resamples; the tone must arrive at its pitch.
    src = DeviceSource("pulse", samplerate=8000, channel=None)
    assert src.samplerate == 8000 and src.channels == 2  # mixdown opens two channels at most
    src.start()
    t = np.arange(RATE * 2) / RATE
    pulse_mic.feed_float(0.5 * np.sin(2 * np.pi * 200 * t)).wait(10)
    time.sleep(0.3)
    src.stop()
    x = src.ring.latest(8000)
    assert src.error is None and x.size == 8000
    f = np.fft.rfftfreq(x.size, 1 / 8000)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(x)))] - 200) < 3
    assert 0.3 < np.max(np.abs(x)) < 0.6


def test_device_silent_from_the_start_leaves_no_empty_file(pulse_mic, tmp_path):
    out = tmp_path / "silent.flac"
    pulse_mic.pause()  # a device that opens but never delivers (muted, or taken by another program)
    try:
        proc = _start_record(tmp_path, out, 5.0)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        pulse_mic.resume()
    assert proc.returncode == 3, stderr
    assert "Nothing was recorded" in stderr and "no sound after starting" in stderr
    assert not out.exists() and not out.with_suffix(".json").exists()
