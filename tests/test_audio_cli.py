"""``stethodesk devices`` / ``record`` without a usable device, and headless simulated recording.

"No device" is real here, not mocked: this machine has no sound card, so with
no PulseAudio server reachable (an empty ``XDG_RUNTIME_DIR``) PortAudio finds
no input at all, which is what a laptop without a usable input sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from stethodesk.audio.capture import CaptureError, DeviceSource

BARE_ALSA = "/usr/share/alsa/alsa.conf"


def _no_sound_env(tmp_path: Path) -> dict:
    xdg = tmp_path / "xdg-empty"
    xdg.mkdir(mode=0o700, exist_ok=True)
    return {"XDG_RUNTIME_DIR": str(xdg), "ALSA_CONFIG_PATH": BARE_ALSA, "PULSE_SERVER": str(xdg / "none")}


def _cli(args: list[str], tmp_path: Path, **env) -> subprocess.CompletedProcess:
    e = {**os.environ, "STETHODESK_HOME": str(tmp_path / "home"), **env}
    return subprocess.run([sys.executable, "-m", "stethodesk", *args], env=e, capture_output=True,
                          text=True, timeout=60)


def test_devices_says_clearly_when_there_is_none(tmp_path):
    p = _cli(["devices"], tmp_path, **_no_sound_env(tmp_path))
    assert p.returncode == 1
    assert "No audio input device found" in p.stdout


def test_record_without_device_fails_clearly_and_leaves_no_file(tmp_path):
    out = tmp_path / "x.flac"
    p = _cli(["record", "--seconds", "1", "--site", "MV", "--domain", "heart", str(out)], tmp_path,
             **_no_sound_env(tmp_path))
    assert p.returncode == 2
    assert "No audio input device was found" in p.stderr
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_unknown_device_name_is_refused(tmp_path):
    try:
        DeviceSource("no-such-stethoscope-xyz")
    except CaptureError as exc:
        assert "no-such-stethoscope-xyz" in str(exc) or "No audio input device" in str(exc)
    else:
        raise AssertionError("a missing device must raise CaptureError")


def test_record_help_is_useful(tmp_path):
    p = _cli(["record", "--help"], tmp_path)
    assert p.returncode == 0
    for word in ("--seconds", "--site", "--domain", "--device", "--rate", "--channel", "--filter", "--notes",
                 "unplugged", "FLAC"):
        assert word in p.stdout


def test_record_simulated_heart_into_a_folder(tmp_path):
    folder = tmp_path / "recs"
    p = _cli(["record", "--seconds", "1.5", "--site", "AV", "--domain", "heart", "--simulate", "normal_heart",
              "--notes", "demo", str(folder) + "/"], tmp_path)
    assert p.returncode == 0, p.stderr
    files = list(folder.glob("*.flac"))
    assert len(files) == 1 and files[0].name.endswith("_AV.flac")
    x, sr = sf.read(files[0])
    assert len(x) == int(1.5 * sr) and np.std(x) > 0.001
    meta = json.loads(files[0].with_suffix(".json").read_text())
    assert meta["device"].startswith("Simulated") and meta["notes"] == "demo" and meta["complete"] is True
    assert "Saved 1.50 s" in p.stdout


def test_record_simulated_from_a_damaged_file_says_what_it_left_out(tmp_path):
    """``record --simulate FILE`` with a damaged MP3 (made here from a real recording): the
    recording is made from what can be decoded, and the reader's note is printed."""
    from audio_files import damaged_real_mp3

    mp3 = tmp_path / "phone.mp3"
    damaged_real_mp3(mp3)
    p = _cli(["record", "--seconds", "1.0", "--site", "MV", "--domain", "heart", "--simulate", str(mp3),
              str(tmp_path / "out.flac")], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "Note: phone.mp3: " in p.stderr and "could not be decoded and were left out" in p.stderr
    assert sf.info(str(tmp_path / "out.flac")).frames == 8000


def test_record_makes_user_only_folders_whatever_the_umask(tmp_path):
    """``umask 000; stethodesk record ... new/dir/``: every folder it makes (the output folder and
    its missing parents, the app's home) is 0700, the files 0600 (issue 11 item 11, F14)."""
    out = tmp_path / "x" / "newdir"
    e = {**os.environ, "STETHODESK_HOME": str(tmp_path / "home" / "app")}
    p = subprocess.run([sys.executable, "-m", "stethodesk", "record", "--seconds", "1.5", "--site", "AV", "--domain",
                        "heart", "--simulate", "normal_heart", str(out) + "/"], env=e, capture_output=True,
                       text=True, timeout=60, preexec_fn=lambda: os.umask(0))
    assert p.returncode == 0, p.stderr
    folders = [tmp_path / "x", out] + [d for d in (tmp_path / "home").rglob("*") if d.is_dir()]
    files = [f for f in out.iterdir() if f.is_file()]
    assert len(files) == 2
    assert {str(d): oct(d.stat().st_mode & 0o777) for d in folders} == {str(d): oct(0o700) for d in folders}
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {oct(0o600)}


def test_record_shows_a_crafted_file_name_safely(tmp_path):
    """A name with a Latin-1 byte, an escape sequence and a newline (seen in a re-test: it forged a
    second "Saved" line and coloured the terminal) is printed escaped on one line."""
    name = os.fsencode(str(tmp_path)) + b"/\xe9t\x1b[31mX\nSaved 99 s\xe2\x80\xae.flac"
    e = {**os.environ, "STETHODESK_HOME": str(tmp_path / "home")}
    p = subprocess.run([sys.executable, "-m", "stethodesk", "record", "--seconds", "1.5", "--site", "AV",
                        "--domain", "heart", "--simulate", "normal_heart", name], env=e, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode("utf-8")
    assert "\x1b" not in out and "\u202e" not in out
    saved = [line for line in out.splitlines() if line.startswith("Saved")]
    assert len(saved) == 1 and "\\xe9t\\x1b[31mX\\nSaved 99 s\\u202e.flac" in saved[0]
    assert os.path.exists(name)  # the file itself has the name asked for
