"""``stethodesk record`` when its input device vanishes (issue 11 item 6): the PulseAudio source is
unloaded mid-recording, as an unplugged USB stethoscope is removed. The command saves what it
captured, says so and exits; before, it saved, then hung in PortAudio's exit handler.

A private PulseAudio server (own runtime folder and FIFO) so that unloading its source cannot
disturb the session-wide virtual microphone other tests share.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stethodesk.audio.fileio import read_audio

REPO = Path(__file__).resolve().parent.parent
RATE = 48000
HANG_S = 20.0  # a process still running this long after the device went is hung (the bug hung forever)


@pytest.fixture()
def private_pulse(tmp_path):
    for tool in ("pulseaudio", "pactl"):
        assert shutil.which(tool), "apt-get install -y pulseaudio pulseaudio-utils libasound2-plugins"
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "STETH_FIFO": str(tmp_path / "mic.fifo")}
    subprocess.run(["sh", str(REPO / ".ci" / "pulse.sh")], env=env, check=True, capture_output=True)
    stop = threading.Event()

    def feed():  # a quiet 100 Hz hum, paced in real time, until the source is gone
        fd = os.open(env["STETH_FIFO"], os.O_WRONLY)
        block = (b"\x00\x04\x00\xfc" * 240)  # 10 ms of s16le
        try:
            while not stop.is_set():
                os.write(fd, block)
                time.sleep(0.01)
        except OSError:
            pass
        finally:
            os.close(fd)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield env
    finally:
        stop.set()
        subprocess.run(["pulseaudio", "-k"], env=env, capture_output=True)


def test_record_exits_after_the_device_vanishes_with_the_audio_saved(private_pulse, tmp_path):
    env = {**private_pulse, "STETHODESK_HOME": str(tmp_path / "home")}
    out = tmp_path / "gone.flac"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stethodesk", "record", "--seconds", "30", "--site", "MV", "--domain", "heart",
         "--device", "pulse", "--rate", str(RATE), str(out)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("Recording"), proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(2.0)
        modules = subprocess.run(["pactl", "list", "short", "modules"], env=env, capture_output=True,
                                 text=True, check=True).stdout
        (module,) = [line.split()[0] for line in modules.splitlines() if "module-pipe-source" in line]
        subprocess.run(["pactl", "unload-module", module], env=env, check=True)
        gone = time.monotonic()
        stdout, stderr = proc.communicate(timeout=HANG_S)
        print(f"record exited {time.monotonic() - gone:.2f} s after the device was unloaded")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, stderr
    assert "Lost the input pulse" in stderr and "saved" in stderr
    x, sr = read_audio(out)
    assert sr == RATE and len(x) > 1.0 * RATE
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["frames"] == len(x) and "device_error" in meta
