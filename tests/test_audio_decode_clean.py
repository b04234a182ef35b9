"""Clean files of every codec the reader takes are read whole with no damage note (issue 11
re-test F4: a clean Vorbis file got "1 damaged frame (0.0 s)" because FFmpeg's Vorbis timestamps
jump ahead by 10.16 ms and back on the next frame when the block size switches)."""

from __future__ import annotations

import av
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from audio_files import encode
from stethodesk.audio.damage import DamageCount
from stethodesk.audio.fileio import scan
from stethodesk.paths import shared_data_dir

SR, SECONDS = 44100, 12.0
REAL = shared_data_dir() / "circor2022" / "training_data" / "13918_MV.flac"


def _beats(sr: int, seconds: float) -> np.ndarray:
    """Heart-like clicks over low noise: transients make Vorbis switch block sizes."""
    rng = np.random.default_rng(3)
    x = 0.01 * rng.standard_normal(int(sr * seconds))
    t = np.arange(int(0.05 * sr)) / sr
    click = 0.6 * np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.01)
    for start in np.arange(0.3, seconds - 0.1, 0.83):
        i = int(start * sr)
        x[i : i + click.size] += click
        j = i + int(0.3 * sr)
        x[j : j + click.size] += 0.5 * click
    return x.astype(np.float32)


def test_a_clean_vorbis_file_whose_timestamps_jitter_has_no_damage_note(tmp_path):
    x, sr = sf.read(str(REAL), dtype="float32")  # a real heart recording, 4 kHz -> 44.1 kHz
    y = signal.resample_poly(x, 441, 40).astype(np.float32)
    path = tmp_path / "clean.ogg"
    sf.write(str(path), y, SR, format="OGG", subtype="VORBIS", compression_level=0.3)
    with av.open(str(path)) as c:  # the trap is there: frames that start past where the last ended
        ends = [(float(f.pts * f.time_base), f.samples / f.sample_rate) for f in c.decode(audio=0)]
    jumps = [b[0] for a, b in zip(ends, ends[1:]) if b[0] - (a[0] + a[1]) > 0.005]
    assert jumps and min(jumps) < ends[-1][0] - 2.0  # inside the recording, not at its end
    info = scan(path)
    assert info.note == "" and info.seconds == pytest.approx(y.size / SR, abs=0.05)


@pytest.mark.parametrize("name,codec,fmt,quality", [
    ("clean.opus", "libopus", "ogg", None),
    ("clean.mp3", "libmp3lame", "mp3", 4), ("clean.aac", "aac", "adts", None),
    ("clean.m4a", "aac", "mp4", None)])
def test_a_clean_compressed_file_has_no_damage_note(tmp_path, name, codec, fmt, quality):
    sr = 48000 if codec == "libopus" else SR
    path = tmp_path / name
    encode(path, _beats(sr, SECONDS)[:, None], sr, codec, fmt, vbr_quality=quality)
    info = scan(path)
    assert info.note == ""
    assert info.seconds == pytest.approx(SECONDS, abs=0.1)


@pytest.mark.parametrize("name,subtype", [("clean.flac", "PCM_16"), ("clean.wav", "PCM_24")])
def test_a_clean_lossless_file_has_no_note(tmp_path, name, subtype):
    path = tmp_path / name
    sf.write(str(path), _beats(SR, SECONDS), SR, subtype=subtype)
    info = scan(path)
    assert info.note == "" and info.seconds == pytest.approx(SECONDS)


def test_a_jump_undone_by_the_next_frame_is_jitter_and_a_lost_frame_is_damage():
    frame = 1024 / SR
    jitter = DamageCount(raw=False)
    t = 0.0
    for k in range(20):  # +448 samples on frame 10 (a 576-sample frame), back on the next
        start, seconds = t, frame
        if k == 10:
            start, seconds = t + 448 / SR, 576 / SR
        elif k == 11:  # starts where frame 10 would have ended without the jump
            start, seconds = t - 448 / SR, 128 / SR
        jitter.frame(start, seconds, 100, t)
        t = start + seconds
    jitter.finish()
    assert not jitter.seen
    lost = DamageCount(raw=False)
    for k in range(20):  # frame 10 missing: the next starts one frame late and stays there
        lost.frame(k * frame + (frame if k >= 10 else 0.0), frame, 100, k * frame)
    lost.finish()
    assert lost.seen and lost.report().seconds == pytest.approx(frame, abs=1e-6)
    assert lost.report().frames == 1
